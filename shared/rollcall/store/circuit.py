"""The store's clients report to their circuit breaker (``rollcall.platform.breaker``).

:func:`guard` registers three botocore event handlers on a client, so every call of every store
module goes through the breaker without any change to them:

- ``before-call``: refused at once with ``CircuitOpen`` (503 SERVICE_UNAVAILABLE) while the
  breaker is open, or while its half-open probe runs;
- ``after-call`` (the call answered, after botocore's retries): a 5xx answer is a failure, any
  other answer (a missing item, a failed condition included) a success;
- ``after-call-error`` (no answer: refused connection, connect or read timeout): a failure, and the
  error becomes ``StoreUnavailable`` (503) so that services degrade on it as on any store error.
"""

from __future__ import annotations

from typing import Any

from rollcall.platform import breaker
from rollcall.platform.errors import StoreUnavailable


def guard(client: Any, name: str) -> Any:
    """Make ``client`` report to the breaker ``name`` (once per client); the client."""
    if getattr(client, "_rollcall_breaker", None) == name:
        return client
    service_id = client.meta.service_model.service_id.hyphenize()
    events = client.meta.events
    events.register(f"before-call.{service_id}", _before(name), unique_id=f"rollcall-breaker-before-{name}")
    events.register(f"after-call.{service_id}", _after(name), unique_id=f"rollcall-breaker-after-{name}")
    events.register(
        f"after-call-error.{service_id}", _error(name), unique_id=f"rollcall-breaker-error-{name}"
    )
    client._rollcall_breaker = name
    return client


def _before(name: str) -> Any:
    def before_call(**_: Any) -> None:
        breaker.get(name).before()

    return before_call


def _after(name: str) -> Any:
    def after_call(http_response: Any = None, **_: Any) -> None:
        status = getattr(http_response, "status_code", 200)
        if status >= 500:
            breaker.get(name).failure()
        else:
            breaker.get(name).success()

    return after_call


def _error(name: str) -> Any:
    def after_call_error(exception: BaseException | None = None, **_: Any) -> None:
        from botocore.exceptions import BotoCoreError

        breaker.get(name).failure()
        if isinstance(exception, BotoCoreError):
            raise StoreUnavailable(
                {
                    "message": f"{name} could not be reached; retry later",
                    "dependency": name,
                    "reason": type(exception).__name__,
                }
            ) from exception

    return after_call_error
