"""package_search over the read model: the Solr query subset harvesters send, in SQL.

Grammar (space-separated clauses are AND-ed, as CKAN sets q.op=AND):
  clause := ['-'|'+'|'NOT '] term ('OR' term)* | clause 'AND' clause
  term   := field ':' value | field ':' '[' lo 'TO' hi ']' | '(' clauses ')' | word
  value  := word | "quoted phrase" | '*'
Fields: organization, groups, tags, res_format, license_id, id, name, title, text,
metadata_modified, metadata_created, type/dataset_type, state, capacity, site_id.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from harvest_export import ckan
from harvest_export.models import HxDataset


class SearchQueryError(Exception):
    """Malformed query or sort (CKAN: 400 Search Query Error)."""


class SearchError(Exception):
    """A query Solr would refuse to run, e.g. an unknown field (CKAN: 409 Search Error)."""


TOKEN_RE = re.compile(
    r"""\s*(?:
      (?P<lpar>\()|(?P<rpar>\))
     |(?P<term>[-+]?[A-Za-z_][\w.]*:(?:\[[^\]]*\]|\{[^}]*\}|"[^"]*"|\([^)]*\)|[^\s()]+))
     |(?P<phrase>[-+]?"[^"]*")
     |(?P<word>[^\s()]+)
    )""",
    re.X,
)


@dataclass
class Tok:
    kind: str
    text: str


def tokenize(query: str) -> list[Tok]:
    out: list[Tok] = []
    pos = 0
    query = query.strip()
    while pos < len(query):
        m = TOKEN_RE.match(query, pos)
        if not m or m.end() == pos:
            raise SearchQueryError(
                f"Search Query is invalid: cannot parse {query[pos : pos + 30]!r}"
            )
        pos = m.end()
        for kind in ("lpar", "rpar", "term", "phrase", "word"):
            if m.group(kind) is not None:
                text = m.group(kind)
                if kind == "word" and text in ("OR", "AND", "NOT", "||", "&&"):
                    kind = {"||": "OR", "&&": "AND"}.get(text, text)
                out.append(Tok(kind, text))
                break
    return out


def _parse_time(value: str, *, upper: bool) -> datetime | None:
    v = value.strip()
    if v in ("*", ""):
        return None
    m = re.fullmatch(
        r"NOW(?:([+-])(\d+)(YEARS?|MONTHS?|DAYS?|HOURS?|MINUTES?|SECONDS?))?(/DAY)?", v
    )
    if m:
        now = datetime.now(UTC).replace(tzinfo=None)
        if m.group(1):
            n = int(m.group(2)) * (1 if m.group(1) == "+" else -1)
            unit = m.group(3).rstrip("S")
            days = {"YEAR": 365, "MONTH": 30, "DAY": 1}.get(unit)
            delta = timedelta(days=n * days) if days else timedelta(**{unit.lower() + "s": n})
            now = now + delta
        if m.group(4):
            now = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return now
    try:
        d = datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError as exc:
        raise SearchQueryError(f"Search Query is invalid: bad date {value!r}") from exc
    return ckan.naive(d)


TEXT_FIELDS = {"text", "title", "notes", "q"}


def _value(raw: str) -> str:
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        return raw[1:-1]
    return raw.replace("\\", "")


def term_sql(field: str, raw: str) -> ColumnElement[bool]:
    field = field.lower()
    if raw.startswith("(") and raw.endswith(")"):
        # field:(a OR b)
        parts = [p for p in re.split(r"\s+OR\s+|\s+", raw[1:-1].strip()) if p]
        return sa.or_(*[term_sql(field, p) for p in parts]) if parts else sa.false()
    if raw[:1] in "[{" and raw[-1:] in "]}":
        m = re.fullmatch(r"[\[{]\s*(\S+)\s+TO\s+(\S+)\s*[\]}]", raw)
        if not m:
            raise SearchQueryError(f"Search Query is invalid: bad range {raw!r}")
        col = {
            "metadata_modified": HxDataset.metadata_modified,
            "metadata_created": HxDataset.metadata_created,
        }.get(field)
        if col is None:
            raise SearchError(f"Search error: range queries are supported on dates only ({field})")
        lo, hi = _parse_time(m.group(1), upper=False), _parse_time(m.group(2), upper=True)
        conds = []
        if lo is not None:
            conds.append(col >= lo if raw[0] == "[" else col > lo)
        if hi is not None:
            conds.append(col <= hi if raw[-1] == "]" else col < hi)
        return sa.and_(sa.true(), *conds)
    value = _value(raw)
    if value == "*":
        return sa.true()
    if field == "organization" or field == "owner_org":
        return sa.or_(
            HxDataset.org_name == value, sa.cast(HxDataset.organization_id, sa.Text) == value
        )
    if field == "groups":
        return sa.literal(value.lower()) == sa.any_(HxDataset.groups)
    if field == "tags":
        munged = ckan.munge_tag(value) or value
        return sa.or_(
            sa.literal(value) == sa.any_(HxDataset.tags),
            sa.literal(munged) == sa.any_(HxDataset.tags),
        )
    if field in ("res_format", "format"):
        return sa.literal(value.upper()) == sa.any_(HxDataset.res_formats)
    if field == "license_id":
        return HxDataset.license_id == value
    if field in ("id", "guid"):
        return sa.cast(HxDataset.id, sa.Text) == value.lower()
    if field == "name":
        return sa.or_(HxDataset.package["name"].astext == value, HxDataset.name == value)
    if field in ("type", "dataset_type"):
        return sa.true() if value == "dataset" else sa.false()
    if field == "state":
        return sa.true() if value == "active" else sa.false()
    if field == "capacity":
        return sa.true() if value == "public" else sa.false()
    if field in ("site_id", "entity_type"):
        return sa.true()
    if field in ("metadata_modified", "metadata_created"):
        t = _parse_time(value, upper=False)
        col = (
            HxDataset.metadata_modified
            if field == "metadata_modified"
            else HxDataset.metadata_created
        )
        return col == t
    if field in TEXT_FIELDS:
        return text_sql(value)
    raise SearchError(f"Search error: undefined field {field}")


def text_sql(value: str) -> ColumnElement[bool]:
    words = [w for w in re.split(r"\s+", value.lower()) if w]
    if not words:
        return sa.true()
    return sa.and_(*[HxDataset.search_text.contains(w, autoescape=True) for w in words])


class Parser:
    def __init__(self, tokens: list[Tok]) -> None:
        self.toks = tokens
        self.i = 0

    def peek(self) -> Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def clauses(self, until_rpar: bool = False) -> ColumnElement[bool]:
        items: list[ColumnElement[bool]] = []
        while (tok := self.peek()) is not None:
            if tok.kind == "rpar":
                if not until_rpar:
                    raise SearchQueryError("Search Query is invalid: unbalanced ')'")
                break
            if tok.kind == "AND":
                self.take()
                continue
            items.append(self.disjunction())
        return sa.and_(sa.true(), *items)

    def disjunction(self) -> ColumnElement[bool]:
        parts = [self.unary()]
        while (tok := self.peek()) is not None and tok.kind == "OR":
            self.take()
            if self.peek() is None:
                raise SearchQueryError("Search Query is invalid: dangling OR")
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else sa.or_(*parts)

    def unary(self) -> ColumnElement[bool]:
        tok = self.take()
        negate = False
        if tok.kind == "NOT":
            negate = True
            if self.peek() is None:
                raise SearchQueryError("Search Query is invalid: dangling NOT")
            tok = self.take()
        if tok.kind == "lpar":
            inner = self.clauses(until_rpar=True)
            if self.peek() is None or self.take().kind != "rpar":
                raise SearchQueryError("Search Query is invalid: unbalanced '('")
            return sa.not_(inner) if negate else inner
        text = tok.text
        if text[:1] in "-+" and len(text) > 1:
            negate = negate or text[0] == "-"
            text = text[1:]
        if tok.kind == "term":
            field, _, raw = text.partition(":")
            cond = term_sql(field, raw)
        elif tok.kind in ("phrase", "word"):
            if text in ("*:*", "*"):
                cond = sa.true()
            else:
                cond = text_sql(_value(text))
        else:
            raise SearchQueryError(f"Search Query is invalid near {tok.text!r}")
        return sa.not_(cond) if negate else cond


def parse(query: str | None) -> ColumnElement[bool]:
    if not query or not query.strip() or query.strip() == "*:*":
        return sa.true()
    p = Parser(tokenize(query))
    return p.clauses()


SORT_FIELDS = {
    "id": sa.cast(HxDataset.id, sa.Text),
    "name": HxDataset.name,
    "title_string": HxDataset.title,
    "title": HxDataset.title,
    "metadata_modified": HxDataset.metadata_modified,
    "metadata_created": HxDataset.metadata_created,
}


def order_by(sort: str | None) -> list[Any]:
    sort = (sort or "score desc, metadata_modified desc").strip()
    out: list[Any] = []
    for part in sort.split(","):
        bits = part.split()
        if not bits:
            continue
        if len(bits) != 2 or bits[1].lower() not in ("asc", "desc"):
            raise SearchQueryError('Invalid "sort" parameter')
        field, direction = bits[0], bits[1].lower()
        if field in ("score", "rank", "views_recent", "views_total"):
            continue  # no relevance ranking: the next key decides
        col = SORT_FIELDS.get(field)
        if col is None:
            raise SearchQueryError('Invalid "sort" parameter')
        out.append(col.asc() if direction == "asc" else col.desc())
    out.append(sa.cast(HxDataset.id, sa.Text).asc())  # stable ties
    return out


FACET_COLUMNS = {
    "organization": (HxDataset.org_name, False),
    "groups": (HxDataset.groups, True),
    "tags": (HxDataset.tags, True),
    "res_format": (HxDataset.res_formats, True),
    "license_id": (HxDataset.license_id, False),
}


def facet_fields(raw: Any) -> list[str]:
    if raw is None or raw == "":
        return []
    if isinstance(raw, list):
        out: list[str] = []
        for item in raw:
            out.extend(facet_fields(item))
        return out
    if isinstance(raw, str):
        s = raw.strip()
        if s.startswith("["):
            try:
                value = json.loads(s)
            except ValueError as exc:
                raise SearchQueryError("Search Query is invalid: facet.field is not JSON") from exc
            return [str(v) for v in value] if isinstance(value, list) else []
        return [s]
    return []
