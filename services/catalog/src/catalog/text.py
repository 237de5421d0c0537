"""Search text for Ukrainian: normalisation, a crude suffix-stripping stemmer, tsquery building.

PostgreSQL has no Ukrainian stemmer, so the catalog builds the lexemes itself: every word is
lowercased, apostrophes (' ’ ʼ ` ′) are removed so that all spellings of об'єкт meet, and the
word and its stem are both indexed. A query word becomes a prefix match on its stem, so
``бюджет`` finds ``бюджету`` and ``бюджетів``. The letters і ї є ґ are kept as they are.
"""

from __future__ import annotations

import re
import unicodedata

APOSTROPHES = "'’ʼ`′‘ʹ"
_APOS_RE = re.compile(f"[{re.escape(APOSTROPHES)}]")
_WORD_RE = re.compile(r"\w+", re.UNICODE)

# longest first; noun, adjective and a few verb endings
_SUFFIXES = sorted(
    {
        "ами",
        "ями",
        "ові",
        "еві",
        "єві",
        "ах",
        "ях",
        "ам",
        "ям",
        "ом",
        "ем",
        "єм",
        "ою",
        "ею",
        "єю",
        "ів",
        "їв",
        "ей",
        "ий",
        "ій",
        "їй",
        "ої",
        "ого",
        "ому",
        "ими",
        "іми",
        "их",
        "іх",
        "им",
        "ім",
        "ая",
        "яя",
        "ую",
        "юю",
        "ього",
        "ьому",
        "ості",
        "ість",
        "ення",
        "ння",
        "ться",
        "ати",
        "ити",
        "а",
        "я",
        "у",
        "ю",
        "і",
        "ї",
        "е",
        "є",
        "о",
        "и",
        "ь",
    },
    key=len,
    reverse=True,
)
MIN_STEM = 3
MAX_QUERY_WORDS = 12


def normalize(text: str | None) -> str:
    """Lowercase, NFC, apostrophes removed, whitespace collapsed."""
    if not text:
        return ""
    text = unicodedata.normalize("NFC", text).lower()
    text = _APOS_RE.sub("", text)
    return " ".join(text.split())


def words(text: str | None) -> list[str]:
    return [w for w in _WORD_RE.findall(normalize(text)) if w and len(w) <= 60]


def stem(word: str) -> str:
    if word.isdigit() or not any("а" <= ch <= "я" or ch in "іїєґ" for ch in word):
        return word
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= MIN_STEM:
            return word[: -len(suffix)]
    return word


def lexemes(*texts: str | None) -> list[str]:
    """Words and their stems, deduplicated, for ``array_to_tsvector``."""
    out: dict[str, None] = {}
    for text in texts:
        for w in words(text):
            out[w] = None
            out[stem(w)] = None
    return list(out)


def tsquery(q: str) -> str | None:
    """``'стем':* & ...`` for a raw tsquery cast (the lexemes contain only \\w characters)."""
    terms = []
    for w in words(q)[:MAX_QUERY_WORDS]:
        s = stem(w)
        terms.append(f"'{s}':*")
    if not terms:
        return None
    return " & ".join(terms)
