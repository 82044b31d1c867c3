"""The local stack's HS256 secret, dev tokens, and token placeholders in event files.

The secret is generated on first use into ``.local/jwt-secret`` (mode 0600, never committed) and
given to the functions through the template's ``JwtSecret`` parameter. Tokens are issued with
:func:`rollcall.platform.auth.issue_token` for the template's ``JwtIssuer`` and ``JwtAudience``.

An event file may hold ``{{token:<role>:<org>:<sub>}}`` in any string (typically
``"authorization": "Bearer {{token:teacher:demo:alice}}"``); :func:`render_event` replaces each
with a fresh token, so event files never contain a secret or an expiring token.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

SECRET_PARAMETER = "JwtSecret"  # noqa: S105  # the parameter's name, not a secret
ROLES = ("admin", "teacher", "student")
PLACEHOLDER = re.compile(r"\{\{token:([a-z]+):([A-Za-z0-9_.\-]+):([A-Za-z0-9_.\-]+)\}\}")


def jwt_secret(path: Path) -> str:
    """The local secret, created on first use (readable by the owner only)."""
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another command created it meanwhile
            pass
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def dev_token(parameters: Mapping[str, Any], secret: str, *, role: str, org: str, sub: str) -> str:
    """A token the local functions accept (issuer and audience from the template's parameters)."""
    from rollcall.platform.auth import issue_token

    return issue_token(
        secret=secret,
        sub=sub,
        org=org,
        role=role,
        issuer=str(parameters.get("JwtIssuer") or "rollcall-local"),
        audience=str(parameters.get("JwtAudience") or "rollcall-api"),
    )


TokenFactory = Callable[[str, str, str], str]  # (role, org, sub) → token


def render_event(event: Any, token: TokenFactory) -> Any:
    """``event`` with every ``{{token:role:org:sub}}`` replaced by a fresh token."""
    if isinstance(event, dict):
        return {key: render_event(value, token) for key, value in event.items()}
    if isinstance(event, list):
        return [render_event(item, token) for item in event]
    if isinstance(event, str):
        return PLACEHOLDER.sub(lambda m: token(m.group(1), m.group(2), m.group(3)), event)
    return event
