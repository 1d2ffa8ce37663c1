"""A read-only view of the service's database for the soak (SQLite file or a PostgreSQL schema)."""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Any

from sqlalchemy import text

from bot.storage.db import create_engine_for

POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"

Row = tuple[Any, ...]


class Database:
    """Runs plain SQL through the project's own engine factory (schema and pragmas included)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine = create_engine_for(url)

    async def rows(self, sql: str, **params: Any) -> list[Row]:
        async with self._engine.connect() as connection:
            result = await connection.execute(text(sql), params)
            return [tuple(row) for row in result.all()]

    async def value(self, sql: str, **params: Any) -> Any:
        [row] = await self.rows(sql, **params)
        return row[0]

    async def close(self) -> None:
        await self._engine.dispose()


def database_url(kind: str, tmp: Path) -> str:
    """A fresh database: a SQLite file in `tmp`, or a new schema in the local PostgreSQL."""
    if kind == "sqlite":
        return f"sqlite+aiosqlite:///{tmp / 'service.db'}"
    return f"{POSTGRES}?schema=soak_{secrets.token_hex(4)}"


async def drop_schema(url: str) -> None:
    """Remove the PostgreSQL schema of a `database_url` (a SQLite file goes with its folder)."""
    found = re.search(r"[?&]schema=(soak_[0-9a-f]+)$", url)
    if found is None:
        return
    engine = create_engine_for(POSTGRES)
    try:
        async with engine.begin() as connection:
            # The name is our own `soak_<hex>`, checked above: safe to place in DDL.
            await connection.execute(text(f"DROP SCHEMA IF EXISTS {found.group(1)} CASCADE"))
    finally:
        await engine.dispose()


def open_database(url: str) -> Database:
    """The reader for a URL from `database_url`."""
    return Database(url)
