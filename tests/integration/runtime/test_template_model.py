"""The template model: short tags, intrinsics, parameters, Globals, typed views (no AWS needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rollcall_local.cfn import NO_VALUE, Resolver, TemplateError, load_yaml
from rollcall_local.config import SamConfig, parse_overrides
from rollcall_local.provision import planned, queue_order
from rollcall_local.template import Template, pseudo_parameters

TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage: {Type: String, Default: local, AllowedValues: [local, prod]}
  Names: {Type: CommaDelimitedList, Default: "a,b,c"}
Conditions:
  IsProd: !Equals [!Ref Stage, prod]
Globals:
  Function:
    Runtime: python3.12
    Handler: app.handler
    Timeout: 10
    Layers: [!Ref Core]
    Environment:
      Variables:
        STAGE: !Ref Stage
        TABLE: !Ref Table
Resources:
  Core:
    Type: AWS::Serverless::LayerVersion
    Properties: {ContentUri: Core}
  Extra:
    Type: AWS::Serverless::LayerVersion
    Properties: {ContentUri: Extra}
  Api:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: Api
      Timeout: 20
      Layers: [!Ref Extra]
      Environment:
        Variables:
          TABLE: !Sub "${Table}-override"
          QUEUE: !GetAtt Jobs.Arn
          MODE: !If [IsProd, strict, relaxed]
          SECOND: !Select [1, !Ref Names]
          PARTS: !Join ["/", !Split [",", "x,y"]]
          BUCKET_ARN: !Sub "${Bucket.Arn}/*"
          ESCAPED: !Sub "${!Literal}-${AWS::Region}"
          DROPPED: !If [IsProd, on, !Ref "AWS::NoValue"]
      Events:
        Get: {Type: HttpApi, Properties: {Path: "/things/{id}", Method: get}}
        Default: {Type: HttpApi}
        Work:
          Type: SQS
          Properties:
            Queue: !GetAtt Jobs.Arn
            BatchSize: 7
            FunctionResponseTypes: [ReportBatchItemFailures]
        Hourly: {Type: Schedule, Properties: {Schedule: rate(1 hour), State: DISABLED}}
  ProdOnly:
    Type: AWS::SQS::Queue
    Condition: IsProd
  Table:
    Type: AWS::DynamoDB::Table
    Properties: {TableName: !Sub "${AWS::StackName}-table", KeySchema: [], AttributeDefinitions: []}
  Bucket:
    Type: AWS::S3::Bucket
  Jobs:
    Type: AWS::SQS::Queue
    Properties:
      RedrivePolicy: {deadLetterTargetArn: !GetAtt JobsDlq.Arn, maxReceiveCount: 3}
  JobsDlq:
    Type: AWS::SQS::Queue
"""


@pytest.fixture
def template(tmp_path: Path) -> Template:
    path = tmp_path / "template.yaml"
    path.write_text(TEMPLATE)
    return Template.load(
        path, overrides={}, pseudo=pseudo_parameters("demo-stack", "eu-west-1", "111122223333")
    )


def test_short_tags_load_as_long_forms(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(TEMPLATE)

    doc = load_yaml(path)

    api = doc["Resources"]["Api"]["Properties"]
    assert api["Environment"]["Variables"]["QUEUE"] == {"Fn::GetAtt": ["Jobs", "Arn"]}
    assert api["Layers"] == [{"Ref": "Extra"}]
    assert doc["Conditions"]["IsProd"] == {"Fn::Equals": [{"Ref": "Stage"}, "prod"]}
    assert doc["AWSTemplateFormatVersion"] == "2010-09-09"  # a string, not a date


def test_a_function_merges_globals_and_resolves_its_environment(template: Template) -> None:
    # When the function is resolved against the stack's planned ids
    function = template.function("Api", planned(template))

    # Then Globals are merged as SAM merges them (scalars overridden, maps merged, lists appended)
    assert function.timeout == 20
    assert function.handler == "app.handler"
    assert [layer.name for layer in function.layers] == ["Core", "Extra"]
    assert function.code_dir == template.base_dir / "Api"
    # And every intrinsic is resolved
    assert function.environment == {
        "STAGE": "local",
        "TABLE": "demo-stack-table-override",
        "QUEUE": "arn:aws:sqs:eu-west-1:111122223333:demo-stack-Jobs",
        "MODE": "relaxed",
        "SECOND": "b",
        "PARTS": "x/y",
        "BUCKET_ARN": "arn:aws:s3:::demo-stack-bucket/*",
        "ESCAPED": "${Literal}-eu-west-1",
    }
    assert function.arn == "arn:aws:lambda:eu-west-1:111122223333:function:Api"


def test_conditions_and_overrides_decide_what_exists(tmp_path: Path) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(TEMPLATE)
    pseudo = pseudo_parameters("s", "us-east-1", "123456789012")

    prod = Template.load(path, overrides={"Stage": "prod"}, pseudo=pseudo)

    assert "ProdOnly" in prod.resources
    assert prod.function("Api", planned(prod)).environment["MODE"] == "strict"
    with pytest.raises(TemplateError, match="not one of"):
        Template.load(path, overrides={"Stage": "staging"}, pseudo=pseudo)
    with pytest.raises(TemplateError, match="undeclared"):
        Template.load(path, overrides={"Nope": "1"}, pseudo=pseudo)


def test_triggers_are_read_from_the_events(template: Template) -> None:
    physical = planned(template)

    routes = {(r.method, r.path) for r in template.routes()}
    (source,) = template.sqs_sources(physical)
    schedule = template.schedules(physical)["ApiHourly"]

    assert routes == {("GET", "/things/{id}"), ("ANY", "$default")}
    assert (source.queue, source.batch_size, source.report_failures) == ("Jobs", 7, True)
    assert (schedule.expression, schedule.enabled, schedule.name) == (
        "rate(1 hour)",
        False,
        "demo-stack-ApiHourly",
    )


def test_dead_letter_queues_are_created_first(template: Template) -> None:
    order = queue_order(template)

    assert order.index("JobsDlq") < order.index("Jobs")


def test_unknown_references_are_reported_by_name() -> None:
    missing: dict[str, str] = {}
    resolver = Resolver({"Known": "x"}, lambda logical_id, name: missing[logical_id])

    assert resolver.resolve({"Ref": "AWS::NoValue"}) is NO_VALUE
    with pytest.raises(TemplateError, match="Ref 'Missing'"):
        resolver.resolve({"Ref": "Missing"})
    with pytest.raises(TemplateError, match=r"Fn::GetAtt Gone\.Arn"):
        resolver.resolve({"Fn::GetAtt": ["Gone", "Arn"]})


def test_samconfig_gives_the_stack_name_and_parameter_overrides(tmp_path: Path) -> None:
    path = tmp_path / "samconfig.toml"
    path.write_text(
        'version = 0.1\n[local.global.parameters]\nstack_name = "mine"\n'
        "[local.local_invoke.parameters]\nparameter_overrides = \"Stage=local Greeting='hi there'\"\n"
    )

    config = SamConfig.read(path, "local")

    assert config == SamConfig("mine", {"Stage": "local", "Greeting": "hi there"})
    assert parse_overrides("ParameterKey=A,ParameterValue=1") == {"A": "1"}
