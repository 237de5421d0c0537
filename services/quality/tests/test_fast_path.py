"""The Arrow fast path of the CSV validator against the csv-module path: the same file must give
the same report (errors with row and column, counts, inferred types), including the blocks Arrow
refuses (rows of the wrong width, bad bytes) that are re-read with the csv module."""

from __future__ import annotations

import io
import random
from typing import Any

import pytest

from quality import validate


def run(
    data: bytes, *, arrow: bool, block: int, monkeypatch: pytest.MonkeyPatch, name: str = "t.csv"
) -> dict[str, Any]:
    monkeypatch.setattr(validate, "ARROW_ENABLED", arrow)
    monkeypatch.setattr(validate, "ARROW_BLOCK", block)
    return validate.validate_file(
        io.BytesIO(data), name=name, declared_format="CSV", declared_size=len(data)
    )


def comparable(rep: dict[str, Any], *, rows_of_encoding: bool = True) -> dict[str, Any]:
    errs = [
        (e["code"], e["row"], e["column"], e["message"])
        for e in rep["errors"]
        if rows_of_encoding or e["code"] != "encoding-error"
    ]
    return {
        "errors": errs,
        "counts": rep["error_counts"],
        "rows": rep.get("rows"),
        "fields": rep.get("fields"),
        "encoding": rep.get("encoding"),
        "delimiter": rep.get("delimiter"),
        "bad_rows": rep.get("bad_rows"),
    }


def messy_csv(rows: int, seed: int, sep: str = ",") -> str:
    rnd = random.Random(seed)
    lines = [sep.join(["№", "Назва", "Кількість", '"Сума, грн"', "Дата", "Активний", "Посилання"])]
    prev: list[str] = []
    for i in range(rows):
        cells = [
            str(i + 1),
            rnd.choice(["Обʼєкт", "Пʼятихатки", 'Ліцей ""Логос""', "Бульвар"]),
            str(rnd.randint(0, 999)),
            f"{rnd.randint(0, 9999)}.{rnd.randint(0, 99):02d}",
            f"2024-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}",
            rnd.choice(["true", "false"]),
            f"https://data.zp.gov.ua/o/{i}",
        ]
        k = rnd.random()
        if k < 0.01:
            cells[2] = rnd.choice(["багато", "12,5", "-", "н/д"])
        elif k < 0.02:
            cells[4] = rnd.choice(["31.12.2024", "2024-02-30", "вчора"])
        elif k < 0.025:
            cells = cells[:4]
        elif k < 0.03:
            cells.append("зайве")
        elif k < 0.035:
            cells = [""] * len(cells)
        elif k < 0.04:
            lines.append("")
        elif k < 0.05:
            cells[1] = f'"Багаторядкова\nназва{sep} з роздільником"'
        elif k < 0.06:
            cells[5] = ""
        elif k < 0.07 and prev:
            cells = list(prev)  # an exact duplicate of the row before (duplicate-row)
        if cells and cells[1].startswith("Ліцей"):
            cells[1] = f'"{cells[1]}"'
        prev = cells
        lines.append(sep.join(cells))
    return "\r\n".join(lines) + "\r\n"


