"""Real-world-shaped files: bytes in S3 -> storage.file.stored -> validation -> the API's report."""

from __future__ import annotations

import io
import uuid
from typing import Any

from openpyxl import Workbook

from quality.testing import Q, dataset_doc, org_doc, resource_doc

ROWS_UK = [
    ["Код", "Назва зупинки", "Район", "Кількість маршрутів", "Дата обстеження"],
    ["z-001", "Площа Маяковського", "Олександрівський", "12", "2024-03-01"],
    ["z-002", "Вулиця Запорізька", "Вознесенівський", "7", "2024-03-02"],
    ["z-003", "Пʼятихатки", "Хортицький", "4", "2024-03-03"],
    ["z-004", "Обʼєкт «Дніпрогес»", "Дніпровський", "9", "2024-03-04"],
]


async def run(
    q: Q,
    content: bytes,
    name: str,
    fmt: str,
    *,
    declared_size: int | None = None,
    file_first: bool = True,
) -> dict[str, Any]:
    org = org_doc()
    await q.feed("catalog.organization.created", org)
    ds_id = uuid.uuid4()
    rid = uuid.uuid4()
    if file_first:
        fid = await q.upload(content, name, uuid.UUID(org["id"]), declared_size)
    else:
        fid = uuid.uuid4()
    ds = dataset_doc(
        org["id"], id=ds_id, resources=[resource_doc(ds_id, id=rid, file_id=fid, fmt=fmt)]
    )
    await q.feed("catalog.dataset.updated", ds)
    if not file_first:  # the file event arrives after the resource
        import hashlib

        key = f"test/{fid}/{name}"
        q.ctx.s3.put_object(q.bucket, key, io.BytesIO(content), len(content))
        await q.feed(
            "storage.file.stored",
            {
                "id": str(fid),
                "organization_id": org["id"],
                "bucket": q.bucket,
                "key": key,
                "size": len(content),
                "sha256": hashlib.sha256(content).hexdigest(),
                "media_type": "text/csv",
                "original_name": name,
                "created_at": ds["created_at"],
            },
        )
    await q.validate_all()
    r = await q.client.get(f"/api/v1/quality/resources/{rid}", headers=q.token(roles=["moderator"]))
    assert r.status_code == 200, r.text
    return r.json()


def csv_bytes(rows: list[list[str]], sep: str = ",") -> str:
    return "\r\n".join(sep.join(r) for r in rows) + "\r\n"


async def test_windows_1251_semicolon(q: Q) -> None:
    rep = await run(
        q, csv_bytes(ROWS_UK, ";").replace("ʼ", "'").encode("cp1251"), "zupynky.csv", "CSV"
    )
    v = rep["validation"]
    assert v["encoding"] == "cp1251" and v["delimiter"] == ";"
    assert v["fatal"] is False and v["error_counts"] == {"encoding-warning": 1}
    assert [f["name"] for f in v["fields"]][1] == "Назва зупинки"
    assert [f["type"] for f in v["fields"]] == ["string", "string", "string", "integer", "date"]
    assert v["schema_source"] == "inferred"
    assert rep["stars"] == 3


async def test_utf8_bom_with_type_errors_file_after_resource(q: Q) -> None:
    rows = (
        ROWS_UK
        + [["z-005", "Бульвар Шевченка", "Шевченківський", "багато", "05.03.2024"]]
        + [[f"z-1{i:02d}", "Зупинка", "Район", str(i), "2024-04-01"] for i in range(30)]
    )
    rep = await run(
        q, ("\ufeff" + csv_bytes(rows)).encode("utf-8"), "data.csv", "CSV", file_first=False
    )
    v = rep["validation"]
    assert v["encoding"] == "utf-8-sig" and v["fields"][0]["name"] == "Код"
    assert v["error_counts"] == {"type-error": 2}
    errs = [(e["code"], e["row"], e["column"]) for e in v["errors"]]
    assert errs == [("type-error", 6, 4), ("type-error", 6, 5)]  # header is row 1
    assert (
        "РРРР-ММ-ДД" in v["errors"][1]["message"] and "YYYY-MM-DD" in v["errors"][1]["message_en"]
    )


async def test_xlsx_with_merged_header_gets_derived_csv(q: Q) -> None:
    wb = Workbook()
    ws = wb.active
    ws.append(["Адреса", None, "Кількість"])
    ws.merge_cells("A1:B1")
    ws.append(["вул. Соборна", "12", 5])
    ws.append(["просп. Металургів", "3а", 7])
    buf = io.BytesIO()
    wb.save(buf)
    rep = await run(q, buf.getvalue(), "table.xlsx", "XLSX")
    v = rep["validation"]
    assert v["detected_format"] == "XLSX"
    assert [(e["code"], e["row"], e["column"]) for e in v["errors"]] == [("blank-label", 1, 2)]
    assert rep["derived_csv_key"]
    obj = q.ctx.s3.get_object(q.bucket, rep["derived_csv_key"])
    text = obj.read().decode("utf-8")
    assert text.splitlines()[1] == "вул. Соборна,12,5"
    assert rep["stars"] == 3  # XLSX with a derived UTF-8 CSV counts as 3 stars


async def test_csv_that_is_really_html(q: Q) -> None:
    html = b"<!DOCTYPE html><html><head><title>404</title></head><body>Not found</body></html>"
    rep = await run(q, html, "data.csv", "CSV")
    v = rep["validation"]
    assert v["detected_format"] == "HTML" and v["fatal"] is True
    assert v["errors"][0]["code"] == "format-error"
    assert rep["stars"] == 0 and rep["d"] == 0


async def test_empty_file(q: Q) -> None:
    rep = await run(q, b"", "empty.csv", "CSV")
    v = rep["validation"]
    assert v["fatal"] is True and "source-error" in v["error_counts"]
    assert rep["stars"] == 0


async def test_truncated_file_declared_2gb(q: Q) -> None:
    body = csv_bytes(ROWS_UK).encode("utf-8")
    cut = body[: len(body) - 9] + "Дніпро".encode()[:3]  # cut inside a row and a UTF-8 sequence
    rep = await run(q, cut, "big.csv", "CSV", declared_size=2 * 1024**3)
    v = rep["validation"]
    assert v["fatal"] is True
    assert "byte-count" in v["error_counts"]
    assert "encoding-error" in v["error_counts"] or "missing-cell" in v["error_counts"]


async def test_json_geojson_xml_parse_checks(q: Q) -> None:
    ok = await run(
        q,
        b'{"type":"FeatureCollection","features":[{"type":"Feature","geometry":{"type":"Point","coordinates":[35.1,47.8]},"properties":{"name":"\xd0\x97"}}]}',
        "p.geojson",
        "GEOJSON",
    )
    assert ok["validation"]["detected_format"] == "GEOJSON" and ok["validation"]["fatal"] is False
    bad = await run(q, b'{"a": [1, 2', "x.json", "JSON")
    assert bad["validation"]["errors"][0]["code"] == "format-error"
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>'
    xml = await run(q, bomb, "x.xml", "XML")
    assert (
        xml["validation"]["fatal"] is True
        and "forbidden" in xml["validation"]["errors"][0]["message_en"]
    )
