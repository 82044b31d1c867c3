"""The auth matrix: every way a token can be wrong, refused with the right status and code.

Real tokens (PyJWT), real keys (RSA 2048, P-256), the real FastAPI app of the core layer; the
JWKS client is PyJWT's own with only its HTTP fetch replaced (unit tests have no network).
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import APIRouter
from fastapi.testclient import TestClient
from jwt import PyJWKClient
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from rollcall.api.access import AdminOnly, Staff
from rollcall.api.app import create_app
from rollcall.platform.auth import TokenVerifier, issue_token
from rollcall.platform.settings import FunctionSettings

SECRET = "a-local-test-secret-of-at-least-32-characters"
ISS, AUD = "rollcall-test", "rollcall-api"

RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def settings(**overrides: Any) -> FunctionSettings:
    values = {
        "stage": "test",
        "records_table": "test-records",
        "auth_issuer": ISS,
        "auth_audience": AUD,
        "auth_hs256_secret": SECRET,
    }
    return FunctionSettings(**(values | overrides))


router = APIRouter()


@router.get("/v1/staff-only")
def staff_only(who: Staff) -> dict[str, str]:
    return who.public()


@router.get("/v1/admin-only")
def admin_only(who: AdminOnly) -> dict[str, str]:
    return who.public()


class OfflineJWKClient(PyJWKClient):
    """PyJWT's JWKS client serving a fixed key set instead of fetching it."""

    def __init__(self, jwks: dict[str, Any]) -> None:
        super().__init__("https://issuer.example/.well-known/jwks.json", cache_keys=True)
        self._jwks = jwks

    def fetch_data(self) -> Any:
        return self._jwks


def jwks() -> dict[str, Any]:
    rsa_jwk = json.loads(RSAAlgorithm.to_jwk(RSA_KEY.public_key()))
    ec_jwk = json.loads(ECAlgorithm.to_jwk(EC_KEY.public_key()))
    return {"keys": [rsa_jwk | {"kid": "rsa-1", "use": "sig"}, ec_jwk | {"kid": "ec-1", "use": "sig"}]}


@pytest.fixture(scope="module")
def hs_client() -> TestClient:
    return TestClient(create_app("test", routers=[router], settings=settings()))


@pytest.fixture(scope="module")
def jwks_client() -> TestClient:
    s = settings(auth_hs256_secret="", auth_jwks_url="https://issuer.example/.well-known/jwks.json")
    verifier = TokenVerifier(issuer=ISS, audience=AUD, jwks_client=OfflineJWKClient(jwks()))
    return TestClient(create_app("test", routers=[router], settings=s, verifier=verifier))


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "sub": "alice",
        "org": "demo",
        "role": "teacher",
        "iss": ISS,
        "aud": AUD,
        "iat": now,
        "exp": now + 600,
    }
    return {k: v for k, v in (base | overrides).items() if v is not None}


def hs256(**overrides: Any) -> str:
    return jwt.encode(claims(**overrides), SECRET, algorithm="HS256")


def rs256(**overrides: Any) -> str:
    return jwt.encode(claims(**overrides), RSA_KEY, algorithm="RS256", headers={"kid": "rsa-1"})


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def get(client: TestClient, path: str, token: str | None) -> tuple[int, dict[str, Any]]:
    headers = {"authorization": f"Bearer {token}"} if token is not None else {}
    response = client.get(path, headers=headers)
    return response.status_code, response.json()


def assert_refused(result: tuple[int, dict[str, Any]], status: int, code: str) -> None:
    got_status, body = result
    assert (got_status, body["code"]) == (status, code), body
    assert set(body) == {"error", "code", "detail", "request_id"}


# --- the matrix (HS256, the local mode) ----------------------------------------------------------


def test_valid_token_is_accepted(hs_client: TestClient) -> None:
    # Given a token signed with the local secret, When it calls /v1/me, Then its claims come back
    status, body = get(hs_client, "/v1/me", hs256())
    assert status == 200
    assert body == {"sub": "alice", "org": "demo", "role": "teacher"}


def test_missing_token(hs_client: TestClient) -> None:
    assert_refused(get(hs_client, "/v1/me", None), 401, "TOKEN_MISSING")


