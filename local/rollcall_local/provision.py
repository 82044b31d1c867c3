"""Create the template's buckets, tables, queues and schedule rules at an endpoint.

Idempotent: re-running on an existing stack changes nothing that is already as the template says.
What is applied, per type (the rest of a resource's properties is not emulated):
- S3 buckets: versioning, default encryption, public access block, ownership controls,
  lifecycle rules, CORS. Bucket policies are not applied: the emulator speaks plain HTTP, and a
  ``aws:SecureTransport`` deny (which a production bucket should have) would refuse every request.
- DynamoDB tables: keys, billing mode, GSIs/LSIs, streams, SSE, then TTL and point-in-time recovery.
- SQS queues: every attribute, dead-letter queues first (RedrivePolicy), by dependency order.
- S3 bucket notifications to SQS queues (``NotificationConfiguration.QueueConfigurations``), once
  the queues exist: the emulator then sends a bucket's object events to the queue, which the local
  runtime polls as Lambda's event source would.
- EventBridge rules: one per Schedule event (its expression and state), targeting the function.

:func:`planned` gives the physical ids the stack's resources get (the names are deterministic:
the template's names, else ``<stack>-<LogicalId>``); :func:`provision` creates them and returns
those ids with what only the service knows (queue URLs); :func:`existing` finds them in a stack
another process provisioned.
"""

from __future__ import annotations

import contextlib
import json
from graphlib import TopologicalSorter
from typing import Any

from rollcall_local.cfn import referenced_ids
from rollcall_local.emulator import Aws
from rollcall_local.errors import LocalError
from rollcall_local.template import (
    BUCKET,
    FUNCTION,
    HTTP_API,
    LAYER_TYPES,
    QUEUE,
    TABLE,
    Physical,
    Template,
)


def planned(template: Template) -> Physical:
    """The physical id and attributes of every resource, without asking any service."""
    physical = Physical()
    stack = template.stack_name
    for logical_id in template.resources:
        physical.set(logical_id, logical_id)  # what Ref gives for resources not emulated
    for logical_id, props in template.resources_of(TABLE).items():
        name = _name(template, props.get("TableName"), physical, f"{stack}-{logical_id}")
        physical.set(logical_id, name, Arn=template.arn("dynamodb", f"table/{name}"))
    for logical_id, props in template.resources_of(BUCKET).items():
        name = _name(template, props.get("BucketName"), physical, f"{stack}-{logical_id}".lower()[:63])
        physical.set(
            logical_id,
            name,
            Arn=f"arn:{template.pseudo['AWS::Partition']}:s3:::{name}",
            DomainName=f"{name}.s3.amazonaws.com",
            RegionalDomainName=f"{name}.s3.{template.region}.amazonaws.com",
        )
    for logical_id, props in template.resources_of(QUEUE).items():
        suffix = ".fifo" if props.get("FifoQueue") else ""
        name = _name(template, props.get("QueueName"), physical, f"{stack}-{logical_id}"[:75] + suffix)
        physical.set(logical_id, name, Arn=template.arn("sqs", name), QueueName=name)
    for logical_id in template.resources_of(*LAYER_TYPES):
        physical.set(logical_id, template.arn("lambda", f"layer:{stack}-{logical_id}:1"))
    for logical_id in template.resources_of(HTTP_API):
        physical.set(logical_id, "local", ApiEndpoint="http://127.0.0.1")
    for logical_id in template.resources_of(FUNCTION):
        name = template.function_name(logical_id)
        physical.set(logical_id, name, Arn=template.arn("lambda", f"function:{name}"))
    for schedule in template.schedules(physical).values():
        physical.set(schedule.logical_id, schedule.name, Arn=template.arn("events", f"rule/{schedule.name}"))
    return physical


def _name(template: Template, given: Any, physical: Physical, default: str) -> str:
    return str(template.resolve(given, physical)) if given else default


