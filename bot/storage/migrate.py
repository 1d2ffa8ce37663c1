"""Bring a database to the newest schema with Alembic, without an alembic.ini on disk."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import URL, Connection

from bot.storage.db import create_engine_for, parse_url

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(database_url: str | None = None) -> Config:
    """An Alembic config pointing at the packaged migrations (the URL is for the alembic CLI)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    if database_url is not None:
        config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def head_revision() -> str:
    """The newest revision the code knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise RuntimeError(f"no migrations found in {MIGRATIONS}")
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision a database is at (None when it was never migrated); run via `run_sync`."""
    return MigrationContext.configure(connection).get_current_revision()


async def database_revision(database_url: str | URL, schema: str | None = None) -> str | None:
    """The revision a database is at, opening a short-lived engine."""
    engine = create_engine_for(database_url, schema)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(current_revision)
    finally:
        await engine.dispose()


async def upgrade(
    database_url: str | URL, schema: str | None = None, revision: str = "head"
) -> None:
    """Migrate a database (fresh or older) up to `revision`; safe to repeat."""
    await _run(database_url, schema, partial(command.upgrade, revision=revision))


async def downgrade(database_url: str | URL, revision: str, schema: str | None = None) -> None:
    """Migrate a database down to `revision` ("base" drops everything)."""
    await _run(database_url, schema, partial(command.downgrade, revision=revision))


async def _run(
    database_url: str | URL, schema: str | None, action: Callable[[Config], None]
) -> None:
    url, schema = parse_url(database_url, schema)
    # SQLite batch migrations copy tables; enforced foreign keys would break the copy.
    engine = create_engine_for(url, schema, foreign_keys=False)
    try:
        async with engine.begin() as connection:
            if schema is not None:
                await connection.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            await connection.run_sync(_on_connection, action)
    finally:
        await engine.dispose()


def _on_connection(connection: Connection, action: Callable[[Config], None]) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    action(config)
