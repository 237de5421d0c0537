"""The real media type of a file from its first bytes, and what its name claims."""

from __future__ import annotations

import json
import mimetypes
import re

SNIFF_BYTES = 8192

_EXT_TYPES = {
    ".csv": "text/csv",
    ".tsv": "text/tab-separated-values",
    ".txt": "text/plain",
    ".json": "application/json",
    ".geojson": "application/geo+json",
    ".jsonld": "application/ld+json",
    ".xml": "application/xml",
    ".rdf": "application/rdf+xml",
    ".ttl": "text/turtle",
    ".kml": "application/vnd.google-earth.kml+xml",
    ".kmz": "application/vnd.google-earth.kmz",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xls": "application/vnd.ms-excel",
    ".doc": "application/msword",
    ".ods": "application/vnd.oasis.opendocument.spreadsheet",
    ".odt": "application/vnd.oasis.opendocument.text",
    ".zip": "application/zip",
    ".gz": "application/gzip",
    ".7z": "application/x-7z-compressed",
    ".pdf": "application/pdf",
    ".shp": "application/x-shapefile",
    ".sqlite": "application/x-sqlite3",
    ".html": "text/html",
    ".htm": "text/html",
}

# types that are the same thing for the purpose of "does the name tell the truth"
_FAMILY = {
    "text/plain": "text",
    "text/csv": "text",
    "text/tab-separated-values": "text",
    "application/json": "json",
    "application/geo+json": "json",
    "application/ld+json": "json",
    "application/xml": "xml",
    "text/xml": "xml",
    "application/rdf+xml": "xml",
    "application/vnd.google-earth.kml+xml": "xml",
    "application/zip": "zip",
    "application/vnd.google-earth.kmz": "zip",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "zip",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "zip",
    "application/vnd.oasis.opendocument.spreadsheet": "zip",
    "application/vnd.oasis.opendocument.text": "zip",
    "application/vnd.ms-excel": "ole",
    "application/msword": "ole",
    "application/x-ole-storage": "ole",
}


def declared_type(name: str | None, header_type: str | None = None) -> str | None:
    """What the file claims to be: its extension first, else a specific Content-Type."""
    if name:
        lower = name.lower()
        for ext, media in _EXT_TYPES.items():
            if lower.endswith(ext):
                return media
        guessed, _ = mimetypes.guess_type(lower, strict=False)
        if guessed:
            return guessed
    if header_type:
        base = header_type.split(";", 1)[0].strip().lower()
        if base and base not in ("application/octet-stream", "multipart/form-data"):
            return base[:255]
    return None


def _zip_kind(head: bytes) -> str:
    if b"mimetypeapplication/vnd.oasis.opendocument.spreadsheet" in head:
        return "application/vnd.oasis.opendocument.spreadsheet"
    if b"mimetypeapplication/vnd.oasis.opendocument.text" in head:
        return "application/vnd.oasis.opendocument.text"
    if b"xl/" in head:
        return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    if b"word/" in head:
        return "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    if b"doc.kml" in head:
        return "application/vnd.google-earth.kmz"
    return "application/zip"


_MAGIC: list[tuple[bytes, str]] = [
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"\x1f\x8b", "application/gzip"),
    (b"7z\xbc\xaf\x27\x1c", "application/x-7z-compressed"),
    (b"Rar!\x1a\x07", "application/vnd.rar"),
    (b"SQLite format 3\x00", "application/x-sqlite3"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/x-ole-storage"),
    (b"MZ", "application/x-msdownload"),
    (b"\x7fELF", "application/x-executable"),
    (b"\xcf\xfa\xed\xfe", "application/x-mach-binary"),
    (b"\xfe\xed\xfa\xcf", "application/x-mach-binary"),
    (b"\x00\x00\x27\x0a", "application/x-shapefile"),
]

_HTML_RE = re.compile(rb"^\s*(<!doctype\s+html|<html|<head|<body|<script|<iframe)", re.I)
_XML_RE = re.compile(rb"^\s*<(\?xml|[A-Za-z_][\w.:-]*[\s>/])")


def _decode_text(head: bytes) -> str | None:
    """Text if the sample looks like text (UTF-8/16 or a single-byte Cyrillic code page)."""
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return head.decode("utf-16", errors="ignore")
        except Exception:
            return None
    if b"\x00" in head:
        return None
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 4:  # a character cut by the sample's end
            return head[: exc.start].decode("utf-8", errors="ignore")
    # cp1251 (legacy Ukrainian files): every byte decodes; refuse binary control bytes
    text = head.decode("cp1251", errors="replace")
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\r\n\t\f")
    return text if controls <= len(text) // 100 else None


def _looks_csv(text: str) -> bool:
    lines = [ln for ln in text.splitlines()[:20] if ln.strip()]
    if len(lines) > 1:
        lines = lines[:-1]  # the last one may be cut by the sample's end
    if not lines:
        return False
    for delim in (",", ";", "\t", "|"):
        counts = [ln.count(delim) for ln in lines]
        if counts[0] >= 1 and all(c == counts[0] for c in counts):
            return True
        if (
            counts[0] >= 1
            and len(lines) > 2
            and sum(c == counts[0] for c in counts) >= 0.8 * len(counts)
        ):
            return True
    return False


def sniff(head: bytes, name: str | None = None) -> str:
    """The media type the bytes say; ``application/octet-stream`` when nothing fits."""
    if not head:
        return declared_type(name) or "application/octet-stream"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return _zip_kind(head)
    for magic, media in _MAGIC:
        if head.startswith(magic):
            return media
    if head.startswith(b"#!"):
        return "application/x-sh"
    text = _decode_text(head)
    if text is None:
        return "application/octet-stream"
    stripped = text.lstrip("\ufeff \t\r\n")
    raw = stripped.encode("utf-8", errors="ignore")
    if _HTML_RE.match(raw):
        return "text/html"
    if raw.startswith(b"<svg") or (b"<svg" in raw[:512] and raw.startswith(b"<?xml")):
        return "image/svg+xml"
    if _XML_RE.match(raw):
        if b"<kml" in raw[:1024]:
            return "application/vnd.google-earth.kml+xml"
        if b"<rdf:RDF" in raw[:2048]:
            return "application/rdf+xml"
        return "application/xml"
    if stripped[:1] in ("{", "["):
        complete = len(head) < SNIFF_BYTES
        if complete:
            try:
                doc = json.loads(stripped)
            except ValueError:
                doc = None
            if doc is not None:
                if isinstance(doc, dict) and doc.get("type") in ("FeatureCollection", "Feature"):
                    return "application/geo+json"
                return "application/json"
        elif re.match(r'^[\[{]\s*("|\{|\[|-?\d|true|false|null|\])', stripped):
            if re.search(r'"type"\s*:\s*"Feature(Collection)?"', stripped[:2048]):
                return "application/geo+json"
            return "application/json"
    if _looks_csv(stripped):
        if name and name.lower().endswith(".tsv"):
            return "text/tab-separated-values"
        return "text/csv"
    return "text/plain"


def is_mismatch(declared: str | None, sniffed: str) -> bool:
    """True when the name/header claims one kind and the bytes are another."""
    if not declared or declared == sniffed:
        return False
    if sniffed == "application/octet-stream":
        return False
    fam_d = _FAMILY.get(declared, declared)
    fam_s = _FAMILY.get(sniffed, sniffed)
    if fam_d == fam_s:
        return False
    # plain text can be CSV/JSON by name (e.g. a one-column CSV)
    if fam_s == "text" and fam_d in ("json", "xml", "text"):
        return fam_d != "text" and sniffed != "text/plain"
    return True
