"""Storage fixtures: every test runs once on SQLite and once on PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.storage.store import SqlStore, create_store
from tests.db import store_url
from tests.storage.support import FakeClock

__all__ = ["clock", "store", "store_url"]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def store(store_url: str, clock: FakeClock) -> AsyncIterator[SqlStore]:
    """A store on a freshly migrated database."""
    opened = await create_store(store_url, clock=clock)
    yield opened
    await opened.close()
