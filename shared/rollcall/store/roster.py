"""Students and class rosters of one organisation.

Items::

    student  pk ORG#o#STUDENT#<student>  sk PROFILE        gsi1 ORG#o#STUDENTS / <student>
    member   pk ORG#o#CLASS#<class>      sk STUDENT#<student>

A student's other items (faces, predictions) share the student partition, so erasing a student
is a query of one partition plus its attendance (see AttendanceRepo.delete_student).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from rollcall.domain import Student, iso, parse_time
from rollcall.platform.errors import AlreadyExists, ConcurrentUpdate, NotFound
from rollcall.store import bulk
from rollcall.store.table import OrgRecords, check_id


class RosterRepo:
    def __init__(self, records: OrgRecords) -> None:
        self.records = records

    def _profile_key(self, student_id: str) -> tuple[str, str]:
        return self.records.key("STUDENT", check_id(student_id, "student_id")), "PROFILE"

    def create(self, student: Student, *, created_by: str, created_at: datetime) -> Student:
        """Store a new student and its class memberships; AlreadyExists if the id is taken."""
        if not self.put_profile(student, created_by=created_by, created_at=created_at):
            raise AlreadyExists(f"student {student.student_id} already exists", code="STUDENT_EXISTS")
        self.records.batch_put(self._member_item(c, student.student_id) for c in student.class_ids)
        return Student(student.student_id, student.name, tuple(student.class_ids), created_at)

    def put_profile(self, student: Student, *, created_by: str, created_at: datetime) -> bool:
        """Store a student's profile unless one exists; whether it was new (memberships not included)."""
        for class_id in student.class_ids:
            check_id(class_id, "class_id")
        pk, sk = self._profile_key(student.student_id)
        item = {
            "pk": pk,
            "sk": sk,
            "kind": "student",
            "student_id": student.student_id,
            "name": student.name,
            "class_ids": list(student.class_ids),
            "created_by": created_by,
            "created_at": iso(created_at),
            "gsi1pk": self.records.key("STUDENTS"),
            "gsi1sk": student.student_id,
        }
        return self.records.put(item, if_absent=True)

    def add_classes(self, student_id: str, class_ids: list[str]) -> bool:
        """Add classes to an existing student's profile (imports; the memberships themselves are
        ensure_members'), so that erasure finds them; whether the profile changed."""
        student = self.get(student_id)
        missing = [c for c in class_ids if student is not None and c not in student.class_ids]
        if student is None or not missing:
            return False
        self.records.update(*self._profile_key(student_id), {"class_ids": [*student.class_ids, *missing]})
        return True

    def ensure_students(self, students: Iterable[Student], *, created_by: str, created_at: datetime) -> int:
        """Store the students without a profile, add missing classes to the others' (imports, seeding);
        returns how many were new. The profiles are found by one batch read; new ones are written
        with their "if absent" condition (one made meanwhile is then given the classes instead)."""
        wanted = {s.student_id: s for s in students}
        stored = self.records.batch_get(
            [self._profile_key(sid) for sid in wanted],
            attributes=("student_id", "class_ids"),
            consistent=True,
        )
        have = {i["student_id"]: list(i.get("class_ids", ())) for i in stored.values()}

        def ensure(student: Student) -> bool:
            sid = student.student_id
            if sid not in have:
                if self.put_profile(student, created_by=created_by, created_at=created_at):
                    return True
                self.add_classes(sid, list(student.class_ids))
                return False
            missing = [c for c in student.class_ids if c not in have[sid]]
            if missing:
                self.records.update(*self._profile_key(sid), {"class_ids": [*have[sid], *missing]})
            return False

        todo = [
            s
            for s in wanted.values()
            if s.student_id not in have or set(s.class_ids) - set(have[s.student_id])
        ]
        return sum(bulk.concurrently(ensure, todo))

    def ensure_members(self, pairs: set[tuple[str, str]]) -> int:
        """Record (class_id, student_id) memberships (imports: idempotent); returns the count."""
        return self.records.batch_put(self._member_item(c, s) for c, s in sorted(pairs))

    def _member_item(self, class_id: str, student_id: str) -> dict[str, Any]:
        return {
            "pk": self.records.key("CLASS", check_id(class_id, "class_id")),
            "sk": f"STUDENT#{check_id(student_id, 'student_id')}",
            "kind": "member",
            "class_id": class_id,
            "student_id": student_id,
        }

    def get(self, student_id: str) -> Student | None:
        item = self.records.get(*self._profile_key(student_id), consistent=True)
        return None if item is None else _student(item)

    def require(self, student_id: str) -> Student:
        student = self.get(student_id)
        if student is None:
            raise NotFound(f"no student {student_id}", code="STUDENT_NOT_FOUND")
        return student

    def all(self) -> list[Student]:
        items = self.records.query(self.records.key("STUDENTS"), index="gsi1")
        return [Student(i["student_id"], i["name"], tuple(i.get("class_ids", ()))) for i in items]

    def page(
        self, *, limit: int, after: str | None = None
    ) -> tuple[list[tuple[Student, int]], str | None, bool]:
        """Students in id order (the gsi1 partition ``ORG#o#STUDENTS``) after the id ``after``, each
        with its face count, but none being erased. Returns them, the last id read (the next page
        starts after it, even when that student is left out) and whether more follow."""
        items, more = self.records.query_page(
            self.records.key("STUDENTS"), index="gsi1", sk_name="gsi1sk", sk_between=("0", "~"),
            limit=limit, after=after,
        )  # fmt: skip
        live = [(_student(i), int(i.get("face_count", 0))) for i in items if not i.get("erasing")]
        return live, (items[-1]["student_id"] if items else None), more

    def page_of_class(
        self, class_id: str, *, limit: int, after: str | None = None
    ) -> tuple[list[tuple[Student, int]], str | None, bool]:
        """A class's students in id order: its member items (one partition) after the id ``after``,
        their profiles (and face counts) by one batch read. Returns them, the last member id read
        (the next page starts after it, even when its profile is gone) and whether more follow."""
        items, more = self.records.query_page(
            self.records.key("CLASS", check_id(class_id, "class_id")),
            sk_name="sk",
            sk_between=("STUDENT#", "STUDENT#~"),
            limit=limit,
            after=f"STUDENT#{after}" if after is not None else None,
        )
        ids = [i["student_id"] for i in items]
        profiles = self.records.batch_get([self._profile_key(s) for s in ids], consistent=True)
        by_id = {p["student_id"]: p for p in profiles.values() if not p.get("erasing")}
        found = [(_student(by_id[s]), int(by_id[s].get("face_count", 0))) for s in ids if s in by_id]
        return found, (ids[-1] if ids else None), more

    def update(
        self, student_id: str, *, name: str | None, class_ids: list[str] | None
    ) -> tuple[Student, Student]:
        """Change a student's name and classes (memberships follow); the student before and after.
        404 STUDENT_NOT_FOUND when there is no such student or it is being erased, 409
        CONCURRENT_UPDATE when it changed between the read and the write."""
        stored = self.records.get(*self._profile_key(student_id), consistent=True)
        if stored is None or stored.get("erasing"):
            raise NotFound(f"no student {student_id}", code="STUDENT_NOT_FOUND")
        before = _student(stored)
        changes: dict[str, Any] = {}
        if name is not None:
            changes["name"] = name
        new_classes = list(before.class_ids) if class_ids is None else list(dict.fromkeys(class_ids))
        for class_id in new_classes:
            check_id(class_id, "class_id")
        if class_ids is not None:
            changes["class_ids"] = new_classes
        if not changes:
            return before, before
        # The profile's version (absent before its first change) guards against a lost update.
        version = stored.get("version")
        same = "attribute_not_exists(#version)" if version is None else "#version = :version"
        changes["version"] = int(version or 0) + 1
        added = [c for c in new_classes if c not in before.class_ids]
        removed = [c for c in before.class_ids if c not in new_classes]
        # New memberships first, taken back if the profile cannot change: an erasure racing this
        # (it marks the profile, then deletes the memberships its profile lists) leaves none behind.
        self.records.batch_put(self._member_item(c, student_id) for c in added)
        try:
            item = self.records.update(
                *self._profile_key(student_id),
                changes,
                condition=f"attribute_exists(pk) AND attribute_not_exists(#erasing) AND {same}",
                names={"#erasing": "erasing", "#version": "version"},
                values={} if version is None else {":version": version},
            )
        except ConcurrentUpdate:
            now_in = self.get(student_id)  # what a change that won meanwhile put stays
            self._drop_members(student_id, [c for c in added if now_in is None or c not in now_in.class_ids])
            if now_in is None or not self.is_live(student_id):
                raise NotFound(f"no student {student_id}", code="STUDENT_NOT_FOUND") from None
            raise ConcurrentUpdate(f"student {student_id} was changed meanwhile: read it and retry") from None
        self._drop_members(student_id, removed)
        return before, _student(item)

    def _drop_members(self, student_id: str, class_ids: list[str]) -> None:
        self.records.batch_delete(
            [(self.records.key("CLASS", c), f"STUDENT#{student_id}") for c in class_ids]
        )

    def members(self, class_id: str) -> list[str]:
        """The ids of the students of a class."""
        items = self.records.query(
            self.records.key("CLASS", check_id(class_id, "class_id")), sk_prefix="STUDENT#"
        )
        return [i["student_id"] for i in items]

    def mark_erasing(self, student_id: str) -> None:
        """Mark a profile as being erased: from then on no face can be counted on it."""
        self.records.update(
            *self._profile_key(student_id), {"erasing": True}, condition="attribute_exists(pk)"
        )

    def is_live(self, student_id: str) -> bool:
        """Whether the student exists and is not being erased."""
        item = self.records.get(*self._profile_key(student_id), consistent=True)
        return item is not None and not item.get("erasing")

    def live(self, student_ids: Iterable[str]) -> set[str]:
        """Which of the students exist and are not being erased (one consistent batch read)."""
        found = self.records.batch_get(
            [self._profile_key(sid) for sid in student_ids],
            attributes=("student_id", "erasing"),
            consistent=True,
        )
        return {i["student_id"] for i in found.values() if not i.get("erasing")}

    def delete(self, student_id: str) -> bool:
        """Remove a student's profile and memberships; False if there was no such student."""
        student = self.get(student_id)
        if student is None:
            return False
        self.records.batch_delete(
            [(self.records.key("CLASS", c), f"STUDENT#{student_id}") for c in student.class_ids]
        )
        self.records.delete(*self._profile_key(student_id))
        return True


def _student(item: dict[str, Any]) -> Student:
    created = item.get("created_at")
    return Student(
        item["student_id"],
        item["name"],
        tuple(item.get("class_ids", ())),
        parse_time(created) if created else None,
    )
