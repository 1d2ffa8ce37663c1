"""Moderators' decisions as training rows: what they deleted, banned or marked as fine.

Read straight from an smmbot database (the `feedback` table joined with the messages), so the
library needs no part of the bot: only the table names are shared.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

QUERY = text(
    "SELECT inbox.text, feedback.label FROM feedback JOIN inbox ON inbox.id = feedback.inbox_id "
    "ORDER BY feedback.id"
)


def load_feedback(url: str) -> list[tuple[str, str]]:
    """(text, label) for every moderator label; the latest label of a message wins."""
    rows = asyncio.run(_fetch(url))
    latest: dict[str, str] = {}
    for message, label in rows:
        latest[str(message)] = str(label)
    return list(latest.items())


async def _fetch(url: str) -> list[Any]:
    parsed = make_url(url)
    schema = parsed.query.get("schema")
    connect_args: dict[str, Any] = {}
    if schema:  # the same ?schema= convention as the bot's own storage (PostgreSQL only)
        parsed = parsed.difference_update_query(["schema"])
        connect_args = {"server_settings": {"search_path": str(schema)}}
    engine = create_async_engine(parsed, connect_args=connect_args)
    try:
        async with engine.connect() as connection:
            return list((await connection.execute(QUERY)).all())
    finally:
        await engine.dispose()
