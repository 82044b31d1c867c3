"""What a function's process gets, as on Lambda: its path, its environment, the runtime's libraries.

On Lambda a python3.12 function sees ``/var/task`` (its code), ``/opt/python`` (its layers),
``/var/runtime`` (boto3 and what it needs) and the standard library; nothing else. Locally the
worker runs ``python -I -S`` (no site-packages) with the same shape of path:

    [built code folder, each layer's python/ folder in template order, the runtime folder] + stdlib

The runtime folder (``.local/runtime``) holds symlinks to this venv's copies of exactly what the
Lambda python3.12 runtime provides, so a dependency missing from the layers fails here as on AWS.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

from rollcall_local.cfn import TemplateError
from rollcall_local.emulator import Aws
from rollcall_local.errors import LocalError
from rollcall_local.template import Function

# Import name → distribution name (for the .dist-info folders, which importlib.metadata reads).
RUNTIME_PROVIDED = {
    "boto3": "boto3",
    "botocore": "botocore",
    "s3transfer": "s3transfer",
    "jmespath": "jmespath",
    "dateutil": "python_dateutil",
    "six": "six",
    "urllib3": "urllib3",
}
PYTHON_RUNTIME = f"python{sys.version_info.major}.{sys.version_info.minor}"


def runtime_dir(target: Path) -> Path:
    """``target`` filled with symlinks to the runtime-provided packages (idempotent)."""
    target.mkdir(parents=True, exist_ok=True)
    for module, distribution in RUNTIME_PROVIDED.items():
        spec = importlib.util.find_spec(module)
        if spec is None or spec.origin is None:
            raise LocalError(f"{module} is not installed in this venv (run `make install`)")
        origin = Path(spec.origin)
        source = origin.parent if spec.submodule_search_locations else origin
        sources = [source, *source.parent.glob(f"{distribution}-*.dist-info")]
        for path in sources:
            _symlink(path, target / path.name)
    return target


def _symlink(source: Path, link: Path) -> None:
    if link.is_symlink() and link.resolve() == source.resolve():
        return
    temporary = link.with_name(f".{link.name}.{uuid.uuid4().hex}")
    temporary.symlink_to(source)
    os.replace(temporary, link)  # atomic: another command may be doing the same


def sys_path(function: Function, runtime: Path) -> list[str]:
    """The function's sys.path entries before the standard library, in Lambda's order."""
    paths = [function.code_dir]
    for layer in function.layers:
        python = layer / "python"
        site = python / "lib" / PYTHON_RUNTIME / "site-packages"
        paths += [p for p in (site, python) if p.is_dir()]
    return [str(p) for p in (*paths, runtime)]


def check_runtime(function: Function) -> None:
    if function.runtime != PYTHON_RUNTIME:
        raise TemplateError(
            f"{function.logical_id} needs {function.runtime or 'a Runtime'}; the local runtime is "
            f"{PYTHON_RUNTIME} (the venv's python)"
        )
    if not (function.code_dir / ".").is_dir():
        raise TemplateError(f"{function.logical_id}: {function.code_dir} does not exist (run `make build`)")


def lambda_environment(function: Function, aws: Aws, runtime: Path) -> dict[str, str]:
    """The variables Lambda gives the function: the template's, then the runtime's reserved ones."""
    today = datetime.now(UTC).strftime("%Y/%m/%d")
    reserved = {
        "AWS_LAMBDA_FUNCTION_NAME": function.name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory),
        "AWS_LAMBDA_FUNCTION_TIMEOUT": str(function.timeout),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": f"{today}/[$LATEST]{uuid.uuid4().hex}",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{function.runtime}",
        "AWS_REGION": aws.region,
        "AWS_DEFAULT_REGION": aws.region,
        "AWS_ENDPOINT_URL": aws.endpoint,
        "LAMBDA_TASK_ROOT": str(function.code_dir),
        "LAMBDA_RUNTIME_DIR": str(runtime),
        "_HANDLER": function.handler,
        "POWERTOOLS_TRACE_DISABLED": "true",  # no X-Ray daemon locally
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        **aws.credentials,
    }
    return {**function.environment, **reserved}