@pytest.mark.parametrize(
    ("seed", "encoding", "sep", "block"),
    [
        (1, "utf-8", ",", 4096),
        (2, "utf-8-sig", ";", 1000),
        (3, "cp1251", ";", 777),
        (4, "utf-8", "\t", 1 << 20),
        (5, "utf-8", ",", 200),
    ],
)
def test_arrow_and_csv_module_agree(
    seed: int, encoding: str, sep: str, block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = messy_csv(3000, seed, sep)
    if encoding == "cp1251":
        text = text.replace("ʼ", "'")
    data = text.encode(encoding)
    slow = comparable(run(data, arrow=False, block=block, monkeypatch=monkeypatch))
    fast = comparable(run(data, arrow=True, block=block, monkeypatch=monkeypatch))
    assert fast == slow
    # the file really has every kind of error, so the comparison means something
    kinds = {"type-error", "missing-cell", "extra-cell", "blank-row", "duplicate-row"}
    assert kinds <= set(fast["counts"]), fast["counts"]
    assert fast["rows"] > 3000
    assert [f["type"] for f in fast["fields"]] == [
        "integer",
        "string",
        "integer",
        "number",
        "date",
        "boolean",
        "anyURL",
    ]


def test_bad_utf8_in_a_later_block_is_an_encoding_error(monkeypatch: pytest.MonkeyPatch) -> None:
    good = messy_csv(2000, 9).encode()  # the bad bytes after the 64 KiB encoding sample
    data = (
        good + "2001,Обʼєкт,1,2.00,2024-01-01,true,https://x/\r\n".encode()[:-12] + b"\xff\xfe\r\n"
    )
    fast = run(data, arrow=True, block=2048, monkeypatch=monkeypatch)
    slow = run(data, arrow=False, block=2048, monkeypatch=monkeypatch)
    assert comparable(fast, rows_of_encoding=False) | {
        "rows": None,
        "fields": None,
        "bad_rows": None,
    } == comparable(slow, rows_of_encoding=False) | {"rows": None, "fields": None, "bad_rows": None}
    assert fast["fatal"] is True and "encoding-error" in fast["error_counts"]


@pytest.mark.parametrize(
    "data",
    [
        b"a,b,c\r\n",
        b"a,b,c",
        "Назва;Код\rПерший;1\rДругий;x\r".encode(),
        b"\xef\xbb\xbfx\n1\n\n2\n",
        b'"a\nb",c\n1,2\n',
        b"only-header-no-newline",
    ],
)
def test_edge_shapes_agree(data: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    assert comparable(run(data, arrow=True, block=3, monkeypatch=monkeypatch)) == comparable(
        run(data, arrow=False, block=3, monkeypatch=monkeypatch)
    )


STRUCTURE = [
    {
        "table": "objects",
        "primary_key": "id",
        "columns": [
            {"name": "id", "title": "Ідентифікатор", "datatype": "integer", "required": True},
            {"name": "code", "title": "Код", "datatype": "string", "unique": True},
            {"name": "name", "title": "Назва", "datatype": "string"},
        ],
    }
]


def keyed_csv(rows: int) -> bytes:
    lines = ["id,code,name"]
    for i in range(1, rows + 1):
        lines.append(f"{i},K{i},Об'єкт {i}")
    lines[40] = "7,K40,Інший об'єкт"  # row 41 repeats the key of row 8
    lines[50] = "50,K3,Ще один"  # row 51 repeats the code of row 4
    lines[60] = lines[59]  # row 61 repeats row 60 entirely (and its key and code)
    lines[70] = ",K70,"  # an empty key is not a repeat (it is a missing required value)
    return ("\n".join(lines) + "\n").encode()


@pytest.mark.parametrize("arrow", [True, False])
def test_primary_key_unique_and_duplicate_rows(
    arrow: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(validate, "ARROW_ENABLED", arrow)
    monkeypatch.setattr(validate, "ARROW_BLOCK", 512)
    data = keyed_csv(3000)
    rep = validate.validate_file(
        io.BytesIO(data), name="t.csv", declared_format="CSV", schema_tables=STRUCTURE
    )
    errs = {(e["code"], e["row"], e["column"]) for e in rep["errors"]}
    assert ("primary-key", 41, 1) in errs
    assert ("primary-key", 61, 1) in errs
    assert ("unique-error", 51, 2) in errs
    assert ("unique-error", 61, 2) in errs
    assert ("duplicate-row", 61, None) in errs
    assert rep["error_counts"]["primary-key"] == 2
    assert rep["error_counts"]["unique-error"] == 2
    assert rep["error_counts"]["duplicate-row"] == 1
    assert rep["error_counts"]["constraint-error"] == 1  # the empty key
    pk = next(e for e in rep["errors"] if e["code"] == "primary-key" and e["row"] == 41)
    assert "рядка 8" in pk["message"] and "row 8" in pk["message_en"]
    dup = next(e for e in rep["errors"] if e["code"] == "duplicate-row")
    assert dup["severity"] == "warning" and "рядок 60" in dup["message"]
    # primary-key/unique repeats are row errors (err_rate), a duplicate row only a warning
    assert rep["bad_rows"] == 5 and rep["error_count"] == 5
    assert rep["valid"] is False


def test_bounded_hashes_skip_the_check_instead_of_growing(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = validate.methodology()["validation"]
    monkeypatch.setitem(cfg, "max_unique_values", 1000)
    rep = validate.validate_file(
        io.BytesIO(keyed_csv(3000)), name="t.csv", declared_format="CSV", schema_tables=STRUCTURE
    )
    assert "primary-key" not in rep["error_counts"]
    assert "duplicate-row" not in rep["error_counts"]
    skipped = [e for e in rep["errors"] if e["code"] == "check-skipped"]
    assert {e["column"] for e in skipped} == {None, 1, 2}
    assert all(e["severity"] == "info" and "1000" in e["message"] for e in skipped)
    assert rep["error_counts"]["check-skipped"] == 3
