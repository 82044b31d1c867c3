"""Authentication and authorisation: JWT verification, roles, organisation scoping."""

from rollcall.platform.auth.principal import STAFF, Principal, Role
from rollcall.platform.auth.tokens import TokenVerifier, issue_token

__all__ = ["STAFF", "Principal", "Role", "TokenVerifier", "issue_token"]
