"""Safe file names: Unicode kept for display, a plain ASCII form for S3 keys and headers."""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote, unquote

MAX_NAME = 255

# the official Ukrainian transliteration (KMU 2010), no word-initial forms
_UK = {
    "а": "a", "б": "b", "в": "v", "г": "h", "ґ": "g", "д": "d", "е": "e", "є": "ie", "ж": "zh",
    "з": "z", "и": "y", "і": "i", "ї": "i", "й": "i", "к": "k", "л": "l", "м": "m", "н": "n",
    "о": "o", "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts",
    "ч": "ch", "ш": "sh", "щ": "shch", "ь": "", "ю": "iu", "я": "ia", "ы": "y", "э": "e",
    "ё": "io", "ъ": "", "'": "", "’": "", "ʼ": "", "`": "",
}  # fmt: skip

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


def clean_name(raw: str | None, fallback: str = "file") -> str:
    """The display name: last path component, no control or bidi characters, NFC, bounded."""
    if not raw:
        return fallback
    name = unicodedata.normalize("NFC", raw)
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _CONTROL.sub("", name).strip().strip(".").strip()
    if not name:
        return fallback
    if len(name) > MAX_NAME:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 16:
            name = stem[: MAX_NAME - len(ext) - 1] + "." + ext
        else:
            name = name[:MAX_NAME]
    return name


def ascii_name(name: str, fallback: str = "file") -> str:
    """A key- and header-safe form: transliterated, [A-Za-z0-9._-] only."""
    out = []
    for ch in name:
        low = ch.lower()
        if low in _UK:
            t = _UK[low]
            out.append(t.capitalize() if ch != low and t else t)
        else:
            out.append(ch)
    text = unicodedata.normalize("NFKD", "".join(out)).encode("ascii", "ignore").decode()
    text = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._-")
    text = re.sub(r"_+", "_", text)
    return (text or fallback)[:120]


def content_disposition(name: str, disposition: str = "attachment") -> str:
    """RFC 6266 with an ASCII fallback and the UTF-8 name in filename* (RFC 5987)."""
    fallback = ascii_name(name).replace('"', "")
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def name_from_headers(x_file_name: str | None, disposition: str | None) -> str | None:
    """The file name a raw upload announces (X-File-Name may be percent-encoded UTF-8)."""
    if x_file_name:
        value = x_file_name
        if "%" in value:
            value = unquote(value, errors="replace")
        else:
            value = _latin1_to_utf8(value)
        return value
    if disposition:
        return parse_disposition_filename(disposition)
    return None


def _latin1_to_utf8(value: str) -> str:
    """Header values arrive as latin-1; raw UTF-8 bytes in them are decoded back."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


def parse_disposition_filename(value: str) -> str | None:
    params: dict[str, str] = {}
    for m in re.finditer(
        r';\s*([A-Za-z0-9*_-]+)\s*=\s*("((?:[^"\\]|\\.)*)"|[^;]*)', ";" + value.split(";", 1)[-1]
    ):
        key = m.group(1).lower()
        val = m.group(3) if m.group(3) is not None else m.group(2).strip()
        if m.group(3) is not None:
            val = re.sub(r"\\(.)", r"\1", val)
        params[key] = val
    star = params.get("filename*")
    if star:
        charset, _, rest = star.partition("'")
        _, _, encoded = rest.partition("'")
        try:
            return unquote(encoded, encoding=charset or "utf-8", errors="strict")
        except (LookupError, UnicodeDecodeError):
            pass
    plain = params.get("filename")
    if plain is not None:
        return unquote(plain) if "%" in plain else _latin1_to_utf8(plain)
    return None
