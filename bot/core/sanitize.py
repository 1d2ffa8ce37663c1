"""Make platform text safe to store: lone surrogates cannot be encoded as UTF-8."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bot.core.model import IncomingMessage


def clean_text(text: str) -> str:
    """Replace lone UTF-16 surrogates with U+FFFD, keeping valid pairs (emoji) as one character."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def clean_value(value: Any) -> Any:
    """clean_text applied through nested JSON-like values (the raw platform payload)."""
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {clean_text(str(k)): clean_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean_value(v) for v in value]
    return value


def sanitized(message: IncomingMessage) -> tuple[IncomingMessage, bool]:
    """The message with every text field storable, and whether anything had to change."""
    author = replace(
        message.author,
        display_name=clean_text(message.author.display_name),
        username=clean_text(message.author.username) if message.author.username else None,
    )
    cleaned = replace(
        message,
        text=clean_text(message.text),
        author=author,
        links=tuple(clean_text(link) for link in message.links),
        mentions=tuple(clean_text(m) for m in message.mentions),
        raw=clean_value(message.raw),
    )
    return cleaned, cleaned != message or cleaned.raw != message.raw
