"""Migrations bring any database to head; the models and the migrations agree."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect

from bot.storage.db import create_engine_for
from bot.storage.migrate import database_revision, downgrade, head_revision, upgrade
from bot.storage.tables import Base

TABLES = {
    "alembic_version",
    "audit",
    "communities",
    "decisions",
    "escalations",
    "feedback",
    "inbox",
    "kv",
    "outbox",
    "platform_users",
}


async def _tables(url: str) -> set[str]:
    engine = create_engine_for(url)
    try:
        async with engine.connect() as connection:
            return set(await connection.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()


async def test_upgrade_brings_fresh_database_to_head(store_url: str) -> None:
    assert await database_revision(store_url) is None

    await upgrade(store_url)

    assert await database_revision(store_url) == head_revision()
    assert await _tables(store_url) == TABLES


async def test_upgrade_is_idempotent(store_url: str) -> None:
    await upgrade(store_url)
    await upgrade(store_url)

    assert await database_revision(store_url) == head_revision()


async def test_upgrade_brings_older_database_to_head(store_url: str) -> None:
    await upgrade(store_url)
    await downgrade(store_url, "base")
    assert await database_revision(store_url) is None
    assert await _tables(store_url) == {"alembic_version"}

    await upgrade(store_url)

    assert await database_revision(store_url) == head_revision()
    assert await _tables(store_url) == TABLES


def _schema_diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_migrations_match_models(store_url: str) -> None:
    await upgrade(store_url)
    engine = create_engine_for(store_url)
    try:
        async with engine.connect() as connection:
            diff = await connection.run_sync(_schema_diff)
    finally:
        await engine.dispose()

    assert diff == []
