"""Provisioning the real built template (.aws-sam/build, from `make build`) on a fresh moto server."""

from __future__ import annotations

import json
from typing import Any

from rollcall_local.emulator import Aws
from rollcall_local.provision import provision, queue_attributes
from rollcall_local.template import BUCKET, QUEUE, TABLE, Physical, Template


def test_every_table_has_its_keys_indexes_ttl_recovery_and_encryption(
    template: Template, aws: Aws, physical: Physical
) -> None:
    dynamodb = aws.client("dynamodb")
    tables = template.resources_of(TABLE)
    assert {"RecordsTable", "ModelRegistryTable", "IdempotencyTable"} <= set(tables)
    for logical_id, raw in tables.items():
        props = template.resolve(raw, physical)
        name = physical.refs[logical_id]
        assert name == props["TableName"]

        table = dynamodb.describe_table(TableName=name)["Table"]
        assert table["KeySchema"] == props["KeySchema"], logical_id
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        assert _index_keys(table.get("GlobalSecondaryIndexes")) == _index_keys(
            props.get("GlobalSecondaryIndexes")
        )
        assert table["SSEDescription"]["Status"] == "ENABLED"
        ttl = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        if "TimeToLiveSpecification" in props:
            assert ttl == {
                "TimeToLiveStatus": "ENABLED",
                "AttributeName": props["TimeToLiveSpecification"]["AttributeName"],
            }
        backups = dynamodb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
        pitr = backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"]
        wanted = (props.get("PointInTimeRecoverySpecification") or {}).get(
            "PointInTimeRecoveryEnabled", False
        )
        assert pitr == ("ENABLED" if wanted else "DISABLED"), logical_id
    records = dynamodb.describe_table(TableName=physical.refs["RecordsTable"])["Table"]
    assert sorted(i["IndexName"] for i in records["GlobalSecondaryIndexes"]) == ["gsi1", "gsi2", "gsi3"]
    (changes,) = [i for i in records["GlobalSecondaryIndexes"] if i["IndexName"] == "gsi3"]
    assert changes["Projection"]["ProjectionType"] == "INCLUDE"
    assert "starts_at" in changes["Projection"]["NonKeyAttributes"]
    assert dynamodb.describe_time_to_live(TableName="rollcall-local-records")["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED",
        "AttributeName": "expires_at",
    }


def _index_keys(indexes: list[dict[str, Any]] | None) -> dict[str, Any]:
    return {index["IndexName"]: index["KeySchema"] for index in indexes or []}


def test_every_bucket_is_encrypted_and_private_models_versioned_photos_and_windows_expired(
    template: Template, aws: Aws, physical: Physical
) -> None:
    s3 = aws.client("s3")
    buckets = template.resources_of(BUCKET)
    assert set(buckets) == {"ModelBucket", "PhotoBucket", "ScanCacheBucket", "JobFilesBucket"}
    assert physical.refs["ModelBucket"] == "rollcall-local-models-123456789012-us-east-1"
    for logical_id in buckets:
        name = physical.refs[logical_id]
        rules = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"]
        assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
        block = s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
        assert block == dict.fromkeys(
            ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), True
        )
    models = physical.refs["ModelBucket"]
    assert s3.get_bucket_versioning(Bucket=models)["Status"] == "Enabled"
    lifecycle = s3.get_bucket_lifecycle_configuration(Bucket=models)["Rules"]
    assert lifecycle[0]["ID"] == "expire-old-versions"
    assert lifecycle[0]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 90}
    # Kept photos: no old versions, every object expired after PhotoRetentionDays (30 by default)
    photos = physical.refs["PhotoBucket"]
    assert "Status" not in s3.get_bucket_versioning(Bucket=photos)
    (rule,) = s3.get_bucket_lifecycle_configuration(Bucket=photos)["Rules"]
    assert (rule["ID"], rule["Status"], rule["Expiration"]) == ("expire-kept-photos", "Enabled", {"Days": 30})
    # The scan's cached windows: no old versions (an erased student's rows must really go), expired
    windows = physical.refs["ScanCacheBucket"]
    assert "Status" not in s3.get_bucket_versioning(Bucket=windows)
    (rule,) = s3.get_bucket_lifecycle_configuration(Bucket=windows)["Rules"]
    assert (rule["ID"], rule["Expiration"]) == ("expire-scan-windows", {"Days": 3})
    # Jobs' inputs and results: expired after a week
    (rule,) = s3.get_bucket_lifecycle_configuration(Bucket=physical.refs["JobFilesBucket"])["Rules"]
    assert (rule["ID"], rule["Expiration"]) == ("expire-job-files", {"Days": 7})


