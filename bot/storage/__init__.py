"""Storage: SQLAlchemy models, Alembic migrations and the `Store` port on SQLite or PostgreSQL."""

from bot.storage.db import DEFAULT_URL, create_engine_for
from bot.storage.migrate import database_revision, head_revision, upgrade
from bot.storage.store import SqlStore, SqlUnitOfWork, SystemClock, create_store

__all__ = [
    "DEFAULT_URL",
    "SqlStore",
    "SqlUnitOfWork",
    "SystemClock",
    "create_engine_for",
    "create_store",
    "database_revision",
    "head_revision",
    "upgrade",
]
