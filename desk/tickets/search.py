"""Tokenising ticket text with jieba so Chinese and English keywords both find tickets."""

from __future__ import annotations

import logging
import re

import jieba

jieba.setLogLevel(logging.WARNING)

_WORD = re.compile(r"\w", re.UNICODE)


def tokens(text: str) -> list[str]:
    """Search-engine mode cuts long words into their parts too (e.g. 退货退款 → 退货, 退款)."""
    seen: dict[str, None] = {}
    for token in jieba.cut_for_search(text.lower()):
        token = token.strip()
        if token and _WORD.search(token):
            seen.setdefault(token, None)
    return list(seen)


def warm_up() -> None:
    """Load jieba's dictionary now (~0.6 s): a web worker calls this as it starts (config/wsgi.py), so
    the first ticket it opens or the first keyword search it runs does not wait for it."""
    jieba.initialize()


def search_text_for(*parts: str) -> str:
    return " ".join(tokens(" ".join(p for p in parts if p)))
