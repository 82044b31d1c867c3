"""One OpenAPI document for the whole API, and a Swagger UI page for it.

Each HTTP function is a FastAPI app that serves its own document at ``/openapi.json``. The local
API asks each function for it (a GET /openapi.json v2 event, straight to the function, not
through the routes), keeps only the paths and methods the template routes to that function (a
function's app also holds the platform routes, which the template may route elsewhere), and
merges the components. The result is cached once complete. ``/docs`` is Swagger UI, its files
served by the local API itself (no CDN).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from rollcall_local.apigw import Request, http_event
from rollcall_local.invoke import Invoker
from rollcall_local.template import HttpRoute

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

# Swagger UI 5 (OpenAPI 3.1) from a pinned dev package (fastapi-offline): /docs works offline, and
# nothing is loaded from a CDN.
DOCS_ASSETS = {
    "swagger-ui-bundle.js": "application/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
}
DOCS_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<link rel="stylesheet" href="/docs/swagger-ui.css">
</head><body><div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script>
<script>SwaggerUIBundle({{url: "/openapi.json", dom_id: "#swagger-ui", persistAuthorization: true}});</script>
</body></html>
"""


def docs_asset(name: str) -> tuple[bytes, str] | None:
    """A Swagger UI file (its bytes and content type), None for any other name."""
    if name not in DOCS_ASSETS:
        return None
    import fastapi_offline

    folder = Path(fastapi_offline.__file__).with_name("static")
    return (folder / name).read_bytes(), DOCS_ASSETS[name]


def routed(path: str, method: str, routes: list[HttpRoute]) -> bool:
    """Whether the template routes ``method path`` (of a function's document) to that function."""
    for route in routes:
        if route.method not in ("ANY", method.upper()):
            continue
        if route.path == "$default" or route.path == path:
            return True
        if route.path.endswith("+}") and path.startswith(route.path.rsplit("/", 1)[0] + "/"):
            return True
    return False


def merge(documents: dict[str, dict[str, Any]], routes: list[HttpRoute], title: str) -> dict[str, Any]:
    """Function id → its document, merged into one (the first definition of a component wins)."""
    merged: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": title, "version": "local"},
        "paths": {},
        "components": {},
    }
    tags: dict[str, Any] = {}
    for function_id, doc in documents.items():
        merged["openapi"] = doc.get("openapi", merged["openapi"])
        own_routes = [route for route in routes if route.function == function_id]
        for path, operations in (doc.get("paths") or {}).items():
            for method, operation in operations.items():
                if method in METHODS and routed(path, method, own_routes):
                    merged["paths"].setdefault(path, {})[method] = operation
        for section, entries in (doc.get("components") or {}).items():
            for name, value in entries.items():
                merged["components"].setdefault(section, {}).setdefault(name, value)
        for tag in doc.get("tags") or []:
            tags.setdefault(tag["name"], tag)
    if tags:
        merged["tags"] = list(tags.values())
    return merged


class OpenApi:
    def __init__(self, routes: list[HttpRoute], invoker: Invoker, *, title: str, account_id: str) -> None:
        self.routes = routes
        self.invoker = invoker
        self.title = title
        self.account_id = account_id
        self._cached: dict[str, Any] | None = None
        self._lock = threading.Lock()

    def document(self) -> dict[str, Any]:
        with self._lock:
            if self._cached is not None:
                return self._cached
            documents, complete = self._documents()
            merged = merge(documents, self.routes, self.title)
            if complete:
                self._cached = merged
            return merged

    def _documents(self) -> tuple[dict[str, dict[str, Any]], bool]:
        request = Request(
            "GET", "/openapi.json", "", [("host", "127.0.0.1"), ("accept", "application/json")], b""
        )
        event = http_event(None, {}, request, account_id=self.account_id)
        function_ids = list(dict.fromkeys(route.function for route in self.routes))
        futures = {function_id: self.invoker.submit(function_id, event) for function_id in function_ids}
        documents, complete = {}, True
        for function_id, future in futures.items():
            result = future.result()
            complete = complete and result.ok  # a function that failed is asked again next time
            payload = result.payload if result.ok else {}
            if isinstance(payload, dict) and payload.get("statusCode") == 200:  # else: not FastAPI
                documents[function_id] = json.loads(payload.get("body") or "{}")
        return documents, complete

    def docs_page(self) -> bytes:
        return DOCS_HTML.format(title=self.title).encode()
