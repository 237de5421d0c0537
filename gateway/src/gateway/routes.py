"""The gateway's own API: tokens, the caller, API tokens, JWKS, users and memberships."""

from __future__ import annotations

import uuid
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Form, Query, Request, Response
from fastapi.responses import JSONResponse
from portal_kit.app import wake_relay
from portal_kit.db import SessionDep, utc_now
from portal_kit.errors import (
    Conflict,
    Forbidden,
    NotFound,
    PreconditionFailed,
    Unauthorized,
    Unprocessable,
    field_error,
)
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from gateway import identity, tokens
from gateway.deps import AdminCaller, CurrentCaller
from gateway.identity import Caller
from gateway.models import ApiToken, Membership, User
from gateway.runtime import runtime
from gateway.schemas import (
    ApiTokenCreate,
    ApiTokenCreated,
    ApiTokenOut,
    ApiTokenPage,
    MembershipIn,
    MembershipOut,
    TokenResponse,
    UserCreate,
    UserOut,
    UserPage,
    UserUpdate,
)

auth = APIRouter(prefix="/api/v1/auth", tags=["auth"])
users = APIRouter(prefix="/api/v1/users", tags=["users"])
wellknown = APIRouter(tags=["auth"])

BAD_CREDENTIALS = "Incorrect email or password"
Limit = Annotated[int, Query(ge=1, le=100)]
Offset = Annotated[int, Query(ge=0, le=1_000_000)]


def user_out(user: User, memberships: list[Membership]) -> UserOut:
    return UserOut(
        id=user.id,
        email=user.email,
        full_name=user.full_name,
        roles=sorted(user.roles),  # type: ignore[arg-type]
        is_active=user.is_active,
        created_at=user.created_at,
        updated_at=user.updated_at,
        memberships=[membership_out(m) for m in memberships],
    )


def membership_out(m: Membership) -> MembershipOut:
    return MembershipOut(
        user_id=m.user_id,
        organization_id=m.organization_id,
        role=m.role,  # type: ignore[arg-type]
        created_at=m.created_at,
        updated_at=m.updated_at,
    )


def token_out(t: ApiToken) -> ApiTokenOut:
    return ApiTokenOut(
        id=t.id,
        name=t.name,
        prefix=t.prefix,
        created_at=t.created_at,
        expires_at=t.expires_at,
        last_used_at=t.last_used_at,
        revoked_at=t.revoked_at,
    )


def etag(user: User) -> str:
    return f'W/"{user.revision}"'


# --- auth ---------------------------------------------------------------------------------


@auth.post(
    "/token",
    response_model=TokenResponse,
    summary="Log in (OAuth2 password flow): username = email",
    responses={401: {"description": "Bad credentials"}, 429: {"description": "Too many attempts"}},
)
async def issue_token(
    request: Request,
    session: SessionDep,
    username: Annotated[str, Form(min_length=1, max_length=320)],
    password: Annotated[str, Form(min_length=1, max_length=256)],
    grant_type: Annotated[str | None, Form(pattern="^password$")] = None,
    scope: Annotated[str, Form(max_length=1000)] = "",
) -> TokenResponse:
    rt = runtime(request)
    user = await identity.user_by_email(session, username)
    ok = await identity.verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.is_active:
        raise Unauthorized(BAD_CREDENTIALS)
    if identity.needs_rehash(user.password_hash):
        user.password_hash = await identity.hash_password(password)
        session.add(user)
    token = await identity.mint_for(session, rt.keys, rt.settings, user)
    return TokenResponse(access_token=token, expires_in=rt.settings.token_lifetime_seconds)


@auth.get("/me", response_model=UserOut, summary="The caller: user, roles and memberships")
async def me(caller: CurrentCaller, session: SessionDep) -> UserOut:
    return user_out(caller.user, await identity.memberships_of(session, caller.user.id))


