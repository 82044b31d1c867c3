"""The FastAPI app of an HTTP function: its routers, plus health, identity and organisation.

A function's ``app.py`` does::

    app = create_app("encode-face", routers=[students.router], settings=settings)
    handler = make_handler(http=app)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, FastAPI, Request

from rollcall import __version__
from rollcall.api.access import AnyUser
from rollcall.platform import http
from rollcall.platform.auth import TokenVerifier
from rollcall.platform.settings import FunctionSettings

common = APIRouter(tags=["platform"])


@common.get("/health", summary="Liveness: no auth", response_model=dict[str, str])
def health(request: Request) -> dict[str, str]:
    return {"status": "ok", "service": request.app.title, "version": __version__}


@common.get("/v1/me", summary="The caller's identity, from the token")
def me(who: AnyUser) -> dict[str, str]:
    return who.public()


@common.get("/v1/orgs/{org}", summary="The caller's organisation (403 WRONG_ORGANISATION for another)")
def organisation(org: str, who: AnyUser) -> dict[str, Any]:
    return {"org": org, "caller": who.public()}


def create_app(
    service: str,
    *,
    routers: Sequence[APIRouter] = (),
    settings: FunctionSettings,
    verifier: TokenVerifier | None = None,
    description: str = "",
) -> FastAPI:
    """The FastAPI app of one HTTP function: its routers plus health, me and organisation."""
    app = FastAPI(
        title=service,
        version=__version__,
        description=description,
        openapi_url="/openapi.json",
        docs_url=None,  # the local API serves one docs page for the merged document
        redoc_url=None,
        # No redirect from /x/ to /x: Starlette builds its Location from the Host header, so any
        # host a client names would be echoed back unauthenticated. A trailing slash is a 404.
        redirect_slashes=False,
    )
    app.state.settings = settings
    app.state.verifier = verifier or TokenVerifier.from_settings(settings)
    http.install(app)
    app.include_router(common)
    for router in routers:
        app.include_router(router)
    return app
