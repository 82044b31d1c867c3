"""The stores a service acts on, opened for one organisation (the caller's).

Routers never touch a store: they ask here for the organisation's view of each one and hand it
to a service, so every read and write of a request is scoped by the token's organisation.
"""

from __future__ import annotations

from rollcall.platform.settings import FaceSettings, FunctionSettings
from rollcall.store.photos import PhotoStore
from rollcall.store.table import OrgRecords
from rollcall.store.window_cache import WindowCache


def records(settings: FunctionSettings, org: str) -> OrgRecords:
    """The records table as ``org`` sees it (and only it)."""
    return OrgRecords(org, settings.records_table)


def photos(settings: FaceSettings, org: str) -> PhotoStore:
    """``org``'s kept photos (kept only if FACE_STORE_PHOTOS; deletable always)."""
    return PhotoStore(org, settings.photo_bucket, keep=settings.face_store_photos)


def window_cache(bucket: str | None, org: str) -> WindowCache | None:
    """``org``'s cached anomaly-scan window, where the function knows the scan-cache bucket."""
    return WindowCache(org, bucket) if bucket else None
