"""The whole API fuzzed from its OpenAPI document (schemathesis), with a real token: no 5xx, and
every answer documented (its status, content type, headers and body schema).

Sized for CI: a few generated cases per operation (valid and invalid data), no shrinking, against
the local stack (the API as deployed: the JWT authorizer, the routes, the functions). The token is
an admin's of an organisation of its own, so the fuzzing writes only there.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.e2e.conftest import LocalStack

ORG = "fuzz"
EXAMPLES = 6
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def auth(stack: LocalStack) -> dict[str, str]:
    with stack.client("admin", org=ORG, sub="fuzzer") as client:
        return {"authorization": str(client.headers["authorization"])}


def fuzz(operation: Any, mode: GenerationMode, auth: dict[str, str]) -> list[str]:
    """The failures of ``EXAMPLES`` cases of one operation in one mode (the first of each kind)."""
    failures: list[str] = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        response = case.call(headers=auth, timeout=60)
        checks = CHECKS
        if (
            response.status_code == 401
            and response.request.headers.get("authorization") != auth["authorization"]
        ):
            # A negative case without our token (schemathesis negates the security scheme too): API
            # Gateway's JWT authorizer refuses it with its fixed body {"message": "Unauthorized"}
            # before any function runs, and an HttpApi cannot change that body. Only the status is
            # checked; the functions' own 401s (a token the authorizer passes) are checked whole.
            checks = [not_a_server_error, status_code_conformance]
        try:
            case.validate_response(response, checks=checks)
        except (AssertionError, FailureGroup) as e:  # each failed check, with a curl to reproduce it
            failures.append(f"{operation.label} [{mode}]: {str(e)[:1500]}")

    try:
        run()
    except Unsatisfiable:  # nothing of the operation can be made invalid (GET /health: no input)
        assert mode == GenerationMode.NEGATIVE, operation.label
    return failures


# (a pytest parametrization over the operations would need the document at collection time, before
# the stack runs; schemathesis' own pytest loader does not run under this pytest: one test loops)
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_operation_answers_as_documented_and_never_5xx(
    stack: LocalStack, auth: dict[str, str], mode: GenerationMode
) -> None:
    api = schemathesis.openapi.from_url(f"{stack.api_url}/openapi.json")
    results = list(api.get_all_operations())
    assert all(isinstance(result, Ok) for result in results), results
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) >= 30

    failures = [failure for operation in operations for failure in fuzz(operation, mode, auth)]

    assert failures == [], "\n\n".join(failures)
