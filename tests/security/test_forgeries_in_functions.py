"""Every forged token on every route of the functions themselves, as deployed: keys from a JWKS.

In production API Gateway's JWT authorizer checks a token first; the functions check it again,
and this suite keeps that second check whole on its own (a misconfigured authorizer must not open
anything): one app with every router of rollcall.api (found by import, so a new router is
covered), verifying RS256/ES256 from a JWKS (PyJWT's client, serving a fixed key set), on moto's
DynamoDB with the records table. Every forgery on every documented route: 401 with a TOKEN_* code
(403 FORBIDDEN for a genuine token without a known role), and the table still empty.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from jwt.algorithms import RSAAlgorithm
from moto import mock_aws
from pydantic import SecretStr

from rollcall.api.app import create_app
from rollcall.platform.auth import TokenVerifier
from rollcall.platform.settings import FunctionSettings
from testkit.tables import create_key_table
from tests.security.conftest import Route, Victim, body_for
from tests.unit.test_auth import OfflineJWKClient
from tests.unit.test_openapi_names import every_router

ISS, AUD, TABLE = "https://issuer.example", "rollcall-api", "sec-records"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PUBLIC_PEM = KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)
VICTIM = Victim(
    ids={
        "org": "victim",
        "student_id": "s-1",
        "face_id": "f-1",
        "session_id": "sess-1",
        "photo_id": "p-1",
        "model_type": "attendance",
        "version": "v0001",
        "job_id": "job-1",
        "anomaly_id": "a-1",
    },
    face_photo=b"\xff\xd8\xff\xe0not a photo",
)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"sub": "mallory", "org": "victim", "role": "admin", "iss": ISS, "aud": AUD}
    return {k: v for k, v in (base | {"iat": now, "exp": now + 600} | overrides).items() if v is not None}


def rs256(key: Any = KEY, kid: str = "rsa-1", **overrides: Any) -> str:
    return jwt.encode(claims(**overrides), key, algorithm="RS256", headers={"kid": kid})


def handmade(header: dict[str, Any], payload: dict[str, Any], sign: Callable[[bytes], bytes]) -> str:
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"
    return f"{signing_input}.{b64url(sign(signing_input.encode()))}"


def tampered(token: str, **changes: Any) -> str:
    head, body, signature = token.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    return f"{head}.{b64url(json.dumps(payload | changes).encode())}.{signature}"


def flipped(token: str) -> str:
    """The token with one character of its signature changed."""
    head, body, signature = token.split(".")
    return f"{head}.{body}.{signature[:5]}{'A' if signature[5] != 'A' else 'B'}{signature[6:]}"


FORGERIES: dict[str, tuple[Callable[[], str | None], int]] = {
    "no token": (lambda: None, 401),
    "not a JWT": (lambda: "a.b", 401),
    "alg none": (lambda: handmade({"alg": "none", "kid": "rsa-1"}, claims(), lambda _: b""), 401),
    "HS256 signed with the issuer's public key": (
        lambda: handmade(
            {"alg": "HS256", "kid": "rsa-1"},
            claims(),
            lambda data: hmac.new(PUBLIC_PEM, data, hashlib.sha256).digest(),
        ),
        401,
    ),
    "unknown kid": (lambda: rs256(OTHER, kid="rsa-unknown"), 401),
    "another key under the known kid": (lambda: rs256(OTHER), 401),
    "tampered signature": (lambda: flipped(rs256()), 401),
    "org rewritten to the victim's": (lambda: tampered(rs256(org="attacker"), org="victim"), 401),
    "role raised to admin": (lambda: tampered(rs256(role="student"), role="admin"), 401),
    "wrong issuer": (lambda: rs256(iss="https://evil.example.com"), 401),
    "wrong audience": (lambda: rs256(aud="another-api"), 401),
    "expired": (lambda: rs256(iat=int(time.time()) - 7200, exp=int(time.time()) - 3600), 401),
    "exp as a string": (lambda: rs256(exp="9999999999"), 401),
    "no exp": (lambda: rs256(exp=None), 401),
    "not valid yet": (lambda: rs256(nbf=int(time.time()) + 3600), 401),
    "no sub": (lambda: rs256(sub=None), 401),
    "no org": (lambda: rs256(org=None), 401),
    "org with key separators": (lambda: rs256(org="victim#STUDENT#s-1"), 401),
    "no role": (lambda: rs256(role=None), 403),
    "unknown role": (lambda: rs256(role="superuser"), 403),
}
CODES = {401: {"TOKEN_INVALID", "TOKEN_EXPIRED", "TOKEN_MISSING"}, 403: {"FORBIDDEN"}}


@pytest.fixture(scope="module")
def functions() -> Iterator[tuple[TestClient, list[Route], Any]]:
    """The app of every router, verifying from a JWKS; its routes; moto's DynamoDB."""
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        create_key_table(dynamodb, TABLE)
        settings = FunctionSettings(
            stage="test",
            records_table=TABLE,
            auth_issuer=ISS,
            auth_audience=AUD,
            auth_jwks_url="https://issuer.example/.well-known/jwks.json",
            auth_hs256_secret=SecretStr(""),
        )
        jwk = json.loads(RSAAlgorithm.to_jwk(KEY.public_key())) | {"kid": "rsa-1", "use": "sig"}
        verifier = TokenVerifier(issuer=ISS, audience=AUD, jwks_client=OfflineJWKClient({"keys": [jwk]}))
        app = create_app("all", routers=every_router(), settings=settings, verifier=verifier)
        routes = [
            Route(method.upper(), path, path == "/health")
            for path, operations in app.openapi()["paths"].items()
            for method in operations
        ]
        with TestClient(app, raise_server_exceptions=False) as client:
            yield client, routes, dynamodb


def test_a_genuine_token_from_the_jwks_is_accepted(functions: tuple[TestClient, list[Route], Any]) -> None:
    client, _, _ = functions
    me = client.get("/v1/me", headers={"authorization": f"Bearer {rs256()}"})
    assert (me.status_code, me.json()) == (200, {"sub": "mallory", "org": "victim", "role": "admin"})


@pytest.mark.parametrize("name", list(FORGERIES))
def test_a_forged_token_is_refused_by_every_function_route_with_a_code(
    functions: tuple[TestClient, list[Route], Any], name: str
) -> None:
    # Given a forged token
    client, routes, dynamodb = functions
    forge, status = FORGERIES[name]
    token = forge()
    headers = {} if token is None else {"authorization": f"Bearer {token}"}
    assert len(routes) >= 30

    # When every route (with a body it would accept) is called with it
    wrong = []
    for route in routes:
        if route.public:
            continue
        kwargs = body_for(route, VICTIM)
        response = client.request(
            route.method,
            VICTIM.url(route),
            headers=headers | kwargs.get("headers", {}),
            **{k: v for k, v in kwargs.items() if k != "headers"},
        )
        body = response.json()
        # Then it is refused with a code, and a request id
        coded = body.get("code") in CODES[status] and body.get("request_id")
        if response.status_code != status or not coded:
            wrong.append((str(route), response.status_code, body))
    assert wrong == [], (name, wrong)
    # and nothing was stored (but the rate-limit buckets of the genuine token's test, if it ran)
    items = dynamodb.scan(TableName=TABLE)["Items"]
    assert [i for i in items if "#RATE#" not in i["pk"]["S"]] == []
