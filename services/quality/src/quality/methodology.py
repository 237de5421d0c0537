"""The versioned methodology: every weight and threshold, loaded from data/methodology.json."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data"


@lru_cache(maxsize=1)
def methodology() -> dict[str, Any]:
    return json.loads((DATA / "methodology.json").read_text(encoding="utf-8"))


def version() -> str:
    return str(methodology()["version"])


def band(value: float, bands: list[list[Any]]) -> str:
    for threshold, name in bands:
        if value >= threshold:
            return str(name)
    return str(bands[-1][1])


@lru_cache(maxsize=1)
def structures() -> dict[str, Any]:
    return json.loads((DATA / "structures_835.json").read_text(encoding="utf-8"))["appendices"]


def appendix_for_list_code(list_code: str | None) -> str | None:
    """ALL-k -> Додаток k+1; LSG-k -> Додаток 17+k (Постанова КМУ № 835)."""
    if not list_code:
        return None
    code = list_code.strip().upper()
    prefix, _, num = code.partition("-")
    if not num.isdigit():
        return None
    k = int(num)
    if prefix == "ALL":
        return str(k + 1)
    if prefix == "LSG":
        return str(17 + k)
    return None


def structure_tables(list_code: str | None) -> list[dict[str, Any]]:
    app = appendix_for_list_code(list_code)
    if app is None:
        return []
    entry = structures().get(app)
    return list(entry["tables"]) if entry else []
