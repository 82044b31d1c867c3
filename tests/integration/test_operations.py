"""Operations in the built template: gradual deploys, alarms, the dashboard, the JWT authorizer;
and the deploy smoke test passing against the local stack (`make invoke` of the hook)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from rollcall_local.__main__ import main
from rollcall_local.config import REPO_ROOT, LocalConfig
from tests.integration.test_template import built_template

HOOK = "SmokeHookFunction"


def resources(kind: str) -> dict[str, dict[str, Any]]:
    found = built_template()["Resources"]
    return {k: v.get("Properties") or {} for k, v in found.items() if v["Type"] == kind}


def merged(function: dict[str, Any], key: str) -> Any:
    """A function's property with the template's Globals under it, as SAM merges them (maps merged,
    lists the global items then the function's)."""
    return _merge(built_template()["Globals"]["Function"].get(key), function.get(key))


def _merge(global_value: Any, value: Any) -> Any:
    if isinstance(global_value, dict) and isinstance(value, dict):
        return {k: _merge(global_value.get(k), value.get(k)) for k in {*global_value, *value}}
    if isinstance(global_value, list) and isinstance(value, list):
        return [*global_value, *value]
    return global_value if value is None else value


def refs(node: Any) -> set[str]:
    """Every logical id a node names: Ref, GetAtt and ${...} in Sub."""
    text = json.dumps(node)
    found = set(re.findall(r'"Ref": "([A-Za-z0-9]+)', text))
    found |= set(re.findall(r'"Fn::GetAtt": \["?([A-Za-z0-9]+)', text))
    found |= set(re.findall(r'"Fn::GetAtt": "([A-Za-z0-9]+)\.', text))
    return found | set(re.findall(r"\$\{([A-Za-z0-9]+)[.}]", text))


def test_every_function_publishes_the_live_alias_and_deploys_gradually_behind_the_smoke_test() -> None:
    functions = resources("AWS::Serverless::Function")
    assert len(functions) >= 6
    for name, props in functions.items():
        assert merged(props, "AutoPublishAlias") == "live", name
        preference = merged(props, "DeploymentPreference")
        if name == HOOK:  # a hook cannot gate its own deploy
            assert preference["Enabled"] is False
            continue
        assert preference.get("Enabled", True) is not False, name
        assert preference["Type"].startswith(("Canary", "Linear", "AllAtOnce")), name
        assert preference["Hooks"]["PreTraffic"] == {"Ref": HOOK}, name
        alarms = [a["Ref"] for a in preference["Alarms"]]
        assert {f"{name.removesuffix('Function')}ErrorsAlarm", "ApiServerErrorRateAlarm"} <= set(alarms)
        if any(e["Type"] == "HttpApi" for e in (props.get("Events") or {}).values()):
            assert preference["Type"].startswith("Canary"), f"{name} serves HTTP: canary"


def test_the_hook_tries_every_gated_functions_new_version() -> None:
    functions = resources("AWS::Serverless::Function")
    hook = functions[HOOK]
    assert hook["FunctionName"] == {"Fn::Sub": "CodeDeployHook_${AWS::StackName}-smoke"}
    targets = {v["Ref"] for k, v in hook["Environment"]["Variables"].items() if k.startswith("SMOKE_TARGET_")}
    assert targets == {f"{name}.Version" for name in functions if name != HOOK}


def test_every_queue_and_dead_letter_queue_has_an_alarm() -> None:
    alarmed = set().union(
        *(
            refs(a.get("Dimensions")) | refs(a.get("Metrics"))
            for a in resources("AWS::CloudWatch::Alarm").values()
        )
    )
    queues = set(resources("AWS::SQS::Queue"))
    assert {q for q in queues if "DeadLetter" in q}, "the template has dead-letter queues"
    assert queues <= alarmed, f"queues without an alarm: {queues - alarmed}"


def test_every_function_has_error_throttle_and_duration_alarms() -> None:
    alarms = resources("AWS::CloudWatch::Alarm")
    for name in resources("AWS::Serverless::Function"):
        if name == HOOK:
            continue
        watched = {a["MetricName"] for a in alarms.values() if refs(a.get("Dimensions")) == {name}}
        assert watched >= {"Errors", "Throttles", "Duration"}, name


def test_every_alarm_notifies_the_topic_and_is_on_the_dashboard() -> None:
    alarms = resources("AWS::CloudWatch::Alarm")
    body = resources("AWS::CloudWatch::Dashboard")["Dashboard"]["DashboardBody"]["Fn::Sub"]
    on_dashboard = set(re.findall(r"\$\{([A-Za-z0-9]+)\.Arn\}", body))
    for name, alarm in alarms.items():
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}] or name in on_dashboard, name
        assert alarm["AlarmName"]["Fn::Sub"].startswith("${AWS::StackName}-${Stage}-"), name
    assert set(alarms) <= on_dashboard


