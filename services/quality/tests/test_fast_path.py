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
        if cells and cells[1].startswith("Ліцей"):
            cells[1] = f'"{cells[1]}"'
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
    assert {"type-error", "missing-cell", "extra-cell", "blank-row"} <= set(fast["counts"]), fast[
        "counts"
    ]
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
    good = messy_csv(500, 9).encode()
    data = (
        good + "501,Обʼєкт,1,2.00,2024-01-01,true,https://x/\r\n".encode()[:-12] + b"\xff\xfe\r\n"
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
