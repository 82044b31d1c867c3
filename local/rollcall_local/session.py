"""What every command that runs functions needs first, in one object.

:func:`load_template` reads the built template with its parameters (samconfig overrides, and the
local JWT secret as ``JwtSecret``) and pseudo-parameters. :class:`Session` adds the AWS side:

    with Session.open(config) as session:      # endpoint, provisioning, saved state restored
                                               # (beside a running stack: its emulator, as it is)
        session.invoke_once("PredictFunction", event)
                                               # on exit: state saved, emulator stopped

The session saves and restores state only when it started the embedded emulator itself.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from types import TracebackType
from typing import Any

from rollcall_local import devauth, provision, state
from rollcall_local.cfn import load_yaml
from rollcall_local.config import LocalConfig, make_private, private_dir
from rollcall_local.emulator import EMULATOR_ACCOUNT, Aws, Emulator, connect, region_from_env
from rollcall_local.errors import LocalError
from rollcall_local.invoke import Result, Worker, invoke_once
from rollcall_local.lambda_api import LambdaApi
from rollcall_local.progress import Progress
from rollcall_local.runtime import check_runtime, lambda_environment, runtime_dir, sys_path
from rollcall_local.template import Function, Physical, Template, pseudo_parameters


def load_template(
    config: LocalConfig, *, account_id: str = EMULATOR_ACCOUNT, region: str | None = None
) -> Template:
    if not config.template_path.is_file():
        raise LocalError(f"no template at {config.template_path}: run `make build`")
    samconfig = config.samconfig()
    doc = load_yaml(config.template_path)
    overrides = dict(samconfig.parameter_overrides)
    if devauth.SECRET_PARAMETER in (doc.get("Parameters") or {}):
        overrides.setdefault(devauth.SECRET_PARAMETER, devauth.jwt_secret(config.secret_path))
    pseudo = pseudo_parameters(samconfig.stack_name, region or region_from_env(), account_id)
    return Template(doc, base_dir=config.template_path.parent, overrides=overrides, pseudo=pseudo)


def token_for(config: LocalConfig, template: Template, *, role: str, org: str, sub: str) -> str:
    secret = devauth.jwt_secret(config.secret_path)
    return devauth.dev_token(template.parameters, secret, role=role, org=org, sub=sub)


def read_event(config: LocalConfig, template: Template, path: Path) -> Any:
    """An event file ('-': stdin), its ``{{token:role:org:sub}}`` placeholders replaced by fresh tokens."""
    try:
        event = json.loads(sys.stdin.read() if str(path) == "-" else path.read_text())
    except (OSError, ValueError) as e:
        raise LocalError(f"cannot read the event {path}: {e}") from None
    return devauth.render_event(
        event, lambda role, org, sub: token_for(config, template, role=role, org=org, sub=sub)
    )


class Session:
    def __init__(
        self,
        config: LocalConfig,
        aws: Aws,
        emulator: Emulator | None,
        template: Template,
        physical: Physical,
    ) -> None:
        self.config = config
        self.aws = aws
        self.emulator = emulator
        self.template = template
        self.physical = physical
        self.functions: dict[str, Function] = template.functions(physical)
        for function in self.functions.values():
            check_runtime(function)  # fail at start, not at the first request
        self.runtime = runtime_dir(config.runtime_dir)
        self.restored: state.Counts | None = None
        self.snapshots: state.Snapshots | None = None

        self._lambda_api: LambdaApi | None = None

    @classmethod
    def open(cls, config: LocalConfig, *, must_own: bool = False) -> Session:
        """Connect (starting the embedded emulator if none is listening), provision, restore state.

        ``must_own``: refuse to use an emulator that another process started.
        """
        make_private(config.local_dir)
        aws, emulator = connect(config, must_own=must_own)
        try:
            template = load_template(config, account_id=aws.account_id(), region=aws.region)
            shared = aws.embedded and emulator is None  # the emulator of a `make run` going on
            physical = provision.existing(template, aws) if shared else provision.provision(template, aws)
            session = cls(config, aws, emulator, template, physical)
            if session.owns_state:
                restoring = state.to_restore(config.state_dir)
                with Progress("restore", restoring, unit="objects and items", delay=2) as shown:
                    session.restored = state.restore(
                        aws, template, physical, config.state_dir, progress=shown.callback
                    )
                session._keep_state()
        except BaseException:
            if emulator is not None:
                emulator.stop()
            raise
        return session

    def _keep_state(self) -> None:
        """Save S3 and SQS within a second of every change (DynamoDB is on disk already)."""
        assert self.emulator is not None and self.emulator.front is not None
        self.snapshots = state.Snapshots(self.save)
        self.emulator.front.on_write = self.snapshots.changed
        self.snapshots.start()

    def save(self) -> state.Counts:
        return state.save(self.aws, self.template, self.physical, self.config.state_dir)

    @property
    def owns_state(self) -> bool:
        return self.emulator is not None

    def close(self) -> state.Counts | None:
        """Save the state (if this session started the emulator) and stop the emulator."""
        if self._lambda_api is not None:
            self._lambda_api.close()
            self._lambda_api = None
        if self.emulator is None:
            return None
        try:
            if self.snapshots is not None:
                self.snapshots.stop()
                if self.snapshots.failure is not None:
                    print(f"a background save of S3/SQS failed: {self.snapshots.failure}", file=sys.stderr)
            saving = state.objects_to_save(self.template, self.physical)
            with Progress("save", saving, unit="objects", delay=2) as shown:
                return state.save(
                    self.aws, self.template, self.physical, self.config.state_dir, progress=shown.callback
                )
        finally:
            self.emulator.stop()
            self.emulator = None

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        saved = self.close()
        if saved is not None:
            print(f"state saved: {saved}", file=sys.stderr)

    # --- functions --------------------------------------------------------------------------------

    def function(self, name: str) -> Function:
        if name not in self.functions:
            raise LocalError(f"no function {name!r}; the template has: {', '.join(self.functions)}")
        return self.functions[name]

    def spawn(self, function: Function, log: Path | None = None) -> Worker:
        """A new worker of ``function``; its output is appended to ``log`` (None: stderr)."""
        environment = {
            **lambda_environment(function, self.aws, self.runtime),
            **self.lambda_api.environment(),
        }
        return Worker(function, environment, sys_path(function, self.runtime), log)

    def spawn_logged(self, function: Function) -> Worker:
        """A warm worker, logging to ``.local/logs/<LogicalId>.log``."""
        log = private_dir(self.config.logs_dir) / f"{function.logical_id}.log"
        log.touch(mode=0o600)
        os.chmod(log, 0o600)
        return self.spawn(function, log)

    @property
    def lambda_api(self) -> LambdaApi:
        """Lambda Invoke and CodeDeploy's hook status for the functions (started on first use)."""
        if self._lambda_api is None:
            self._lambda_api = LambdaApi(self.functions, self.invoke_once)
        return self._lambda_api

    def invoke_once(self, name: str, event: Any) -> Result:
        return invoke_once(self.spawn, self.function(name), event)

    def token(self, *, role: str, org: str, sub: str) -> str:
        return token_for(self.config, self.template, role=role, org=org, sub=sub)
