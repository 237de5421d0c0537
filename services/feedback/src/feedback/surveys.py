"""Surveys: moderators create and open/close them; respondents answer once; live results; exports."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from portal_kit.auth import Moderator, OptionalPrincipal, Principal
from portal_kit.db import SessionDep
from portal_kit.errors import Conflict, NotFound, Unauthorized, Unprocessable, field_error
from portal_kit.exports import neutralize
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.dialects.postgresql import insert
from sqlmodel.ext.asyncio.session import AsyncSession

from feedback.common import (
    Limit,
    Offset,
    Text,
    check_if_match,
    client_key,
    fetch_page,
    iso,
    now,
    page,
    throttle,
    with_etag,
)
from feedback.models import Survey, SurveyResponse

router = APIRouter(prefix="/api/v1/surveys", tags=["surveys"])

QType = Literal["single", "multiple", "rating", "text", "rank"]
ShortText = Annotated[Text, Field(min_length=1, max_length=300)]


class Option(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,40}$")]
    label: ShortText


class Question(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,40}$")]
    type: QType
    text: Annotated[Text, Field(min_length=1, max_length=1000)]
    required: bool = False
    options: Annotated[list[Option], Field(max_length=50)] = []
    dataset_ids: Annotated[list[uuid.UUID], Field(max_length=30)] = []

    @model_validator(mode="after")
    def _shape(self) -> Question:
        if self.type in ("single", "multiple"):
            if len(self.options) < 2:
                raise ValueError("single and multiple choice questions need at least 2 options")
            if len({o.id for o in self.options}) != len(self.options):
                raise ValueError("option ids must be unique")
        elif self.options:
            raise ValueError(f"a {self.type} question has no options")
        if self.type == "rank":
            if len(self.dataset_ids) < 2 or len(set(self.dataset_ids)) != len(self.dataset_ids):
                raise ValueError("a rank question needs at least 2 distinct dataset_ids")
        elif self.dataset_ids:
            raise ValueError("only rank questions list datasets")
        return self


class SurveyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Annotated[Text, Field(min_length=3, max_length=300)]
    description: Annotated[str, Field(max_length=5000)] = ""
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    allow_anonymous: bool = True
    questions: Annotated[list[Question], Field(min_length=1, max_length=50)]

    @model_validator(mode="after")
    def _check(self) -> SurveyCreate:
        ids = [q.id for q in self.questions]
        if len(set(ids)) != len(ids):
            raise ValueError("question ids must be unique")
        for t in (self.starts_at, self.ends_at):
            if t is not None and t.tzinfo is None:
                raise ValueError("times must carry a time zone")
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class SurveyUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Annotated[Text, Field(min_length=3, max_length=300)] | None = None
    description: Annotated[str, Field(max_length=5000)] | None = None
    ends_at: datetime | None = None


class AnswerBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    answers: Annotated[dict[str, Any], Field(max_length=50)]
    website: str | None = Field(default=None, max_length=500)  # honeypot


def view(s: Survey, t: datetime) -> dict[str, Any]:
    return {
        "id": str(s.id),
        "title": s.title,
        "description": s.description,
        "status": s.status,
        "accepting_answers": accepting(s, t),
        "starts_at": iso(s.starts_at),
        "ends_at": iso(s.ends_at),
        "allow_anonymous": s.allow_anonymous,
        "questions": s.questions,
        "responses": s.responses,
        "created_at": iso(s.created_at),
        "updated_at": iso(s.updated_at),
        "revision": s.revision,
    }


def accepting(s: Survey, t: datetime) -> bool:
    return (
        s.status == "open"
        and (s.starts_at is None or s.starts_at <= t)
        and (s.ends_at is None or t < s.ends_at)
    )


async def load(
    session: AsyncSession, survey_id: uuid.UUID, principal: Principal | None, *, lock: bool = False
) -> Survey:
    stmt = sa.select(Survey).where(Survey.id == survey_id)  # type: ignore[arg-type]
    if lock:
        stmt = stmt.with_for_update()
    s = (await session.exec(stmt)).scalars().first()  # type: ignore[call-overload]
    if s is None or (s.status == "draft" and not (principal and principal.is_moderator)):
        raise NotFound("No such survey")
    return s


def validate_answers(questions: list[dict[str, Any]], answers: dict[str, Any]) -> dict[str, Any]:
    errors: list[dict[str, Any]] = []
    clean: dict[str, Any] = {}
    known = {q["id"]: q for q in questions}
    for key in answers:
        if key not in known:
            errors.append(field_error(["body", "answers", key], "no such question"))
    for q in questions:
        loc = ["body", "answers", q["id"]]
        v = answers.get(q["id"])
        if v is None or v == "" or v == []:
            if q.get("required"):
                errors.append(field_error(loc, "an answer is required", "missing"))
            continue
        opts = [o["id"] for o in q.get("options", [])]
        t = q["type"]
        if t == "single":
            if not isinstance(v, str) or v not in opts:
                errors.append(field_error(loc, f"one of {opts}"))
                continue
        elif t == "multiple":
            if (
                not isinstance(v, list)
                or not all(isinstance(x, str) and x in opts for x in v)
                or len(set(v)) != len(v)
            ):
                errors.append(field_error(loc, f"a list of distinct options from {opts}"))
                continue
        elif t == "rating":
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 5:
                errors.append(field_error(loc, "an integer from 1 to 5"))
                continue
        elif t == "text":
            if not isinstance(v, str) or len(v) > 3000:
                errors.append(field_error(loc, "text of at most 3000 characters"))
                continue
            v = v.strip()
        elif t == "rank":
            ds = q.get("dataset_ids", [])
            if (
                not isinstance(v, list)
                or len(set(map(str, v))) != len(v)
                or not all(isinstance(x, str) and x in ds for x in v)
            ):
                errors.append(field_error(loc, "distinct dataset ids of this question, best first"))
                continue
        clean[q["id"]] = v
    if errors:
        raise Unprocessable("Invalid answers", errors=errors)
    return clean


@router.post("", status_code=201, summary="Create a survey (moderators); it starts as a draft")
async def create_survey(
    body: SurveyCreate, request: Request, session: SessionDep, principal: Moderator
) -> JSONResponse:
    t = now(request)
    s = Survey(
        title=body.title,
        description=body.description,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        allow_anonymous=body.allow_anonymous,
        questions=[q.model_dump(mode="json") for q in body.questions],
        created_by=principal.user_id,
        created_at=t,
        updated_at=t,
    )
    session.add(s)
    await session.flush()
    return with_etag(view(s, t), s.revision, 201)


@router.get("", summary="Surveys (open and closed; moderators also see drafts)")
async def list_surveys(
    request: Request,
    session: SessionDep,
    principal: OptionalPrincipal,
    status: Literal["draft", "open", "closed"] | None = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> dict[str, Any]:
    conds: list[Any] = []
    if not (principal and principal.is_moderator):
        conds.append(Survey.status != "draft")
    if status:
        conds.append(Survey.status == status)
    where = sa.and_(sa.true(), *conds)
    order = (Survey.created_at.desc(), Survey.id)  # type: ignore[attr-defined]
    rows, total = await fetch_page(session, Survey, where, order, limit, offset)
    t = now(request)
    return page([view(s, t) for s in rows], total, limit, offset)


@router.get("/{survey_id}", summary="One survey")
async def get_survey(
    survey_id: uuid.UUID, request: Request, session: SessionDep, principal: OptionalPrincipal
) -> JSONResponse:
    s = await load(session, survey_id, principal)
    return with_etag(view(s, now(request)), s.revision)


@router.patch("/{survey_id}", summary="Edit title, description or end (moderators; If-Match)")
async def update_survey(
    survey_id: uuid.UUID,
    body: SurveyUpdate,
    request: Request,
    session: SessionDep,
    principal: Moderator,
) -> JSONResponse:
    s = await load(session, survey_id, principal, lock=True)
    check_if_match(request, s.revision)
    for field in ("title", "description", "ends_at"):
        v = getattr(body, field)
        if v is not None:
            setattr(s, field, v)
    s.revision += 1
    s.updated_at = now(request)
    return with_etag(view(s, s.updated_at), s.revision)


async def _set_status(
    survey_id: uuid.UUID,
    request: Request,
    session: AsyncSession,
    principal: Principal,
    frm: tuple[str, ...],
    to: str,
) -> JSONResponse:
    s = await load(session, survey_id, principal, lock=True)
    check_if_match(request, s.revision)
    if s.status not in frm:
        raise Conflict(f"A {s.status} survey cannot become {to}")
    s.status = to
    s.revision += 1
    s.updated_at = now(request)
    return with_etag(view(s, s.updated_at), s.revision)


@router.post("/{survey_id}/open", summary="Open for answers (moderators; If-Match)")
async def open_survey(
    survey_id: uuid.UUID, request: Request, session: SessionDep, principal: Moderator
) -> JSONResponse:
    return await _set_status(survey_id, request, session, principal, ("draft", "closed"), "open")


@router.post("/{survey_id}/close", summary="Close (moderators; If-Match)")
async def close_survey(
    survey_id: uuid.UUID, request: Request, session: SessionDep, principal: Moderator
) -> JSONResponse:
    return await _set_status(survey_id, request, session, principal, ("open",), "closed")


@router.post(
    "/{survey_id}/responses",
    status_code=201,
    summary="Answer once (signed in, or anonymous if the survey allows; throttled)",
)
async def answer(
    survey_id: uuid.UUID,
    body: AnswerBody,
    request: Request,
    session: SessionDep,
    principal: OptionalPrincipal,
) -> dict[str, Any]:
    await throttle(request, principal, "survey")
    if body.website:
        raise Unprocessable(
            "Submission refused", errors=[field_error(["body", "website"], "must be empty")]
        )
    s = await load(session, survey_id, principal)
    if not accepting(s, now(request)):
        raise Conflict("This survey is not accepting answers")
    if principal is None and not s.allow_anonymous:
        raise Unauthorized("This survey needs a signed-in respondent")
    clean = validate_answers(s.questions, body.answers)
    key = client_key(request, principal)
    res = await session.exec(
        insert(SurveyResponse)
        .values(  # type: ignore[call-overload]
            id=uuid.uuid4(),
            survey_id=s.id,
            respondent_key=key,
            user_id=principal.user_id if principal else None,
            answers=clean,
            created_at=now(request),
        )
        .on_conflict_do_nothing()
        .returning(SurveyResponse.id)
    )
    rid = res.scalar()
    if rid is None:
        raise Conflict("You have answered this survey already")
    await session.exec(
        sa.update(Survey)
        .where(Survey.id == s.id)
        .values(  # type: ignore[call-overload, arg-type]
            responses=Survey.responses + 1
        )
    )
    return {"id": str(rid), "survey_id": str(s.id), "answers": clean}


async def all_responses(session: AsyncSession, s: Survey) -> list[SurveyResponse]:
    return list(
        (
            await session.exec(
                sa.select(SurveyResponse)
                .where(  # type: ignore[call-overload]
                    SurveyResponse.survey_id == s.id
                )
                .order_by(SurveyResponse.created_at)
            )
        )
        .scalars()
        .all()
    )  # type: ignore[arg-type]


def aggregate(s: Survey, responses: list[SurveyResponse], with_text: bool) -> list[dict[str, Any]]:
    out = []
    for q in s.questions:
        vals = [r.answers[q["id"]] for r in responses if q["id"] in r.answers]
        item: dict[str, Any] = {
            "id": q["id"],
            "type": q["type"],
            "text": q["text"],
            "answered": len(vals),
        }
        if q["type"] in ("single", "multiple"):
            counts = {o["id"]: 0 for o in q["options"]}
            for v in vals:
                for x in v if isinstance(v, list) else [v]:
                    counts[x] = counts.get(x, 0) + 1
            item["options"] = [
                {"id": o["id"], "label": o["label"], "count": counts[o["id"]]} for o in q["options"]
            ]
        elif q["type"] == "rating":
            item["distribution"] = {str(i): sum(1 for v in vals if v == i) for i in range(1, 6)}
            item["mean"] = round(sum(vals) / len(vals), 3) if vals else None
        elif q["type"] == "rank":
            n = len(q["dataset_ids"])
            # Borda count: first place gets n points, last listed n - k + 1; unlisted get 0
            pts = dict.fromkeys(q["dataset_ids"], 0)
            for v in vals:
                for pos, ds in enumerate(v):
                    pts[ds] += n - pos
            item["ranking"] = sorted(
                ({"dataset_id": d, "points": p} for d, p in pts.items()),
                key=lambda x: (-x["points"], x["dataset_id"]),
            )
        elif q["type"] == "text" and with_text:
            item["answers"] = vals
        out.append(item)
    return out


@router.get("/{survey_id}/results", summary="Live aggregated results (free text: moderators only)")
async def results(
    survey_id: uuid.UUID, session: SessionDep, principal: OptionalPrincipal
) -> dict[str, Any]:
    s = await load(session, survey_id, principal)
    responses = await all_responses(session, s)
    mod = bool(principal and principal.is_moderator)
    return {
        "survey_id": str(s.id),
        "status": s.status,
        "responses": len(responses),
        "questions": aggregate(s, responses, with_text=mod),
    }


def safe_cell(v: Any) -> Any:
    """Neutralise spreadsheet formulas: text starting with = + - @ (or tab/CR) gets a quote."""
    return neutralize(v)


def _rows(s: Survey, responses: list[SurveyResponse]) -> tuple[list[str], list[list[Any]]]:
    header = ["response_id", "submitted_at", "signed_in"] + [q["id"] for q in s.questions]
    rows = []
    for r in responses:
        row: list[Any] = [str(r.id), iso(r.created_at), r.user_id is not None]
        for q in s.questions:
            v = r.answers.get(q["id"])
            if isinstance(v, list):
                v = "; ".join(map(str, v))
            row.append(safe_cell(v if v is not None else ""))
        rows.append(row)
    return [safe_cell(h) for h in header], rows


def _filename(s: Survey, ext: str) -> str:
    return f'attachment; filename="survey-{s.id}.{ext}"'


@router.get("/{survey_id}/export.csv", summary="All answers as CSV, UTF-8 with BOM (moderators)")
async def export_csv(survey_id: uuid.UUID, session: SessionDep, principal: Moderator) -> Response:
    s = await load(session, survey_id, principal)
    header, rows = _rows(s, await all_responses(session, s))
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(rows)
    return Response(
        ("\ufeff" + buf.getvalue()).encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": _filename(s, "csv")},
    )


@router.get("/{survey_id}/export.xlsx", summary="All answers as XLSX (moderators)")
async def export_xlsx(survey_id: uuid.UUID, session: SessionDep, principal: Moderator) -> Response:
    from openpyxl import Workbook

    s = await load(session, survey_id, principal)
    header, rows = _rows(s, await all_responses(session, s))
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("answers")
    ws.append(header)
    for row in rows:
        ws.append(row)
    qs = wb.create_sheet("questions")
    qs.append(["id", "type", "text"])
    for q in s.questions:
        qs.append([safe_cell(q["id"]), q["type"], safe_cell(q["text"])])
    buf = io.BytesIO()
    wb.save(buf)
    return Response(
        buf.getvalue(),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": _filename(s, "xlsx")},
    )
