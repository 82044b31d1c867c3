"""Model artifacts in S3 (the versioned, encrypted, private model bucket).

Files live at ``s3://<bucket>/models/<type>/<org>/<version>/`` (``rollcall.ml.artifact`` names
them): written once, never changed, kept when a version is archived. Whoever loads ``model.npz``
checks its sha256 against the version's registry item (``rollcall.store.model_versions``) first.
"""

from __future__ import annotations

from typing import Any

from rollcall.store import clients
from rollcall.store.client_errors import translated


class ArtifactStore:
    """Model files in the model bucket, at ``models/{type}/{org}/{version}/{file}``."""

    def __init__(self, bucket: str, *, client: Any = None) -> None:
        self.bucket = bucket
        self.client = client

    client = clients.Client("s3")

    @staticmethod
    def key(prefix: str, name: str) -> str:
        return prefix + name

    def put(self, prefix: str, files: dict[str, bytes]) -> dict[str, dict[str, Any]]:
        """Write the files under ``prefix``; per file its key, S3 version id and size."""
        written = {}
        for name, data in files.items():
            key = self.key(prefix, name)
            with translated("store model artifact"):
                response = self.client.put_object(Bucket=self.bucket, Key=key, Body=data)
            written[name] = {"key": key, "s3_version_id": response.get("VersionId"), "bytes": len(data)}
        return written

    def get(self, key: str) -> bytes:
        """The current bytes at ``key`` (NotFound when there are none)."""
        with translated("read model artifact"):
            response = self.client.get_object(Bucket=self.bucket, Key=key)
            return bytes(response["Body"].read())

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"
