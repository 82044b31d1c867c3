"""Where AWS is for the local stack: the embedded moto server, or ``AWS_ENDPOINT_URL``.

- Unset ``AWS_ENDPOINT_URL``: moto's server on 127.0.0.1:<ROLLCALL_EMULATOR_PORT> (4566), run in
  this process (:class:`Emulator`), with fake credentials and account 123456789012. A command that
  finds the port already served (a ``make run`` going on) uses that server as it is.
- ``AWS_ENDPOINT_URL`` set (LocalStack, or AWS itself): used as is, with the caller's own
  credentials and account; nothing is started, and local state is neither saved nor restored.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rollcall_local.config import HOST, LocalConfig
from rollcall_local.dynamodb import Dynalite
from rollcall_local.errors import LocalError
from rollcall_local.front import Front

if TYPE_CHECKING:
    from werkzeug.serving import BaseWSGIServer

EMULATOR_ACCOUNT = "123456789012"
EMULATOR_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
START_TIMEOUT_SECONDS = 15


def region_from_env() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


@dataclass(frozen=True)
class Aws:
    """An AWS endpoint, the region and the credentials the stack and its functions use there."""

    endpoint: str
    region: str
    embedded: bool  # the embedded emulator (this process's or another local stack's)
    credentials: dict[str, str]

    def client(self, service: str) -> Any:
        """A client for ``service`` at this endpoint, made once (boto3 clients are thread-safe)."""
        return _client(service, self.endpoint, self.region, tuple(sorted(self.credentials.items())))

    def account_id(self) -> str:
        if self.embedded:
            return EMULATOR_ACCOUNT
        return str(self.client("sts").get_caller_identity()["Account"])


class Emulator:
    """The emulator this process owns on 127.0.0.1:port: moto's server behind :class:`Front`, with
    DynamoDB served by dynalite (:mod:`rollcall_local.dynamodb`; in LevelDB under ``data_dir``,
    else in memory)."""

    def __init__(self, port: int, data_dir: Path | None = None) -> None:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per AWS request
        self.port = port
        self.endpoint = f"http://{HOST}:{port}"
        self.dynamodb = Dynalite(data_dir)
        self.front: Front | None = None
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        from moto.server import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        self.dynamodb.start()
        try:
            moto_app = DomainDispatcherApplication(create_backend_app)
            data_dir = self.dynamodb.data_dir
            self.front = Front(
                moto_app,
                self.dynamodb.socket,
                EMULATOR_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                settings=data_dir.with_name(data_dir.name + ".settings.json") if data_dir else None,
            )
            self._server = make_server(HOST, self.port, self.front, True, request_handler=MotoRequestHandler)
        except BaseException as e:
            self.dynamodb.stop()
            raise LocalError(f"the emulator could not listen on {self.endpoint}: {e}") from None
        self._thread = threading.Thread(target=self._server.serve_forever, name="emulator", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving, forget moto's resources (they live in this process), stop DynamoDB."""
        from moto.moto_api._internal.models import moto_api_backend

        server, self._server = self._server, None
        thread, self._thread = self._thread, None
        if server is not None:
            if thread is not None and thread.is_alive():
                # shutdown() waits for the serving loop without a bound: bound it
                stopper = threading.Thread(target=server.shutdown, name="emulator-stop", daemon=True)
                stopper.start()
                stopper.join(timeout=5)
                thread.join(timeout=5)
            server.server_close()
        if self.front is not None:
            self.front.close()
        moto_api_backend.reset()
        self.dynamodb.stop()


@functools.cache
def _client(service: str, endpoint: str, region: str, credentials: tuple[tuple[str, str], ...]) -> Any:
    import boto3
    from botocore.config import Config

    keys = dict(credentials)
    session: Any = boto3.session.Session()  # Any: the stubs want a literal service name
    client = session.client(
        service,
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=keys["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=keys["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=keys.get("AWS_SESSION_TOKEN"),
        config=Config(
            retries={"max_attempts": 3, "mode": "standard"},
            max_pool_connections=32,
            # as the deployed clients (rollcall.store.clients): DynamoDB validates every request
            # itself, and botocore's walk of each request's shape is about half of a batch
            # write's client CPU (make seed, make import; BENCHMARKS.md, bulk paths)
            parameter_validation=service != "dynamodb",
        ),
    )
    if service == "dynamodb":
        from rollcall.store import wire

        wire.install(client)  # BatchWriteItem bodies by json.dumps, as the deployed clients
    return client


def listening(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def connect(config: LocalConfig, *, must_own: bool = False) -> tuple[Aws, Emulator | None]:
    """The endpoint to use, and the emulator this call started (None when it started none).

    ``must_own``: refuse to share an emulator another process serves (``run`` owns its state).
    """
    region = region_from_env()
    if config.external_endpoint:
        return Aws(config.external_endpoint, region, False, _caller_credentials()), None
    emulator = None
    if listening(config.emulator_port):
        if must_own:
            raise LocalError(
                f"port {config.emulator_port} is in use (another local stack?); stop it "
                "or set ROLLCALL_EMULATOR_PORT"
            )
    else:
        emulator = Emulator(config.emulator_port, config.dynamodb_dir)
        emulator.start()
    return Aws(f"http://{HOST}:{config.emulator_port}", region, True, dict(EMULATOR_CREDENTIALS)), emulator


def _caller_credentials() -> dict[str, str]:
    """The caller's credentials, frozen, for an external endpoint (LocalStack accepts any)."""
    import boto3

    found = boto3.session.Session().get_credentials()
    if found is None:
        return {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
    frozen = found.get_frozen_credentials()
    credentials = {
        "AWS_ACCESS_KEY_ID": str(frozen.access_key),
        "AWS_SECRET_ACCESS_KEY": str(frozen.secret_key),
    }
    if frozen.token:
        credentials["AWS_SESSION_TOKEN"] = frozen.token
    return credentials
