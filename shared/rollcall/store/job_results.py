"""The job files bucket: what a job was given and what it produced, per organisation and job::

    jobs/<org>/<job_id>/input.json          the request a job runs (a prediction batch's items)
    jobs/<org>/<job_id>/part-00003.jsonl    a step's output (written whole; rewriting it is harmless)
    jobs/<org>/<job_id>/results.jsonl       the result, one JSON object a line (parts joined in order)
    imports/<org>/<job_id>.csv              an import's file, uploaded with a presigned PUT (its
                                            ObjectCreated event, on the jobs queue, starts the job)

Object names are fixed by the job and the step, so an attempt that repeats a step replaces its
part instead of adding one. The bucket expires objects after a few days (the template's
lifecycle rule); results are handed out as presigned GET URLs.
"""

from __future__ import annotations

import json
from typing import Any

from rollcall.platform.errors import NotFound
from rollcall.store import clients
from rollcall.store.client_errors import translated
from rollcall.store.table import check_id

URL_SECONDS = 3600
UPLOAD_SECONDS = 900
UPLOAD_PREFIX = "imports/"


class JobFiles:
    """One job's files in ``bucket``."""

    def __init__(self, bucket: str, org: str, job_id: str, *, client: Any = None) -> None:
        self.bucket = bucket
        self.prefix = f"jobs/{check_id(org, 'org')}/{check_id(job_id, 'job_id')}/"
        self.upload_key = f"{UPLOAD_PREFIX}{org}/{job_id}.csv"
        self.client = client

    client = clients.Client("s3")

    def _put(self, name: str, body: bytes, content_type: str) -> str:
        key = self.prefix + name
        with translated("write job file"):
            self.client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)
        return key

    def _get(self, name: str) -> bytes:
        try:
            with translated("read job file"):
                return bytes(
                    self.client.get_object(Bucket=self.bucket, Key=self.prefix + name)["Body"].read()
                )
        except NotFound:
            raise NotFound(f"the job's file {name} is gone", code="JOB_FILE_NOT_FOUND") from None

    def put_input(self, value: Any) -> str:
        return self._put("input.json", json.dumps(value, separators=(",", ":")).encode(), "application/json")

    def input(self) -> Any:
        return json.loads(self._get("input.json"))

    @staticmethod
    def part_name(number: int) -> str:
        return f"part-{number:05d}.jsonl"

    def put_part(self, number: int, rows: list[dict[str, Any]]) -> str:
        return self._put(self.part_name(number), _lines(rows), "application/x-ndjson")

    def join_parts(self, parts: int) -> str:
        """Write ``results.jsonl`` from parts 0 .. parts-1, in order; its key."""
        body = b"".join(self._get(self.part_name(n)) for n in range(parts))
        key = self._put("results.jsonl", body, "application/x-ndjson")
        with translated("delete job parts"):
            for start in range(0, parts, 1000):
                objects = [
                    {"Key": self.prefix + self.part_name(n)} for n in range(start, min(parts, start + 1000))
                ]
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True})
        return key

    def url(self, key: str, seconds: int = URL_SECONDS) -> str:
        """A presigned GET URL of one of this job's objects."""
        if not key.startswith(self.prefix):
            raise NotFound("not this job's file", code="JOB_FILE_NOT_FOUND")
        with translated("presign job file"):
            return str(
                self.client.generate_presigned_url(
                    "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=seconds
                )
            )

    def upload_url(self) -> tuple[str, int]:
        """A presigned PUT URL for this job's upload, and how long it is valid."""
        with translated("presign upload"):
            url = self.client.generate_presigned_url(
                "put_object", Params={"Bucket": self.bucket, "Key": self.upload_key}, ExpiresIn=UPLOAD_SECONDS
            )
        return str(url), UPLOAD_SECONDS

    def upload(self) -> bytes:
        """The uploaded file."""
        try:
            with translated("read upload"):
                return bytes(self.client.get_object(Bucket=self.bucket, Key=self.upload_key)["Body"].read())
        except NotFound:
            raise NotFound("the job's upload is gone", code="JOB_FILE_NOT_FOUND") from None


def _lines(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(row, separators=(",", ":")).encode() + b"\n" for row in rows)
