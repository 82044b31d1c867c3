"""Who is this? The enrolled students closest to the largest face of a photo (staff only).

Rekognition's SearchFacesByImage for a school: a teacher with a photo of an unnamed pupil (a
lost property photo, a face marked unknown or uncertain) gets the nearest students of the
organisation, or of one class, with distances and 0-1 similarity scores. Searching faces is a
sensitive act, so every search is written to the audit log (who, when, where, how many
candidates; never the photo), and nothing about the photo is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rollcall.face.pipeline import SearchResult, search
from rollcall.face.quality import issues
from rollcall.face.status import FaceStatus
from rollcall.platform.auth import Principal
from rollcall.platform.observability import count
from rollcall.platform.settings import FaceSettings
from rollcall.services.enrolment import decode
from rollcall.store.audit import AuditLog
from rollcall.store.faces import FaceRepo
from rollcall.store.roster import RosterRepo
from rollcall.store.table import OrgRecords


@dataclass(frozen=True)
class FaceSearch:
    result: SearchResult
    names: dict[str, str]  # candidate student id -> name
    quality_issues: list[str]  # of the searched face (SMALL_BOUNDING_BOX, LOW_SHARPNESS, EXCESSIVE_CUT)


def search_faces(
    records: OrgRecords,
    who: Principal,
    image_base64: str,
    settings: FaceSettings,
    *,
    class_id: str | None,
    max_results: int,
    now: datetime,
) -> FaceSearch:
    """The search result, the names of its candidates and what makes the searched face poor."""
    from rollcall.face.match import Gallery  # numpy: imported on first use, not at cold start

    roster = RosterRepo(records)
    labels, embeddings = FaceRepo(records).gallery(set(roster.members(class_id)) if class_id else None)
    result = search(decode(image_base64, settings), Gallery(embeddings, labels), settings, max_results)
    names = {s.student_id: s.name for s in roster.all()}
    AuditLog(records).append(
        actor=who.sub,
        action="faces.searched",
        subject=f"class:{class_id}" if class_id else f"organisation:{records.org}",
        at=now,
        details={
            "candidates": len(result.candidates),
            "within_confident": sum(c.status is FaceStatus.PRESENT for c in result.candidates),
        },
    )
    count("FaceSearched")
    return FaceSearch(
        result,
        {c.student_id: names.get(c.student_id, "") for c in result.candidates},
        issues(result.face.quality, settings),
    )
