"""The worker's handler loading and error shapes, as the Lambda python runtime reports them.

(The worker runs in its own process; these call its functions here, on modules written for the test.)
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from rollcall_local import bootstrap


@pytest.fixture
def modules(tmp_path: Path) -> Iterator[Path]:
    sys.path.insert(0, str(tmp_path))
    try:
        yield tmp_path
    finally:
        sys.path.remove(str(tmp_path))
        for name in ("ok_mod", "bad_syntax", "needs_missing"):
            sys.modules.pop(name, None)


@pytest.mark.parametrize(
    ("source", "spec", "error_type", "message"),
    [
        (None, "nohandler", "Runtime.MalformedHandlerName", "Bad handler 'nohandler'"),
        (None, "sys.handler", "Runtime.BuiltInModuleConflict", "Cannot use built-in module sys"),
        (
            "import not_installed_anywhere\n",
            "needs_missing.handler",
            "Runtime.ImportModuleError",
            "Unable to import module 'needs_missing': No module named 'not_installed_anywhere'",
        ),
        (
            "def handler(:\n",
            "bad_syntax.handler",
            "Runtime.UserCodeSyntaxError",
            "Syntax error in module 'bad_syntax'",
        ),
        (
            "x = 1\n",
            "ok_mod.missing",
            "Runtime.HandlerNotFound",
            "Handler 'missing' missing on module 'ok_mod'",
        ),
    ],
)
def test_a_handler_that_cannot_be_loaded_is_a_runtime_fault(
    modules: Path, source: str | None, spec: str, error_type: str, message: str
) -> None:
    if source is not None:
        (modules / f"{spec.split('.')[0]}.py").write_text(source)

    with pytest.raises(bootstrap.Fault) as fault:
        bootstrap.load_handler(spec)

    assert fault.value.error_type == error_type
    assert str(fault.value).startswith(message)


def test_a_loadable_handler_is_returned(modules: Path) -> None:
    (modules / "ok_mod.py").write_text("def handler(event, context):\n    return event\n")

    assert bootstrap.load_handler("ok_mod.handler")({"a": 1}, None) == {"a": 1}


def test_an_error_document_has_lambdas_fields_and_the_users_frames_only() -> None:
    try:
        raise ValueError("bad value")
    except ValueError as e:
        error = bootstrap._error(e, "request-1")

    assert set(error) == {"errorMessage", "errorType", "requestId", "stackTrace"}
    assert (error["errorMessage"], error["errorType"], error["requestId"]) == (
        "bad value",
        "ValueError",
        "request-1",
    )
    assert "test_bootstrap.py" in error["stackTrace"][0]


def test_decimals_are_serialised_as_lambda_serialises_them() -> None:
    assert bootstrap._json_default(Decimal("3")) == 3
    assert bootstrap._json_default(Decimal("2.5")) == 2.5
    with pytest.raises(TypeError, match="set is not JSON serializable"):
        bootstrap._json_default({1})