def test_alg_none_is_refused(hs_client: TestClient) -> None:
    header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = b64url(json.dumps(claims()).encode())
    assert_refused(get(hs_client, "/v1/me", f"{header}.{payload}."), 401, "TOKEN_INVALID")


def test_expired_token(hs_client: TestClient) -> None:
    past = int(time.time()) - 3600
    assert_refused(get(hs_client, "/v1/me", hs256(iat=past - 600, exp=past)), 401, "TOKEN_EXPIRED")


def test_expiry_within_the_30_second_leeway_is_accepted(hs_client: TestClient) -> None:
    status, _ = get(hs_client, "/v1/me", hs256(exp=int(time.time()) - 10))
    assert status == 200


def test_not_before_in_the_future(hs_client: TestClient) -> None:
    assert_refused(get(hs_client, "/v1/me", hs256(nbf=int(time.time()) + 600)), 401, "TOKEN_INVALID")


def test_wrong_issuer(hs_client: TestClient) -> None:
    assert_refused(get(hs_client, "/v1/me", hs256(iss="someone-else")), 401, "TOKEN_INVALID")


def test_wrong_audience(hs_client: TestClient) -> None:
    assert_refused(get(hs_client, "/v1/me", hs256(aud="another-api")), 401, "TOKEN_INVALID")


def test_missing_expiry(hs_client: TestClient) -> None:
    assert_refused(get(hs_client, "/v1/me", hs256(exp=None)), 401, "TOKEN_INVALID")


def test_time_claims_that_are_not_numbers_are_refused(hs_client: TestClient) -> None:
    far = int(time.time()) + 3600
    assert_refused(get(hs_client, "/v1/me", hs256(exp=str(far))), 401, "TOKEN_INVALID")
    assert_refused(get(hs_client, "/v1/me", hs256(exp="9999999999")), 401, "TOKEN_INVALID")
    assert_refused(get(hs_client, "/v1/me", hs256(iat=str(far - 7200))), 401, "TOKEN_INVALID")
    assert_refused(get(hs_client, "/v1/me", hs256(nbf=True)), 401, "TOKEN_INVALID")


def test_tampered_payload(hs_client: TestClient) -> None:
    # Given a valid token whose payload is swapped for one claiming the admin role
    header, _, signature = hs256().split(".")
    forged = b64url(json.dumps(claims(role="admin")).encode())
    assert_refused(get(hs_client, "/v1/me", f"{header}.{forged}.{signature}"), 401, "TOKEN_INVALID")


def test_signed_with_another_secret(hs_client: TestClient) -> None:
    token = jwt.encode(claims(), "another-secret-that-is-also-long-enough", algorithm="HS256")
    assert_refused(get(hs_client, "/v1/me", token), 401, "TOKEN_INVALID")


def test_missing_role(hs_client: TestClient) -> None:
    assert_refused(get(hs_client, "/v1/me", hs256(role=None)), 403, "FORBIDDEN")


def test_unknown_role(hs_client: TestClient) -> None:
    assert_refused(get(hs_client, "/v1/me", hs256(role="superuser")), 403, "FORBIDDEN")


def test_missing_organisation(hs_client: TestClient) -> None:
    assert_refused(get(hs_client, "/v1/me", hs256(org=None)), 401, "TOKEN_INVALID")


def test_other_organisation_on_an_org_scoped_route(hs_client: TestClient) -> None:
    # Given a valid token of organisation "demo", When it addresses organisation "other"
    assert_refused(get(hs_client, "/v1/orgs/other", hs256()), 403, "WRONG_ORGANISATION")
    # ... and through the organisation header on any route
    response = hs_client.get(
        "/v1/me", headers={"authorization": f"Bearer {hs256()}", "x-rollcall-org": "other"}
    )
    assert (response.status_code, response.json()["code"]) == (403, "WRONG_ORGANISATION")
    # Then its own organisation is fine
    assert get(hs_client, "/v1/orgs/demo", hs256())[0] == 200


def test_role_not_allowed_on_route(hs_client: TestClient) -> None:
    assert_refused(get(hs_client, "/v1/staff-only", hs256(role="student")), 403, "FORBIDDEN")
    assert_refused(get(hs_client, "/v1/admin-only", hs256(role="teacher")), 403, "FORBIDDEN")
    assert get(hs_client, "/v1/staff-only", hs256(role="teacher"))[0] == 200
    assert get(hs_client, "/v1/admin-only", hs256(role="admin"))[0] == 200


