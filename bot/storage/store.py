"""`SqlStore`: the `Store` port over SQLAlchemy; one unit of work is one transaction."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from sqlalchemy import URL
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.core.ports import Clock
from bot.storage.db import SQLITE_BUSY_TIMEOUT_MS, create_engine_for
from bot.storage.migrate import upgrade
from bot.storage.repos import (
    Db,
    SqlAuditLog,
    SqlDecisionRepo,
    SqlEscalationRepo,
    SqlFeedbackRepo,
    SqlInboxRepo,
    SqlKvRepo,
    SqlOutboxRepo,
    SqlUserRepo,
)


class SystemClock:
    """The real time, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class SqlUnitOfWork:
    """Every repository over one session; the store commits or rolls back around it."""

    def __init__(self, session: AsyncSession, dialect: str, clock: Clock) -> None:
        db = Db(session, dialect, clock)
        self.session = session
        self.inbox = SqlInboxRepo(db)
        self.users = SqlUserRepo(db)
        self.decisions = SqlDecisionRepo(db)
        self.outbox = SqlOutboxRepo(db)
        self.escalations = SqlEscalationRepo(db)
        self.feedback = SqlFeedbackRepo(db)
        self.audit = SqlAuditLog(db)
        self.kv = SqlKvRepo(db)


class SqlStore:
    """Opens units of work on one engine (SQLite file or PostgreSQL)."""

    def __init__(self, engine: AsyncEngine, clock: Clock | None = None) -> None:
        self.engine = engine
        self._clock = clock or SystemClock()
        # Repositories hand out frozen dataclasses, never ORM objects, so nothing needs
        # reloading after a commit.
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        # SQLite lets one transaction write at a time and every one of ours starts with
        # BEGIN IMMEDIATE. Queueing them here, in order, beats SQLite's busy handler, which
        # polls with sleeps of up to 100 ms; other processes still meet the busy timeout.
        self._one_writer = asyncio.Lock() if engine.dialect.name == "sqlite" else None

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[SqlUnitOfWork]:
        """A transaction: committed when the block exits cleanly, rolled back on an exception."""
        async with self._turn(), self._sessions() as session, session.begin():
            yield SqlUnitOfWork(session, self.engine.dialect.name, self._clock)

    @asynccontextmanager
    async def _turn(self) -> AsyncIterator[None]:
        if self._one_writer is None:
            yield
            return
        # Bounded like SQLite's own wait, so a bug that nests transactions fails, not hangs.
        async with asyncio.timeout(SQLITE_BUSY_TIMEOUT_MS / 1000):
            await self._one_writer.acquire()
        try:
            yield
        finally:
            self._one_writer.release()

    async def close(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()


async def create_store(
    url: str | URL, schema: str | None = None, *, migrate: bool = True, clock: Clock | None = None
) -> SqlStore:
    """Open the store, first bringing the schema to the newest migration unless told not to."""
    if migrate:
        await upgrade(url, schema)
    return SqlStore(create_engine_for(url, schema), clock)
