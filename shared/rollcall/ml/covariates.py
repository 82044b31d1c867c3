"""Covariates: what is known about a session and a student besides their attendance history.

A record (and a prediction's query) may carry:

- ``scheduled_at``: when the session was booked or announced; the feature is the lead time
  ``lead_days`` (days from booking to start, at least 0);
- ``reminder_sent``: whether a reminder went out (``reminder_sent``: 1 or 0);
- ``attributes``: up to ``MAX_ATTRIBUTES`` per-student attributes (``attr_<name>``), numeric or
  categorical.

Training uses the covariates that are present in its data (:meth:`CovariateSpec.fit`); each
becomes a feature after the history features, in a fixed order, and a missing value is the
number ``MISSING`` (far below any real value, so the trees learn where missing values go, and the
exported model stays finite). A categorical attribute is coded by its categories' attendance
rate in the fitted records (lowest rate first, the ``MAX_CATEGORIES`` most frequent only;
others are missing), so that a tree splits it as it splits a number. The spec travels with the
model (:meth:`to_json`), so prediction codes queries exactly as training coded records.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from rollcall.domain import AttendanceRecord

MISSING = -1.0e6
MAX_ATTRIBUTES = 20
MAX_CATEGORIES = 64
ATTRIBUTE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
LEAD, REMINDER = "lead_days", "reminder_sent"
ATTR_PREFIX = "attr_"

Value = float | str
Attributes = tuple[tuple[str, Value], ...]  # (name, value) pairs, sorted by name


def attributes_of(values: Mapping[str, Value | None]) -> Attributes:
    """Attributes as a record holds them: sorted pairs, missing values left out."""
    return tuple(sorted((k, v) for k, v in values.items() if v is not None and v != ""))


def attribute_value(text: str) -> Value | None:
    """A cell's value: a finite number, else the text (at most 64 characters); empty: missing."""
    text = text.strip()
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        return text[:64]
    return number if math.isfinite(number) else None


def lead_days(starts_at: datetime, scheduled_at: datetime | None) -> float:
    if scheduled_at is None:
        return MISSING
    return max(0.0, (starts_at - scheduled_at).total_seconds() / 86_400)


@dataclass(frozen=True)
class Covariates:
    """One row's covariates (a record's, or a query's)."""

    starts_at: datetime
    scheduled_at: datetime | None = None
    reminder_sent: bool | None = None
    attributes: Attributes = ()


def covariates_of(r: AttendanceRecord) -> Covariates:
    """A record's covariates."""
    return Covariates(r.starts_at, r.scheduled_at, r.reminder_sent, r.attributes)


@dataclass(frozen=True)
class CovariateSpec:
    """Which covariates a model uses, and how categorical attributes are coded."""

    names: tuple[str, ...] = ()  # feature names: lead_days, reminder_sent, attr_<name>...
    categories: dict[str, list[str]] = field(default_factory=dict)  # attr feature → categories by code

    @classmethod
    def fit(cls, rows: Sequence[Covariates], attended: np.ndarray) -> CovariateSpec:
        """The covariates present in ``rows`` (with labels ``attended``), in a fixed order."""
        names: list[str] = []
        if any(r.scheduled_at is not None for r in rows):
            names.append(LEAD)
        if any(r.reminder_sent is not None for r in rows):
            names.append(REMINDER)
        values: dict[str, list[tuple[Value, bool]]] = {}
        for r, y in zip(rows, attended.tolist(), strict=True):
            for k, v in r.attributes:
                values.setdefault(k, []).append((v, y))
        categories: dict[str, list[str]] = {}
        for k in sorted(values)[:MAX_ATTRIBUTES]:
            name = ATTR_PREFIX + k
            names.append(name)
            texts = [(v, y) for v, y in values[k] if isinstance(v, str)]
            if len(texts) * 2 > len(values[k]):  # mostly text: categorical
                seen: dict[str, list[int]] = {}
                for v, y in texts:
                    seen.setdefault(str(v), [0, 0])
                    seen[str(v)][0] += 1
                    seen[str(v)][1] += int(y)
                kept = sorted(seen, key=lambda c: -seen[c][0])[:MAX_CATEGORIES]
                rate = {c: (seen[c][1] + 1) / (seen[c][0] + 2) for c in kept}
                categories[name] = sorted(kept, key=lambda c: (rate[c], c))
        return cls(tuple(names), categories)

    def matrix(self, rows: Sequence[Covariates]) -> np.ndarray:
        """rows × len(names) features (MISSING where a value is missing or unknown)."""
        import numpy as np

        out = np.full((len(rows), len(self.names)), MISSING)
        codes = {name: {c: float(i) for i, c in enumerate(cats)} for name, cats in self.categories.items()}
        for j, name in enumerate(self.names):
            if name == LEAD:
                out[:, j] = [lead_days(r.starts_at, r.scheduled_at) for r in rows]
            elif name == REMINDER:
                out[:, j] = [MISSING if r.reminder_sent is None else float(r.reminder_sent) for r in rows]
            else:
                key = name[len(ATTR_PREFIX) :]
                coded = codes.get(name)
                for i, r in enumerate(rows):
                    v = dict(r.attributes).get(key)
                    if coded is not None:
                        out[i, j] = coded.get(str(v), MISSING) if v is not None else MISSING
                    elif isinstance(v, float | int):
                        out[i, j] = float(v)
        return out

    def present(self, rows: Sequence[Covariates]) -> np.ndarray:
        """Per row: whether any covariate the spec uses has a value."""
        import numpy as np

        if not self.names:
            return np.zeros(len(rows), dtype=bool)
        return (self.matrix(rows) != MISSING).any(axis=1)

    def to_json(self) -> str:
        return json.dumps({"names": list(self.names), "categories": self.categories}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> CovariateSpec:
        data: dict[str, Any] = json.loads(text)
        names = tuple(str(n) for n in data.get("names", []))
        categories = {str(k): [str(c) for c in v] for k, v in (data.get("categories") or {}).items()}
        return cls(names, categories)
