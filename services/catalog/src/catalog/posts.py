"""News and methodological guides: Markdown stored as given, HTML rendered and sanitised."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

import nh3
import sqlalchemy as sa
from fastapi import APIRouter, Query, Request, Response
from markdown_it import MarkdownIt
from portal_kit.auth import Moderator, OptionalPrincipal
from portal_kit.db import SessionDep, utc_now
from portal_kit.errors import NotFound

from catalog.common import check_if_match, jsonable, unprocessable, with_etag
from catalog.models import Post
from catalog.schemas import PostCreate, PostUpdate, present
from catalog.vocab import VOCABULARIES

router = APIRouter(prefix="/api/v1/posts", tags=["posts"])
vocab_router = APIRouter(prefix="/api/v1/vocabularies", tags=["vocabularies"])

_md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")
_TAGS = {
    "p",
    "br",
    "hr",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "strong",
    "em",
    "del",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "a",
    "img",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
}
_ATTRS = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "th": {"style"}, "td": {"style"}}


def render(markdown: str) -> str:
    html = _md.render(markdown)
    return nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRS,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )


def view(p: Post) -> dict[str, Any]:
    return jsonable(p.model_dump())


@vocab_router.get("/{kind}", summary="licenses | themes | frequencies (update-frequencies)")
async def vocabulary(kind: str) -> dict[str, Any]:
    items = VOCABULARIES.get(kind)
    if items is None:
        raise NotFound(f"Unknown vocabulary {kind!r}; use licenses, themes or frequencies")
    return {"items": items, "total": len(items), "limit": len(items), "offset": 0}


@router.get("", summary="News and guides, newest first")
async def list_posts(
    session: SessionDep,
    principal: OptionalPrincipal,
    kind: Literal["news", "guide"] | None = None,
    tag: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> dict[str, Any]:
    cond: list[Any] = []
    if not (principal and principal.is_moderator):
        cond.append(Post.published_at.is_not(None))  # type: ignore[union-attr]
    if kind:
        cond.append(Post.kind == kind)
    if tag:
        cond.append(Post.tags.any(tag))  # type: ignore[attr-defined]
    where = sa.and_(sa.true(), *cond)
    total = (
        await session.exec(sa.select(sa.func.count()).select_from(Post).where(where))
    ).scalar_one()  # type: ignore[call-overload]
    rows = (
        (
            await session.exec(  # type: ignore[call-overload]
                sa.select(Post)
                .where(where)
                .order_by(sa.func.coalesce(Post.published_at, Post.created_at).desc())
                .limit(limit)
                .offset(offset)
            )
        )
        .scalars()
        .all()
    )
    return {"items": [view(p) for p in rows], "total": total, "limit": limit, "offset": offset}


async def _get(session, post_id: uuid.UUID, principal) -> Post:
    p = await session.get(Post, post_id)
    if p is None or (p.published_at is None and not (principal and principal.is_moderator)):
        raise NotFound("Post not found")
    return p


@router.get("/{post_id}", summary="One post")
async def get_post(
    post_id: uuid.UUID, session: SessionDep, principal: OptionalPrincipal
) -> Response:
    p = await _get(session, post_id, principal)
    return with_etag(view(p), p.revision)


@router.post("", status_code=201, summary="Write a post (moderators)")
async def create_post(body: PostCreate, session: SessionDep, principal: Moderator) -> Response:
    p = Post(
        kind=body.kind,
        title=body.title,
        body=body.body,
        body_html=render(body.body),
        tags=list(dict.fromkeys(body.tags)),
        dataset_ids=[str(x) for x in body.dataset_ids],
        published_at=utc_now() if body.published else None,
        author_id=principal.sub,
        author_name=principal.name or principal.email,
    )
    session.add(p)
    await session.flush()
    return with_etag(view(p), p.revision, 201)


@router.patch("/{post_id}", summary="Edit a post (moderators; If-Match)")
async def update_post(
    post_id: uuid.UUID,
    body: PostUpdate,
    request: Request,
    session: SessionDep,
    principal: Moderator,
) -> Response:
    p = await _get(session, post_id, principal)
    check_if_match(request, p.revision)
    changes = present(body)
    for key in ("kind", "title", "body", "tags", "dataset_ids", "published"):
        if key in changes and changes[key] is None:
            raise unprocessable(["body", key], "may not be null")
    if "body" in changes:
        p.body = changes["body"]
        p.body_html = render(p.body)
    for key in ("kind", "title"):
        if key in changes:
            setattr(p, key, changes[key])
    if "tags" in changes:
        p.tags = list(dict.fromkeys(changes["tags"]))
    if "dataset_ids" in changes:
        p.dataset_ids = [str(x) for x in changes["dataset_ids"]]
    if "published" in changes:
        p.published_at = (p.published_at or utc_now()) if changes["published"] else None
    p.revision += 1
    p.modified_at = utc_now()
    session.add(p)
    await session.flush()
    return with_etag(view(p), p.revision)


@router.delete("/{post_id}", status_code=204, summary="Delete a post (moderators; If-Match)")
async def delete_post(
    post_id: uuid.UUID, request: Request, session: SessionDep, principal: Moderator
) -> Response:
    p = await _get(session, post_id, principal)
    check_if_match(request, p.revision)
    await session.delete(p)
    return Response(status_code=204)
