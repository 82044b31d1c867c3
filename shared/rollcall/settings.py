"""Settings: one Pydantic model per function, read from the environment the template gives it.

Each function's ``app.py`` calls :func:`load_settings` once when the container starts, so a
missing or malformed variable fails the cold start with a message naming the variables, not
the first request with a ``KeyError``. Resource names have no defaults: a function that runs
without its table name configured is a deployment error, never a silent fallback.

Field ``records_table`` is read from ``RECORDS_TABLE`` (names are case-insensitive).
"""

from __future__ import annotations

from functools import cache
from typing import Self

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from rollcall.errors import ConfigurationError


class FunctionSettings(BaseSettings):
    """What every function reads: its stage, the records table and how to verify tokens."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore", case_sensitive=False)

    stage: str = Field(description="deployment stage: local or prod")
    records_table: str = Field(min_length=3)

    # Auth: HS256 with a shared secret (local), or RS256/ES256 keys from a JWKS URL (production).
    auth_issuer: str = Field(min_length=1)
    auth_audience: str = Field(min_length=1)
    auth_jwks_url: str = ""
    auth_hs256_secret: SecretStr = SecretStr("")
    auth_leeway_seconds: int = Field(default=30, ge=0, le=300)

    @model_validator(mode="after")
    def _one_key_source(self) -> Self:
        has_secret = bool(self.auth_hs256_secret.get_secret_value())
        if has_secret == bool(self.auth_jwks_url):
            raise ValueError("set exactly one of AUTH_JWKS_URL (RS256/ES256) or AUTH_HS256_SECRET (HS256)")
        if has_secret and len(self.auth_hs256_secret.get_secret_value()) < 32:
            raise ValueError("AUTH_HS256_SECRET must be at least 32 characters")
        return self


class FaceSettings(FunctionSettings):
    """Settings shared by the two face functions (thresholds, detector)."""


class EncodeFaceSettings(FaceSettings):
    pass


class MarkAttendanceSettings(FaceSettings):
    pass


class PredictSettings(FunctionSettings):
    model_bucket: str = Field(min_length=3)
    registry_table: str = Field(min_length=3)


class TrainSettings(FunctionSettings):
    model_bucket: str = Field(min_length=3)
    registry_table: str = Field(min_length=3)
    training_queue_url: str = Field(min_length=8)
    idempotency_table: str = Field(min_length=3)


class AnomalyScanSettings(FunctionSettings):
    alert_queue_url: str = Field(min_length=8)
    registry_table: str = Field(min_length=3)


def load_settings[S: FunctionSettings](cls: type[S]) -> S:
    """Read and validate ``cls`` from the environment; a clear ConfigurationError otherwise.

    The error names each offending variable and why, never its value (values may be secrets).
    """
    try:
        return cls()  # type: ignore[call-arg]  # fields come from the environment
    except ValidationError as e:
        problems = []
        for err in e.errors(include_input=False, include_url=False):
            name = "_".join(str(p) for p in err["loc"]).upper() or cls.__name__
            problems.append(f"{name}: {err['msg']}")
        raise ConfigurationError({"settings": cls.__name__, "problems": problems}) from None


@cache
def cached_settings[S: FunctionSettings](cls: type[S]) -> S:
    """:func:`load_settings` once per container (per class)."""
    return load_settings(cls)
