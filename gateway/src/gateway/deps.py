"""FastAPI dependencies of the gateway's own routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from portal_kit.auth import bearer_token
from portal_kit.db import SessionDep
from portal_kit.errors import Forbidden, Unauthorized
from portal_kit.openapi import register_principal_dependency

from gateway import identity, tokens
from gateway.identity import Caller
from gateway.runtime import runtime


async def optional_caller(request: Request, session: SessionDep) -> Caller | None:
    raw = bearer_token(request)
    if raw is None:
        return None
    rt = runtime(request)
    if tokens.is_api_token(raw):
        return await identity.api_token_caller(session, raw)
    return await identity.jwt_caller(session, rt.keys, rt.settings, raw)


async def current_caller(caller: Annotated[Caller | None, Depends(optional_caller)]) -> Caller:
    if caller is None:
        raise Unauthorized()
    return caller


async def admin_caller(caller: Annotated[Caller, Depends(current_caller)]) -> Caller:
    if "admin" not in caller.user.roles:
        raise Forbidden("Requires role: admin")
    return caller


# OpenAPI (portal_kit.openapi): routes taking a caller document their 401/403 problems
register_principal_dependency(optional_caller, required=False)
register_principal_dependency(current_caller, required=True)

CurrentCaller = Annotated[Caller, Depends(current_caller)]
AdminCaller = Annotated[Caller, Depends(admin_caller)]
