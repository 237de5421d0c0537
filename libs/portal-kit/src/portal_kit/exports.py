"""Spreadsheet safety shared by every CSV/XLSX export (register, quality card, surveys, dashboard).

A text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return can run as a
formula when an official opens the file in Excel or LibreOffice (CSV/formula injection, OWASP).
Such text gets a leading apostrophe, which spreadsheets show as plain text.
"""

from __future__ import annotations

from typing import Any

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def is_formula_like(text: str) -> bool:
    return text[:1] in FORMULA_TRIGGERS


def neutralize(value: Any) -> Any:
    """Text that a spreadsheet would treat as a formula, prefixed with ``'``; anything else as is."""
    if isinstance(value, str) and is_formula_like(value):
        return "'" + value
    return value
