"""JWT verification (and dev-token issuing for the local stack).

Two key sources, never both at once (see ``FunctionSettings``):
- HS256 with a shared secret: the local stack, whose secret is generated into ``.local/``;
- RS256/ES256 with keys fetched from a JWKS URL (production issuers), cached per container.

Each source has an explicit algorithm allow-list, so an ``alg: none`` token or an HS256 token
signed with an RSA public key (algorithm confusion) is refused before any key is used.
``exp``, ``iss``, ``aud`` and ``sub`` are required; ``nbf`` and ``iat`` are honoured;
30 seconds of leeway absorb clock skew.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from rollcall.platform.auth.principal import ID_PATTERN, Principal, Role
from rollcall.platform.errors import Forbidden, TokenExpired, TokenInvalid

if TYPE_CHECKING:  # jwt imports cryptography: 0.1 s of cold start, paid on first use only
    from jwt import PyJWKClient

    from rollcall.platform.settings import FunctionSettings

HS_ALGORITHMS = ("HS256",)
ASYMMETRIC_ALGORITHMS = ("RS256", "ES256")
REQUIRED_CLAIMS = ("exp", "iss", "aud", "sub")
JWKS_CACHE_SECONDS = 3600


class TokenVerifier:
    """Verifies bearer tokens against one key source; build one per container and reuse it."""

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        hs256_secret: str = "",
        jwks_url: str = "",
        leeway_seconds: int = 30,
        jwks_client: PyJWKClient | None = None,
    ) -> None:
        if bool(hs256_secret) == bool(jwks_url or jwks_client):
            raise ValueError("a verifier needs exactly one key source: an HS256 secret or a JWKS URL")
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway_seconds
        self._secret = hs256_secret
        self._jwks_url = jwks_url
        self._jwks_client = jwks_client
        self.algorithms = HS_ALGORITHMS if hs256_secret else ASYMMETRIC_ALGORITHMS

    @classmethod
    def from_settings(cls, settings: FunctionSettings) -> TokenVerifier:
        return cls(
            issuer=settings.auth_issuer,
            audience=settings.auth_audience,
            hs256_secret=settings.auth_hs256_secret.get_secret_value(),
            jwks_url=settings.auth_jwks_url,
            leeway_seconds=settings.auth_leeway_seconds,
        )

    def _key_for(self, token: str) -> Any:
        if self._secret:
            return self._secret
        if self._jwks_client is None:
            from jwt import PyJWKClient

            self._jwks_client = PyJWKClient(self._jwks_url, cache_keys=True, lifespan=JWKS_CACHE_SECONDS)
        return self._jwks_client.get_signing_key_from_jwt(token).key

    def verify(self, token: str) -> Principal:
        """The principal of a valid token; TokenExpired, TokenInvalid or Forbidden otherwise."""
        import jwt

        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise TokenInvalid("the token is not a well-formed JWT") from None
        alg = header.get("alg")
        if alg not in self.algorithms:
            raise TokenInvalid(f"algorithm {alg!r} is not accepted; accepted: {', '.join(self.algorithms)}")
        try:
            claims = jwt.decode(
                token,
                self._key_for(token),
                algorithms=list(self.algorithms),
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.ExpiredSignatureError:
            raise TokenExpired("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise TokenInvalid("the token is not valid yet (nbf/iat in the future)") from None
        except jwt.InvalidAudienceError:
            raise TokenInvalid("the token is for another audience") from None
        except jwt.InvalidIssuerError:
            raise TokenInvalid("the token is from another issuer") from None
        except jwt.MissingRequiredClaimError as e:
            raise TokenInvalid(f"the token lacks the {e.claim!r} claim") from None
        except jwt.PyJWKClientError:
            raise TokenInvalid("no key of the issuer matches the token") from None
        except jwt.PyJWTError:
            raise TokenInvalid("the token signature or claims are invalid") from None
        _check_time_claims(claims)
        return principal_from_claims(claims)


def _check_time_claims(claims: dict[str, Any]) -> None:
    """``exp``, ``nbf`` and ``iat`` are NumericDates (RFC 7519): numbers, never strings or booleans.

    PyJWT converts ``"9999999999"`` with ``int()`` and accepts it; a token like that was not made
    by a conforming issuer and is refused."""
    for name in ("exp", "nbf", "iat"):
        value = claims.get(name)
        if name in claims and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise TokenInvalid(f"the token's {name!r} claim is not a number")


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    sub, org, role = claims.get("sub"), claims.get("org"), claims.get("role")
    if not isinstance(sub, str) or not ID_PATTERN.match(sub):
        raise TokenInvalid("the token's 'sub' claim is missing or malformed")
    if not isinstance(org, str) or not ID_PATTERN.match(org):
        raise TokenInvalid("the token's 'org' claim is missing or malformed")
    if role is None:
        raise Forbidden("the token carries no role")
    try:
        return Principal(sub=sub, org=org, role=Role(role))
    except ValueError:
        raise Forbidden(f"role {role!r} is not one of: {', '.join(r.value for r in Role)}") from None


def issue_token(  # noqa: PLR0913  (keyword-only: every claim of the token, named at the call)
    *,
    secret: str,
    sub: str,
    org: str,
    role: str,
    issuer: str,
    audience: str,
    ttl_seconds: int = 12 * 3600,
    now: float | None = None,
    extra: dict[str, Any] | None = None,
) -> str:
    """An HS256 token for the local stack and tests (production tokens come from the issuer)."""
    import jwt

    issued = int(now if now is not None else time.time())
    claims = {
        "sub": sub,
        "org": org,
        "role": role,
        "iss": issuer,
        "aud": audience,
        "iat": issued,
        "nbf": issued,
        "exp": issued + ttl_seconds,
        **(extra or {}),
    }
    return jwt.encode(claims, secret, algorithm="HS256")