@auth.post(
    "/api-tokens",
    status_code=201,
    response_model=ApiTokenCreated,
    summary="Create an API token for scripts (the token is shown once)",
)
async def create_api_token(
    body: ApiTokenCreate, caller: CurrentCaller, session: SessionDep
) -> ApiTokenCreated:
    if caller.token_id is not None:
        # a leaked API token must not be able to mint tokens that outlive its revocation
        raise Forbidden("Log in with a password to create API tokens")
    raw = tokens.new_api_token()
    row = ApiToken(
        user_id=caller.user.id,
        name=body.name,
        token_hash=tokens.hash_api_token(raw),
        prefix=raw[:12],
        expires_at=body.expires_at,
    )
    session.add(row)
    await session.flush()
    return ApiTokenCreated(**token_out(row).model_dump(), token=raw)


@auth.get("/api-tokens", response_model=ApiTokenPage, summary="The caller's API tokens")
async def list_api_tokens(
    caller: CurrentCaller, session: SessionDep, limit: Limit = 20, offset: Offset = 0
) -> ApiTokenPage:
    where = col(ApiToken.user_id) == caller.user.id
    total = (await session.exec(select(sa.func.count()).select_from(ApiToken).where(where))).one()
    rows = await session.exec(
        select(ApiToken)
        .where(where)
        .order_by(col(ApiToken.created_at).desc(), col(ApiToken.id))
        .limit(limit)
        .offset(offset)
    )
    return ApiTokenPage(
        items=[token_out(t) for t in rows.all()], total=total, limit=limit, offset=offset
    )


@auth.delete("/api-tokens/{token_id}", status_code=204, summary="Revoke one of your API tokens")
async def revoke_api_token(
    token_id: uuid.UUID, caller: CurrentCaller, session: SessionDep
) -> Response:
    row = await session.get(ApiToken, token_id)
    if row is None or (row.user_id != caller.user.id and "admin" not in caller.user.roles):
        raise NotFound("No such API token")
    if row.revoked_at is None:
        row.revoked_at = utc_now()
        session.add(row)
    return Response(status_code=204)


@wellknown.get("/.well-known/jwks.json", summary="Public keys that verify the gateway's JWTs")
async def jwks(request: Request) -> JSONResponse:
    return JSONResponse(
        runtime(request).keys.jwks(), headers={"Cache-Control": "public, max-age=60"}
    )


# --- users (admin) ------------------------------------------------------------------------


async def get_user(session: SessionDep, user_id: uuid.UUID) -> User:
    user = await session.get(User, user_id)
    if user is None:
        raise NotFound("No such user")
    return user


@users.post("", status_code=201, response_model=UserOut, summary="Create a user (admin)")
async def create_user(
    body: UserCreate, request: Request, response: Response, caller: AdminCaller, session: SessionDep
) -> UserOut:
    if await identity.user_by_email(session, body.email) is not None:
        raise Conflict("A user with this email exists already")
    user = User(
        email=body.email,
        full_name=body.full_name,
        password_hash=await identity.hash_password(body.password),
        roles=sorted(set(body.roles)),
        is_active=body.is_active,
    )
    session.add(user)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict("A user with this email exists already") from exc
    await identity.record_user(session, user, created=True)
    wake_relay(request)
    response.headers["Location"] = f"/api/v1/users/{user.id}"
    response.headers["ETag"] = etag(user)
    return user_out(user, [])


