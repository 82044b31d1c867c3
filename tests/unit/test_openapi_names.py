"""Every model the API documents has a name of its own across all the functions.

The local API merges the functions' OpenAPI documents, the first definition of a component name
winning; two different models of one name (POST /v1/anomalies/scan's and POST .../train's
``JobQueued`` were) would document one route with the other's body. In one app FastAPI tells them
apart by their module path (``rollcall__api__anomalies__JobQueued``): no name may need that.
"""

from __future__ import annotations

import importlib
import pkgutil

from fastapi import APIRouter
from pydantic import SecretStr

import rollcall.api
from rollcall.api.app import create_app
from rollcall.platform.settings import FunctionSettings

SETTINGS = FunctionSettings(
    stage="test",
    records_table="t-records",
    auth_issuer="iss",
    auth_audience="aud",
    auth_hs256_secret=SecretStr("a-local-test-secret-of-at-least-32-characters"),
)


def every_router() -> list[APIRouter]:
    """Every APIRouter of every module of rollcall.api (a new router is found without a list),
    but the platform's own (health, me, organisation), which ``create_app`` mounts itself."""
    routers: dict[int, APIRouter] = {}
    for module in pkgutil.iter_modules(rollcall.api.__path__):
        if module.name == "app":
            continue
        loaded = importlib.import_module(f"rollcall.api.{module.name}")
        for value in vars(loaded).values():
            if isinstance(value, APIRouter) and value.routes:
                routers[id(value)] = value
    return list(routers.values())


def test_no_two_documented_models_share_a_name() -> None:
    routers = every_router()
    assert len(routers) >= 10

    schemas = create_app("all", routers=routers, settings=SETTINGS).openapi()["components"]["schemas"]

    assert [name for name in schemas if "__" in name] == []
