"""The problem responses every operation documents (portal_kit.openapi), on a real app."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from portal_kit.app import ServiceSpec, create_service_app
from portal_kit.auth import CurrentPrincipal, OptionalPrincipal
from portal_kit.errors import Unprocessable
from portal_kit.settings import ServiceSettings
from pydantic import BaseModel

router = APIRouter()


class Body(BaseModel):
    title: str


def check_if_match(request: Request) -> None:  # stands in for a service's helper
    request.headers.get("if-match")


@router.get("/things")
async def list_things() -> list[str]:
    return []


@router.get("/things/{thing_id}")
async def get_thing(thing_id: uuid.UUID, principal: OptionalPrincipal) -> dict[str, Any]:
    return {}


@router.patch("/things/{thing_id}")
async def patch_thing(
    thing_id: uuid.UUID, body: Body, request: Request, principal: CurrentPrincipal
) -> dict[str, Any]:
    check_if_match(request)
    return {}


@router.post("/raw")
async def raw(request: Request) -> dict[str, Any]:
    data = await request.json()
    if not isinstance(data, dict):
        raise Unprocessable("not an object")
    return data


@router.get("/export")
async def export(format: str = "json") -> Any:
    from starlette.responses import Response

    return Response(b"a,b\n", media_type="text/csv; charset=utf-8")


def _doc() -> dict[str, Any]:
    spec = ServiceSpec(name="t", title="t", routers=[router])
    return create_service_app(spec, ServiceSettings(log_json=False)).openapi()


def _codes(doc: dict[str, Any], path: str, method: str) -> set[str]:
    return set(doc["paths"][path][method]["responses"])


def test_problem_responses_are_inferred_per_route() -> None:
    doc = _doc()
    problem = doc["components"]["schemas"]["Problem"]
    assert {"type", "title", "status"} <= set(problem["required"])
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    assert _codes(doc, "/things", "get") == {"200"}
    assert _codes(doc, "/things/{thing_id}", "get") == {"200", "400", "401", "403", "404", "422"}
    assert _codes(doc, "/things/{thing_id}", "patch") == {
        *("200", "400", "401", "403", "404", "408", "409", "412", "422", "428"),
    }
    assert {"400", "408", "422"} <= _codes(doc, "/raw", "post")
    for path, item in doc["paths"].items():
        for op in item.values():
            for code, response in op["responses"].items():
                if code.startswith("4"):
                    assert set(response["content"]) == {"application/problem+json"}, (path, code)
                    ref = response["content"]["application/problem+json"]["schema"]["$ref"]
                    assert ref == "#/components/schemas/Problem"
    assert "text/csv" in doc["paths"]["/export"]["get"]["responses"]["200"]["content"]