def provision(template: Template, aws: Aws) -> Physical:
    """Create (or confirm) every bucket, table, queue and schedule rule; return the physical ids."""
    physical = planned(template)
    s3, dynamodb, sqs = aws.client("s3"), aws.client("dynamodb"), aws.client("sqs")
    for logical_id, props in template.resources_of(BUCKET).items():
        _bucket(s3, physical.refs[logical_id], template.resolve(props, physical), aws.region)
    for logical_id, props in template.resources_of(TABLE).items():
        _table(dynamodb, physical.refs[logical_id], template.resolve(props, physical))
    for logical_id in queue_order(template):
        props = template.resolve(template.resources_of(QUEUE)[logical_id], physical)
        url, arn = _queue(sqs, physical.attribute(logical_id, "QueueName"), props)
        physical.set(logical_id, url, Arn=arn, QueueUrl=url)
    for logical_id, props in template.resources_of(BUCKET).items():
        _notifications(s3, physical.refs[logical_id], template.resolve(props, physical))
    events = aws.client("events")
    for schedule in template.schedules(physical).values():
        rule = {"Name": schedule.name, "ScheduleExpression": schedule.expression}
        rule["State"] = "ENABLED" if schedule.enabled else "DISABLED"
        if schedule.description:
            rule["Description"] = schedule.description
        events.put_rule(**rule)
        target = {"Id": schedule.function[:64], "Arn": physical.attribute(schedule.function, "Arn")}
        if schedule.input is not None:
            target["Input"] = schedule.input
        events.put_targets(Rule=schedule.name, Targets=[target])
    return physical


def existing(template: Template, aws: Aws) -> Physical:
    """The physical ids of the stack another process provisioned there (a ``make run`` going on)."""
    physical = planned(template)
    sqs = aws.client("sqs")
    for logical_id in template.resources_of(QUEUE):
        name = physical.attribute(logical_id, "QueueName")
        try:
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        except sqs.exceptions.QueueDoesNotExist:
            raise LocalError(f"{aws.endpoint} has no queue {name}: is it another stack's emulator?") from None
        physical.set(logical_id, url, QueueUrl=url)
    return physical


def queue_order(template: Template) -> list[str]:
    """Queues, each after the queues it refers to (dead-letter queues first)."""
    queues = template.resources_of(QUEUE)
    graph = {logical_id: referenced_ids(props) & queues.keys() for logical_id, props in queues.items()}
    return list(TopologicalSorter(graph).static_order())


# --- S3 -----------------------------------------------------------------------------------------


def _bucket(s3: Any, name: str, props: dict[str, Any], region: str) -> None:
    create: dict[str, Any] = {"Bucket": name}
    if region != "us-east-1":
        create["CreateBucketConfiguration"] = {"LocationConstraint": region}
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(**create)
    if "VersioningConfiguration" in props:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration=props["VersioningConfiguration"])
    encryption = (props.get("BucketEncryption") or {}).get("ServerSideEncryptionConfiguration")
    if encryption:
        rules = [_encryption_rule(rule) for rule in encryption]
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
    if "PublicAccessBlockConfiguration" in props:
        s3.put_public_access_block(
            Bucket=name, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"]
        )
    if "OwnershipControls" in props:
        s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls=props["OwnershipControls"])
    lifecycle = (props.get("LifecycleConfiguration") or {}).get("Rules")
    if lifecycle:
        rules = [_lifecycle_rule(rule) for rule in lifecycle]
        s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": rules})
    cors = (props.get("CorsConfiguration") or {}).get("CorsRules")
    if cors:
        s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": [_cors_rule(rule) for rule in cors]})


def _notifications(s3: Any, name: str, props: dict[str, Any]) -> None:
    """CloudFormation's queue notifications of a bucket → the S3 API's (other targets are not emulated)."""
    queues = (props.get("NotificationConfiguration") or {}).get("QueueConfigurations") or []
    if not queues:
        return
    configurations = []
    for queue in queues:
        configuration: dict[str, Any] = {"QueueArn": queue["Queue"], "Events": [queue["Event"]]}
        rules = ((queue.get("Filter") or {}).get("S3Key") or {}).get("Rules")
        if rules:
            configuration["Filter"] = {"Key": {"FilterRules": rules}}
        configurations.append(configuration)
    s3.put_bucket_notification_configuration(
        Bucket=name, NotificationConfiguration={"QueueConfigurations": configurations}
    )


def _encryption_rule(rule: dict[str, Any]) -> dict[str, Any]:
    api: dict[str, Any] = {"ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"]}
    if "BucketKeyEnabled" in rule:
        api["BucketKeyEnabled"] = bool(rule["BucketKeyEnabled"])
    return api


