"""CloudFormation: the YAML with short tags, and the intrinsic functions resolved locally.

``load_yaml`` reads a template written with short tags (``!Ref X``, ``!GetAtt A.B``, ``!Sub``...)
or long forms (``Ref:``, ``Fn::GetAtt:``), as `sam build` writes them, into the long forms.

:class:`Resolver` evaluates Ref, Fn::GetAtt, Fn::Sub, Fn::Join, Fn::Select, Fn::Split, Fn::If,
Fn::Equals, Fn::And, Fn::Or, Fn::Not, Condition, Fn::FindInMap, Fn::Base64 and Fn::GetAZs against
parameters, pseudo-parameters and the physical ids of provisioned resources. ``AWS::NoValue``
removes the key or list item that holds it, as CloudFormation does.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import yaml

from rollcall_local.errors import LocalError


class TemplateError(LocalError):
    """A template the local stack cannot interpret (the message says what and where)."""


# --- YAML ---------------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    pass


def _short_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_Loader.add_multi_constructor("!", _short_tag)
# CloudFormation keeps dates and times as strings (AWSTemplateFormatVersion, descriptions).
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_yaml(path: Path) -> dict[str, Any]:
    doc = yaml.load(path.read_text(), Loader=_Loader)  # noqa: S506  # a SafeLoader subclass
    if not isinstance(doc, dict) or not isinstance(doc.get("Resources"), dict):
        raise TemplateError(f"{path} is not a CloudFormation template (no Resources)")
    return doc


# --- intrinsics ---------------------------------------------------------------------------------

NO_VALUE: Any = type("NoValue", (), {"__repr__": lambda self: "AWS::NoValue"})()
_SUB_VARIABLE = re.compile(r"\$\{([^}]+)\}")

Refs = Mapping[str, Any]
Attributes = Callable[[str, str], Any]


class Resolver:
    """Evaluates intrinsic functions.

    ``refs`` maps a name (parameter, pseudo-parameter or logical id) to what ``Ref`` gives;
    ``attribute(logical_id, name)`` gives what ``Fn::GetAtt`` gives (KeyError when unknown).
    """

    def __init__(
        self,
        refs: Refs,
        attribute: Attributes,
        *,
        conditions: Mapping[str, Any] | None = None,
        mappings: Mapping[str, Any] | None = None,
        region: str = "us-east-1",
    ) -> None:
        self.refs = refs
        self.attribute = attribute
        self._condition_defs = dict(conditions or {})
        self._conditions: dict[str, bool] = {}
        self.mappings = mappings or {}
        self.region = region

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            items = [self.resolve(item) for item in node]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            function = self._FUNCTIONS.get(key)
            if function is not None:
                return function(self, arg)
        resolved = {key: self.resolve(value) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value is not NO_VALUE}

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            if name not in self._condition_defs:
                raise TemplateError(f"unknown condition {name!r}")
            self._conditions[name] = bool(self.resolve(self._condition_defs[name]))
        return self._conditions[name]

    # Each function receives the (unresolved) argument of its key.

    def _ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name not in self.refs:
            raise TemplateError(f"Ref {name!r}: no parameter or provisioned resource of that name")
        return self.refs[name]

    def _get_att(self, arg: Any) -> Any:
        logical_id, name = arg.split(".", 1) if isinstance(arg, str) else self.resolve(arg)
        try:
            return self.attribute(logical_id, name)
        except KeyError:
            raise TemplateError(f"Fn::GetAtt {logical_id}.{name}: unknown resource or attribute") from None

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and name not in self.refs:
                return str(self._get_att(name))
            return str(self._ref(name))

        return _SUB_VARIABLE.sub(replace, text)

    def _join(self, arg: Any) -> str:
        delimiter, items = self.resolve(arg)
        return str(delimiter).join(str(item) for item in items)

    def _select(self, arg: Any) -> Any:
        index, items = self.resolve(arg)
        return items[int(index)]

    def _split(self, arg: Any) -> list[str]:
        delimiter, text = self.resolve(arg)
        return str(text).split(delimiter)

    def _if(self, arg: Any) -> Any:
        name, when_true, when_false = arg
        return self.resolve(when_true if self.condition(name) else when_false)

    def _equals(self, arg: Any) -> bool:
        left, right = self.resolve(arg)
        return str(left) == str(right)

    def _and(self, arg: Any) -> bool:
        return all(self.resolve(arg))

    def _or(self, arg: Any) -> bool:
        return any(self.resolve(arg))

    def _not(self, arg: Any) -> bool:
        return not self.resolve(arg)[0]

    def _find_in_map(self, arg: Any) -> Any:
        name, first, second = self.resolve(arg)
        try:
            return self.mappings[name][first][second]
        except KeyError:
            raise TemplateError(f"Fn::FindInMap {name}/{first}/{second}: no such entry") from None

    def _base64(self, arg: Any) -> str:
        return base64.b64encode(str(self.resolve(arg)).encode()).decode()

    def _get_azs(self, arg: Any) -> list[str]:
        region = self.resolve(arg) or self.region
        return [f"{region}{zone}" for zone in "abc"]

    _FUNCTIONS: ClassVar[dict[str, Callable[[Resolver, Any], Any]]] = {
        "Ref": _ref,
        "Fn::GetAtt": _get_att,
        "Fn::Sub": _sub,
        "Fn::Join": _join,
        "Fn::Select": _select,
        "Fn::Split": _split,
        "Fn::If": _if,
        "Fn::Equals": _equals,
        "Fn::And": _and,
        "Fn::Or": _or,
        "Fn::Not": _not,
        "Condition": lambda self, name: self.condition(name),
        "Fn::FindInMap": _find_in_map,
        "Fn::Base64": _base64,
        "Fn::GetAZs": _get_azs,
    }


def referenced_ids(node: Any) -> set[str]:
    """The logical ids a node refers to through Ref, Fn::GetAtt or Fn::Sub (for ordering)."""
    found: set[str] = set()
    if isinstance(node, list):
        for item in node:
            found |= referenced_ids(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                found.add(value.split(".", 1)[0] if isinstance(value, str) else str(value[0]))
            elif key == "Fn::Sub":
                text = value if isinstance(value, str) else value[0]
                found |= {name.split(".", 1)[0] for name in _SUB_VARIABLE.findall(text)}
                found |= referenced_ids(value)
            else:
                found |= referenced_ids(value)
    return found
