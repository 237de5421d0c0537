"""Pure functions: file names, media-type sniffing, Range parsing."""

from __future__ import annotations

import io
import zipfile

import pytest
from portal_kit.errors import AppError
from storage.downloads import parse_ranges
from storage.names import ascii_name, clean_name, content_disposition, name_from_headers
from storage.sniff import is_mismatch, sniff


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\Марʼяна\\звіт.xlsx", "звіт.xlsx"),
        ("a\x00b\x1f\u202e.csv", "ab.csv"),
        ("   ", "file"),
        ("..", "file"),
        ("Об’єкти комунальної власності.csv", "Об’єкти комунальної власності.csv"),
    ],
)
def test_clean_name(raw: str, clean: str) -> None:
    assert clean_name(raw) == clean


def test_long_name_keeps_extension() -> None:
    name = clean_name("д" * 400 + ".csv")
    assert len(name) == 255 and name.endswith(".csv")


def test_ascii_name_and_disposition() -> None:
    assert ascii_name("Бюджет м. Запоріжжя’2026.csv") == "Biudzhet_m._Zaporizhzhia2026.csv"
    assert ascii_name("Щедрість ЄІЇҐ") == "Shchedrist_IeIIG"
    assert ascii_name("???") == "file"
    cd = content_disposition('звіт "1".csv')
    assert cd.startswith("attachment; filename=\"zvit_1_.csv\"; filename*=UTF-8''")
    assert "%D0%B7%D0%B2%D1%96%D1%82%20%221%22.csv" in cd


def test_names_from_headers() -> None:
    assert name_from_headers("%D0%B7%D0%B2%D1%96%D1%82.csv", None) == "звіт.csv"
    assert name_from_headers("зві".encode().decode("latin-1"), None) == "зві"
    assert (
        name_from_headers(None, "attachment; filename=\"x.csv\"; filename*=UTF-8''%D1%8F.csv")
        == "я.csv"
    )
    assert name_from_headers(None, 'attachment; filename="a \\"b\\".csv"') == 'a "b".csv'
    assert name_from_headers(None, "inline") is None


def _zip(names: list[str]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for n in names:
            z.writestr(n, "x")
    return buf.getvalue()


@pytest.mark.parametrize(
    ("head", "name", "media"),
    [
        ("Код;Назва\n1;Школа\n2;Ліцей\n".encode("cp1251"), "a.csv", "text/csv"),
        ("\ufeffКод,Назва\n1,Школа\n".encode(), "a.csv", "text/csv"),
        (b'{"a": [1, 2]}', "a.json", "application/json"),
        (b'{"type": "FeatureCollection", "features": []}', "a.json", "application/geo+json"),
        (b'<?xml version="1.0"?><root/>', "a.xml", "application/xml"),
        (b"<!doctype html><p>hi", "a.csv", "text/html"),
        (b"%PDF-1.7\n", "a.pdf", "application/pdf"),
        (b"MZ\x90\x00", "a.csv", "application/x-msdownload"),
        (b"\x7fELF\x02", "a", "application/x-executable"),
        (b"\x00\x01\x02\x03binary", "a.bin", "application/octet-stream"),
        (b"just some words", "a.txt", "text/plain"),
    ],
)
def test_sniff(head: bytes, name: str, media: str) -> None:
    assert sniff(head, name) == media


def test_sniff_office_zip() -> None:
    assert sniff(_zip(["[Content_Types].xml", "xl/workbook.xml"])) == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert sniff(_zip(["data.csv"])) == "application/zip"
    assert is_mismatch("text/csv", "application/zip")
    assert not is_mismatch("text/csv", "text/csv")
    assert not is_mismatch(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    assert not is_mismatch("application/json", "application/geo+json")


def test_parse_ranges() -> None:
    assert parse_ranges("bytes=0-9", 100) == [(0, 9)]
    assert parse_ranges("bytes=90-200", 100) == [(90, 99)]
    assert parse_ranges("bytes=-10", 100) == [(90, 99)]
    assert parse_ranges("bytes=-500", 100) == [(0, 99)]
    assert parse_ranges("bytes=0-0,5-6", 100) == [(0, 0), (5, 6)]
    assert parse_ranges("bytes=100-,0-1", 100) == [(0, 1)]
    for ignored in ("items=0-1", "bytes=5-1", "bytes=a-b", "bytes=1", "bytes=", None):
        assert parse_ranges(ignored, 100) is None
    assert parse_ranges("bytes=0-1", 0) is None
    with pytest.raises(AppError) as exc:
        parse_ranges("bytes=100-", 100)
    assert exc.value.status == 416
    assert exc.value.headers["Content-Range"] == "bytes */100"
