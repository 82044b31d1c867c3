"""What routes need besides the principal: the organisation's store views, settings, the clock."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from fastapi import Request

from rollcall.platform.auth import Principal
from rollcall.platform.settings import FaceSettings, FunctionSettings
from rollcall.services import stores

if TYPE_CHECKING:
    from rollcall.store.photos import PhotoStore
    from rollcall.store.table import OrgRecords


def settings_of[S: FunctionSettings](request: Request, cls: type[S]) -> S:
    settings = request.app.state.settings
    if not isinstance(settings, cls):
        raise TypeError(f"this app was built with {type(settings).__name__}, not {cls.__name__}")
    return settings


def records_of(request: Request, who: Principal) -> OrgRecords:
    """The records table as the caller's organisation sees it (and only it)."""
    return stores.records(request.app.state.settings, who.org)


def photos_of(request: Request, who: Principal) -> PhotoStore:
    """The caller's organisation's kept photos (kept only if FACE_STORE_PHOTOS; deletable always)."""
    return stores.photos(settings_of(request, FaceSettings), who.org)


def now() -> datetime:
    return datetime.now(UTC)