def _lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation's lifecycle rule → the S3 API's."""
    api: dict[str, Any] = {"Status": rule["Status"], "Filter": {"Prefix": rule.get("Prefix", "")}}
    if "Id" in rule:
        api["ID"] = rule["Id"]
    expiration = {
        api_key: rule[cfn_key]
        for cfn_key, api_key in (
            ("ExpirationInDays", "Days"),
            ("ExpirationDate", "Date"),
            ("ExpiredObjectDeleteMarker", "ExpiredObjectDeleteMarker"),
        )
        if cfn_key in rule
    }
    if "Days" in expiration:  # a Ref to a Number parameter is text, which CloudFormation converts
        expiration["Days"] = int(expiration["Days"])
    if expiration:
        api["Expiration"] = expiration
    if "NoncurrentVersionExpiration" in rule:
        api["NoncurrentVersionExpiration"] = rule["NoncurrentVersionExpiration"]
    elif "NoncurrentVersionExpirationInDays" in rule:
        api["NoncurrentVersionExpiration"] = {"NoncurrentDays": rule["NoncurrentVersionExpirationInDays"]}
    if "AbortIncompleteMultipartUpload" in rule:
        api["AbortIncompleteMultipartUpload"] = rule["AbortIncompleteMultipartUpload"]
    if "Transitions" in rule:
        api["Transitions"] = [
            {"Days": t["TransitionInDays"], "StorageClass": t["StorageClass"]} for t in rule["Transitions"]
        ]
    if "NoncurrentVersionTransitions" in rule:
        api["NoncurrentVersionTransitions"] = [
            {"NoncurrentDays": t["TransitionInDays"], "StorageClass": t["StorageClass"]}
            for t in rule["NoncurrentVersionTransitions"]
        ]
    return api


def _cors_rule(rule: dict[str, Any]) -> dict[str, Any]:
    renames = {"ExposedHeaders": "ExposeHeaders", "Id": "ID", "MaxAge": "MaxAgeSeconds"}
    return {renames.get(key, key): value for key, value in rule.items()}


# --- DynamoDB -----------------------------------------------------------------------------------


def _table(dynamodb: Any, name: str, props: dict[str, Any]) -> None:
    create: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PROVISIONED"),
    }
    for key in ("ProvisionedThroughput", "GlobalSecondaryIndexes", "LocalSecondaryIndexes", "TableClass"):
        if key in props:
            create[key] = props[key]
    if "StreamSpecification" in props:
        create["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
    sse = props.get("SSESpecification")
    if sse:
        create["SSESpecification"] = {
            "Enabled": bool(sse.get("SSEEnabled")),
            **{key: sse[key] for key in ("SSEType", "KMSMasterKeyId") if key in sse},
        }
    with contextlib.suppress(dynamodb.exceptions.ResourceInUseException):
        dynamodb.create_table(**create)
    dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    ttl = props.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        current = dynamodb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        if current.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
            dynamodb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
            )
    pitr = props.get("PointInTimeRecoverySpecification") or {}
    if pitr.get("PointInTimeRecoveryEnabled"):
        dynamodb.update_continuous_backups(
            TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )


# --- SQS ----------------------------------------------------------------------------------------

_QUEUE_ATTRIBUTES = (
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "DelaySeconds",
    "FifoQueue",
    "FifoThroughputLimit",
    "KmsDataKeyReusePeriodSeconds",
    "KmsMasterKeyId",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "SqsManagedSseEnabled",
    "VisibilityTimeout",
)


def queue_attributes(props: dict[str, Any]) -> dict[str, str]:
    """CloudFormation's queue properties → SQS attributes (all strings)."""
    attributes = {
        key: (str(props[key]).lower() if isinstance(props[key], bool) else str(props[key]))
        for key in _QUEUE_ATTRIBUTES
        if key in props
    }
    for key in ("RedrivePolicy", "RedriveAllowPolicy"):
        if key in props:
            policy = props[key]
            attributes[key] = policy if isinstance(policy, str) else json.dumps(policy)
    return attributes


def _queue(sqs: Any, name: str, props: dict[str, Any]) -> tuple[str, str]:
    attributes = queue_attributes(props)
    try:
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    except sqs.exceptions.QueueNameExists:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        changeable = {key: value for key, value in attributes.items() if key != "FifoQueue"}
        sqs.set_queue_attributes(QueueUrl=url, Attributes=changeable)
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn
