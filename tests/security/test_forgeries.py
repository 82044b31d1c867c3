"""Every forged token on every route: refused, and nothing stored.

The routes are the API's documented ones (its OpenAPI document), each called with a body it would
accept, aimed at the victim organisation's data, so that the token is the only thing in the way.
A forgery is refused either by the API's JWT authorizer (as API Gateway's: 401 and its fixed
``{"message": "Unauthorized"}``, the function never runs) or, for a token that authorizer lets
through, by the function itself: 401 with a TOKEN_* code, or 403 FORBIDDEN for a genuine token
whose role is missing or unknown. Everything stored (every table's items, every bucket's objects)
before the first forgery is compared with what is stored after the last: nothing may change.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.e2e.conftest import LocalStack
from tests.security.conftest import ATTACKER, VICTIM, Route, Victim, body_for, changed, snapshot

ISSUER, AUDIENCE = "rollcall-local", "rollcall-api"
GATEWAY = {"message": "Unauthorized"}
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PUBLIC_PEM = OTHER_KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "sub": "mallory",
        "org": VICTIM,
        "role": "admin",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 600,
    }
    return {k: v for k, v in (base | overrides).items() if v is not None}


def unsigned(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    return ".".join(
        (b64url(json.dumps(header).encode()), b64url(json.dumps(payload).encode()), b64url(signature))
    )


def hs256_with_public_key(payload: dict[str, Any]) -> str:
    """HS256 whose secret is an RSA public key (algorithm confusion; PyJWT refuses to make one)."""
    import hashlib
    import hmac

    head = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64url(json.dumps(payload).encode())
    mac = hmac.new(PUBLIC_PEM, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64url(mac)}"


def tampered_signature(token: str) -> str:
    head, body, signature = token.split(".")
    flipped = "A" if signature[5] != "A" else "B"
    return f"{head}.{body}.{signature[:5]}{flipped}{signature[6:]}"


def org_rewritten(token: str) -> str:
    """An attacker's genuine token with its org claim changed to the victim's, signature kept."""
    head, body, signature = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    return f"{head}.{b64url(json.dumps(payload | {'org': VICTIM}).encode())}.{signature}"


Forge = Callable[[Callable[..., str]], str | None]
# name → (how to make it from ``sign(**claim overrides)``, the statuses the API may answer)
FORGERIES: dict[str, tuple[Forge, tuple[int, ...]]] = {
    "no token": (lambda sign: None, (401,)),
    "not a JWT": (lambda sign: "not-a-jwt", (401,)),
    "alg none": (lambda sign: unsigned({"alg": "none", "typ": "JWT"}, claims()), (401,)),
    "alg none with the real signature": (
        lambda sign: unsigned({"alg": "none", "typ": "JWT"}, claims(), b"x" * 32),
        (401,),
    ),
    "HS256 signed with an RSA public key": (lambda sign: hs256_with_public_key(claims()), (401,)),
    "RS256 with an unknown kid": (
        lambda sign: jwt.encode(claims(), OTHER_KEY, algorithm="RS256", headers={"kid": "unknown"}),
        (401,),
    ),
    "HS256 with another secret": (
        lambda sign: jwt.encode(claims(), "another-secret-of-at-least-32-characters!", algorithm="HS256"),
        (401,),
    ),
    "tampered signature": (lambda sign: tampered_signature(sign()), (401,)),
    "org claim of another org, re-encoded": (lambda sign: org_rewritten(sign(org=ATTACKER)), (401,)),
    "wrong issuer": (lambda sign: sign(iss="https://evil.example.com"), (401,)),
    "wrong audience": (lambda sign: sign(aud="another-api"), (401,)),
    "expired": (lambda sign: sign(iat=int(time.time()) - 7200, exp=int(time.time()) - 3600), (401,)),
    "exp as a string": (lambda sign: sign(exp="9999999999"), (401,)),
    "no exp": (lambda sign: sign(exp=None), (401,)),
    "not valid yet": (lambda sign: sign(nbf=int(time.time()) + 3600), (401,)),
    "iat as a string": (lambda sign: sign(iat=str(int(time.time()))), (401,)),
    "no sub": (lambda sign: sign(sub=None), (401,)),
    "no org": (lambda sign: sign(org=None), (401,)),
    "org with key separators": (lambda sign: sign(org=f"{VICTIM}#STUDENT#obama"), (401,)),
    "org as a list": (lambda sign: sign(org=[VICTIM]), (401,)),
    "sub with a path": (lambda sign: sign(sub="../admin"), (401,)),
    "no role": (lambda sign: sign(role=None), (403,)),
    "unknown role": (lambda sign: sign(role="superuser"), (403,)),
}
TOKEN_CODES = {401: {"TOKEN_INVALID", "TOKEN_EXPIRED", "TOKEN_MISSING"}, 403: {"FORBIDDEN"}}


@pytest.fixture(scope="module")
def sign(stack: LocalStack) -> Callable[..., str]:
    """An HS256 token signed with the stack's real secret, claims overridden (None removes one)."""
    from rollcall_local.devauth import jwt_secret

    secret = jwt_secret(Path(stack.env["ROLLCALL_LOCAL_DIR"]) / "jwt-secret")
    return lambda **overrides: jwt.encode(claims(**overrides), secret, algorithm="HS256")


@pytest.fixture(scope="module")
def stored_before(stack: LocalStack, victim: Victim) -> dict[str, Any]:
    """Everything stored before the first forgery (compared after the last)."""
    return snapshot(stack)


def test_a_genuine_token_passes_so_the_forgeries_below_are_refused_for_their_flaw(
    stack: LocalStack, sign: Callable[..., str], victim: Victim, stored_before: dict[str, Any]
) -> None:
    response = httpx.get(
        f"{stack.api_url}/v1/students/obama", headers={"authorization": f"Bearer {sign()}"}, timeout=60
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("name", list(FORGERIES))
def test_a_forged_token_is_refused_on_every_route(
    stack: LocalStack, sign: Callable[..., str], routes: list[Route], victim: Victim, name: str
) -> None:
    # Given a forged token
    forge, statuses = FORGERIES[name]
    token = forge(sign)
    headers = {} if token is None else {"authorization": f"Bearer {token}"}

    # When every route is called with it (four at a time)
    def call(route: Route) -> tuple[int, dict[str, Any]]:
        kwargs = body_for(route, victim)
        response = httpx.request(
            route.method,
            stack.api_url + victim.url(route),
            headers=headers | kwargs.get("headers", {}),
            timeout=120,
            **{k: v for k, v in kwargs.items() if k != "headers"},
        )
        return response.status_code, response.json()

    called = [route for route in routes if not route.public]
    with ThreadPoolExecutor(4) as pool:
        answers = dict(zip(map(str, called), pool.map(call, called), strict=True))

    # Then each is refused: by the authorizer, or by the function with its code
    for route_name, (status, body) in answers.items():
        assert status in statuses, (name, route_name, status, body)
        if body != GATEWAY:
            assert body.get("code") in TOKEN_CODES[status], (name, route_name, body)
            assert body.get("request_id"), (name, route_name, body)


def test_nothing_stored_changed_after_every_forgery_on_every_route(
    stack: LocalStack, stored_before: dict[str, Any]
) -> None:
    # (the forgeries' requests above carried valid bodies aimed at the victim's data)
    assert changed(stored_before, snapshot(stack)) == {}
