"""The students' and sessions' routers are declared, route by route, on the function that mounts
them in the built template (the local API and API Gateway route from those events alone)."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.routing import APIRoute

from rollcall.api import sessions, students
from tests.integration.test_template import built_template


def events_of(function: str) -> set[tuple[str, str]]:
    events: dict[str, Any] = built_template()["Resources"][function]["Properties"]["Events"]
    return {
        (e["Properties"]["Method"], e["Properties"]["Path"])
        for e in events.values()
        if e["Type"] == "HttpApi" and "Path" in e["Properties"]
    }


@pytest.mark.parametrize(
    ("function", "routers"),
    [
        ("EncodeFaceFunction", [students.router, students.classes_router]),
        ("MarkAttendanceFunction", [sessions.router]),
    ],
)
def test_every_route_of_the_functions_routers_is_an_event_of_it(function: str, routers: list[Any]) -> None:
    routes = {
        (method, route.path)
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods or ()
    }
    assert routes <= events_of(function), sorted(routes - events_of(function))
    assert {
        ("GET", "/v1/students"),
        ("PATCH", "/v1/students/{student_id}"),
        ("GET", "/v1/classes/{class_id}/students"),
        ("GET", "/v1/sessions"),
        ("DELETE", "/v1/sessions/{session_id}"),
    } & routes <= events_of(function)


def test_deleting_a_session_may_list_and_delete_its_kept_photos_and_annotated_copies() -> None:
    policies = built_template()["Resources"]["MarkAttendanceFunction"]["Properties"]["Policies"]
    statements = [s for p in policies if isinstance(p, dict) for s in p.get("Statement", [])]
    by_sid = {s["Sid"]: s for s in statements if "Sid" in s}
    assert by_sid["ListKeptMarkingPhotos"]["Action"] == "s3:ListBucket"
    prefixes = by_sid["ListKeptMarkingPhotos"]["Condition"]["StringLike"]["s3:prefix"]
    assert prefixes == ["marking/*", "annotated/*"]
    assert by_sid["DeleteKeptMarkingPhotos"]["Action"] == "s3:DeleteObject"
