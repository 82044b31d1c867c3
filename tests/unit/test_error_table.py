"""The README's error table says what the API answers: every code the code can raise is in it,
under its status, and it names no code that does not exist."""

from __future__ import annotations

import re
from pathlib import Path

from rollcall.platform import errors

ROOT = Path(__file__).resolve().parents[2]
CATEGORY_DEFAULTS = {
    "INVALID_REQUEST",
    "NOT_FOUND",
    "CONFLICT",
    "PAYLOAD_TOO_LARGE",
    "UNSUPPORTED_MEDIA_TYPE",
}
NEVER_ANSWERED = {"CONFIGURATION_ERROR"}  # raised at a function's start, never to a client


def readme_table() -> dict[str, int]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### Errors") :]
    table: dict[str, int] = {}
    for status, codes in re.findall(r"^\| (\d{3}) \| (.+) \|$", section, flags=re.M):
        without_notes = re.sub(r"\([^()]*(\([^()]*\)[^()]*)*\)", "", codes)
        for code in re.findall(r"\b[A-Z][A-Z_]{2,}\b", without_notes):
            table[code] = int(status)
    return table


def raised_codes() -> set[str]:
    found: set[str] = set()
    for path in (ROOT / "shared" / "rollcall").rglob("*.py"):
        found |= set(re.findall(r'code="([A-Z_]+)"', path.read_text()))
    return found


def test_every_code_is_in_the_readme_under_its_status() -> None:
    table, raised = readme_table(), raised_codes()
    classes = [
        c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.RollcallError)
    ]
    for cls in classes:
        if cls.code in CATEGORY_DEFAULTS | NEVER_ANSWERED:
            continue
        if cls.code in raised:  # also raised as another category (its status decided there)
            assert cls.code in table, cls.code
        else:
            assert table.get(cls.code) == cls().status, cls.code
    missing = raised - set(table) - CATEGORY_DEFAULTS
    assert not missing, f"codes raised but not in the README: {sorted(missing)}"


def test_the_readme_names_no_code_that_does_not_exist() -> None:
    known = raised_codes() | {
        c.code for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.RollcallError)
    }
    assert set(readme_table()) <= known, sorted(set(readme_table()) - known)