def test_every_queue_has_its_attributes_and_redrives_to_its_dlq(
    template: Template, aws: Aws, physical: Physical
) -> None:
    sqs = aws.client("sqs")
    queues = template.resources_of(QUEUE)
    assert set(queues) == {
        "TrainingQueue",
        "TrainingDeadLetterQueue",
        "AlertQueue",
        "AlertDeadLetterQueue",
        "JobsQueue",
        "JobsDeadLetterQueue",
        "PhotoUploadsQueue",
        "PhotoUploadsDeadLetterQueue",
        "FaceUploadsQueue",
        "FaceUploadsDeadLetterQueue",
    }
    for logical_id, raw in queues.items():
        url = physical.refs[logical_id]
        actual = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert actual["QueueArn"] == physical.attribute(logical_id, "Arn")
        for key, value in queue_attributes(template.resolve(raw, physical)).items():
            if key != "RedrivePolicy":
                assert actual[key] == value, (logical_id, key)
    for source, dlq in (
        ("TrainingQueue", "rollcall-local-training-dlq"),
        ("AlertQueue", "rollcall-local-alerts-dlq"),
    ):
        attributes = sqs.get_queue_attributes(
            QueueUrl=physical.refs[source], AttributeNames=["RedrivePolicy"]
        )
        policy = json.loads(attributes["Attributes"]["RedrivePolicy"])
        assert policy == {
            "deadLetterTargetArn": f"arn:aws:sqs:us-east-1:123456789012:{dlq}",
            "maxReceiveCount": 3,
        }
    training = sqs.get_queue_attributes(QueueUrl=physical.refs["TrainingQueue"], AttributeNames=["All"])
    assert training["Attributes"]["VisibilityTimeout"] == "5400"
    jobs = sqs.get_queue_attributes(QueueUrl=physical.refs["JobsQueue"], AttributeNames=["All"])["Attributes"]
    assert jobs["VisibilityTimeout"] == "5400"
    assert json.loads(jobs["RedrivePolicy"]) == {
        "deadLetterTargetArn": "arn:aws:sqs:us-east-1:123456789012:rollcall-local-jobs-dlq",
        "maxReceiveCount": 5,
    }


def test_every_schedule_is_a_rule_with_its_expression_targeting_its_function(
    template: Template, aws: Aws, physical: Physical
) -> None:
    events = aws.client("events")
    schedules = template.schedules(physical)
    assert {s.logical_id: s.expression for s in schedules.values()} == {
        "TrainFunctionWeeklyRetrain": "cron(0 3 ? * MON *)",
        "TrainFunctionDailyRetention": "cron(30 3 * * ? *)",
        "AnomalyScanFunctionScanSchedule": "rate(6 hours)",
    }
    for schedule in schedules.values():
        rule = events.describe_rule(Name=schedule.name)
        assert (rule["ScheduleExpression"], rule["State"]) == (schedule.expression, "ENABLED")
        targets = events.list_targets_by_rule(Rule=schedule.name)["Targets"]
        assert [t["Arn"] for t in targets] == [
            f"arn:aws:lambda:us-east-1:123456789012:function:{schedule.function}"
        ]
    assert events.describe_rule(Name="rollcall-local-anomaly-scan")["Arn"] == physical.attribute(
        "AnomalyScanFunctionScanSchedule", "Arn"
    )


def test_provisioning_again_changes_nothing(template: Template, aws: Aws, physical: Physical) -> None:
    # Given a provisioned stack with data in it
    dynamodb = aws.client("dynamodb")
    table = physical.refs["RecordsTable"]
    dynamodb.put_item(TableName=table, Item={"pk": {"S": "ORG#demo"}, "sk": {"S": "KEEP"}})

    # When the same template is provisioned again
    again = provision(template, aws)

    # Then the ids are the same and the data is still there
    assert again.refs == physical.refs
    assert dynamodb.get_item(TableName=table, Key={"pk": {"S": "ORG#demo"}, "sk": {"S": "KEEP"}}).get("Item")
