"""/v1/students: create, list, read, change, erase; /v1/classes/{class_id}/students: a class's
roster (the faces routes are in rollcall.api.faces).

The roster is the students listing filtered by class (``GET /v1/students?class_id=c``) with the
class's display name: the two answer the same pages, and a cursor of one is good for the other.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from pydantic import BaseModel, Field

from rollcall.api.access import AdminOnly, AnyUser, Staff, ensure_self_or_staff
from rollcall.api.deps import now, photos_of, records_of, settings_of
from rollcall.api.schemas import Cursor, Id, PageLimit, timestamp
from rollcall.domain import Student
from rollcall.platform.settings import EncodeFaceSettings
from rollcall.services import stores, students
from rollcall.services.students import create_student, erase_student, list_students, update_student

router = APIRouter(prefix="/v1/students", tags=["students"])
classes_router = APIRouter(prefix="/v1/classes", tags=["students"])


class StudentIn(BaseModel):
    student_id: Id | None = Field(default=None, description="generated from the name when absent")
    name: str = Field(min_length=1, max_length=200)
    class_ids: list[Id] = Field(default_factory=list, max_length=100)


class StudentOut(BaseModel):
    student_id: str
    name: str
    class_ids: list[str]
    created_at: str | None = None
    face_count: int = 0

    @classmethod
    def of(cls, s: Student, faces: int = 0) -> StudentOut:
        return cls(
            student_id=s.student_id,
            name=s.name,
            class_ids=list(s.class_ids),
            created_at=timestamp(s.created_at),
            face_count=faces,
        )


class StudentPage(BaseModel):
    items: list[StudentOut] = Field(description="in student id order")
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null on the last")


class RosterOut(StudentPage):
    class_id: str
    name: str | None = Field(description="the class's display name, when it has one")


class StudentPatch(BaseModel):
    """The fields to change; a field left out keeps its value."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    class_ids: list[Id] | None = Field(
        default=None, max_length=100, description="the student's classes, all of them (replaces the list)"
    )


class ErasureOut(BaseModel):
    student_id: str
    erased: dict[str, int] = Field(description="what was erased, counted by kind")


@router.post("", status_code=status.HTTP_201_CREATED, summary="Create a student (teacher, admin)")
def post_student(body: StudentIn, request: Request, who: Staff) -> StudentOut:
    student = create_student(
        records_of(request, who),
        who,
        name=body.name,
        class_ids=body.class_ids,
        student_id=body.student_id,
        now=now(),
    )
    return StudentOut.of(student)


@router.get(
    "", summary="The organisation's students, paged in id order; ?class_id= for one class (teacher, admin)"
)
def get_students(
    request: Request,
    who: Staff,
    *,
    class_id: Annotated[Id | None, Query(description="only this class's students (its roster)")] = None,
    limit: PageLimit = 50,
    cursor: Cursor = None,
) -> StudentPage:
    items, next_cursor = list_students(
        records_of(request, who), class_id=class_id, limit=limit, cursor=cursor
    )
    return StudentPage(items=[StudentOut.of(*s) for s in items], next_cursor=next_cursor)


@classes_router.get("/{class_id}/students", summary="A class's roster, paged in id order (teacher, admin)")
def get_roster(
    class_id: Id, request: Request, who: Staff, *, limit: PageLimit = 50, cursor: Cursor = None
) -> RosterOut:
    records = records_of(request, who)
    items, next_cursor = list_students(records, class_id=class_id, limit=limit, cursor=cursor)
    return RosterOut(
        class_id=class_id,
        name=students.class_name(records, class_id),
        items=[StudentOut.of(*s) for s in items],
        next_cursor=next_cursor,
    )


@router.get("/{student_id}", summary="A student (staff; a student: only itself)")
def get_student(student_id: Id, request: Request, who: AnyUser) -> StudentOut:
    ensure_self_or_staff(who, student_id)
    return StudentOut.of(*students.get_student(records_of(request, who), student_id))


@router.patch("/{student_id}", summary="Change a student's name or classes (audit-logged; teacher, admin)")
def patch_student(student_id: Id, body: StudentPatch, request: Request, who: Staff) -> StudentOut:
    records = records_of(request, who)
    student = update_student(records, who, student_id, name=body.name, class_ids=body.class_ids, now=now())
    return StudentOut.of(student, students.face_count(records, student_id))


@router.delete(
    "/{student_id}", summary="Erase a student: faces, attendance, predictions, kept photos, mentions (admin)"
)
def delete_student(student_id: Id, request: Request, who: AdminOnly) -> ErasureOut:
    bucket = settings_of(request, EncodeFaceSettings).scan_cache_bucket
    erased = erase_student(
        records_of(request, who),
        who,
        student_id,
        photos_of(request, who),
        now=now(),
        window_cache=stores.window_cache(bucket, who.org),
    )
    return ErasureOut(student_id=student_id, erased=erased)
