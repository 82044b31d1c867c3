"""The template with the real SAM CLI: `sam validate --lint` passes, and what `sam build` made
(the Makefile's `test` target builds first) is what Lambda will accept."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / ".aws-sam" / "build"
LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024
FUNCTIONS = {
    "EncodeFaceFunction",
    "MarkAttendanceFunction",
    "PredictFunction",
    "TrainFunction",
    "AnomalyScanFunction",
    "SmokeHookFunction",  # the deploy smoke test (PreTraffic hook)
}


class CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags read as their long forms ({"Ref": ...}, {"Fn::Sub": ...})."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict:
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {"Ref" if suffix == "Ref" else f"Fn::{suffix}": value}


CfnLoader.add_multi_constructor("!", _intrinsic)
SAM = str(Path(sys.executable).with_name("sam"))


def built_template() -> dict:
    path = BUILD / "template.yaml"
    if not path.is_file():
        pytest.fail("no .aws-sam/build/template.yaml: run `make build` (make test does it first)")
    return yaml.load(path.read_text(), Loader=CfnLoader)  # noqa: S506 - SafeLoader subclass


def tree_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def test_sam_validate_lint_passes_without_warnings() -> None:
    result = subprocess.run(
        [SAM, "validate", "--lint", "--template-file", str(ROOT / "template.yaml")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ | {"SAM_CLI_TELEMETRY": "0"},
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "is a valid SAM Template" in output
    assert "warning" not in output.lower()


def test_build_has_every_function_on_python312_x86_64() -> None:
    resources = built_template()["Resources"]
    functions = {k for k, v in resources.items() if v["Type"] == "AWS::Serverless::Function"}
    assert functions == FUNCTIONS
    globals_ = built_template()["Globals"]["Function"]
    assert globals_["Runtime"] == "python3.12"
    assert globals_["Architectures"] == ["x86_64"]
    for name in FUNCTIONS:
        assert (BUILD / name / "app.py").is_file()


def test_each_function_with_its_layers_fits_lambdas_size_limit() -> None:
    # Given each built function with the global layers and its own
    template = built_template()
    resources = template["Resources"]
    global_layers = template["Globals"]["Function"].get("Layers", [])
    for name in FUNCTIONS:
        layers = [ref["Ref"] for ref in [*global_layers, *resources[name]["Properties"].get("Layers", [])]]
        assert all(resources[layer]["Type"] == "AWS::Serverless::LayerVersion" for layer in layers)
        # When its code and layers are measured unzipped, Then the sum is under Lambda's 250 MB limit
        size = tree_size(BUILD / name) + sum(tree_size(BUILD / layer) for layer in layers)
        assert size < LAMBDA_UNZIPPED_LIMIT, f"{name} with {layers}: {size / 2**20:.0f} MB"


def test_layers_hold_what_they_promise() -> None:
    core = BUILD / "CoreLayer" / "python"
    assert (core / "rollcall" / "platform" / "handlers.py").is_file()
    # the test kit (synthetic worlds, seeding) serves tests, benchmarks and `make seed` only
    assert not (core / "testkit").exists() and not list(core.rglob("synthetic"))
    # boto3 comes from the Lambda runtime, not from the layer
    assert not (core / "botocore").exists() and not (core / "boto3").exists()
    face_models = BUILD / "FaceLayer" / "python" / "face_recognition_models" / "models"
    assert sorted(p.name for p in face_models.iterdir()) == [
        "dlib_face_recognition_resnet_model_v1.dat",
        "shape_predictor_5_face_landmarks.dat",
    ]
    assert list((BUILD / "MlLayer" / "python").glob("sklearn/__init__.py"))
