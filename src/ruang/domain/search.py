"""People search terms: the normalized words of a name, looked up by prefix. No I/O.

A member is found by any word of their username, display name or headline, and by their
whole username. Words are case-folded and stripped of accents ("Đặng Thị Ánh" -> "đang",
"thi", "anh"), split on anything that is not a letter or digit, in any script.
"""

from __future__ import annotations

import re
import unicodedata

TERM_MAX = 64
_SPLIT = re.compile(r"[\W_]+")


def normalize(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in plain if not unicodedata.combining(c))


def words(text: str) -> set[str]:
    return {w[:TERM_MAX] for w in _SPLIT.split(normalize(text)) if w}


def terms(username: str, display_name: str, headline: str = "") -> set[str]:
    out = {username.casefold()[:TERM_MAX]}
    for text in (username, display_name, headline):
        out |= words(text)
    return out


def prefix_range(query: str) -> tuple[str, str] | None:
    """[low, high) covering every term that starts with the query's normalized form."""
    q = normalize(query).strip()
    q = q.replace(" ", "")[:TERM_MAX] if q else q
    if not q:
        return None
    return q, q[:-1] + chr(ord(q[-1]) + 1)
