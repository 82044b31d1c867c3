"""Who is calling: the verified claims of a token."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

# Organisation and subject ids appear inside store keys ("ORG#<org>#..."): no separators allowed.
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


class Role(StrEnum):
    ADMIN = "admin"
    TEACHER = "teacher"
    STUDENT = "student"


STAFF = (Role.ADMIN, Role.TEACHER)


@dataclass(frozen=True, slots=True)
class Principal:
    sub: str
    org: str
    role: Role

    def is_staff(self) -> bool:
        return self.role in STAFF

    def public(self) -> dict[str, str]:
        return {"sub": self.sub, "org": self.org, "role": self.role.value}
