"""Which language a customer wrote in, so replies and cards match it."""

from __future__ import annotations

import re

_CYRILLIC = re.compile(r"[А-Яа-яЁё]")
_LATIN = re.compile(r"[A-Za-z]")


def guess_language(text: str) -> str | None:
    """ "ru" when Cyrillic letters dominate, "en" when Latin ones do, None without letters."""
    cyrillic, latin = len(_CYRILLIC.findall(text)), len(_LATIN.findall(text))
    if not cyrillic and not latin:
        return None
    return "ru" if cyrillic >= latin else "en"
