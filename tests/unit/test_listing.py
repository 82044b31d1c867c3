"""The client routes' rules that hold before any store is read: page cursors (bound to the
organisation and the query), the listing windows and dates, arrivals of late corrections, the
roles of the new routes. Real tokens, the real apps; no network (nothing here reaches a store).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from rollcall.api import sessions, students
from rollcall.api.app import create_app
from rollcall.api.schemas import AttendanceOut
from rollcall.domain import Session, Source, Status
from rollcall.platform import cursors
from rollcall.platform.auth import issue_token
from rollcall.platform.errors import InvalidCursor, InvalidInput, ValidationFailed
from rollcall.platform.settings import EncodeFaceSettings
from rollcall.services.marking import check_arrival
from rollcall.services.sessions import parse_bound, window

SECRET = "a-local-test-secret-of-at-least-32-characters"
ISS, AUD = "rollcall-test", "rollcall-api"
NOW = datetime(2026, 9, 7, 12, 0, tzinfo=UTC)
SESSION = Session(
    "math-1", "math", datetime(2026, 9, 7, 9, 0, tzinfo=UTC), datetime(2026, 9, 7, 10, 0, tzinfo=UTC)
)


def any_key(_: str) -> bool:
    return True


# --- cursors -------------------------------------------------------------------------------------


def test_a_cursor_gives_back_its_key_for_its_organisation_and_query() -> None:
    query = cursors.fingerprint("students", {"class_id": "math"})
    cursor = cursors.encode("org-a", query, "s-0042")
    assert cursors.decode("org-a", query, cursor, valid_key=any_key) == "s-0042"
    # the filters' order and absent filters do not change the query
    assert cursors.fingerprint("students", {"class_id": "math", "x": None}) == query
    assert cursors.fingerprint("sessions", {"to": "b", "from": "a"}) == cursors.fingerprint(
        "sessions", {"from": "a", "to": "b"}
    )


@pytest.mark.parametrize(
    ("cursor", "why"),
    [
        ("garbage", "not a cursor"),
        ("", "not a cursor"),
        ("%%%", "not a cursor"),
        ("eyJ2IjoxfQ", "not a cursor"),  # {"v":1}: no key
        ("bnVsbA", "not a cursor"),  # null
        ("x" * 600, "too long"),
    ],
)
def test_garbage_is_refused(cursor: str, why: str) -> None:
    with pytest.raises(InvalidCursor) as refused:
        cursors.decode("org-a", cursors.fingerprint("students", {}), cursor, valid_key=any_key)
    assert refused.value.status == 400
    assert refused.value.code == "INVALID_CURSOR"
    assert why in refused.value.detail["message"]
    assert refused.value.detail["parameter"] == "cursor"


def refusal(org: str, query: str, cursor: str, **kwargs: object) -> str:
    with pytest.raises(InvalidCursor) as refused:
        cursors.decode(org, query, cursor, valid_key=kwargs.get("valid_key", any_key))  # type: ignore[arg-type]
    return str(refused.value.detail["message"])


def test_a_cursor_of_another_organisation_or_query_or_key_shape_is_refused() -> None:
    query = cursors.fingerprint("students", {"class_id": "math"})
    cursor = cursors.encode("org-a", query, "s-0042")
    assert "another organisation" in refusal("org-b", query, cursor)
    for other in (cursors.fingerprint("students", {"class_id": "bio"}), cursors.fingerprint("sessions", {})):
        assert "another query" in refusal("org-a", other, cursor)
    assert "not a position" in refusal("org-a", query, cursor, valid_key=lambda k: k.startswith("2026"))


# --- session listing windows and dates ----------------------------------------------------------


def test_dates_and_times_are_read_as_utc_bounds() -> None:
    assert parse_bound("2026-09-07", "from", end_of_day=False) == datetime(2026, 9, 7, tzinfo=UTC)
    assert parse_bound("2026-09-07", "to", end_of_day=True) == datetime(2026, 9, 7, 23, 59, 59, tzinfo=UTC)
    assert parse_bound("2026-09-07T11:00:00+02:00", "from", end_of_day=False) == datetime(
        2026, 9, 7, 9, tzinfo=UTC
    )
    assert parse_bound("2026-09-07T09:00:00", "from", end_of_day=False) == datetime(2026, 9, 7, 9, tzinfo=UTC)
    assert parse_bound(None, "from", end_of_day=False) is None


@pytest.mark.parametrize("value", ["yesterday", "2026-13-01", "2026-02-30", "07/09/2026", "2026-09-07T25:00"])
def test_a_bad_date_is_400_invalid_date(value: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_bound(value, "to", end_of_day=True)
    assert (refused.value.status, refused.value.code) == (400, "INVALID_DATE")
    assert refused.value.detail["parameter"] == "to"


def test_the_organisations_window_is_bounded_and_a_class_reads_all_its_dates() -> None:
    day = timedelta(days=1)
    assert window(None, None, None, NOW) == (NOW - 30 * day, NOW + 30 * day)
    assert window(None, NOW, None, NOW) == (NOW, NOW + 60 * day)
    assert window(None, None, NOW, NOW) == (NOW - 60 * day, NOW)
    assert window("math", None, None, NOW) == (None, None)
    assert window("math", NOW - 1000 * day, NOW, NOW) == (NOW - 1000 * day, NOW)
    cases: list[tuple[str | None, datetime, datetime]] = [
        (None, NOW, NOW - day),
        ("math", NOW, NOW - day),
        (None, NOW - 367 * day, NOW),
    ]
    for class_id, since, until in cases:
        with pytest.raises(InvalidInput) as refused:
            window(class_id, since, until, NOW)
        assert (refused.value.status, refused.value.code) == (400, "INVALID_DATE_RANGE")


# --- late arrivals -------------------------------------------------------------------------------


def test_a_late_arrival_is_after_the_start_and_on_the_sessions_day() -> None:
    start = SESSION.starts_at
    check_arrival(SESSION, Status.LATE, start + timedelta(minutes=12))
    check_arrival(SESSION, Status.LATE, datetime(2026, 9, 7, 23, 59, 59, tzinfo=UTC))
    for arrived in (start, start - timedelta(minutes=1), datetime(2026, 9, 8, 0, 0, tzinfo=UTC)):
        with pytest.raises(ValidationFailed) as refused:
            check_arrival(SESSION, Status.LATE, arrived)
        assert (refused.value.status, refused.value.code) == (422, "INVALID_ARRIVAL")
    with pytest.raises(ValidationFailed) as refused:
        check_arrival(SESSION, Status.PRESENT, start + timedelta(minutes=5))
    assert "only with status late" in refused.value.detail["message"]


def test_a_session_across_midnight_takes_arrivals_until_its_end() -> None:
    night = Session(
        "n-1", "night", datetime(2026, 9, 7, 22, 0, tzinfo=UTC), datetime(2026, 9, 8, 2, 0, tzinfo=UTC)
    )
    check_arrival(night, Status.LATE, datetime(2026, 9, 8, 1, 30, tzinfo=UTC))
    with pytest.raises(ValidationFailed):
        check_arrival(night, Status.LATE, datetime(2026, 9, 8, 2, 30, tzinfo=UTC))


def test_arrival_is_exposed_in_minutes_after_the_start() -> None:
    record = SESSION.record(
        "ann",
        Status.LATE,
        arrived_at=SESSION.starts_at + timedelta(minutes=7, seconds=30),
        source=Source.CORRECTION,
    )
    out = AttendanceOut.of(record)
    assert out.minutes_after_start == 7.5
    assert AttendanceOut.of(SESSION.record("ben", Status.EXCUSED)).minutes_after_start is None
    schema = AttendanceOut.model_json_schema()["properties"]
    assert "minutes after the session's start" in schema["minutes_after_start"]["description"]


# --- the routes, before any store ---------------------------------------------------------------


def settings_of() -> EncodeFaceSettings:
    return EncodeFaceSettings(
        stage="test",
        records_table="test-records",
        photo_bucket="test-photos",
        auth_issuer=ISS,
        auth_audience=AUD,
        auth_hs256_secret=SecretStr(SECRET),
    )


@pytest.fixture(scope="module")
def api() -> TestClient:
    app = create_app(
        "encode-face",
        routers=[students.router, students.classes_router, sessions.router],
        settings=settings_of(),
    )
    return TestClient(app)


def auth(role: str, org: str = "org-a") -> dict[str, str]:
    token = issue_token(secret=SECRET, sub=f"{role}-1", org=org, role=role, issuer=ISS, audience=AUD)
    return {"authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    ("method", "path", "role"),
    [
        ("GET", "/v1/students", "student"),
        ("GET", "/v1/classes/math/students", "student"),
        ("PATCH", "/v1/students/ann", "student"),
        ("GET", "/v1/sessions", "student"),
        ("DELETE", "/v1/sessions/math-1", "student"),
        ("DELETE", "/v1/sessions/math-1", "teacher"),
    ],
)
def test_the_new_routes_refuse_the_roles_they_do_not_admit(
    api: TestClient, method: str, path: str, role: str
) -> None:
    response = api.request(
        method, path, headers=auth(role), json={"name": "X"} if method == "PATCH" else None
    )
    assert (response.status_code, response.json()["code"]) == (403, "FORBIDDEN")
    assert api.request(method, path).json()["code"] == "TOKEN_MISSING"


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/v1/students?cursor=garbage", 400, "INVALID_CURSOR"),
        ("/v1/classes/math/students?cursor=garbage", 400, "INVALID_CURSOR"),
        ("/v1/sessions?cursor=garbage", 400, "INVALID_CURSOR"),
        ("/v1/sessions?class_id=math&cursor=garbage", 400, "INVALID_CURSOR"),
        ("/v1/sessions?from=yesterday", 400, "INVALID_DATE"),
        ("/v1/sessions?to=2026-02-30", 400, "INVALID_DATE"),
        ("/v1/sessions?from=2026-09-08&to=2026-09-07", 400, "INVALID_DATE_RANGE"),
        ("/v1/sessions?from=2024-01-01&to=2026-01-01", 400, "INVALID_DATE_RANGE"),
        ("/v1/students?limit=0", 422, "VALIDATION_ERROR"),
        ("/v1/students?limit=201", 422, "VALIDATION_ERROR"),
        ("/v1/students?class_id=bad%23id", 422, "VALIDATION_ERROR"),
    ],
)
def test_bad_listing_parameters_are_4xx_with_a_code(
    api: TestClient, path: str, status: int, code: str
) -> None:
    response = api.get(path, headers=auth("teacher"))
    assert (response.status_code, response.json()["code"]) == (status, code), response.text
    assert isinstance(response.json()["detail"], dict)


def test_a_cursor_of_another_organisation_is_refused_before_any_read(api: TestClient) -> None:
    theirs = cursors.encode("org-b", cursors.fingerprint("students", {"class_id": None}), "s-1")
    response = api.get(f"/v1/students?cursor={theirs}", headers=auth("admin"))
    assert (response.status_code, response.json()["code"]) == (400, "INVALID_CURSOR")
    assert "another organisation" in response.json()["detail"]["message"]


def test_a_correction_validates_status_and_arrival_before_any_read(api: TestClient) -> None:
    path = "/v1/sessions/math-1/attendance/ann"
    for body in (
        {"status": "sick"},
        {"status": "late", "arrived_at": "2026-09-07T09:10:00"},  # no offset
        {"status": "late", "arrived_at": "soon"},
    ):
        response = api.patch(path, headers=auth("teacher"), json=body)
        assert (response.status_code, response.json()["code"]) == (422, "VALIDATION_ERROR"), body


def test_the_openapi_documents_the_new_routes_with_the_error_envelope(api: TestClient) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    for path, method in (
        ("/v1/students", "get"),
        ("/v1/students/{student_id}", "patch"),
        ("/v1/classes/{class_id}/students", "get"),
        ("/v1/sessions", "get"),
        ("/v1/sessions/{session_id}", "delete"),
    ):
        responses = paths[path][method]["responses"]
        for status in ("400", "401", "403", "404", "422"):
            assert responses[status]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ErrorBody"
            }, (path, method, status)
    parameters = {p["name"]: p for p in paths["/v1/sessions"]["get"]["parameters"]}
    assert {"class_id", "from", "to", "limit", "cursor"} <= set(parameters)
    correction = api.get("/openapi.json").json()["components"]["schemas"]["CorrectionIn"]["properties"]
    assert "excused" in correction["status"]["enum"]


# --- excused: neither attended nor absent in the cores -------------------------------------------


def test_an_excused_absence_counts_neither_way_in_scans_and_training() -> None:
    from rollcall.anomaly.frame import Frame
    from rollcall.ml.features import usable
    from rollcall.store.attendance import RANK

    records = [
        SESSION.record("ann", Status.EXCUSED, source=Source.CORRECTION),
        SESSION.record("ben", Status.ABSENT),
        SESSION.record("cat", Status.PRESENT),
    ]
    frame = Frame.of(records)
    assert frame.usable.tolist() == [False, True, True]
    assert frame.attended.tolist() == [False, False, True]
    attended, total = frame.per_student(frame.usable | True)
    assert (attended.tolist(), total.tolist()) == ([0, 0, 1], [0, 1, 1])
    assert [r.student_id for r in usable(records)] == ["ben", "cat"]
    assert RANK[Status.EXCUSED] > RANK[Status.ABSENT]  # a roster's "absent" never lowers it


def test_the_whole_api_knows_the_new_paths_for_405s() -> None:
    from rollcall.api.app import methods_for

    assert methods_for("/v1/classes/geo/students") == {"GET"}
    assert {"GET", "POST"} <= methods_for("/v1/students")
    assert {"GET", "PATCH", "DELETE"} <= methods_for("/v1/students/s-1")
    assert {"GET", "POST"} <= methods_for("/v1/sessions")
    assert {"GET", "DELETE"} <= methods_for("/v1/sessions/x-1")
