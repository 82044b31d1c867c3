"""The embedded emulator's data survives a stop and a start (saved under .local/state), until reset."""

from __future__ import annotations

import dataclasses

import pytest

from rollcall_local import state
from rollcall_local.config import LocalConfig
from rollcall_local.emulator import Emulator
from rollcall_local.session import Session
from tests.integration.runtime.helpers import free_port

ITEM = {"pk": {"S": "row"}, "blob": {"B": b"\x00\xffbytes"}, "nested": {"M": {"list": {"L": [{"N": "1"}]}}}}


def test_objects_items_and_messages_are_restored_after_a_restart(fixture_config: LocalConfig) -> None:
    # Given a session with an object, an item (with binary values) and a queued message
    with Session.open(fixture_config, must_own=True) as first:
        refs = first.physical.refs
        s3, dynamodb, sqs = (first.aws.client(s) for s in ("s3", "dynamodb", "sqs"))
        s3.put_object(Bucket=refs["UploadsBucket"], Key="a/b.txt", Body=b"content", ContentType="text/plain")
        dynamodb.put_item(TableName=refs["EventsTable"], Item=ITEM)
        sqs.send_message(
            QueueUrl=refs["JobsDeadLetterQueue"],
            MessageBody="kept",
            MessageAttributes={"kind": {"DataType": "String", "StringValue": "test"}},
        )
    # When it stops (state saved, emulator gone) and a new one starts
    with Session.open(fixture_config, must_own=True) as second:
        refs = second.physical.refs
        s3, dynamodb, sqs = (second.aws.client(s) for s in ("s3", "dynamodb", "sqs"))

        # Then everything is back (the item never left the local DynamoDB's LevelDB)
        assert second.restored == state.Counts(objects=1, messages=1)
        obj = s3.get_object(Bucket=refs["UploadsBucket"], Key="a/b.txt")
        assert (obj["Body"].read(), obj["ContentType"]) == (b"content", "text/plain")
        assert dynamodb.get_item(TableName=refs["EventsTable"], Key={"pk": {"S": "row"}})["Item"] == ITEM
        (message,) = sqs.receive_message(QueueUrl=refs["JobsDeadLetterQueue"], MessageAttributeNames=["All"])[
            "Messages"
        ]
        assert message["Body"] == "kept"
        assert message["MessageAttributes"]["kind"]["StringValue"] == "test"


def test_saved_state_and_logs_are_the_owners_only(fixture_config: LocalConfig) -> None:
    # Given a .local made world-readable by an earlier version, with a log in it
    local = fixture_config.local_dir
    fixture_config.logs_dir.mkdir(parents=True, exist_ok=True)
    (fixture_config.logs_dir / "Old.log").write_text("a name\n")
    for path in (local, fixture_config.logs_dir, fixture_config.logs_dir / "Old.log"):
        path.chmod(0o777 if path.is_dir() else 0o666)
    # When a session runs a function (its log) and saves its state (names, embeddings)
    with Session.open(fixture_config, must_own=True) as session:
        session.aws.client("dynamodb").put_item(TableName=session.physical.refs["EventsTable"], Item=ITEM)
        session.spawn_logged(session.function("ProbeFunction")).close()
    # Then every folder is 0700 and every file 0600, old and new
    saved = [
        p for p in local.rglob("*") if not p.is_symlink() and "runtime" not in p.relative_to(local).parts
    ]
    state_files = [p for p in saved if p.is_file() and fixture_config.state_dir in p.parents]
    assert state_files and any(p.parent == fixture_config.logs_dir for p in saved)
    for path in [local, *saved]:
        assert path.stat().st_mode & 0o777 == (0o700 if path.is_dir() else 0o600), path


def test_reset_forgets_the_saved_state(fixture_config: LocalConfig) -> None:
    with Session.open(fixture_config, must_own=True) as session:
        session.aws.client("dynamodb").put_item(TableName=session.physical.refs["EventsTable"], Item=ITEM)
    assert fixture_config.state_dir.is_dir()

    assert state.reset(fixture_config.state_dir)

    with Session.open(fixture_config, must_own=True) as session:
        assert session.restored == state.Counts()
        assert (
            session.aws.client("dynamodb").scan(TableName=session.physical.refs["EventsTable"])["Items"] == []
        )


def test_with_aws_endpoint_url_the_session_uses_it_and_keeps_no_state(
    fixture_config: LocalConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an endpoint of our own (as LocalStack would be) named by AWS_ENDPOINT_URL
    endpoint = Emulator(free_port())
    endpoint.start()
    try:
        config = dataclasses.replace(fixture_config, external_endpoint=endpoint.endpoint)

        # When a session opens and closes there
        with Session.open(config, must_own=True) as session:
            # Then it starts no emulator, provisions there, and neither restores nor saves state
            assert session.emulator is None
            assert session.aws.endpoint == endpoint.endpoint
            assert session.aws.client("sqs").get_queue_url(QueueName="runtime-fixture-JobsQueue")["QueueUrl"]
            assert session.restored is None
        assert session.close() is None
    finally:
        endpoint.stop()


def test_save_and_restore_tell_their_progress_and_put_back_an_earlier_versions_items(
    fixture_config: LocalConfig,
) -> None:
    import base64
    import json

    # Given a session that stores two objects, and items saved by an earlier version (JSON Lines)
    with Session.open(fixture_config, must_own=True) as first:
        refs = first.physical.refs
        for key in ("one", "two"):
            first.aws.client("s3").put_object(Bucket=refs["UploadsBucket"], Key=key, Body=key.encode())
        saved: list[int] = []
        assert state.objects_to_save(first.template, first.physical) == 2
        state.save(first.aws, first.template, first.physical, fixture_config.state_dir, progress=saved.append)
        assert sum(saved) == 2
    legacy = fixture_config.state_dir / "dynamodb"
    legacy.mkdir(parents=True, exist_ok=True)
    lines = [
        {"pk": {"S": f"legacy{i}"}, "blob": {"B": base64.b64encode(bytes([i])).decode()}} for i in range(60)
    ]
    (legacy / "EventsTable.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert state.to_restore(fixture_config.state_dir) == 2 + 60

    # When a new session restores them, telling its progress
    told: list[int] = []
    original = state.restore

    def restore(*args: object, **kwargs: object) -> state.Counts:
        kwargs["progress"] = told.append
        return original(*args, **kwargs)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(state, "restore", restore)
        with Session.open(fixture_config, must_own=True) as second:
            # Then every object and item is back, and the progress counted each of them
            assert second.restored == state.Counts(objects=2, items=60)
            assert sum(told) == 62
            table = second.physical.refs["EventsTable"]
            item = second.aws.client("dynamodb").get_item(TableName=table, Key={"pk": {"S": "legacy59"}})
            assert item["Item"]["blob"] == {"B": bytes([59])}
    assert not legacy.exists()  # put into the local DynamoDB once
