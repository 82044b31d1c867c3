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
from rollcall.platform import cursors
from rollcall.platform.auth import Principal
from rollcall.platform.auth.principal import ID_PATTERN
from rollcall.store.attendance import AttendanceRepo
from rollcall.store.audit import STUDENT_ERASED, STUDENT_UPDATED, AuditLog
from rollcall.store.classes import ClassRepo
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


def list_students(
    records: OrgRecords, *, class_id: str | None, limit: int, cursor: str | None
) -> tuple[list[tuple[Student, int]], str | None]:
    """A page of students in id order (each with its face count), of one class (its roster) or of
    the whole organisation, and the next page's cursor (None on the last); 400 INVALID_CURSOR for
    a cursor that is not this listing's (another organisation's, or another class's). Reads an
    index or the class's partition, never the table: gsi1 ``ORG#o#STUDENTS``, or
    ``ORG#o#CLASS#<class>`` and the page's profiles by one batch read."""
    if class_id is not None:
        check_id(class_id, "class_id")
    query = cursors.fingerprint("students", {"class_id": class_id})
    after = (
        None
        if cursor is None
        else cursors.decode(records.org, query, cursor, valid_key=lambda k: bool(ID_PATTERN.match(k)))
    )
    roster = RosterRepo(records)
    if class_id is None:
        page, last, more = roster.page(limit=limit, after=after)
    else:
        page, last, more = roster.page_of_class(class_id, limit=limit, after=after)
    return page, cursors.encode(records.org, query, last) if more and last else None


def class_name(records: OrgRecords, class_id: str) -> str | None:
    """A class's display name (None: it has none)."""
    return ClassRepo(records).name(check_id(class_id, "class_id"))


def update_student(
    records: OrgRecords,
    who: Principal,
    student_id: str,
    *,
    name: str | None,
    class_ids: list[str] | None,
    now: datetime,
) -> Student:
    """Change a student's name and classes (404 STUDENT_NOT_FOUND for no such student, or one
    erased or being erased); audit-logged with what changed, from and to. Past attendance records
    keep the class of their session; the new classes' rosters (and their next registers) include
    the student at once."""
    before, after = RosterRepo(records).update(
        student_id, name=name.strip() if name is not None else None, class_ids=class_ids
    )
    # The entry says which fields changed and the classes, never the names: erasing the student
    # later leaves nothing of them in the audit log.
    changed: dict[str, object] = {"fields": []}
    if after.name != before.name:
        changed["fields"] = ["name"]
    if after.class_ids != before.class_ids:
        changed["fields"] = [*changed["fields"], "class_ids"]  # type: ignore[misc]
        changed["class_ids"] = {"from": list(before.class_ids), "to": list(after.class_ids)}
    if changed["fields"]:
        AuditLog(records).append(
            actor=who.sub, action=STUDENT_UPDATED, subject=f"student:{student_id}", at=now, details=changed
        )
    return after


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
