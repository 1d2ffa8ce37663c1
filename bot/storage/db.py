"""Async engines: SQLite (WAL) for one process, PostgreSQL when several workers share a DB."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Connection, event, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

DEFAULT_URL = "sqlite+aiosqlite:///smmbot.db"
SQLITE_BUSY_TIMEOUT_MS = 10_000
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def parse_url(url: str | URL, schema: str | None = None) -> tuple[URL, str | None]:
    """Split a database URL from its optional PostgreSQL schema (`?schema=...` or the argument)."""
    parsed = make_url(url)
    in_query = parsed.query.get("schema")
    # The drivers reject unknown query options, so the schema never reaches them.
    parsed = parsed.difference_update_query(["schema"])
    chosen = schema or (in_query if isinstance(in_query, str) else None)
    if chosen is None:
        return parsed, None
    if parsed.get_backend_name() != "postgresql":
        raise ValueError(f"a schema needs PostgreSQL, not {parsed.get_backend_name()}")
    if not _SCHEMA_NAME.match(chosen):
        raise ValueError(f"schema name {chosen!r} must match {_SCHEMA_NAME.pattern}")
    return parsed, chosen


def as_database_url(database: str) -> str:
    """A database URL as given, or a plain file path turned into an SQLite URL."""
    if "://" in database:
        return database
    return f"sqlite+aiosqlite:///{Path(database).expanduser().resolve()}"


def sqlite_file(url: str | URL) -> Path | None:
    """The file behind an SQLite URL; None for other databases and in-memory SQLite."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(str(parsed.database)).expanduser()


def display_url(url: str | URL) -> str:
    """The URL with its password masked, for messages and logs."""
    return make_url(url).render_as_string(hide_password=True)


def create_engine_for(
    url: str | URL, schema: str | None = None, *, foreign_keys: bool = True
) -> AsyncEngine:
    """An async engine for a SQLite file or a PostgreSQL database (optionally in one schema)."""
    parsed, schema = parse_url(url, schema)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed, foreign_keys)
    if backend == "postgresql":
        return _postgres_engine(parsed, schema)
    raise ValueError(f"unsupported database {backend!r}: use sqlite or postgresql")


def dumps_json(value: Any) -> str:
    """JSON for JSON columns: readable Cyrillic, and odd values (e.g. dates in raw) as strings."""
    return json.dumps(value, ensure_ascii=False, default=str)


def _sqlite_engine(url: URL, foreign_keys: bool) -> AsyncEngine:
    url = url.set(drivername="sqlite+aiosqlite")
    path = sqlite_file(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, json_serializer=dumps_json)
    event.listen(engine.sync_engine, "connect", _sqlite_pragmas(foreign_keys, path is not None))
    event.listen(engine.sync_engine, "begin", _begin_immediate)
    return engine


def _sqlite_pragmas(foreign_keys: bool, wal: bool) -> Callable[[Any, Any], None]:
    pragmas = [
        f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}",
        f"PRAGMA foreign_keys = {'ON' if foreign_keys else 'OFF'}",
        "PRAGMA synchronous = NORMAL",
    ]
    if wal:
        pragmas.insert(0, "PRAGMA journal_mode = WAL")

    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN away from the driver: it defers it to the first write, outside our control.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in pragmas:
            cursor.execute(pragma)
        cursor.close()

    return on_connect


def _begin_immediate(connection: Connection) -> None:
    # Take the write lock up front: a deferred transaction that later writes fails with
    # SQLITE_BUSY at once (no busy wait) when another connection wrote in between.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _postgres_engine(url: URL, schema: str | None) -> AsyncEngine:
    url = url.set(drivername="postgresql+asyncpg")
    # search_path puts every table, and Alembic's version table, in the schema without
    # naming it in any query.
    connect_args = {"server_settings": {"search_path": schema}} if schema else {}
    return create_async_engine(
        url, json_serializer=dumps_json, connect_args=connect_args, pool_pre_ping=True
    )