@users.get("", response_model=UserPage, summary="List users (admin), ?q= matches email or name")
async def list_users(
    caller: AdminCaller,
    session: SessionDep,
    q: Annotated[str | None, Query(max_length=200)] = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> UserPage:
    conds = []
    if q and q.strip():
        pattern = (
            "%" + q.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        )
        conds.append(
            sa.or_(
                col(User.email).ilike(pattern, escape="\\"),
                col(User.full_name).ilike(pattern, escape="\\"),
            )
        )
    total = (await session.exec(select(sa.func.count()).select_from(User).where(*conds))).one()
    rows = list(
        (
            await session.exec(
                select(User)
                .where(*conds)
                .order_by(sa.func.lower(User.email), col(User.id))
                .limit(limit)
                .offset(offset)
            )
        ).all()
    )
    ms = await identity.memberships_by_user(session, [u.id for u in rows])
    return UserPage(
        items=[user_out(u, ms[u.id]) for u in rows], total=total, limit=limit, offset=offset
    )


@users.get("/{user_id}", response_model=UserOut, summary="One user (admin)")
async def read_user(
    user_id: uuid.UUID, response: Response, caller: AdminCaller, session: SessionDep
) -> UserOut:
    user = await get_user(session, user_id)
    response.headers["ETag"] = etag(user)
    return user_out(user, await identity.memberships_of(session, user.id))


def check_if_match(request: Request, user: User) -> None:
    """If-Match is honoured when sent (412 when stale); not required for users."""
    header = request.headers.get("if-match")
    if header and header.strip() != "*":
        tags = [t.strip() for t in header.split(",")]
        current = etag(user)
        if current not in tags and current.removeprefix("W/") not in tags:
            raise PreconditionFailed("The user was changed since you read it")


@users.patch("/{user_id}", response_model=UserOut, summary="Change a user (admin)")
async def update_user(
    user_id: uuid.UUID,
    body: UserUpdate,
    request: Request,
    response: Response,
    caller: AdminCaller,
    session: SessionDep,
) -> UserOut:
    user = await get_user(session, user_id)
    check_if_match(request, user)
    if user.id == caller.user.id and (
        body.is_active is False or (body.roles is not None and "admin" not in body.roles)
    ):
        raise Conflict("Admins cannot deactivate themselves or drop their own admin role")
    if body.full_name is not None:
        user.full_name = body.full_name
    if body.roles is not None:
        user.roles = sorted(set(body.roles))
    if body.is_active is not None:
        user.is_active = body.is_active
    if body.password is not None:
        user.password_hash = await identity.hash_password(body.password)
    identity.touch(user)
    session.add(user)
    await session.flush()
    await identity.record_user(session, user, created=False)
    runtime(request).active.forget(user.id)
    wake_relay(request)
    response.headers["ETag"] = etag(user)
    return user_out(user, await identity.memberships_of(session, user.id))


@users.delete("/{user_id}", status_code=204, summary="Deactivate a user (admin)")
async def deactivate_user(
    user_id: uuid.UUID, request: Request, caller: AdminCaller, session: SessionDep
) -> Response:
    user = await get_user(session, user_id)
    check_if_match(request, user)
    if user.id == caller.user.id:
        raise Conflict("Admins cannot deactivate themselves")
    if user.is_active:
        user.is_active = False
        identity.touch(user)
        session.add(user)
        await session.flush()
        await identity.record_user(session, user, created=False)
        wake_relay(request)
    runtime(request).active.forget(user.id)
    return Response(status_code=204)


# --- memberships --------------------------------------------------------------------------


def administers(caller: Caller, organization_id: uuid.UUID, memberships: list[Membership]) -> bool:
    return any(m.organization_id == organization_id and m.role == "org_admin" for m in memberships)


@users.get(
    "/{user_id}/memberships",
    response_model=list[MembershipOut],
    summary="A user's organization memberships (admin, the user, or an org admin: their orgs)",
)
async def list_memberships(
    user_id: uuid.UUID, caller: CurrentCaller, session: SessionDep
) -> list[MembershipOut]:
    target = await get_user(session, user_id)
    ms = await identity.memberships_of(session, target.id)
    if "admin" in caller.user.roles or caller.user.id == target.id:
        return [membership_out(m) for m in ms]
    mine = await identity.memberships_of(session, caller.user.id)
    managed = {m.organization_id for m in mine if m.role == "org_admin"}
    if not managed:
        raise Forbidden("Requires role: admin or org_admin")
    return [membership_out(m) for m in ms if m.organization_id in managed]


async def authorize_membership_change(
    session: SessionDep,
    caller: Caller,
    organization_id: uuid.UUID,
    *,
    new_role: str | None,
    current: Membership | None,
) -> None:
    if "admin" in caller.user.roles:
        return
    mine = await identity.memberships_of(session, caller.user.id)
    if not administers(caller, organization_id, mine):
        raise Forbidden("Requires role: admin, or org_admin of this organization")
    # an org admin manages the editors of their organization, nothing more
    if new_role not in (None, "editor") or (current is not None and current.role != "editor"):
        raise Forbidden("Organization admins may only manage editors")


@users.put(
    "/{user_id}/memberships",
    response_model=MembershipOut,
    summary="Add or change a membership; body {organization_id, role}",
)
async def put_membership(
    user_id: uuid.UUID,
    body: MembershipIn,
    request: Request,
    caller: CurrentCaller,
    session: SessionDep,
) -> MembershipOut:
    if body.organization_id is None:
        raise Unprocessable(
            "organization_id is required",
            errors=[field_error(["body", "organization_id"], "Field required", "missing")],
        )
    return await _put_membership(user_id, body.organization_id, body.role, request, caller, session)


@users.put(
    "/{user_id}/memberships/{organization_id}",
    response_model=MembershipOut,
    summary="Add or change a membership in the organization of the path",
)
async def put_membership_at(
    user_id: uuid.UUID,
    organization_id: uuid.UUID,
    body: MembershipIn,
    request: Request,
    caller: CurrentCaller,
    session: SessionDep,
) -> MembershipOut:
    if body.organization_id is not None and body.organization_id != organization_id:
        raise Unprocessable(
            "organization_id in the body differs from the path",
            errors=[field_error(["body", "organization_id"], "differs from the path")],
        )
    return await _put_membership(user_id, organization_id, body.role, request, caller, session)


async def _put_membership(
    user_id: uuid.UUID,
    organization_id: uuid.UUID,
    role: str,
    request: Request,
    caller: Caller,
    session: SessionDep,
) -> MembershipOut:
    target = await get_user(session, user_id)
    current = await session.get(Membership, (target.id, organization_id))
    await authorize_membership_change(
        session, caller, organization_id, new_role=role, current=current
    )
    previous = current.role if current else None
    if current is None:
        current = Membership(user_id=target.id, organization_id=organization_id, role=role)
    elif current.role != role:
        current.role = role
        current.updated_at = utc_now()
    session.add(current)
    try:
        await session.flush()
    except IntegrityError as exc:
        raise Conflict("The membership was changed concurrently; retry") from exc
    if previous != role:
        await identity.record_membership(
            session,
            user_id=target.id,
            organization_id=organization_id,
            role=role,
            previous_role=previous,
            changed_by=caller.user.id,
        )
        wake_relay(request)
    return membership_out(current)


@users.delete(
    "/{user_id}/memberships/{organization_id}",
    status_code=204,
    summary="Remove a membership",
)
async def delete_membership(
    user_id: uuid.UUID,
    organization_id: uuid.UUID,
    request: Request,
    caller: CurrentCaller,
    session: SessionDep,
) -> Response:
    target = await get_user(session, user_id)
    current = await session.get(Membership, (target.id, organization_id))
    await authorize_membership_change(
        session, caller, organization_id, new_role=None, current=current
    )
    if current is None:
        raise NotFound("No such membership")
    await session.delete(current)
    await session.flush()
    await identity.record_membership(
        session,
        user_id=target.id,
        organization_id=organization_id,
        role=None,
        previous_role=current.role,
        changed_by=caller.user.id,
    )
    wake_relay(request)
    return Response(status_code=204)


ROUTERS = [auth, wellknown, users]
