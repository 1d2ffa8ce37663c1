"""Engine settings per backend and URL handling."""

from __future__ import annotations

import pytest

from bot.storage.db import create_engine_for, parse_url
from bot.storage.migrate import upgrade


async def test_engine_applies_backend_settings(store_url: str) -> None:
    await upgrade(store_url)
    engine = create_engine_for(store_url)
    try:
        async with engine.connect() as connection:
            if engine.dialect.name == "sqlite":
                pragmas = ["journal_mode", "synchronous", "foreign_keys", "busy_timeout"]
                values = [
                    (await connection.exec_driver_sql(f"PRAGMA {p}")).scalar() for p in pragmas
                ]
                assert values == ["wal", 1, 1, 10_000]  # synchronous 1 = NORMAL
            else:
                schema = (await connection.exec_driver_sql("SELECT current_schema()")).scalar()
                assert schema == parse_url(store_url)[1]
    finally:
        await engine.dispose()


def test_parse_url_takes_schema_from_query_or_argument() -> None:
    url, schema = parse_url("postgresql+asyncpg://u@h/db?schema=t_x")
    assert (url.render_as_string(), schema) == ("postgresql+asyncpg://u@h/db", "t_x")
    assert parse_url("postgresql+asyncpg://u@h/db", "t_y")[1] == "t_y"


@pytest.mark.parametrize(
    "url",
    ["sqlite+aiosqlite:///x.db?schema=t_x", "postgresql+asyncpg://u@h/db?schema=x;drop"],
    ids=["schema-on-sqlite", "unsafe-schema-name"],
)
def test_parse_url_rejects_bad_schema(url: str) -> None:
    with pytest.raises(ValueError, match="schema"):
        parse_url(url)
