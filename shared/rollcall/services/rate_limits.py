"""Rate limits: the policy (route classes, their limits from settings) and one check per request.

Every authenticated request takes one token from two buckets of its route class: its user's
(organisation, ``sub``) and its organisation's (``RATE_LIMIT_ORG_FACTOR`` times the user's), in
that order; the organisation's bucket is not touched when the user's refuses, so one busy user
does not drain their colleagues' share (a request the organisation's bucket refuses has spent its
user's token). Buckets are keyed by organisation, so nothing one organisation sends can slow
another.

| class | routes | per user (defaults) |
|---|---|---|
| ``reads`` | every GET | 1,200 a minute, bursts of 200 |
| ``writes`` | other writes (students, sessions, corrections, the registry, reviews) | 300, 100 |
| ``marking`` | marking from a photo, photo uploads, enrolment, face search | 120, 120 |
| ``predictions`` | ``POST /v1/predictions*`` | 600, 200 |
| ``imports`` | attendance imports, training, queued scans | 30, 30 |

**Fail open**: when the store cannot be asked (an error, a timeout past
``RATE_LIMIT_TIMEOUT_SECONDS``), the request goes through unlimited, with a warning in the log and
the metric ``RateLimitCheckFailed``: the limiter protects the service, so its own outage must not
become one.
"""

from __future__ import annotations

from dataclasses import dataclass

from rollcall.platform.observability import count, logger
from rollcall.platform.settings import FunctionSettings
from rollcall.store.rate_limits import Limit, Outcome, RateLimitTable, org_key, user_key

ROUTE_CLASSES = ("reads", "writes", "marking", "predictions", "imports")


def limits(settings: FunctionSettings, route_class: str) -> tuple[Limit, Limit]:
    """The (user, organisation) buckets of ``route_class`` under ``settings``."""
    if route_class not in ROUTE_CLASSES:
        raise ValueError(f"unknown route class {route_class!r}")
    per_minute = int(getattr(settings, f"rate_limit_{route_class}_per_minute"))
    burst = int(getattr(settings, f"rate_limit_{route_class}_burst"))
    factor = settings.rate_limit_org_factor
    user = Limit(capacity=burst, per_second=per_minute / 60)
    org = Limit(capacity=max(burst, round(burst * factor)), per_second=per_minute * factor / 60)
    return user, org


@dataclass(frozen=True)
class Checked:
    """A request's rate-limit decision, with what its answer's headers say."""

    route_class: str
    user_limit: Limit
    org_limit: Limit
    user: Outcome
    org: Outcome | None  # None: not asked (the user's bucket refused)

    @property
    def allowed(self) -> bool:
        return self.user.allowed and (self.org is None or self.org.allowed)

    @property
    def refused_by(self) -> str | None:
        if not self.user.allowed:
            return "user"
        if self.org is not None and not self.org.allowed:
            return "organisation"
        return None

    @property
    def retry_after_seconds(self) -> int:
        return max(self.user.retry_after_seconds, self.org.retry_after_seconds if self.org else 0)

    def _buckets(self) -> list[tuple[str, Limit, Outcome | None]]:
        return [
            (f"user-{self.route_class}", self.user_limit, self.user),
            (f"org-{self.route_class}", self.org_limit, self.org),
        ]

    def headers(self) -> list[tuple[str, str]]:
        """``RateLimit-Policy`` and ``RateLimit`` (draft-ietf-httpapi-ratelimit-headers, structured
        fields: ``q`` tokens per ``w`` seconds; ``r`` tokens left, ``t`` seconds until the bucket is
        full again), plus ``Retry-After`` (seconds) on a refusal."""
        policy = ", ".join(
            f'"{name}";q={limit.capacity};w={limit.window_seconds}' for name, limit, _ in self._buckets()
        )
        state = ", ".join(
            f'"{name}";r={out.remaining};t={out.reset_seconds}'
            for name, _, out in self._buckets()
            if out is not None
        )
        headers = [("ratelimit-policy", policy), ("ratelimit", state)]
        if not self.allowed:
            headers.append(("retry-after", str(self.retry_after_seconds)))
        return headers


def check(
    settings: FunctionSettings,
    org: str,
    sub: str,
    route_class: str,
    *,
    table: RateLimitTable | None = None,
    now: int | None = None,
) -> Checked | None:
    """Take a token for one request of ``sub`` of ``org``; None when the store could not be asked
    (fail open: logged, counted)."""
    user_limit, org_limit = limits(settings, route_class)
    table = table or RateLimitTable(
        settings.records_table, timeout_seconds=settings.rate_limit_timeout_seconds
    )
    try:
        user = table.take(user_key(org, sub, route_class), user_limit, now=now)
        theirs = table.take(org_key(org, route_class), org_limit, now=now) if user.allowed else None
    except Exception as e:  # the limiter's own failure never refuses traffic
        logger.warning(
            "rate limit check failed: the request is let through",
            extra={"route_class": route_class, "error": type(e).__name__},
        )
        count("RateLimitCheckFailed")
        return None
    checked = Checked(route_class, user_limit, org_limit, user, theirs)
    if not checked.allowed:
        count("RequestsThrottled")
    return checked
