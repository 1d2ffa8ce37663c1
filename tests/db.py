"""Database targets for tests: a SQLite file, and the local PostgreSQL in a throwaway schema.

Other test folders reuse the backend fixture with `from tests.db import store_url  # noqa: F401`.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from bot.storage.db import create_engine_for

BACKENDS = ("sqlite", "postgresql")
PG_HOST = os.environ.get("SMMBOT_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("SMMBOT_TEST_PG_PORT", "5432"))
PG_DATABASE = os.environ.get("SMMBOT_TEST_PG_DATABASE", "test")
PG_USERS = ("postgres", "root")

_AUTH_ERRORS = (asyncpg.InvalidAuthorizationSpecificationError, asyncpg.InvalidPasswordError)
_postgres: dict[str, str] = {}  # one probe per test session: "url" or "down" (the reason)


async def postgres_url() -> str:
    """URL of the local PostgreSQL; skips the test when the server is unreachable."""
    if not _postgres:
        _postgres.update(await _probe_postgres())
    if "down" in _postgres:
        pytest.skip(f"PostgreSQL at {PG_HOST}:{PG_PORT} is unreachable: {_postgres['down']}")
    return _postgres["url"]


async def _probe_postgres() -> dict[str, str]:
    refused: list[str] = []
    for user in PG_USERS:
        try:
            connection = await asyncpg.connect(
                host=PG_HOST, port=PG_PORT, user=user, database=PG_DATABASE, timeout=5
            )
        except _AUTH_ERRORS as error:
            refused.append(f"{user}: {error}")
            continue
        except (TimeoutError, OSError) as error:
            return {"down": f"{type(error).__name__}: {error}"}
        await connection.close()
        return {"url": f"postgresql+asyncpg://{user}@{PG_HOST}:{PG_PORT}/{PG_DATABASE}"}
    # Reachable but refusing every user is a broken setup, not a reason to skip quietly.
    raise RuntimeError(f"PostgreSQL refused users {PG_USERS}: {'; '.join(refused)}")


async def drop_schema(url: str, schema: str) -> None:
    """Remove a test schema and everything in it."""
    engine = create_engine_for(url)
    try:
        async with engine.begin() as connection:
            await connection.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    finally:
        await engine.dispose()


def sqlite_url(folder: Path) -> str:
    """URL of a SQLite file in a test's temporary folder."""
    return f"sqlite+aiosqlite:///{folder / 'db' / 'smmbot.db'}"


@pytest.fixture(params=BACKENDS)
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database per test on each backend; PostgreSQL gets its own schema (`?schema=`)."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
        return
    base = await postgres_url()
    schema = f"t_{secrets.token_hex(6)}"
    yield f"{base}?schema={schema}"
    await drop_schema(base, schema)
