"""The built SAM template as the local stack sees it: parameters applied, typed views.

`sam build` writes ``.aws-sam/build/template.yaml`` with SAM resource types kept
(``AWS::Serverless::Function`` with its ``Events``), each ``CodeUri``/``ContentUri`` pointing at
the built folder. Like ``sam local``, the local stack interprets those types directly; nothing
here is a second list of resources.

- :class:`Template`: parameters (defaults, then overrides), pseudo-parameters, conditions,
  and intrinsic resolution against a :class:`Physical` (the running stack's ids).
- Views: :meth:`Template.functions`, :meth:`~Template.routes`, :meth:`~Template.sqs_sources`,
  :meth:`~Template.schedules`, :meth:`~Template.resources_of` (tables, buckets, queues).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rollcall_local.cfn import Resolver, TemplateError, load_yaml

FUNCTION = "AWS::Serverless::Function"
LAYER_TYPES = ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion")
TABLE = "AWS::DynamoDB::Table"
BUCKET = "AWS::S3::Bucket"
QUEUE = "AWS::SQS::Queue"
HTTP_API = "AWS::Serverless::HttpApi"
RULE = "AWS::Events::Rule"


def pseudo_parameters(stack_name: str, region: str, account_id: str) -> dict[str, Any]:
    partition = "aws-cn" if region.startswith("cn-") else "aws-us-gov" if "-gov-" in region else "aws"
    return {
        "AWS::StackName": stack_name,
        "AWS::Region": region,
        "AWS::AccountId": account_id,
        "AWS::Partition": partition,
        "AWS::URLSuffix": "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com",
        "AWS::StackId": f"arn:{partition}:cloudformation:{region}:{account_id}:stack/{stack_name}/local",
        "AWS::NotificationARNs": [],
    }


@dataclass
class Physical:
    """What the running stack calls each resource: the value of ``Ref`` and of ``Fn::GetAtt``."""

    refs: dict[str, Any] = field(default_factory=dict)
    attributes: dict[str, dict[str, Any]] = field(default_factory=dict)

    def set(self, logical_id: str, ref: Any, **attributes: Any) -> None:
        self.refs[logical_id] = ref
        self.attributes.setdefault(logical_id, {}).update(attributes)

    def attribute(self, logical_id: str, name: str) -> Any:
        return self.attributes[logical_id][name]


@dataclass(frozen=True)
class Function:
    logical_id: str
    name: str
    arn: str
    code_dir: Path
    handler: str
    runtime: str
    timeout: int
    memory: int
    environment: dict[str, str]
    layers: tuple[Path, ...]  # built layer folders, in template order


@dataclass(frozen=True)
class HttpRoute:
    function: str
    event: str
    method: str  # GET, POST..., or ANY
    path: str  # /v1/orgs/{org}, /files/{proxy+}, or $default
    timeout_ms: int = 30_000  # the integration timeout (API Gateway's maximum)
    authorizer: str | None = None  # the event's Auth.Authorizer: None (the API's default) or a name, or NONE


@dataclass(frozen=True)
class SqsSource:
    function: str
    event: str
    queue: str  # logical id
    batch_size: int
    window_seconds: int
    report_failures: bool
    enabled: bool


@dataclass(frozen=True)
class Schedule:
    logical_id: str  # Function id + event name, as SAM names the rule
    function: str
    event: str
    expression: str
    name: str
    enabled: bool
    input: str | None
    description: str = ""


class Template:
    def __init__(
        self,
        doc: dict[str, Any],
        *,
        base_dir: Path,
        overrides: Mapping[str, str],
        pseudo: Mapping[str, Any],
    ) -> None:
        self.doc = doc
        self.base_dir = base_dir
        self.pseudo = dict(pseudo)
        self.stack_name: str = self.pseudo["AWS::StackName"]
        self.region: str = self.pseudo["AWS::Region"]
        self.account_id: str = self.pseudo["AWS::AccountId"]
        self.parameters = _parameters(doc.get("Parameters") or {}, overrides)
        base = self.resolver(Physical())
        self.resources: dict[str, dict[str, Any]] = {
            logical_id: resource
            for logical_id, resource in doc["Resources"].items()
            if "Condition" not in resource or base.condition(resource["Condition"])
        }

    @classmethod
    def load(cls, path: Path, *, overrides: Mapping[str, str], pseudo: Mapping[str, Any]) -> Template:
        return cls(load_yaml(path), base_dir=path.parent, overrides=overrides, pseudo=pseudo)

    # --- resolution -------------------------------------------------------------------------------

    def resolver(self, physical: Physical) -> Resolver:
        refs = {**self.pseudo, **self.parameters, **physical.refs}
        return Resolver(
            refs,
            physical.attribute,
            conditions=self.doc.get("Conditions"),
            mappings=self.doc.get("Mappings"),
            region=self.region,
        )

    def resolve(self, node: Any, physical: Physical) -> Any:
        return self.resolver(physical).resolve(node)

    def resources_of(self, *types: str) -> dict[str, dict[str, Any]]:
        """logical id → unresolved Properties, for the resources of the given types."""
        return {
            logical_id: resource.get("Properties") or {}
            for logical_id, resource in self.resources.items()
            if resource.get("Type") in types
        }

    def arn(self, service: str, resource: str) -> str:
        return f"arn:{self.pseudo['AWS::Partition']}:{service}:{self.region}:{self.account_id}:{resource}"

    # --- functions --------------------------------------------------------------------------------

    def function_properties(self, logical_id: str) -> dict[str, Any]:
        """The function's Properties with the template's Globals merged in, as SAM merges them."""
        globals_ = (self.doc.get("Globals") or {}).get("Function") or {}
        return _merge_globals(globals_, self.resources_of(FUNCTION)[logical_id])

    def function_name(self, logical_id: str) -> str:
        props = self.resources_of(FUNCTION)[logical_id]
        name = props.get("FunctionName")
        return str(self.resolve(name, Physical())) if name else logical_id

    def functions(self, physical: Physical) -> dict[str, Function]:
        return {logical_id: self.function(logical_id, physical) for logical_id in self.resources_of(FUNCTION)}

    def function(self, logical_id: str, physical: Physical) -> Function:
        props = self.function_properties(logical_id)
        if props.get("PackageType") == "Image" or "InlineCode" in props:
            raise TemplateError(f"{logical_id}: only zip functions with a built CodeUri run locally")
        code_uri = props.get("CodeUri")
        if not isinstance(code_uri, str):
            raise TemplateError(f"{logical_id}: CodeUri must be the built folder (run `sam build` first)")
        variables = self.resolve((props.get("Environment") or {}).get("Variables") or {}, physical)
        name = self.function_name(logical_id)
        return Function(
            logical_id=logical_id,
            name=name,
            arn=self.arn("lambda", f"function:{name}"),
            code_dir=(self.base_dir / code_uri).resolve(),
            handler=str(props.get("Handler") or ""),
            runtime=str(props.get("Runtime") or ""),
            timeout=int(self.resolve(props.get("Timeout", 3), physical)),
            memory=int(self.resolve(props.get("MemorySize", 128), physical)),
            environment={key: _env_value(value) for key, value in variables.items()},
            layers=tuple(self._layer_dir(logical_id, layer) for layer in props.get("Layers") or []),
        )

    def _layer_dir(self, function_id: str, layer: Any) -> Path:
        layer_id = layer.get("Ref") if isinstance(layer, dict) else None
        layers = self.resources_of(*LAYER_TYPES)
        if layer_id not in layers:
            raise TemplateError(
                f"{function_id}: layer {layer!r} is not a layer of this template; "
                "the local runtime runs only the template's own (built) layers"
            )
        props = layers[layer_id]
        content = props.get("ContentUri") or props.get("Content")
        if not isinstance(content, str):
            raise TemplateError(f"{layer_id}: ContentUri must be the built folder (run `sam build` first)")
        return (self.base_dir / content).resolve()

    def _events(self, kind: str) -> list[tuple[str, str, dict[str, Any]]]:
        """(function id, event name, unresolved Properties) of every event of ``kind``."""
        found = []
        for function_id, props in self.resources_of(FUNCTION).items():
            for event_name, event in (props.get("Events") or {}).items():
                if event.get("Type") == kind:
                    found.append((function_id, event_name, event.get("Properties") or {}))
        return found

    # --- triggers ---------------------------------------------------------------------------------

    def routes(self) -> list[HttpRoute]:
        routes = []
        for function_id, event_name, props in self._events("HttpApi"):
            version = str(props.get("PayloadFormatVersion", "2.0"))
            if version != "2.0":
                raise TemplateError(f"{function_id}.{event_name}: payload format {version} is not supported")
            path, method = props.get("Path"), props.get("Method")
            if path is None and method is None:
                path, method = "$default", "ANY"
            if not path:
                raise TemplateError(
                    f"{function_id}.{event_name}: an HttpApi event with a Method needs a Path"
                )
            method = str(method or "ANY").upper().replace("X-AMAZON-APIGATEWAY-ANY-METHOD", "ANY")
            timeout_ms = int(props.get("TimeoutInMillis", 30_000))
            authorizer = (props.get("Auth") or {}).get("Authorizer")
            routes.append(
                HttpRoute(
                    function_id,
                    event_name,
                    method,
                    str(path),
                    timeout_ms,
                    None if authorizer is None else str(authorizer),
                )
            )
        return routes

    def sqs_sources(self, physical: Physical) -> list[SqsSource]:
        sources = []
        for function_id, event_name, props in self._events("SQS"):
            sources.append(
                SqsSource(
                    function=function_id,
                    event=event_name,
                    queue=self._queue_id(props.get("Queue"), physical, f"{function_id}.{event_name}"),
                    batch_size=int(props.get("BatchSize", 10)),
                    window_seconds=int(props.get("MaximumBatchingWindowInSeconds", 0)),
                    report_failures="ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or []),
                    enabled=bool(props.get("Enabled", True)),
                )
            )
        return sources

    def _queue_id(self, queue: Any, physical: Physical, where: str) -> str:
        arn = self.resolve(queue, physical)
        for logical_id in self.resources_of(QUEUE):
            if physical.attributes.get(logical_id, {}).get("Arn") == arn:
                return logical_id
        raise TemplateError(f"{where}: queue {arn!r} is not a queue of this template")

    def schedules(self, physical: Physical) -> dict[str, Schedule]:
        schedules = {}
        for function_id, event_name, props in self._events("Schedule"):
            logical_id = function_id + event_name
            resolved = self.resolve(props, physical)
            state = str(resolved.get("State", "ENABLED")).upper()
            schedule_input = resolved.get("Input")
            schedules[logical_id] = Schedule(
                logical_id=logical_id,
                function=function_id,
                event=event_name,
                expression=str(resolved["Schedule"]),
                name=str(resolved.get("Name") or f"{self.stack_name}-{logical_id}")[:64],
                enabled=bool(resolved.get("Enabled", True)) and state == "ENABLED",
                input=None if schedule_input is None else str(schedule_input),
                description=str(resolved.get("Description", "")),
            )
        return schedules


def _parameters(declared: Mapping[str, Any], overrides: Mapping[str, str]) -> dict[str, Any]:
    unknown = set(overrides) - set(declared)
    if unknown:
        raise TemplateError(f"parameter overrides for undeclared parameters: {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    for name, spec in declared.items():
        if name in overrides:
            value: Any = overrides[name]
        elif "Default" in spec:
            value = spec["Default"]
        else:
            raise TemplateError(f"parameter {name} has no Default; give it in samconfig parameter_overrides")
        value = "" if value is None else str(value)
        allowed = spec.get("AllowedValues")
        if allowed and value not in [str(a) for a in allowed]:
            raise TemplateError(f"parameter {name}={value!r} is not one of {allowed}")
        is_list = str(spec.get("Type", "")).startswith(("CommaDelimitedList", "List<"))
        values[name] = [item.strip() for item in value.split(",")] if is_list else value
    return values


def _merge_globals(globals_: Any, local: Any) -> Any:
    """SAM's rule: the function's scalars win, maps merge, lists are the global ones then the function's.

    An intrinsic function (``{"Ref": ...}``, ``{"Fn::Sub": ...}``) is a scalar here.
    """
    if (
        isinstance(globals_, dict)
        and isinstance(local, dict)
        and not (_intrinsic(globals_) or _intrinsic(local))
    ):
        merged = dict(globals_)
        for key, value in local.items():
            merged[key] = _merge_globals(globals_[key], value) if key in globals_ else value
        return merged
    if isinstance(globals_, list) and isinstance(local, list):
        return [*globals_, *local]
    return local


def _intrinsic(node: dict[str, Any]) -> bool:
    if len(node) != 1:
        return False
    key = next(iter(node))
    return key in ("Ref", "Condition") or key.startswith("Fn::")


def _env_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
