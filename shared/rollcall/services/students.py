"""Students: creation, lookup, and erasure (the right to be forgotten).

Everything Rollcall keeps about one student lives in the student's partition
(``ORG#o#STUDENT#<id>``: profile, faces, predictions, ...), in the attendance items of the
sessions they were in, in the marking events of those sessions (their id, per photo), in their
class memberships, in the jobs of their enrolment uploads (noted in their partition), and in the
photo bucket (their enrolment photos, their pending enrolment uploads, and the classroom photos
a face was recognised as theirs in, with their annotated copies). Erasure removes all of it and counts
what it removed by kind, so the answer says exactly what was erased. The audit log keeps that an
erasure happened (who, when, the counts), not what was erased.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from datetime import datetime

from rollcall.domain import Student
from rollcall.platform.auth import Principal
from rollcall.store.attendance import AttendanceRepo
from rollcall.store.audit import STUDENT_ERASED, AuditLog
from rollcall.store.job_log import JobRepo
from rollcall.store.photo_events import MarkingRepo
from rollcall.store.photo_uploads import FaceUploadLog
from rollcall.store.photos import PhotoStore
from rollcall.store.roster import RosterRepo
from rollcall.store.table import OrgDirectory, OrgRecords, check_id
from rollcall.store.window_cache import WindowCache

# How erased item kinds are named in the answer.
ERASED_AS = {
    "face": "faces",
    "prediction": "predictions",
    "student": "profile",
    "anomaly": "anomalies",
    "face_upload": "face_uploads",
}


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "student"


def create_student(
    records: OrgRecords,
    who: Principal,
    *,
    name: str,
    class_ids: list[str],
    student_id: str | None,
    now: datetime,
) -> Student:
    """A new student of the caller's organisation (the id is generated when not given)."""
    sid = check_id(student_id, "student_id") if student_id else new_id(slug(name))
    student = RosterRepo(records).create(
        Student(sid, name.strip(), tuple(dict.fromkeys(class_ids))), created_by=who.sub, created_at=now
    )
    OrgDirectory(records.table, client=records.client).register(records.org)
    return student


def face_count(records: OrgRecords, student_id: str) -> int:
    item = records.get(records.key("STUDENT", check_id(student_id, "student_id")), "PROFILE")
    return int(item.get("face_count", 0)) if item else 0


def get_student(records: OrgRecords, student_id: str) -> tuple[Student, int]:
    """A student (404 STUDENT_NOT_FOUND) and how many faces they have enrolled."""
    return RosterRepo(records).require(student_id), face_count(records, student_id)


def erase_student(
    records: OrgRecords,
    who: Principal,
    student_id: str,
    photos: PhotoStore,
    *,
    now: datetime,
    window_cache: WindowCache | None = None,
) -> dict[str, int]:
    """Erase a student and everything about them; the counts of what was erased, by kind.

    ``window_cache``: the organisation's cached scan window (its rows include the student's
    attendance) is deleted too; the next scan reads the whole window again."""
    roster = RosterRepo(records)
    student = roster.require(student_id)
    # The mark first: an enrolment racing this erasure can then no longer count a face on the
    # profile (it takes its face back), and every face counted before is in the query below.
    roster.mark_erasing(student.student_id)
    pk = records.key("STUDENT", student.student_id)
    items = list(records.query(pk, attributes=("pk", "sk", "kind"), consistent=True))
    erased: Counter[str] = Counter(ERASED_AS.get(i.get("kind", ""), i.get("kind") or "other") for i in items)
    # Each step before what it is found through (photos before the events that name them, events
    # before the attendance records that name their sessions), the profile last: an erasure cut
    # short is finished by calling it again.
    attendance, markings = AttendanceRepo(records), MarkingRepo(records)
    sessions = [r.session_id for r in attendance.for_student(student.student_id)]
    erased["photos"] = photos.delete_student(
        student.student_id, markings.seen_in(sessions, student.student_id)
    )
    # Enrolment uploads: their photos went above (pending ones with the student's prefix), their
    # jobs go now (found through the notes in the partition, which go last with it); an upload
    # arriving later finds no job and is deleted unread.
    JobRepo(records).delete(FaceUploadLog.upload_ids(items))
    erased["marking_events"] = markings.forget_student(sessions, student.student_id)
    erased["attendance_records"] = attendance.delete_student(student.student_id)
    if window_cache is not None:
        window_cache.delete()
    records.batch_delete((i["pk"], i["sk"]) for i in items if i["sk"] != "PROFILE")
    erased["class_memberships"] = len(student.class_ids)
    roster.delete(student.student_id)
    # Anything written into the partition while the erasure ran (a prediction recorded after the
    # query above) goes too: nothing can be written there once the profile is gone.
    late = [i for i in records.query(pk, attributes=("pk", "sk", "kind"), consistent=True)]
    records.batch_delete((i["pk"], i["sk"]) for i in late)
    for i in late:
        erased[ERASED_AS.get(i.get("kind", ""), i.get("kind") or "other")] += 1
    counts = {
        k: erased.get(k, 0)
        for k in (
            "profile",
            "faces",
            "attendance_records",
            "predictions",
            "class_memberships",
            "marking_events",
            "photos",
        )
    }
    counts |= {k: v for k, v in erased.items() if k not in counts}
    AuditLog(records).append(
        actor=who.sub,
        action=STUDENT_ERASED,
        subject=f"student:{student.student_id}",
        at=now,
        details=counts,
    )
    return counts
