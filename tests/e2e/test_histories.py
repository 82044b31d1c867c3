"""A real-shaped history over HTTP: appointments of 2016 with lead times, reminders, person
attributes and clinics given by name are imported, trained on and predicted with."""

from __future__ import annotations

from typing import Any

import pytest

from rollcall.domain import class_id_for, iso
from testkit.synthetic.appointments import (
    CLINICS,
    AppointmentHistory,
    appointments_csv,
    generate_appointments,
)
from tests.e2e.conftest import LocalStack
from tests.integration.runtime.helpers import wait_for

ORG = "clinic"
CSV = {"content-type": "text/csv"}
NAMES = {class_id_for(name): name for name in CLINICS}
FILES = 24


@pytest.fixture(scope="module")
def history() -> AppointmentHistory:
    return generate_appointments(ORG, people=1200, weeks=20, seed=31)


@pytest.fixture(scope="module")
def imported(stack: LocalStack, history: AppointmentHistory) -> list[dict[str, Any]]:
    """The history in files of about 50 people each (an import answers within the API's 30 s)."""
    teacher = stack.client("teacher", org=ORG)
    answers = []
    for part in range(FILES):
        records = [r for r in history.records if int(r.student_id[1:]) % FILES == part]
        response = teacher.post("/v1/attendance/import", content=appointments_csv(records), headers=CSV)
        assert response.status_code == 201, response.text
        answers.append(dict(response.json()))
    return answers


@pytest.fixture(scope="module")
def trained(stack: LocalStack, imported: list[dict[str, Any]]) -> dict[str, Any]:
    admin = stack.client("admin", org=ORG, sub="root")
    queued = admin.post("/v1/models/attendance/train")
    assert queued.status_code == 202, queued.text
    job_id = queued.json()["job_id"]

    def finished() -> dict[str, Any] | None:
        job = admin.get(f"/v1/jobs/{job_id}").json()
        return job if job["status"] in ("succeeded", "failed") else None

    return wait_for(finished, timeout=300, interval=1, what=f"job {job_id} done")


def test_a_2016_history_with_covariates_and_named_clinics_imports(
    imported: list[dict[str, Any]], history: AppointmentHistory
) -> None:
    assert sum(a["records_written"] for a in imported) == len(history.records)
    named = {k: v for answer in imported for k, v in answer["classes"].items()}
    assert named == {r.class_id: NAMES[r.class_id] for r in history.records}
    assert named[class_id_for("JARDIM DA PENHA")] == "JARDIM DA PENHA"


def test_it_trains_on_a_window_ending_at_its_latest_record_with_its_covariates(
    stack: LocalStack, trained: dict[str, Any], history: AppointmentHistory
) -> None:
    assert trained["status"] == "succeeded", trained
    result = trained["result"]
    assert result["counts"]["usable_records"] == len(history.records)
    assert result["counts"]["covariates"] == 5
    assert result["activated"] is True and result["activation"]["roc_auc"] > 0.6
    version = stack.client("admin", org=ORG).get("/v1/models/attendance/versions/v0001").json()
    assert version["features"][-5:] == ["lead_days", "reminder_sent", "attr_age", "attr_area", "attr_chronic"]


def test_it_predicts_with_the_query_covariates_and_says_so(
    stack: LocalStack, trained: dict[str, Any], history: AppointmentHistory
) -> None:
    teacher = stack.client("teacher", org=ORG)
    last = history.records[-1]
    starts = iso(last.starts_at.replace(year=2016, month=12, day=1))
    clinic = class_id_for("CENTRO")

    def ask(student: str, **covariates: Any) -> dict[str, Any]:
        body = {"student_id": student, "class_id": clinic, "starts_at": starts, **covariates}
        response = teacher.post("/v1/predictions", json=body)
        assert response.status_code == 200, response.text
        return dict(response.json())

    # A first-timer: a student just enrolled, with no attendance yet (predictions answer only for a
    # student who exists)
    newcomer = {"student_id": "newcomer", "name": "New Comer", "class_ids": [clinic]}
    assert teacher.post("/v1/students", json=newcomer).status_code in (201, 409)
    far = ask("newcomer", scheduled_at="2016-09-01T00:00:00Z", reminder_sent=False, attributes={"age": 25})
    near = ask("newcomer", scheduled_at=starts, reminder_sent=False, attributes={"age": 25})
    assert (far["method"], far["basis"], far["model_version"]) == ("model", "priors+covariates", "v0001")
    assert far["probability"] < near["probability"]
    assert "lead_days" in [f["name"] for f in far["factors"]]
    known = ask(last.student_id)
    assert (known["method"], known["basis"]) == ("model", "history+covariates")  # their recorded attributes

    refused = teacher.post(
        "/v1/predictions",
        json={"student_id": "x", "class_id": clinic, "starts_at": starts, "attributes": {"Bad Name": 1}},
    )
    assert refused.status_code == 422
