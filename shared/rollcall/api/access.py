"""Who may do what: authentication of the bearer token and every authorisation decision.

Authorisation is decided here, in the API layer, and nowhere else: services receive a principal
that a route has already admitted, and use it only to record who acted. A route declares who may
call it with one of the dependencies below::

    @router.get("/v1/students/{student_id}")
    def get_student(student_id: str, who: AnyUser) -> Student:
        ensure_self_or_staff(who, student_id)

- ``AnyUser``, ``Staff`` (admin, teacher), ``AdminOnly``: a verified :class:`Principal` or a 401/403.
- :func:`ensure_self_or_staff`: a student may act on their own record only.
- A ``{org}`` path parameter or an ``X-Rollcall-Org`` header naming another organisation than the
  token's answers 403 WRONG_ORGANISATION. Isolation itself is enforced by the store, which scopes
  every key by the principal's organisation.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from rollcall.platform.auth import STAFF, Principal, Role, TokenVerifier
from rollcall.platform.errors import Forbidden, TokenMissing, WrongOrganisation

ORG_HEADER = "x-rollcall-org"
bearer = HTTPBearer(auto_error=False, description="A JWT with `sub`, `org` and `role` claims")


def _principal(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    if credentials is None or not credentials.credentials:
        raise TokenMissing("send 'Authorization: Bearer <token>'")
    verifier: TokenVerifier = request.app.state.verifier
    principal = verifier.verify(credentials.credentials)
    for named in (request.path_params.get("org"), request.headers.get(ORG_HEADER)):
        if named is not None and named != principal.org:
            raise WrongOrganisation("the token belongs to another organisation than the one addressed")
    return principal


def require(*roles: Role) -> Any:
    """A dependency yielding the verified principal, refused unless its role is in ``roles``.

    With no roles, any authenticated user is accepted.
    """

    def dependency(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
    ) -> Principal:
        principal = _principal(request, credentials)
        if roles and principal.role not in roles:
            allowed = ", ".join(r.value for r in roles)
            raise Forbidden(f"role {principal.role.value!r} may not do this; allowed: {allowed}")
        return principal

    return Depends(dependency)


AnyUser = Annotated[Principal, require()]
Staff = Annotated[Principal, require(*STAFF)]
AdminOnly = Annotated[Principal, require(Role.ADMIN)]


def ensure_self_or_staff(principal: Principal, student_id: str) -> None:
    """Students may act on their own record only; staff on any of their organisation."""
    if not principal.is_staff() and principal.sub != student_id:
        raise Forbidden("a student may only act on their own record")


def ensure_staff(principal: Principal, why: str) -> None:
    """Staff only, for a route that students may call with some bodies but not this one."""
    if not principal.is_staff():
        raise Forbidden(why)
