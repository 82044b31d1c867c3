"""/v1/students: create, read, erase (the faces routes are in rollcall.api.faces)."""

from __future__ import annotations

from fastapi import APIRouter, Request, status
from pydantic import BaseModel, Field

from rollcall.api.access import AdminOnly, AnyUser, Staff, ensure_self_or_staff
from rollcall.api.deps import now, photos_of, records_of, settings_of
from rollcall.api.schemas import Id, timestamp
from rollcall.domain import Student
from rollcall.platform.settings import EncodeFaceSettings
from rollcall.services import stores, students
from rollcall.services.students import create_student, erase_student

router = APIRouter(prefix="/v1/students", tags=["students"])


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


@router.get("/{student_id}", summary="A student (staff; a student: only itself)")
def get_student(student_id: Id, request: Request, who: AnyUser) -> StudentOut:
    ensure_self_or_staff(who, student_id)
    return StudentOut.of(*students.get_student(records_of(request, who), student_id))


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
