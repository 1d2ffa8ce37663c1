"""Alembic environment: migrate on the connection `bot.storage.migrate` hands over, or on the
URL from the alembic CLI config (`sqlalchemy.url`)."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection, text

from bot.storage.db import create_engine_for
from bot.storage.tables import Base, UtcDateTime

config = context.config
target_metadata = Base.metadata


def run_on(connection: Connection) -> None:
    """Run the pending migrations in one transaction on a live connection."""
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        _lock(connection)
        context.run_migrations()


def _render_item(kind: str, item: Any, _context: AutogenContext) -> str | Literal[False]:
    # A revision must not import app code that may change later; on disk it is a DateTime.
    if kind == "type" and isinstance(item, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _lock(connection: Connection) -> None:
    # Several workers may start at once on one PostgreSQL database: they migrate one at a time.
    if connection.dialect.name == "postgresql":
        key = "hashtext('smmbot-migrations:' || coalesce(current_schema(), ''))"
        connection.execute(text(f"SELECT pg_advisory_xact_lock({key})"))


async def _run_standalone(url: str) -> None:
    engine = create_engine_for(url, foreign_keys=False)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(run_on)
    finally:
        await engine.dispose()


def _run_offline(url: str) -> None:
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    """Pick the connection: handed over, opened from the URL, or none (SQL script output)."""
    connection = config.attributes.get("connection")
    if connection is not None:
        run_on(connection)
    elif context.is_offline_mode():
        _run_offline(config.get_main_option("sqlalchemy.url") or "")
    else:
        asyncio.run(_run_standalone(config.get_main_option("sqlalchemy.url") or ""))


main()