def test_the_dashboard_body_is_json_with_the_products_metrics() -> None:
    body = resources("AWS::CloudWatch::Dashboard")["Dashboard"]["DashboardBody"]["Fn::Sub"]
    document = json.loads(re.sub(r"\$\{[^}]+\}", "x", body))
    assert len(document["widgets"]) >= 10
    for metric in (
        "FacesPerPhoto",
        "UncertainShare",
        "MarkingTime",
        "PredictionsByMethod",
        "ActiveModelAuc",
        "AnomaliesRaisedByType",
        "ColdStart",
        "ConcurrentExecutions",
        "ApproximateNumberOfMessagesVisible",
        "Latency",
    ):
        assert metric in body, metric


def test_the_http_api_has_a_jwt_authorizer_from_the_deploy_parameters() -> None:
    api = resources("AWS::Serverless::HttpApi")["HttpApi"]
    auth = api["Auth"]
    config = auth["Authorizers"][auth["DefaultAuthorizer"]]["JwtConfiguration"]
    assert config == {"issuer": {"Ref": "JwtIssuer"}, "audience": [{"Ref": "JwtAudience"}]}
    health = resources("AWS::Serverless::Function")["PredictFunction"]["Events"]["Health"]["Properties"]
    assert health["Auth"] == {"Authorizer": "NONE"}


def test_registry_and_job_reads_are_served_by_predict_not_train() -> None:
    events = {n: p.get("Events") or {} for n, p in resources("AWS::Serverless::Function").items()}
    reads = {
        (e["Properties"]["Method"], e["Properties"]["Path"])
        for e in events["PredictFunction"].values()
        if e["Type"] == "HttpApi" and "Path" in e["Properties"]  # not the $default route
    }
    assert ("GET", "/v1/jobs/{job_id}") in reads
    assert ("GET", "/v1/models/{model_type}/versions") in reads
    train = [e["Properties"] for e in events["TrainFunction"].values() if e["Type"] == "HttpApi"]
    assert all(p["Method"] != "GET" for p in train)


@pytest.mark.usefixtures("project")
def test_the_smoke_hook_passes_against_the_local_stack_and_reports_to_codedeploy(
    capfd: pytest.CaptureFixture[str],
) -> None:
    # When `make invoke FN=SmokeHookFunction EVENT=events/smoke-pre-traffic.json` runs
    status = main(["invoke", HOOK, "--event", str(REPO_ROOT / "events" / "smoke-pre-traffic.json")])

    # Then every function's version was tried, and CodeDeploy was told Succeeded
    out, err = capfd.readouterr()
    answer = json.loads(out)
    assert status == 0
    assert answer["status"] == "Succeeded", [c for c in answer["checks"] if not c["passed"]]
    tried = {c["function"] for c in answer["checks"]}
    assert tried == {"encode-face", "mark-attendance", "predict", "train", "anomaly-scan"}
    names = {c["name"] for c in answer["checks"] if c["function"] == "predict"}
    assert {"health: 200", "wrong audience: 401", "canary prediction"} <= names
    assert all(not c["skipped"] for c in answer["checks"])
    assert "CodeDeploy hook local-pre-traffic-hook-execution: Succeeded" in err


def test_project_fixture_is_the_real_build(project: LocalConfig) -> None:
    assert (project.build_dir / "template.yaml").is_file()


def test_the_local_api_applies_the_templates_authorizer(project: LocalConfig) -> None:
    from rollcall.platform.auth.tokens import issue_token
    from rollcall_local.apigw import Authorizers, Request, Router
    from rollcall_local.session import load_template

    # Given the built template's authorizer, as the local API reads it
    template = load_template(project)
    authorizers = Authorizers.of(template)
    router = Router(template.routes())
    me, _ = router.match("GET", "/v1/me") or (None, None)
    health, _ = router.match("GET", "/health") or (None, None)
    assert me is not None and health is not None
    secret = str(template.parameters["JwtSecret"])

    def request(issuer: str = "rollcall-local", audience: str = "rollcall-api") -> Request:
        token = issue_token(
            secret=secret, sub="alice", org="demo", role="teacher", issuer=issuer, audience=audience
        )
        return Request("GET", "/v1/me", "", [("authorization", f"Bearer {token}")], b"")

    authorizer = authorizers.of_route(me)
    # Then the health check has none; a token of the stack passes; another issuer or audience does not
    assert authorizers.of_route(health) is None
    assert authorizer is not None
    assert (authorizer.claims(request()) or {}).get("org") == "demo"
    assert authorizer.claims(request(issuer="someone-else")) is None
    assert authorizer.claims(request(audience="another-api")) is None
    assert authorizer.claims(Request("GET", "/v1/me", "", [], b"")) is None
