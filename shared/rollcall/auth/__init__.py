"""Authentication and authorisation: JWT verification, roles, organisation scoping."""

from rollcall.auth.principal import STAFF, Principal, Role
from rollcall.auth.tokens import TokenVerifier, issue_token

__all__ = ["STAFF", "Principal", "Role", "TokenVerifier", "issue_token"]
