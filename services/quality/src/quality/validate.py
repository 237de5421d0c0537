"""Streaming validation of data files: CSV/TSV (and XLSX/XLS/ODS via a derived UTF-8 CSV),
parse checks of JSON/GeoJSON/XML. Frictionless-style error codes with row and column.

Memory is bounded: text tables are read through a buffered stream, one row at a time; per
column the validator keeps counters and at most ``max_errors_per_code_and_column`` positions.
Types come from the published structure when there is one, otherwise they are inferred from
the whole file in the same pass (a column takes the narrowest type that at least
``infer_confidence`` of its non-empty cells satisfy; the remaining cells are type errors).
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import datetime as dt
import hashlib
import io
import json
import queue
import re
import tempfile
import threading
from collections.abc import Callable
from itertools import repeat
from pathlib import Path
from typing import IO, Any

from quality.methodology import methodology
from quality.uniq import Keys

csv.field_size_limit(16 * 1024 * 1024)

# ---------------------------------------------------------------- messages (uk, en)
MESSAGES: dict[str, tuple[str, str]] = {
    "source-error": ("Файл порожній або не містить даних", "The source is empty or has no data"),
    "format-error": (
        "Файл не вдалося розібрати як {fmt}: {detail}",
        "Could not parse the file as {fmt}: {detail}",
    ),
    "encoding-error": (
        "Файл не вдалося декодувати як {encoding} (рядок {row}); збережіть його у UTF-8",
        "Could not decode the file as {encoding} (row {row}); save it as UTF-8",
    ),
    "encoding-warning": (
        "Файл у кодуванні {encoding}, а не UTF-8; рекомендовано зберегти у UTF-8",
        "The file is encoded as {encoding}, not UTF-8; saving it as UTF-8 is recommended",
    ),
    "byte-count": (
        "Розмір файлу {actual} байт не відповідає заявленому {declared}: файл обрізаний або пошкоджений",
        "File size {actual} bytes differs from the declared {declared}: the file is truncated or corrupt",
    ),
    "hash-count": (
        "Контрольна сума SHA-256 не відповідає заявленій: файл пошкоджений",
        "The SHA-256 hash differs from the declared one: the file is corrupt",
    ),
    "blank-header": ("Рядок заголовків порожній", "The header row is completely blank"),
    "blank-label": ("Порожня назва стовпця {column}", "Column {column} has a blank label"),
    "duplicate-label": (
        "Назва стовпця «{label}» повторюється (стовпець {column})",
        "Label '{label}' in column {column} duplicates another column",
    ),
    "extra-label": (
        "Стовпця «{label}» немає в опублікованій структурі",
        "Column '{label}' is not in the published structure",
    ),
    "missing-label": (
        "Немає обов'язкового стовпця «{label}» з опублікованої структури",
        "Required column '{label}' of the published structure is missing",
    ),
    "blank-row": ("Рядок {row} порожній", "Row {row} is empty"),
    "extra-cell": (
        "У рядку {row} більше значень, ніж стовпців у заголовку",
        "Row {row} has more values than the header row",
    ),
    "missing-cell": (
        "У рядку {row} менше значень, ніж стовпців у заголовку (немає стовпця {column})",
        "Row {row} has fewer values than the header row (column {column} is missing)",
    ),
    "type-error": (
        "Значення «{value}» у рядку {row}, стовпці «{label}» не відповідає типу {type}{hint}",
        "Value '{value}' in row {row}, column '{label}' is not of type {type}{hint_en}",
    ),
    "constraint-error": (
        "Обов'язкове значення відсутнє у рядку {row}, стовпці «{label}»",
        "Required value is missing in row {row}, column '{label}'",
    ),
    "duplicate-row": (
        "Рядок {row} повністю повторює рядок {first}",
        "Row {row} is an exact duplicate of row {first}",
    ),
    "unique-error": (
        "Значення у рядку {row}, стовпці «{label}» повторює значення з рядка {first}; "
        "значення цього стовпця мають бути унікальними",
        "The value in row {row}, column '{label}' repeats the value of row {first}; "
        "the values of this column must be unique",
    ),
    "primary-key": (
        "Первинний ключ «{label}» у рядку {row} повторює ключ рядка {first}",
        "Primary key '{label}' in row {row} repeats the key of row {first}",
    ),
    "check-skipped": (
        "Перевірку «{check}» пропущено: у файлі понад {cap} значень для порівняння",
        "The '{check}' check was skipped: the file has more than {cap} values to compare",
    ),
}


def severity(code: str) -> str:
    """fatal | header | row | warning | info, as the methodology names it (row if unnamed)."""
    return methodology()["validation"]["severity"].get(code, "row")


def message(code: str, **kw: Any) -> tuple[str, str]:
    uk, en = MESSAGES.get(code, (code, code))
    kw.setdefault("hint", "")
    kw.setdefault("hint_en", "")
    try:
        return uk.format(**kw), en.format(**kw)
    except (KeyError, IndexError):
        return uk, en


# ---------------------------------------------------------------- cell classes
STR, INT, BIT, NUM, BOOL, DATE, DATETIME, TIME, URL, DMY, DECCOMMA = range(11)
N_CLASSES = 11
_num = re.compile(r"[+-]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?\Z").match
_date = re.compile(r"\d{4}-\d{2}-\d{2}\Z").match
_dtm = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?\Z"
).match
_time = re.compile(r"\d{2}:\d{2}(?::\d{2})?\Z").match
_dmy = re.compile(r"\d{1,2}\.\d{1,2}\.\d{4}\Z").match
_deccomma = re.compile(r"[+-]?\d+,\d+\Z").match
_BOOLS = frozenset({"true", "false", "True", "False", "TRUE", "FALSE", "так", "ні", "Так", "Ні"})

TYPE_ACCEPTS: dict[str, frozenset[int]] = {
    "integer": frozenset({INT, BIT}),
    "number": frozenset({INT, BIT, NUM}),
    "boolean": frozenset({BOOL, BIT}),
    "date": frozenset({DATE}),
    "datetime": frozenset({DATETIME}),
    "time": frozenset({TIME}),
    "anyURL": frozenset({URL}),
    "string": frozenset(range(N_CLASSES)),
}
INFER_ORDER = ["integer", "number", "boolean", "date", "datetime", "time", "anyURL"]
TYPE_ALIASES = {
    "string": "string",
    "integer": "integer",
    "decimal": "number",
    "number": "number",
    "double": "number",
    "float": "number",
    "date": "date",
    "datetime": "datetime",
    "dateTime": "datetime",
    "time": "time",
    "boolean": "boolean",
    "anyURL": "anyURL",
    "anyURI": "anyURL",
    "url": "anyURL",
}
TYPE_UK = {
    "integer": "ціле число",
    "number": "число",
    "boolean": "логічне значення",
    "date": "дата (РРРР-ММ-ДД)",
    "datetime": "дата і час (ISO 8601)",
    "time": "час (ГГ:ХХ)",
    "anyURL": "посилання (URL)",
    "string": "рядок",
}
HINTS = {
    (DMY, "date"): (": дату слід записувати у форматі РРРР-ММ-ДД", ": write dates as YYYY-MM-DD"),
    (DECCOMMA, "number"): (
        ": десятковий роздільник — крапка",
        ": the decimal separator is a point",
    ),
}


def classify(v: str) -> int:
    if v.isdigit() and v.isascii():
        return BIT if (v == "0" or v == "1") else INT
    c = v[0]
    if (c == "-" or c == "+") and v[1:].isdigit() and v.isascii():
        return INT
    if _num(v):
        return NUM
    n = len(v)
    if n == 10 and _date(v):
        try:
            dt.date.fromisoformat(v)
            return DATE
        except ValueError:
            return STR
    if n >= 16 and _dtm(v):
        try:
            dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
            return DATETIME
        except ValueError:
            return STR
    if v in _BOOLS:
        return BOOL
    if n <= 8 and _time(v):
        return TIME
    if c == "h" and (v.startswith("https://") or v.startswith("http://")) and " " not in v:
        return URL
    if n <= 10 and _dmy(v):
        return DMY
    if _deccomma(v):
        return DECCOMMA
    return STR


# ---------------------------------------------------------------- byte streams
class HashingReader(io.RawIOBase):
    """A raw stream that counts and hashes what passes through it."""

    def __init__(self, src: Any, limit: int | None = None) -> None:
        self.src = src
        self.sha = hashlib.sha256()
        self.count = 0
        self.limit = limit

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:  # type: ignore[override]
        want = len(b)
        if self.limit is not None:
            want = min(want, self.limit - self.count)
            if want <= 0:
                return 0
        into = getattr(self.src, "readinto", None)
        if into is not None:  # one copy less (files, urllib3 responses)
            view = memoryview(b).cast("B")[:want]
            n = into(view) or 0
            if n:
                self.sha.update(view[:n])
                self.count += n
            return n
        data = self.src.read(want)
        if not data:
            return 0
        n = len(data)
        b[:n] = data
        self.sha.update(data)
        self.count += n
        return n


def sniff_format(sample: bytes, declared: str | None, name: str | None) -> str:
    """What the bytes really are (ckanext-qa: the sniffed type beats the publisher's word)."""
    declared = (declared or "").upper()
    ext = (name or "").rsplit(".", 1)[-1].upper() if name and "." in name else ""
    if not sample.strip():
        return "EMPTY"
    if sample.startswith(b"PK\x03\x04"):
        if b"mimetypeapplication/vnd.oasis.opendocument.spreadsheet" in sample[:200]:
            return "ODS"
        if b"[Content_Types].xml" in sample or b"xl/" in sample:
            return "XLSX"
        return "ZIP"
    if sample.startswith(b"\xd0\xcf\x11\xe0"):
        return "XLS"
    if sample.startswith(b"%PDF"):
        return "PDF"
    head = sample.lstrip(b"\xef\xbb\xbf \t\r\n")[:2048].lower()
    if head.startswith(b"<"):
        if re.search(rb"<!doctype html|<html|<head[ >]|<body[ >]", head):
            return "HTML"
        return "XML"
    if head.startswith((b"{", b"[")):
        if (
            declared == "GEOJSON"
            or ext == "GEOJSON"
            or b'"featurecollection"' in head
            or b'"feature"' in head
        ):
            return "GEOJSON"
        return "JSON"
    if declared == "TSV" or ext == "TSV":
        return "TSV"
    return "CSV"


def detect_encoding(sample: bytes, full: bool) -> str:
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        # a sample (or a truncated file) may end inside a UTF-8 sequence
        if exc.start >= len(sample) - 3 and exc.reason.startswith("unexpected end"):
            return "utf-8"
    from charset_normalizer import from_bytes

    best = from_bytes(sample[:32768]).best()
    enc = (best.encoding if best else "cp1251").lower().replace("-", "_")
    if enc in ("utf_8", "ascii"):
        return "utf-8"
    # Ukrainian files that are not UTF-8 are almost always Windows-1251
    if enc in (
        "cp1251",
        "windows_1251",
        "koi8_r",
        "koi8_u",
        "mac_cyrillic",
        "iso8859_5",
        "cp866",
        "cp1125",
    ):
        try:
            sample.decode("cp1251")
            return "cp1251"
        except UnicodeDecodeError:
            return enc
    return enc


def sniff_delimiter(text_sample: str) -> str:
    lines = [ln for ln in text_sample.splitlines()[:50] if ln.strip()]
    if len(lines) > 1:
        lines = lines[:-1]  # the last line of a sample may be cut
    best, best_score = ",", -1.0
    for d in (",", ";", "\t", "|"):
        counts = [ln.count(d) for ln in lines]
        if not counts or max(counts) == 0:
            continue
        mode = max(set(counts), key=counts.count)
        if mode == 0:
            continue
        consistency = counts.count(mode) / len(counts)
        score = consistency * 1000 + mode
        if score > best_score:
            best, best_score = d, score
    return best


# ---------------------------------------------------------------- the report
class Report:
    def __init__(self, max_errors: int) -> None:
        self.max_errors = max_errors
        self.errors: list[dict[str, Any]] = []
        self.counts: dict[str, int] = {}
        self.info: dict[str, Any] = {}

    def add(
        self,
        code: str,
        *,
        row: int | None = None,
        column: int | None = None,
        field: str | None = None,
        count: int = 1,
        **kw: Any,
    ) -> None:
        self.counts[code] = self.counts.get(code, 0) + count
        if len(self.errors) < self.max_errors:
            uk, en = message(code, row=row, column=column, label=field, **kw)
            sev = severity(code)
            err = {
                "code": code,
                "severity": sev,
                "row": row,
                "column": column,
                "field": field,
                "message": uk,
                "message_en": en,
            }
            self.errors.append(err)

    @property
    def fatal(self) -> bool:
        return any(severity(c) == "fatal" for c in self.counts)


def _label_key(s: str) -> str:
    return re.sub(r"\s+", " ", s.strip().lower().replace("’", "'").replace("ʼ", "'"))


def match_structure(
    header: list[str], tables: list[dict[str, Any]]
) -> tuple[dict[str, Any] | None, int]:
    keys = {_label_key(h) for h in header if h.strip()}
    best, best_n = None, 0
    for t in tables:
        n = sum(
            1
            for c in t["columns"]
            if _label_key(c["name"]) in keys or _label_key(c.get("title") or "") in keys
        )
        if n > best_n:
            best, best_n = t, n
    return best, best_n


# ---------------------------------------------------------------- tables
def validate_rows(
    rows: Any,
    rep: Report,
    *,
    schema_tables: list[dict[str, Any]] | None,
    on_error: Callable[[], int] | None = None,
) -> None:
    """Validate an iterator of rows (lists of str); the first row is the header."""
    try:
        header = next(rows)
    except StopIteration:
        rep.add("source-error")
        return
    t = Table.start(header, rep, schema_tables)
    if t is None:
        return
    if t.py_rows(rows):
        t.finish()


class Table:
    """The state of one table's check: header, per-column counters, the running row number.
    Rows come either as Python lists (``py_rows``: csv module, spreadsheets, fallback) or as Arrow
    tables of strings (``arrow_rows``: the fast path); both feed the same counters."""

    def __init__(
        self, header: list[str], rep: Report, types: list[str | None], required: list[bool]
    ) -> None:
        cfg = methodology()["validation"]
        self.rep = rep
        self.header = header
        self.width = len(header)
        self.types = types
        self.required = required
        self.kmax = int(cfg["max_errors_per_code_and_column"])
        self.conf = float(cfg["infer_confidence"])
        self.cols = [
            _Column(header[i], types[i], required[i], self.kmax) for i in range(self.width)
        ]
        self.structural_bad = 0
        self.rn = 1  # the number of the last row seen (header = 1)
        self.row_keys: Keys | None = None  # duplicate-row
        self.col_keys: list[Keys] = []  # unique-error / primary-key, one per column

    @classmethod
    def start(
        cls, header: list[str], rep: Report, schema_tables: list[dict[str, Any]] | None
    ) -> Table | None:
        header = [h.strip() for h in header]
        width = len(header)
        if width == 0 or not any(header):
            rep.add("blank-header", row=1)
            return None
        seen: dict[str, int] = {}
        for i, h in enumerate(header):
            if not h:
                rep.add("blank-label", row=1, column=i + 1)
                continue
            k = _label_key(h)
            if k in seen:
                rep.add("duplicate-label", row=1, column=i + 1, field=h)
            else:
                seen[k] = i
        # types and required flags per column
        types: list[str | None] = [None] * width
        required = [False] * width
        unique: dict[int, str] = {}  # column -> "primary-key" | "unique-error"
        schema_source = "inferred"
        table, matched = match_structure(header, schema_tables or [])
        if table is not None and matched > 0:
            schema_source = "published"
            rep.info["structure_table"] = table["table"]
            for c in table["columns"]:
                idx = seen.get(_label_key(c["name"]))
                if idx is None:
                    idx = seen.get(_label_key(c.get("title") or ""))
                if idx is None:
                    if c.get("required"):
                        rep.add("missing-label", row=1, field=c["name"])
                    continue
                types[idx] = TYPE_ALIASES.get(c.get("datatype") or "string", "string")
                required[idx] = bool(c.get("required"))
                if c.get("unique") or (c.get("constraints") or {}).get("unique"):
                    unique[idx] = "unique-error"
            pk = table.get("primary_key") or table.get("primaryKey")
            if isinstance(pk, str) and pk:
                idx = seen.get(_label_key(pk))
                if idx is None:  # the key named by its column's title
                    by_name = {_label_key(c["name"]): c for c in table["columns"]}
                    col = by_name.get(_label_key(pk))
                    idx = seen.get(_label_key((col or {}).get("title") or "")) if col else None
                if idx is not None:
                    unique[idx] = "primary-key"
            known = {_label_key(c["name"]) for c in table["columns"]} | {
                _label_key(c.get("title") or "") for c in table["columns"]
            }
            for i, h in enumerate(header):
                if h and _label_key(h) not in known:
                    rep.add("extra-label", row=1, column=i + 1, field=h)
        elif schema_tables:
            rep.info["structure_mismatch"] = True
        rep.info["schema_source"] = schema_source
        t = cls(header, rep, types, required)
        cfg = methodology()["validation"]
        cap = int(cfg["max_unique_values"])
        if cfg["duplicate_row"]:
            t.row_keys = Keys("duplicate-row", cap)
        t.col_keys = [Keys(code, cap, column=i) for i, code in sorted(unique.items())]
        return t

    def _structural(self, row: list[str], rn: int) -> None:
        rep, width, n = self.rep, self.width, len(row)
        self.structural_bad += 1
        if n == 0 or not any(row):
            rep.add("blank-row", row=rn)
            return
        if n > width:
            rep.add("extra-cell", row=rn, column=width + 1)
            row = row[:width]
        else:
            rep.add("missing-cell", row=rn, column=n + 1)
        for i in range(min(n, width)):
            self.cols[i].cells([row[i]], [rn])

    def py_rows(self, rows: Any) -> bool:
        """Rows as lists of str. False when the table cannot be read further (reported)."""
        rep, width, cols = self.rep, self.width, self.cols
        row_keys, col_keys = self.row_keys, self.col_keys
        keyed = rows if isinstance(rows, KeyedRows) else None
        rn = self.rn
        chunk: list[list[str]] = []
        chunk_rows: list[int] = []
        try:
            for row in rows:
                rn += 1
                if len(row) != width or not any(row):
                    if len(row) != width:
                        self._structural(row, rn)
                    else:
                        rep.add("blank-row", row=rn)
                        self.structural_bad += 1
                    if row_keys is not None:
                        row_keys.add(None)
                    for k in col_keys:
                        k.add(None)
                    continue
                if row_keys is not None:
                    row_keys.add(keyed.key if keyed is not None else hash(tuple(row)))
                for k in col_keys:
                    v = row[k.column]
                    k.add(hash(v) if v else None)
                chunk.append(row)
                chunk_rows.append(rn)
                if len(chunk) >= CHUNK_ROWS:
                    _flush(chunk, chunk_rows, cols)
                    chunk, chunk_rows = [], []
            if chunk:
                _flush(chunk, chunk_rows, cols)
        except UnicodeDecodeError:
            rep.add("encoding-error", row=rn + 1, encoding=rep.info.get("encoding"))
            return False
        except csv.Error as exc:
            rep.add("format-error", row=rn + 1, fmt="CSV", detail=str(exc)[:200])
            return False
        finally:
            self.rn = rn
        return True

    def arrow_rows(self, table: Any, row_hashes: list[int] | None = None) -> None:
        """An Arrow table of ``width`` string columns (possibly chunked) whose rows follow the last
        row seen; ``row_hashes``: the hash of each row's raw text (duplicate-row)."""
        import pyarrow as pa
        import pyarrow.compute as pc

        n = table.num_rows
        if n == 0:
            return
        base = self.rn + 1
        self.rn += n
        columns = list(table.columns)
        empties = [pc.equal(pc.binary_length(c), 0) for c in columns]
        n_empty = [pc.sum(e).as_py() or 0 for e in empties]
        nblank = 0
        blank: Any = None
        if min(n_empty):  # a blank row needs an empty cell in every column
            blank = empties[0]
            for e in empties[1:]:
                blank = pc.and_(blank, e)
            nblank = pc.sum(blank).as_py() or 0
        null = pa.scalar(None, pa.int64())
        if self.row_keys is not None and not self.row_keys.skipped:
            assert row_hashes is not None and len(row_hashes) == n
            hashes: Any = pa.array(row_hashes, pa.int64())
            if nblank:
                hashes = pc.if_else(blank, null, hashes)
            self.row_keys.add_array(hashes)
        for k in self.col_keys:
            if not k.skipped:
                col = columns[k.column]
                hashes = pa.array(list(map(hash, col.to_pylist())), pa.int64())
                if n_empty[k.column]:
                    hashes = pc.if_else(empties[k.column], null, hashes)
                k.add_array(hashes)
        index: Any = None  # position in the batch -> position in the file's chunk
        if nblank:
            for i in pc.indices_nonzero(blank).to_pylist():
                self.rep.add("blank-row", row=base + i)
            self.structural_bad += nblank
            keep = pc.invert(blank)
            index = pc.indices_nonzero(keep)
            columns = [pc.filter(c, keep) for c in columns]
            empties = [pc.filter(e, keep) for e in empties]
            n_empty = [pc.sum(e).as_py() or 0 for e in empties]
            if not len(index):
                return
        rows_of = (
            (lambda idx: [base + i for i in idx])
            if index is None
            else (
                lambda idx: [
                    base + i for i in pc.take(index, pa.array(idx, pa.int64())).to_pylist()
                ]
            )
        )
        for col, arr, eq, ne in zip(self.cols, columns, empties, n_empty, strict=True):
            col.arrow(arr, eq, ne, rows_of)

    def finish(self) -> None:
        rep, header, required, types = self.rep, self.header, self.required, self.types
        rows_total = self.rn - 1
        rep.info["rows"] = rows_total
        rep.info["columns"] = self.width
        fields = []
        cell_errors: list[dict[str, Any]] = []
        cell_bad = 0
        for i, col in enumerate(self.cols):
            t = col.final_type(self.conf)
            fields.append(
                {
                    "name": header[i],
                    "type": t,
                    "required": required[i],
                    "source": "published" if types[i] else "inferred",
                }
            )
            bad = col.nonempty - col.acc[t]
            if bad > 0:
                cell_bad += bad
                rep.counts["type-error"] = rep.counts.get("type-error", 0) + bad
            accepts = TYPE_ACCEPTS[t]
            for c in range(N_CLASSES):
                if c in accepts:
                    continue
                hint, hint_en = HINTS.get((c, t), ("", ""))
                for r, v in col.positions[c]:
                    uk, en = message(
                        "type-error",
                        row=r,
                        label=header[i],
                        value=v,
                        type=TYPE_UK[t],
                        hint=hint,
                        hint_en=hint_en,
                    )
                    en = en.replace(f"type {TYPE_UK[t]}", f"type {t}")
                    cell_errors.append(
                        {
                            "code": "type-error",
                            "severity": "row",
                            "row": r,
                            "column": i + 1,
                            "field": header[i],
                            "message": uk,
                            "message_en": en,
                        }
                    )
            if required[i] and col.empties:
                cell_bad += col.empties
                rep.counts["constraint-error"] = rep.counts.get("constraint-error", 0) + col.empties
                for r in col.empty_pos:
                    uk, en = message("constraint-error", row=r, label=header[i])
                    cell_errors.append(
                        {
                            "code": "constraint-error",
                            "severity": "row",
                            "row": r,
                            "column": i + 1,
                            "field": header[i],
                            "message": uk,
                            "message_en": en,
                        }
                    )
        stores = [self.row_keys] if self.row_keys is not None else []
        for k in stores + self.col_keys:
            label = header[k.column] if k.column is not None else None
            if k.skipped:
                rep.add(
                    "check-skipped",
                    column=None if k.column is None else k.column + 1,
                    field=label,
                    check=k.code if label is None else f"{k.code}: {label}",
                    cap=k.cap,
                )
                continue
            total, pairs = k.duplicates(self.kmax)
            if not total:
                continue
            rep.counts[k.code] = rep.counts.get(k.code, 0) + total
            if severity(k.code) == "row":
                cell_bad += total
            for r, first in pairs:
                uk, en = message(k.code, row=r, first=first, label=label)
                cell_errors.append(
                    {
                        "code": k.code,
                        "severity": severity(k.code),
                        "row": r,
                        "column": None if k.column is None else k.column + 1,
                        "field": label,
                        "message": uk,
                        "message_en": en,
                    }
                )
        cell_errors.sort(key=lambda e: (e["row"], e["column"] or 0))
        room = rep.max_errors - len(rep.errors)
        rep.errors.extend(cell_errors[: max(0, room)])
        rep.errors.sort(key=lambda e: ((e["row"] or 0), (e["column"] or 0)))
        rep.info["fields"] = fields
        # rows with at least one error: exact for structural errors, an upper bound for cell errors
        rep.info["bad_rows"] = min(rows_total, self.structural_bad + cell_bad)
        rep.info["err_rate"] = round(rep.info["bad_rows"] / max(1, rows_total), 6)


CHUNK_ROWS = 4096
_NONSTR_PREFIX = re.compile(r"[-+.0-9tTfFhHтТнН]").match
_FAST: dict[str, Callable[[tuple[str, ...]], bool]] = {}


def _all_match(pattern: str) -> Callable[[tuple[str, ...]], bool]:
    m = re.compile(pattern).match
    return lambda col: all(map(m, col))


def _fast_int(col: tuple[str, ...]) -> bool:
    j = "".join(col)
    return j.isascii() and j.isdigit()


def _fast_date(col: tuple[str, ...]) -> bool:
    if not all(map(_DATE_OR_EMPTY, col)):
        return False
    try:
        for v in set(col):
            if v:
                dt.date.fromisoformat(v)
    except ValueError:
        return False
    return True


_DATE_OR_EMPTY = re.compile(r"(?:\d{4}-\d{2}-\d{2})?\Z").match
_BOOL_OK = _BOOLS | {"", "0", "1"}
_FAST.update(
    {
        "integer": _fast_int,
        "number": _all_match(r"(?:[+-]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)?\Z"),
        "boolean": lambda col: set(col) <= _BOOL_OK,
        "date": _fast_date,
        "anyURL": _all_match(r"(?:https?://[^\s]+)?\Z"),
    }
)
# for each type, the types whose every value it also accepts (integer cells are numbers, ...)
_SUPERSETS = {
    t: [u for u in TYPE_ACCEPTS if TYPE_ACCEPTS[t] <= TYPE_ACCEPTS[u]] for t in TYPE_ACCEPTS
}


class _Column:
    """Per-column counters for one pass: how many cells each type accepts, bounded positions."""

    __slots__ = (
        "label",
        "declared",
        "required",
        "kmax",
        "acc",
        "nonempty",
        "empties",
        "empty_pos",
        "positions",
        "cache",
        "tentative",
        "known",
    )

    def __init__(self, label: str, declared: str | None, required: bool, kmax: int) -> None:
        self.label = label
        self.declared = declared
        self.required = required
        self.kmax = kmax
        self.acc = dict.fromkeys(TYPE_ACCEPTS, 0)
        self.nonempty = 0
        self.empties = 0
        self.empty_pos: list[int] = []
        self.positions: list[list[tuple[int, str]]] = [[] for _ in range(N_CLASSES)]
        self.cache: dict[str, int] = {}
        self.tentative: str | None = declared
        self.known: tuple[str, Any] | None = None  # (type, Arrow array of values known good)

    def final_type(self, conf: float) -> str:
        if self.declared:
            return self.declared
        if not self.nonempty:
            return "string"
        for cand in INFER_ORDER:
            if self.acc[cand] >= conf * self.nonempty:
                return cand
        return "string"

    def column(self, col: tuple[str, ...], rows: list[int]) -> None:
        empties = col.count("")
        if empties:
            self.empties += empties
            if len(self.empty_pos) < self.kmax:
                for v, r in zip(col, rows, strict=False):
                    if not v:
                        self.empty_pos.append(r)
                        if len(self.empty_pos) >= self.kmax:
                            break
        nonempty = len(col) - empties
        if not nonempty:
            return
        self.nonempty += nonempty
        t = self.tentative
        if t is not None and t != "string":
            fast = _FAST.get(t)
            if fast is not None and fast(col):
                for u in _SUPERSETS[t]:
                    self.acc[u] += nonempty
                return
        if t == "string":
            # only cells that could be something else than text need a closer look
            cand = [(v, r) for v, r in zip(col, rows, strict=False) if v and _NONSTR_PREFIX(v)]
            self.acc["string"] += nonempty
            self._classify(cand, count_string=False)
            # the rest is text: keep a few positions in case the column turns out not to be
            pos = self.positions[STR]
            if len(pos) < self.kmax:
                for v, r in zip(col, rows, strict=False):
                    if v and not _NONSTR_PREFIX(v):
                        pos.append((r, v[:60]))
                        if len(pos) >= self.kmax:
                            break
        else:
            self.acc["string"] += nonempty
            self._classify(
                [(v, r) for v, r in zip(col, rows, strict=False) if v], count_string=False
            )
        if self.declared is None:
            self.tentative = self.final_type(0.9)

    def cells(self, values: list[str], rows: list[int]) -> None:
        self.column(tuple(values), rows)

    def arrow(
        self, arr: Any, eq: Any, empties: int, rows_of: Callable[[list[int]], list[int]]
    ) -> None:
        """The same counting as ``column`` on an Arrow string array (``eq``: its empty cells):
        vectorised checks of the tentative type; only the cells that fail it (or, for a text
        column, could be something else) are classified one by one in Python."""
        import pyarrow.compute as pc

        n = len(arr)
        if empties:
            self.empties += empties
            room = self.kmax - len(self.empty_pos)
            if room > 0:
                self.empty_pos.extend(rows_of(pc.indices_nonzero(eq).slice(0, room).to_pylist()))
        nonempty = n - empties
        if not nonempty:
            return
        self.nonempty += nonempty
        t = self.tentative or _arrow_guess(arr)
        if t != "string":
            ok = self._arrow_ok(t, arr, eq, n)
            nok = pc.sum(ok).as_py() or 0
            for u in _SUPERSETS[t]:
                self.acc[u] += nok
            if nok < nonempty:
                self.acc["string"] += nonempty - nok
                self._arrow_classify(arr, pc.invert(pc.or_(ok, eq)), rows_of)
        else:
            self.acc["string"] += nonempty
            # the cells that might be numbers, dates, booleans, URLs: by their first character,
            # exactly as the csv-module path (``_NONSTR_PREFIX``)
            cand = pc.is_in(pc.utf8_slice_codeunits(arr, 0, 1), value_set=_cand_first())
            if pc.any(cand).as_py():
                self._arrow_classify(arr, cand, rows_of)
            # the rest is text: keep a few positions in case the column turns out not to be
            pos = self.positions[STR]
            room = self.kmax - len(pos)
            if room > 0:
                text = pc.invert(pc.or_(cand, eq))
                idx = pc.indices_nonzero(text).slice(0, room)
                values = pc.take(arr, idx).to_pylist()
                pos.extend(
                    (r, v[:60]) for r, v in zip(rows_of(idx.to_pylist()), values, strict=True)
                )
        if self.declared is None:
            self.tentative = self.final_type(0.9)

    def _arrow_ok(self, t: str, arr: Any, eq: Any, n: int) -> Any:
        """Boolean array: the cell is non-empty and surely of type ``t`` (what ``classify``
        would accept). It may leave out cells of type ``t``: those are classified in Python."""
        import pyarrow as pa
        import pyarrow.compute as pc

        if t == "integer" or t == "number":
            # ASCII digits (with at most one point for a number): one cheap kernel, no regex
            s = arr if t == "integer" else pc.replace_substring(arr, ".", "", max_replacements=1)
            ok = pc.ascii_is_decimal(s)
            if (pc.sum(ok).as_py() or 0) >= n - n // 16:
                return ok
            # many signs/exponents: the full pattern, so that few cells go to Python
            return pc.and_(pc.match_substring_regex(arr, _ARROW_PATTERNS[t]), pc.invert(eq))
        if t == "boolean":
            return pc.is_in(arr, value_set=_bool_values())
        if t == "anyURL":
            http = pc.or_(pc.starts_with(arr, "https://"), pc.starts_with(arr, "http://"))
            return pc.and_(http, pc.invert(pc.match_substring(arr, " ")))
        # date, datetime, time: usually few distinct values, each checked once; the values
        # already known to be good (``known``, at most 65536) are left out in Arrow
        uniq = pc.unique(arr)
        if len(uniq) > max(256, n // 4):
            ok = pc.and_(pc.match_substring_regex(arr, _ARROW_PATTERNS[t]), pc.invert(eq))
            uniq = pc.unique(pc.filter(arr, ok))
        else:
            ok = pc.invert(eq)
        if self.known is not None and self.known[0] == t:
            uniq = pc.filter(uniq, pc.invert(pc.is_in(uniq, value_set=self.known[1])))
        accepts = TYPE_ACCEPTS[t]
        bad = []
        good = []
        for v in uniq.to_pylist():
            if v:
                (good if classify(v) in accepts else bad).append(v)
        if good:
            known = [] if self.known is None or self.known[0] != t else [self.known[1]]
            if sum(map(len, known)) + len(good) <= 65536:
                self.known = (t, pa.concat_arrays([*known, pa.array(good, pa.string())]))
        if bad:
            ok = pc.and_(ok, pc.invert(pc.is_in(arr, value_set=pa.array(bad, pa.string()))))
        return ok

    def _arrow_classify(
        self, arr: Any, mask: Any, rows_of: Callable[[list[int]], list[int]]
    ) -> None:
        import pyarrow.compute as pc

        idx = pc.indices_nonzero(mask)
        values = pc.take(arr, idx).to_pylist()
        self._classify(list(zip(values, rows_of(idx.to_pylist()), strict=True)), count_string=False)

    def _classify(self, cells: list[tuple[str, int]], count_string: bool) -> None:
        cache = self.cache
        kmax = self.kmax
        positions = self.positions
        per_class = [0] * N_CLASSES
        for v, r in cells:
            c = cache.get(v)
            if c is None:
                c = classify(v)
                if len(cache) < 4096:
                    cache[v] = c
            per_class[c] += 1
            pos = positions[c]
            if len(pos) < kmax:
                pos.append((r, v[:60]))
        for t, accepts in TYPE_ACCEPTS.items():
            if t == "string":
                continue
            self.acc[t] += sum(per_class[c] for c in accepts)


# ---------------------------------------------------------------- the Arrow fast path
# RE2 patterns (Arrow) for columns where the cheap kernels leave too many cells to Python
_ARROW_PATTERNS = {
    "integer": r"^[+-]?[0-9]+$",
    "number": r"^[+-]?(?:[0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)(?:[eE][+-]?[0-9]+)?$",
    "date": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
    "datetime": (
        r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}"
        r"(?::[0-9]{2}(?:\.[0-9]+)?)?(?:Z|[+-][0-9]{2}:?[0-9]{2})?$"
    ),
    "time": r"^[0-9]{2}:[0-9]{2}(?::[0-9]{2})?$",
}
_ARROW_SETS: dict[str, Any] = {}


def _cand_first() -> Any:
    """The first characters of cells a text column must look at (as ``_NONSTR_PREFIX``)."""
    if "cand" not in _ARROW_SETS:
        import pyarrow as pa

        _ARROW_SETS["cand"] = pa.array(list("-+.0123456789tTfFhHтТнН"), pa.string())
    return _ARROW_SETS["cand"]


def _bool_values() -> Any:
    if "bool" not in _ARROW_SETS:
        import pyarrow as pa

        _ARROW_SETS["bool"] = pa.array(sorted(_BOOLS | {"0", "1"}), pa.string())
    return _ARROW_SETS["bool"]


def _arrow_guess(arr: Any) -> str:
    """A column's first batch: the narrowest type that 90 % of its first non-empty cells satisfy
    (classified in Python, as the csv-module path does with its first chunk)."""
    per_class = [0] * N_CLASSES
    for v in arr.slice(0, 1024).to_pylist():
        if v:
            per_class[classify(v)] += 1
    total = sum(per_class)
    if not total:
        return "string"
    for t in INFER_ORDER:
        if sum(per_class[c] for c in TYPE_ACCEPTS[t]) >= 0.9 * total:
            return t
    return "string"


ARROW_ENCODINGS = ("utf-8", "utf-8-sig", "cp1251")


def _row_end(data: bytes, nl: bytes, last: bool) -> int:
    """The offset just after the last (``last``) or first line break of ``data`` that is outside
    quotes (an even number of ``"`` before it), or -1."""
    if last:
        pos = len(data)
        quotes = data.count(b'"')
        for _ in range(256):
            i = data.rfind(nl, 0, pos)
            if i < 0:
                return -1
            quotes -= data.count(b'"', i, pos)
            if quotes % 2 == 0:
                return i + 1
            pos = i
        return -1
    pos, quotes = 0, 0
    while True:
        i = data.find(nl, pos)
        if i < 0:
            return -1
        quotes += data.count(b'"', pos, i)
        if quotes % 2 == 0:
            return i + 1
        pos = i + 1


class KeyedRows:
    """``csv.reader`` over a text stream that also gives the hash of each row's raw text
    (``key``, for duplicate-row): the lines the reader consumed for the row, without the final
    line break, as UTF-8 bytes — the same bytes the Arrow path hashes."""

    def __init__(self, text: Any, delim: str) -> None:
        self.lines: list[str] = []
        self.key = 0
        self.reader = csv.reader(
            self._feed(text), delimiter=delim, quotechar='"', doublequote=True, strict=False
        )

    def _feed(self, text: Any) -> Any:
        for line in text:
            self.lines.append(line)
            yield line

    def __iter__(self) -> KeyedRows:
        return self

    def __next__(self) -> list[str]:
        row = next(self.reader)
        lines = self.lines
        raw = lines[0] if len(lines) == 1 else "".join(lines)
        lines.clear()
        self.key = hash(raw.rstrip("\r\n").encode("utf-8"))
        return row


def _simple_keys(body: bytes, nl: bytes) -> list[int] | None:
    """The raw-text hash of each line of ``body`` when its rows are plain lines — what
    ``_line_keys`` gives when the count matches Arrow's rows; None for odd line breaks."""
    other = b"\r" if nl == b"\n" else b"\n"
    if other in body and (nl != b"\n" or body.count(b"\r") != body.count(b"\r\n")):
        return None
    lines = body.split(nl)
    if lines and not lines[-1]:
        lines.pop()
    if b"\r" in body:
        lines = list(map(bytes.rstrip, lines, repeat(b"\r\n", len(lines))))
    return list(map(hash, lines))


def _line_keys(body: bytes, nl: bytes, n: int, delim: str) -> list[int]:
    """The raw-text hash of each of the ``n`` rows Arrow read from ``body`` (UTF-8, whole rows).
    Fast when every row is one line; rows with quoted line breaks are joined by quote parity;
    anything stranger (bare CR inside LF rows) is re-read with the csv module."""
    keys = _simple_keys(body, nl)
    if keys is not None and len(keys) == n:
        return keys
    if keys is not None:  # plain line breaks, but some rows span lines (quoted line breaks)
        lines = body.split(nl)
        if lines and not lines[-1]:
            lines.pop()
        merged: list[bytes] = []
        cur: bytes | None = None
        odd = 0
        for ln in lines:
            q = ln.count(b'"') & 1
            if cur is None:
                cur, odd = ln, q
            else:
                cur, odd = cur + nl + ln, odd ^ q
            if not odd:
                merged.append(cur)
                cur = None
        if cur is not None:
            merged.append(cur)
        if len(merged) == n:
            if b"\r" in body:
                merged = list(map(bytes.rstrip, merged, repeat(b"\r\n", len(merged))))
            return list(map(hash, merged))
    rows = KeyedRows(io.StringIO(body.decode("utf-8"), newline=""), delim)
    keys = [rows.key for _ in rows]
    if len(keys) != n:  # pragma: no cover - Arrow and the csv module disagree on the rows
        raise ValueError("row count mismatch")
    return keys


def _tokenize(
    body: bytes, opts: tuple[Any, Any, Any], bad_rows: list[Any], strict: bool = True
) -> Any:
    """Arrow's C++ tokenizer on whole rows, every column a string; None if Arrow refuses the
    bytes (not UTF-8) or, when ``strict``, any row (wrong width: left in ``bad_rows``)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    bad_rows.clear()
    if len(body) >= opts[0].block_size:
        opts[0].block_size = len(body) + 1
    try:
        tbl = pacsv.read_csv(
            pa.BufferReader(body),
            read_options=opts[0],
            parse_options=opts[1],
            convert_options=opts[2],
        )
    except pa.ArrowInvalid:
        return None
    return None if bad_rows and strict else tbl


def _arrow_options(width: int, delim: str, block: int) -> tuple[tuple[Any, Any, Any], list[Any]]:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    bad_rows: list[Any] = []

    def on_invalid(row: Any) -> str:
        bad_rows.append(row)
        return "skip"

    names = [f"c{i}" for i in range(width)]
    opts = (
        pacsv.ReadOptions(column_names=names, use_threads=False, block_size=block * 2),
        pacsv.ParseOptions(
            delimiter=delim,
            quote_char='"',
            double_quote=True,
            newlines_in_values=True,
            ignore_empty_lines=False,
            invalid_row_handler=on_invalid,
        ),
        pacsv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()),
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
            null_values=[],
        ),
    )
    return opts, bad_rows


def _fallback(
    table: Table,
    chunk: bytes,
    opts: tuple[Any, Any, Any],
    bad_rows: list[Any],
    encoding: str,
    delim: str,
    nl: bytes,
) -> bool:
    """A block Arrow refused (a row of the wrong width, bytes that do not decode): halved until
    the pieces Arrow refuses are at most ``FALLBACK_PIECE`` bytes; those are read with the csv
    module, which places their errors exactly, the rest goes through Arrow in one batch.
    False: the table cannot be read on (reported)."""
    import pyarrow as pa

    keys = table.row_keys is not None
    good: list[Any] = []
    good_keys: list[int] = []

    def flush() -> None:
        if good:
            table.arrow_rows(
                good[0] if len(good) == 1 else pa.concat_tables(good),
                good_keys if keys else None,
            )
            good.clear()
            good_keys.clear()

    def arrow(piece: bytes) -> bool:
        try:
            body = piece if encoding != "cp1251" else piece.decode("cp1251").encode("utf-8")
        except UnicodeDecodeError:
            return False
        tbl = _tokenize(body, opts, bad_rows)
        if tbl is None:
            return False
        good.append(tbl)
        if keys:
            good_keys.extend(_line_keys(body, nl, tbl.num_rows, delim))
        return True

    def run(piece: bytes) -> bool:
        if len(piece) > FALLBACK_PIECE:
            mid = _row_end(piece[: len(piece) // 2], nl, last=True)
            if 0 < mid < len(piece):
                return all(arrow(part) or run(part) for part in (piece[:mid], piece[mid:]))
        flush()
        text = io.TextIOWrapper(io.BytesIO(piece), encoding=encoding, errors="strict", newline="")
        return table.py_rows(KeyedRows(text, delim))

    ok = run(chunk)
    if ok:
        flush()
    return ok


FALLBACK_PIECE = 16 << 10


def arrow_text(
    buf: Any,
    rep: Report,
    encoding: str,
    delim: str,
    schema_tables: list[dict[str, Any]] | None,
    block: int | None = None,
) -> None:
    """CSV/TSV through Arrow's C++ tokenizer in blocks of whole rows (cut at a line break outside
    quotes). A reader thread reads (and so hashes) the stream, cuts and tokenizes the blocks —
    all of which release the GIL — and hashes the rows for duplicate-row, while this thread
    checks batches of blocks (``ARROW_BATCH`` bytes: few, large ``pyarrow.compute`` calls).
    A block Arrow cannot take as is is re-read here (``_fallback``)."""
    import pyarrow as pa

    block = block or ARROW_BLOCK
    nl = b"\n"
    # the header row, read here
    first = bytearray()
    eof = False
    while True:
        data = buf.read(block)
        if not data:
            eof = True
            break
        first += data
        if b"\n" not in first and b"\r" in first[:-1]:
            nl = b"\r"  # classic Mac line breaks
        if _row_end(bytes(first), nl, last=False) >= 0:
            break
    piece = bytes(first)
    del first
    if encoding == "utf-8-sig" and piece.startswith(codecs.BOM_UTF8):
        piece = piece[3:]
    h = _row_end(piece, nl, last=False)
    head, rest = (piece, b"") if h < 0 else (piece[:h], piece[h:])
    try:
        header = next(
            csv.reader(
                io.StringIO(head.decode(encoding), newline=""),
                delimiter=delim,
                quotechar='"',
                doublequote=True,
                strict=False,
            ),
            None,
        )
    except UnicodeDecodeError:
        rep.add("encoding-error", row=1, encoding=encoding)
        return
    if header is None:
        rep.add("source-error")
        return
    table = Table.start(header, rep, schema_tables)
    if table is None:
        return
    want_keys = table.row_keys is not None

    items: queue.Queue[Any] = queue.Queue(maxsize=ARROW_QUEUE)
    raw: queue.Queue[Any] = queue.Queue(maxsize=ARROW_QUEUE)
    stop = threading.Event()

    def put(q: queue.Queue[Any], item: Any) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def cut() -> None:
        """Stage 1: read (and so hash) the stream and cut it into blocks of whole rows."""
        carry, done = rest, eof
        try:
            while not stop.is_set():
                data = b"" if done else buf.read(block)
                piece = carry + data if carry else data
                if data:
                    end = _row_end(piece, nl, last=True)
                    if end < 0:
                        carry = piece
                        continue
                    chunk, carry = piece[:end], piece[end:]
                else:
                    chunk, carry = piece, b""
                # the row hashes of a UTF-8 block are made here, beside reading, when the
                # rows are plain lines (checked against Arrow's row count in the next stage)
                pre = _simple_keys(chunk, nl) if want_keys and encoding != "cp1251" else None
                if chunk and not put(raw, (chunk, pre)):
                    return
                if not data:
                    break
        except BaseException as exc:  # noqa: BLE001 - re-raised in the checking thread
            put(raw, exc)
            return
        put(raw, None)

    def produce() -> None:
        """Stage 2: tokenize each block and hash its rows for duplicate-row."""
        opts, bad_rows = _arrow_options(table.width, delim, block)
        try:
            while not stop.is_set():
                try:
                    got = raw.get(timeout=0.05)
                except queue.Empty:
                    continue
                if got is None or isinstance(got, BaseException):
                    put(items, got)
                    return
                chunk, pre = got
                try:
                    body = chunk if encoding != "cp1251" else chunk.decode("cp1251").encode()
                except UnicodeDecodeError:
                    body = None
                tbl = None if body is None else _tokenize(body, opts, bad_rows, False)
                keys = None
                # rows of the wrong width: (1-based row of the block, its text)
                bad = [(r.number, r.text) for r in bad_rows]
                if tbl is not None and want_keys:
                    n = tbl.num_rows + len(bad)
                    keys = pre if pre is not None and len(pre) == n else None
                    if keys is None:
                        keys = _line_keys(body, nl, n, delim)  # type: ignore[arg-type]
                    for num, _ in reversed(bad):
                        del keys[num - 1]
                if not put(items, (chunk, tbl, keys, bad)):
                    return
        except BaseException as exc:  # noqa: BLE001 - re-raised in the checking thread
            put(items, exc)

    # three stages on their own threads: reading/hashing/cutting, tokenizing, checking (here);
    # the first two mostly run outside the GIL
    stages = [
        threading.Thread(target=cut, name="quality-csv-reader", daemon=True),
        threading.Thread(target=produce, name="quality-csv-tokenizer", daemon=True),
    ]
    for t in stages:
        t.start()
    batch: list[Any] = []
    batch_keys: list[int] = []
    batch_bytes = 0
    opts, bad_rows = _arrow_options(table.width, delim, FALLBACK_PIECE)

    def flush() -> None:
        nonlocal batch_bytes
        if batch:
            tbl = batch[0] if len(batch) == 1 else pa.concat_tables(batch)
            table.arrow_rows(tbl, batch_keys if want_keys else None)
            batch.clear()
            batch_keys.clear()
            batch_bytes = 0

    try:
        while True:
            item = items.get()
            if item is None:
                break
            if isinstance(item, BaseException):
                raise item
            chunk, tbl, keys, bad = item
            if tbl is None:  # bytes Arrow cannot decode
                flush()
                if not _fallback(table, chunk, opts, bad_rows, encoding, delim, nl):
                    return
                continue
            done = 0  # rows of ``tbl`` already taken
            for i, (num, text) in enumerate(bad):
                # a row of the wrong width: the rows before it, then it alone via the csv module
                upto = num - 1 - i
                if upto > done:
                    batch.append(tbl.slice(done, upto - done))
                    if keys:
                        batch_keys.extend(keys[done:upto])
                flush()
                done = upto
                if not table.py_rows(KeyedRows(io.StringIO(text, newline=""), delim)):
                    return
            if done < tbl.num_rows:
                batch.append(tbl.slice(done) if done else tbl)
                if keys:
                    batch_keys.extend(keys[done:] if done else keys)
            batch_bytes += len(chunk)
            if batch_bytes >= ARROW_BATCH:
                flush()
        flush()
    finally:
        stop.set()
        for t in stages:
            while t.is_alive():
                for q in (items, raw):
                    with contextlib.suppress(queue.Empty):
                        q.get_nowait()
                t.join(timeout=0.05)
    table.finish()


def _flush(chunk: list[list[str]], rows: list[int], cols: list[_Column]) -> None:
    for col, values in zip(cols, zip(*chunk, strict=False), strict=False):
        col.column(values, rows)


def _text_rows(buf: io.BufferedReader, rep: Report, fmt: str) -> None:
    cfg = methodology()["validation"]
    sample = buf.peek(int(cfg["sample_bytes"]))[: int(cfg["sample_bytes"])]
    encoding = detect_encoding(sample, full=len(sample) < int(cfg["sample_bytes"]))
    rep.info["encoding"] = encoding
    if encoding not in ("utf-8", "utf-8-sig"):
        rep.add("encoding-warning", encoding=encoding)
    try:
        text_sample = sample.decode(encoding, errors="ignore")
    except LookupError:
        rep.add("encoding-error", row=1, encoding=encoding)
        return
    delim = "\t" if fmt == "TSV" else sniff_delimiter(text_sample)
    rep.info["delimiter"] = delim
    if _use_arrow(encoding):
        return "arrow"  # type: ignore[return-value]
    text = io.TextIOWrapper(buf, encoding=encoding, errors="strict", newline="")
    reader = csv.reader(text, delimiter=delim, quotechar='"', doublequote=True, strict=False)
    return reader  # type: ignore[return-value]


def _use_arrow(encoding: str | None) -> bool:
    if encoding not in ARROW_ENCODINGS or not ARROW_ENABLED:
        return False
    global _arrow_pool_set
    try:
        import pyarrow as pa
        import pyarrow.csv  # noqa: F401
    except ImportError:  # pragma: no cover - pyarrow is a dependency; the csv module still works
        return False
    if not _arrow_pool_set:
        # the system allocator gives memory back between blocks (mimalloc kept ~10-25 MB more)
        pa.set_memory_pool(pa.system_memory_pool())
        _arrow_pool_set = True
    return True


ARROW_ENABLED = True
# bytes of whole rows tokenized at a time (512 KiB: as fast as 1 MiB, ~20 MB less peak RSS),
# checked at a time (few, large pyarrow.compute calls); at most ARROW_QUEUE blocks wait between
ARROW_BLOCK = 512 << 10
ARROW_BATCH = 4 << 20
ARROW_QUEUE = 2
_arrow_pool_set = False


def _cell_text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    if isinstance(v, dt.datetime):
        return v.date().isoformat() if (v.hour, v.minute, v.second) == (0, 0, 0) else v.isoformat()
    if isinstance(v, dt.date | dt.time):
        return v.isoformat()
    if isinstance(v, dt.timedelta):
        return str(v)
    return str(v).strip()


def _zip_bomb(path: Path, cfg: dict[str, Any]) -> str | None:
    """A zip-based workbook (XLSX/ODS) whose members decompress beyond the limits, else None."""
    import zipfile

    if not zipfile.is_zipfile(path):
        return None
    with zipfile.ZipFile(path) as z:
        total = sum(i.file_size for i in z.infolist())
    cap = int(cfg.get("max_spreadsheet_uncompressed_bytes", 512 << 20))
    ratio = total / max(1, path.stat().st_size)
    if total > cap or (total > 10 << 20 and ratio > int(cfg.get("max_zip_ratio", 100))):
        return f"workbook decompresses to {total} bytes (ratio {ratio:.0f}): refused as a zip bomb"
    return None


def spreadsheet_to_csv(path: Path, out: Path) -> dict[str, Any]:
    """Convert the first sheet of an XLSX/XLS/ODS workbook into a UTF-8 CSV (the derived CSV)."""
    from python_calamine import CalamineWorkbook

    wb = CalamineWorkbook.from_path(str(path))
    names = wb.sheet_names
    sheet = wb.get_sheet_by_index(0)
    rows = sheet.to_python(skip_empty_area=False)
    with out.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        for r in rows:
            cells = [_cell_text(v) for v in r]
            while cells and cells[-1] == "":
                cells.pop()
            w.writerow(cells)
    return {"sheets": names, "sheet": names[0] if names else None}


def _check_geojson(doc: Any) -> str | None:
    types = {
        "FeatureCollection",
        "Feature",
        "Point",
        "MultiPoint",
        "LineString",
        "MultiLineString",
        "Polygon",
        "MultiPolygon",
        "GeometryCollection",
    }
    if not isinstance(doc, dict) or doc.get("type") not in types:
        return "the top-level object has no valid GeoJSON 'type'"
    if doc["type"] == "FeatureCollection":
        feats = doc.get("features")
        if not isinstance(feats, list):
            return "'features' must be an array"
        for i, f in enumerate(feats):
            if not isinstance(f, dict) or f.get("type") != "Feature" or "geometry" not in f:
                return f"feature {i} is not a Feature with a geometry"
            g = f.get("geometry")
            if g is not None and (not isinstance(g, dict) or g.get("type") not in types):
                return f"feature {i} has an invalid geometry"
    return None


def validate_file(
    src: Any,
    *,
    name: str | None = None,
    declared_format: str | None = None,
    declared_size: int | None = None,
    declared_sha256: str | None = None,
    schema_tables: list[dict[str, Any]] | None = None,
    derived_csv: Path | None = None,
) -> dict[str, Any]:
    """Validate a readable binary stream. Returns a JSON-able report."""
    cfg = methodology()["validation"]
    rep = Report(int(cfg["max_errors"]))
    hasher = HashingReader(src)
    buf = io.BufferedReader(hasher, buffer_size=1 << 20)
    sample = buf.peek(int(cfg["sample_bytes"]))[: int(cfg["sample_bytes"])]
    fmt = sniff_format(sample, declared_format, name)
    rep.info["declared_format"] = (declared_format or "").upper() or None
    rep.info["detected_format"] = fmt
    tabular = fmt in ("CSV", "TSV", "XLSX", "XLS", "ODS")
    rep.info["tabular"] = tabular
    if fmt == "EMPTY":
        rep.add("source-error")
    elif fmt in ("CSV", "TSV"):
        if (declared_format or "").upper() in ("XLSX", "XLS", "ODS"):
            rep.info["note"] = "declared as a spreadsheet, but the bytes are delimited text"
        reader = _text_rows(buf, rep, fmt)
        if reader == "arrow":
            arrow_text(buf, rep, rep.info["encoding"], rep.info["delimiter"], schema_tables)
        elif reader is not None:
            validate_rows(iter(reader), rep, schema_tables=schema_tables)
    elif fmt in ("XLSX", "XLS", "ODS"):
        limit = int(cfg["max_spreadsheet_bytes"])
        with tempfile.TemporaryDirectory() as tmp:
            book = Path(tmp) / f"book.{fmt.lower()}"
            with book.open("wb") as f:
                while chunk := buf.read(1 << 20):
                    f.write(chunk)
                    if f.tell() > limit:
                        break
            if book.stat().st_size > limit:
                rep.add("format-error", fmt=fmt, detail=f"workbook larger than {limit} bytes")
            elif bomb := _zip_bomb(book, cfg):  # hardening: the sheet parser holds all cells
                rep.add("format-error", fmt=fmt, detail=bomb)
            else:
                out = derived_csv or Path(tmp) / "derived.csv"
                try:
                    rep.info.update(spreadsheet_to_csv(book, out))
                except Exception as exc:  # any parser failure is a verdict, not a crash
                    rep.add(
                        "format-error", fmt=fmt, detail=str(exc)[:200] or exc.__class__.__name__
                    )
                else:
                    rep.info["encoding"] = "utf-8"
                    rep.info["derived_csv"] = derived_csv is not None
                    with out.open("r", encoding="utf-8", newline="") as f:
                        validate_rows(iter(csv.reader(f)), rep, schema_tables=schema_tables)
    elif fmt in ("JSON", "GEOJSON"):
        limit = int(cfg["max_json_bytes"])
        data = buf.read(limit + 1)
        if len(data) > limit:
            rep.info["parse_check"] = "skipped: larger than the JSON parse limit"
            while buf.read(1 << 20):
                pass
        else:
            try:
                doc = json.loads(data.decode("utf-8-sig"))
            except UnicodeDecodeError:
                rep.add("encoding-error", row=None, encoding="utf-8")
            except json.JSONDecodeError as exc:
                rep.add("format-error", row=exc.lineno, column=exc.colno, fmt=fmt, detail=exc.msg)
            else:
                rep.info["parse_check"] = "ok"
                if fmt == "GEOJSON":
                    problem = _check_geojson(doc)
                    if problem:
                        rep.add("format-error", fmt="GeoJSON", detail=problem)
            del data
    elif fmt == "XML":
        from xml.etree.ElementTree import ParseError

        from defusedxml import DefusedXmlException
        from defusedxml.ElementTree import iterparse

        max_depth = int(cfg["xml_max_depth"])
        depth = 0
        try:
            for event, elem in iterparse(
                buf,
                events=("start", "end"),
                forbid_dtd=False,
                forbid_entities=True,
                forbid_external=True,
            ):
                if event == "start":
                    depth += 1
                    if depth > max_depth:
                        raise ValueError(f"nesting deeper than {max_depth}")
                else:
                    depth -= 1
                    elem.clear()
            rep.info["parse_check"] = "ok"
        except ParseError as exc:
            line, col = getattr(exc, "position", (None, None))
            rep.add("format-error", row=line, column=col, fmt="XML", detail=str(exc)[:200])
        except DefusedXmlException as exc:
            rep.add(
                "format-error", fmt="XML", detail=f"forbidden construct: {exc.__class__.__name__}"
            )
        except ValueError as exc:
            rep.add("format-error", fmt="XML", detail=str(exc)[:200])
    elif fmt == "HTML":
        # the resource's format, else the file name's extension: the file may be validated
        # before the catalog tells us which resource uses it
        ext = name.rsplit(".", 1)[-1] if name and "." in name else ""
        claim = (declared_format or ext or "").upper()
        if claim in ("CSV", "TSV", "TXT", "XLSX", "XLS", "ODS", "JSON", "XML", "GEOJSON"):
            rep.add("format-error", fmt=claim, detail="the file is an HTML page, not data")
    # drain the rest so size and hash cover the whole object
    try:
        while buf.read(1 << 20):
            pass
    except Exception:  # noqa: BLE001 - a broken stream is reported below as a byte-count error
        pass
    rep.info["bytes_read"] = hasher.count
    rep.info["sha256"] = hasher.sha.hexdigest()
    if declared_size is not None and declared_size != hasher.count:
        rep.add("byte-count", actual=hasher.count, declared=declared_size)
    elif declared_sha256 and declared_sha256.lower() != rep.info["sha256"]:
        rep.add("hash-count")
    return finish(rep)


def finish(rep: Report) -> dict[str, Any]:
    info = rep.info
    return {
        **info,
        "fatal": rep.fatal,
        "valid": not rep.counts or all(severity(c) == "warning" for c in rep.counts),
        "error_count": sum(n for c, n in rep.counts.items() if severity(c) != "warning"),
        "error_counts": dict(sorted(rep.counts.items())),
        "errors": rep.errors,
        "errors_truncated": sum(rep.counts.values()) > len(rep.errors),
    }


def validate_path(path: str | Path, **kw: Any) -> dict[str, Any]:
    with open(path, "rb") as f:
        return validate_file(f, name=str(path), **kw)


def open_text(path: str | Path) -> IO[str]:  # pragma: no cover - convenience for scripts
    return open(path, encoding="utf-8", newline="")
