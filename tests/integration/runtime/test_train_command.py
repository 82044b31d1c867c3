"""make train: a training job through the built train function, followed on the job item, in
process against the embedded emulator (as make seed and make import are tested)."""

from __future__ import annotations

import json

import pytest

from rollcall.store.job_log import JobRepo
from rollcall.store.model_versions import ModelRegistry
from rollcall.store.table import OrgRecords
from rollcall_local.__main__ import main
from rollcall_local.config import LocalConfig
from rollcall_local.session import Session


def test_train_runs_the_job_to_a_registered_version_counting_the_week_slices_read(
    project: LocalConfig,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given a seeded organisation
    seed = ["seed", "--org", "cli-train", "--students", "20", "--weeks", "8", "--seed", "3", "--clean"]
    assert main(seed) == 0
    capsys.readouterr()

    # When it trains from the terminal
    assert main(["train", "--org", "cli-train", "--as", "ada"]) == 0
    out, err = capsys.readouterr()

    # Then the printed job succeeded with a version, its whole window read, slice by slice
    job = json.loads(out)
    assert (job["kind"], job["status"], job["requested_by"], job["attempts"]) == (
        "training",
        "succeeded",
        "ada",
        1,
    )
    assert (job["result"]["version"], job["result"]["trained"]) == ("v0001", True)
    progress = job["progress"]
    assert progress["unit"] == "week slices" and progress["done"] == progress["total"] > 50
    assert job["error"] == {} and job["step"] is None
    assert f"training job {job['job_id']} of cli-train" in err

    # And the job and the version are stored (a new session: the saved state restored)
    with Session.open(project) as session:
        client = session.aws.client("dynamodb")
        records = OrgRecords("cli-train", session.physical.refs["RecordsTable"], client=client)
        stored = JobRepo(records).require(job["job_id"])
        registry = ModelRegistry("cli-train", session.physical.refs["ModelRegistryTable"], client=client)
        assert (stored.status, stored.counts) == ("succeeded", progress)
        assert registry.require("attendance", "v0001").job_id == job["job_id"]
        assert registry.state("attendance").active == "v0001"


def test_train_exits_1_with_the_code_when_there_is_too_little_data_or_none(
    project: LocalConfig,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given an organisation with a week of two students, and one with no data at all
    assert main(["seed", "--org", "cli-tiny", "--students", "2", "--weeks", "1", "--clean"]) == 0
    capsys.readouterr()

    # Then training the first fails with INSUFFICIENT_DATA and its counts, cleanly
    assert main(["train", "--org", "cli-tiny"]) == 1
    out, err = capsys.readouterr()
    job = json.loads(out)
    assert (job["status"], job["error"]["code"]) == ("failed", "INSUFFICIENT_DATA")
    assert job["error"]["detail"]["usable_records"] < job["error"]["detail"]["required_records"]
    assert "failed (INSUFFICIENT_DATA)" in err and "Traceback" not in err

    # And the second is refused before any function runs
    assert main(["train", "--org", "cli-nobody"]) == 1
    out, err = capsys.readouterr()
    assert json.loads(out)["code"] == "ORG_NOT_FOUND" and "seed or import" in err


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--org", "bad#org"], "--org"),
        (["--until", "next tuesday"], "--until: 'next tuesday' is not an ISO date"),
        (["--type", "weather"], "model type"),
        (["--as", "a b"], "--as"),
    ],
)
def test_bad_arguments_are_refused_with_a_message_and_no_traceback(
    project: LocalConfig,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    says: str,
) -> None:
    assert main(["train", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and says in err and "Traceback" not in err