def test_asymmetric_token_refused_in_hs256_mode(hs_client: TestClient) -> None:
    assert_refused(get(hs_client, "/v1/me", rs256()), 401, "TOKEN_INVALID")


def test_dev_tokens_are_accepted(hs_client: TestClient) -> None:
    token = issue_token(secret=SECRET, sub="bob", org="demo", role="admin", issuer=ISS, audience=AUD)
    assert get(hs_client, "/v1/me", token) == (200, {"sub": "bob", "org": "demo", "role": "admin"})


def test_garbage_token(hs_client: TestClient) -> None:
    assert_refused(get(hs_client, "/v1/me", "not-a-jwt"), 401, "TOKEN_INVALID")


# --- JWKS mode (production issuers: RS256 / ES256) -----------------------------------------------


def test_rs256_and_es256_from_jwks_are_accepted(jwks_client: TestClient) -> None:
    es = jwt.encode(claims(sub="carol"), EC_KEY, algorithm="ES256", headers={"kid": "ec-1"})
    assert get(jwks_client, "/v1/me", rs256())[0] == 200
    assert get(jwks_client, "/v1/me", es) == (200, {"sub": "carol", "org": "demo", "role": "teacher"})


def test_algorithm_confusion_is_refused(jwks_client: TestClient) -> None:
    # Given an HS256 token whose HMAC key is the issuer's RSA *public* key (known to anyone)
    public_pem = RSA_KEY.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}).encode())
    payload = b64url(json.dumps(claims(role="admin")).encode())
    import hashlib
    import hmac

    signature = b64url(hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest())
    # When it is presented to the RS256/ES256 verifier, Then it is refused before any key is used
    assert_refused(get(jwks_client, "/v1/me", f"{header}.{payload}.{signature}"), 401, "TOKEN_INVALID")


def test_unknown_key_id_is_refused(jwks_client: TestClient) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(claims(), other, algorithm="RS256", headers={"kid": "rsa-unknown"})
    assert_refused(get(jwks_client, "/v1/me", token), 401, "TOKEN_INVALID")


def test_token_signed_by_another_rsa_key_with_a_known_kid_is_refused(jwks_client: TestClient) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(claims(), other, algorithm="RS256", headers={"kid": "rsa-1"})
    assert_refused(get(jwks_client, "/v1/me", token), 401, "TOKEN_INVALID")


# --- settings ------------------------------------------------------------------------------------


def test_settings_need_exactly_one_key_source() -> None:
    from rollcall.platform.errors import ConfigurationError
    from rollcall.platform.settings import load_settings

    with pytest.MonkeyPatch.context() as mp:
        for name, value in {
            "STAGE": "test",
            "RECORDS_TABLE": "t-records",
            "AUTH_ISSUER": ISS,
            "AUTH_AUDIENCE": AUD,
            "AUTH_HS256_SECRET": "",
            "AUTH_JWKS_URL": "",
        }.items():
            mp.setenv(name, value)
        with pytest.raises(ConfigurationError) as refused:
            load_settings(FunctionSettings)
        assert "exactly one" in json.dumps(refused.value.detail)
        mp.setenv("AUTH_HS256_SECRET", SECRET)
        assert load_settings(FunctionSettings).auth_issuer == ISS


def test_missing_resource_names_fail_at_start_naming_the_variable() -> None:
    from rollcall.platform.errors import ConfigurationError
    from rollcall.platform.settings import load_settings

    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("RECORDS_TABLE", raising=False)
        for name, value in {
            "STAGE": "test",
            "AUTH_ISSUER": ISS,
            "AUTH_AUDIENCE": AUD,
            "AUTH_HS256_SECRET": SECRET,
        }.items():
            mp.setenv(name, value)
        with pytest.raises(ConfigurationError) as refused:
            load_settings(FunctionSettings)
        problems = refused.value.detail["problems"]
        assert any(p.startswith("RECORDS_TABLE") for p in problems)
        assert SECRET not in json.dumps(refused.value.detail)
