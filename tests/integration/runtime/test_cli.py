"""The commands behind make invoke / fire / token / reset, run in process (`run`: tests/e2e)."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest

from rollcall.platform.auth import Role, TokenVerifier
from rollcall_local.__main__ import main
from rollcall_local.commands.run import banner
from rollcall_local.config import REPO_ROOT, LocalConfig
from rollcall_local.stack import Stack
from tests.integration.runtime.helpers import free_port, use


def verifier(config: LocalConfig) -> TokenVerifier:
    secret = config.secret_path.read_text().strip()
    return TokenVerifier(issuer="rollcall-local", audience="rollcall-api", hs256_secret=secret)


def test_token_prints_a_token_signed_with_the_local_secret(
    project: LocalConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["token", "--role", "student", "--org", "demo", "--sub", "sam"]) == 0

    principal = verifier(project).verify(capsys.readouterr().out.strip())
    assert (principal.sub, principal.org, principal.role) == ("sam", "demo", Role.STUDENT)
    assert stat.S_IMODE(project.secret_path.stat().st_mode) == 0o600


def test_render_event_fills_the_token_placeholder(
    project: LocalConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["render-event", str(REPO_ROOT / "events" / "predict-me.json")]) == 0

    event = json.loads(capsys.readouterr().out)
    scheme, token = event["headers"]["authorization"].split()
    assert scheme == "Bearer"
    assert verifier(project).verify(token).sub == "alice"


def test_invoke_runs_a_built_function_once_and_prints_its_response(
    project: LocalConfig, capfd: pytest.CaptureFixture[str]
) -> None:
    # When `make invoke FN=PredictFunction EVENT=events/predict-me.json` runs (no stack running)
    status = main(["invoke", "PredictFunction", "--event", str(REPO_ROOT / "events" / "predict-me.json")])

    # Then the response is on stdout, the function's log on stderr
    out, err = capfd.readouterr()
    response = json.loads(out)
    assert status == 0
    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"sub": "alice", "org": "demo", "role": "teacher"}
    assert "REPORT RequestId:" in err


def test_invoke_exits_non_zero_when_the_function_fails(
    monkeypatch: pytest.MonkeyPatch, fixture_config: LocalConfig, capfd: pytest.CaptureFixture[str]
) -> None:
    use(monkeypatch, fixture_config)

    assert main(["invoke", "BrokenFunction"]) == 1
    assert json.loads(capfd.readouterr().out)["errorType"] == "RuntimeError"
    assert main(["invoke", "NoSuchFunction"]) == 2
    assert "no function 'NoSuchFunction'" in capfd.readouterr().err


def test_fire_list_names_every_schedule(
    monkeypatch: pytest.MonkeyPatch, fixture_config: LocalConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    use(monkeypatch, fixture_config)

    assert main(["fire", "list"]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == [
        "TickFunctionTick",
        "TickFunctionNightly",
        "TickFunctionPaused",
    ]
    assert lines[2].endswith("(disabled)")


def test_fire_without_a_running_stack_invokes_the_function_once(
    monkeypatch: pytest.MonkeyPatch, fixture_config: LocalConfig, capfd: pytest.CaptureFixture[str]
) -> None:
    use(monkeypatch, fixture_config)
    monkeypatch.setenv("ROLLCALL_API_PORT", str(free_port()))  # no stack's API there

    assert main(["fire", "Tick"]) == 0

    event = json.loads(capfd.readouterr().out)["received"]
    assert event["detail-type"] == "Scheduled Event"
    assert event["resources"] == [
        "arn:aws:events:us-east-1:123456789012:rule/runtime-fixture-TickFunctionTick"
    ]


def test_fire_with_a_running_stack_asks_the_stack(
    monkeypatch: pytest.MonkeyPatch, fixture_stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    use(monkeypatch, fixture_stack.session.config)

    assert main(["fire", "TickFunctionNightly"]) == 0

    assert json.loads(capsys.readouterr().out) == {"received": {"job": "nightly"}}
    assert "schedule TickFunctionNightly" in fixture_stack.console.stream.getvalue()  # type: ignore[union-attr]


def test_the_run_banner_gives_urls_routes_schedules_and_tokens(fixture_stack: Stack) -> None:
    text = banner(fixture_stack)

    config = fixture_stack.session.config
    assert f"API        {config.api_url}" in text
    assert f"{config.api_url}/docs" in text
    assert "/items/{id}" in text
    assert "runtime-fixture-JobsQueue" in text
    assert "TickFunctionPaused" in text
    tokens = re.findall(r"^ +(admin|teacher|student) +eyJ", text, flags=re.MULTILINE)
    assert tokens == ["admin", "teacher", "student"]


def test_reset_forgets_the_saved_state(project: LocalConfig, capsys: pytest.CaptureFixture[str]) -> None:
    (project.state_dir / "dynamodb").mkdir(parents=True)

    assert main(["reset"]) == 0
    assert not project.state_dir.exists()
    assert main(["reset"]) == 0
    assert "no saved state" in capsys.readouterr().out


def test_invoke_beside_a_running_stack_uses_its_emulator_as_it_is(
    monkeypatch: pytest.MonkeyPatch, fixture_stack: Stack, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    # Given a running stack, and an SQS event for its batch function
    use(monkeypatch, fixture_stack.session.config)
    event = tmp_path / "event.json"
    event.write_text(
        json.dumps({"Records": [{"messageId": "m-1", "body": "one-shot", "eventSource": "aws:sqs"}]})
    )

    # When `make invoke` runs the function once
    assert main(["invoke", "BatchFunction", "--event", str(event)]) == 0

    # Then the function wrote into the running stack's table
    assert json.loads(capfd.readouterr().out) == {"batchItemFailures": []}
    session = fixture_stack.session
    item = session.aws.client("dynamodb").get_item(
        TableName=session.physical.refs["EventsTable"], Key={"pk": {"S": "sqs#one-shot"}}
    )
    assert "Item" in item
