"""Another organisation's ids on every route that names one: never found, and nothing of the victim
changes.

The attacker holds genuine tokens of its own organisation: an admin, and a student whose ``sub`` is
the victim's student id (its "own" record, as far as the id goes). Each route of the API's OpenAPI
document with a path id (not only a model type) is called with the victim's ids and a body it
would accept. The answer must be 404 with a ``*_NOT_FOUND`` code (the id does not exist in the
caller's organisation: its existence elsewhere is not revealed), or 403 (FORBIDDEN,
WRONG_ORGANISATION) where the route checks the role or the organisation it addresses itself;
never 2xx, never 5xx. Then the victim's stored data (its items, its objects) is exactly as before.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.conftest import LocalStack
from tests.security.conftest import ATTACKER, VICTIM, Route, Victim, body_for, changed, snapshot

NOT_IDS = {"model_type"}  # a path parameter that names a kind, the same in every organisation


def with_ids(routes: list[Route]) -> list[Route]:
    return [route for route in routes if set(route.params) - NOT_IDS]


def refused(response: httpx.Response) -> bool:
    body: dict[str, Any] = response.json()
    code = str(body.get("code", ""))
    return (
        (response.status_code == 404 and code.endswith("NOT_FOUND"))
        or (response.status_code == 403 and code in ("FORBIDDEN", "WRONG_ORGANISATION"))
        # a class roster is read in the caller's organisation, where a class without members
        # (any id) has an empty one: it reveals nothing
        or (response.status_code == 200 and body.get("items") == [] and body.get("next_cursor") is None)
    )


@pytest.mark.parametrize(("role", "sub"), [("admin", "intruder"), ("student", "obama")])
def test_another_organisation_never_reaches_the_victims_data(
    stack: LocalStack, routes: list[Route], victim: Victim, role: str, sub: str
) -> None:
    # Given the victim's data, and a genuine token of the attacker's organisation
    attacked = with_ids(routes)
    assert {"student_id", "session_id", "job_id", "anomaly_id", "version"} <= {
        p for route in attacked for p in route.params
    }
    before = snapshot(stack, VICTIM)
    assert before["rollcall-local-records"], "the victim has data"
    attacker = stack.client(role, org=ATTACKER, sub=sub)

    # When every route with an id is called with the victim's ids
    answers = []
    for route in attacked:
        kwargs = body_for(route, victim)
        answers.append((str(route), attacker.request(route.method, victim.url(route), **kwargs)))

    # Then none is found (nor reveals that it exists elsewhere)
    wrong = [(name, r.status_code, r.text[:200]) for name, r in answers if not refused(r)]
    assert wrong == [], wrong
    # and the victim's data is exactly as it was
    assert changed(before, snapshot(stack, VICTIM)) == {}
    # while the victim itself still reaches it
    owner = stack.client("admin", org=VICTIM, sub="head")
    assert owner.get(f"/v1/students/{victim.ids['student_id']}").status_code == 200
    assert owner.get(f"/v1/anomalies/{victim.ids['anomaly_id']}").status_code == 200


def test_predictions_for_another_organisations_student_store_nothing(
    stack: LocalStack, victim: Victim
) -> None:
    # Given the victim's student and session, named in the body (not the path)
    before = snapshot(stack, VICTIM)
    attacker = stack.client("admin", org=ATTACKER, sub="intruder")
    # When the attacker asks predictions for them
    one = attacker.post(
        "/v1/predictions",
        json={"student_id": victim.ids["student_id"], "session_id": victim.ids["session_id"]},
    )
    batch = attacker.post("/v1/predictions/batch", json={"session_id": victim.ids["session_id"]})
    # Then neither is found, and nothing is stored anywhere of the victim (nor of that id)
    assert refused(one) and refused(batch), (one.text, batch.text)
    assert changed(before, snapshot(stack, VICTIM)) == {}
    assert [k for k in snapshot(stack, ATTACKER)["rollcall-local-records"] if "PRED#" in k] == []
