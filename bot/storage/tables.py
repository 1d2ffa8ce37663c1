"""SQLAlchemy models of the smmbot database; the schema itself changes only through migrations."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Named constraints let Alembic's SQLite batch mode find and rebuild them later.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments an INTEGER PRIMARY KEY, so ids are BIGINT everywhere else.
Id = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator[datetime]):
    """An aware datetime stored as UTC; SQLite keeps no zone, so naive values read back as UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: storage needs aware UTC times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base with the project's constraint naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UtcDateTime(),
        dict[str, Any]: JSON(),
    }


class Community(Base):
    """A chat or community the bot watches (one row per platform chat)."""

    __tablename__ = "communities"
    __table_args__ = (UniqueConstraint("platform", "chat_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(200))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]


class PlatformUser(Base):
    """What we remember about one author in one community."""

    __tablename__ = "platform_users"
    __table_args__ = (UniqueConstraint("platform", "community", "user_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    community: Mapped[str] = mapped_column(String(200))
    user_id: Mapped[int] = mapped_column(BigInteger)
    display_name: Mapped[str] = mapped_column(String(300), server_default="")
    clean_messages: Mapped[int] = mapped_column(Integer, server_default="0")
    strikes: Mapped[int] = mapped_column(Integer, server_default="0")
    trusted: Mapped[bool] = mapped_column(Boolean, server_default=false())
    banned: Mapped[bool] = mapped_column(Boolean, server_default=false())
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]


class InboxRow(Base):
    """An incoming event, stored before it is acknowledged to the platform."""

    __tablename__ = "inbox"
    __table_args__ = (
        Index("ix_inbox_community_received_at", "community", "received_at"),
        Index("ix_inbox_platform_community_author_id", "platform", "community", "author_id"),
        Index("ix_inbox_received_at_community", "received_at", "community"),
        # Partial index: the unprocessed tail stays small however long the inbox grows.
        Index(
            "ix_inbox_unprocessed",
            "received_at",
            "id",
            sqlite_where=text("processed_at IS NULL"),
            postgresql_where=text("processed_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    event_key: Mapped[str] = mapped_column(String(200), unique=True)
    platform: Mapped[str] = mapped_column(String(16))
    community: Mapped[str] = mapped_column(String(200))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[int] = mapped_column(BigInteger)
    author_id: Mapped[int] = mapped_column(BigInteger)
    text: Mapped[str] = mapped_column(Text)
    message: Mapped[dict[str, Any]]
    received_at: Mapped[datetime]
    processed_at: Mapped[datetime | None]
    verdict: Mapped[dict[str, Any] | None]
    error: Mapped[str | None] = mapped_column(Text)


class DecisionRow(Base):
    """What the rules decided about one inbox message."""

    __tablename__ = "decisions"
    __table_args__ = (
        Index("ix_decisions_label_created_at", "label", "created_at"),
        Index("ix_decisions_inbox_id_label", "inbox_id", "label"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    inbox_id: Mapped[int] = mapped_column(ForeignKey("inbox.id"), index=True)
    rule_id: Mapped[str] = mapped_column(String(100))
    label: Mapped[str] = mapped_column(String(16))  # the primary label, for fast counting
    labels: Mapped[list[str]] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text)
    dry_run: Mapped[bool] = mapped_column(Boolean)
    strike: Mapped[bool] = mapped_column(Boolean, server_default=false())
    clean: Mapped[bool] = mapped_column(Boolean, server_default=false())
    scores: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(index=True)


class OutboxRow(Base):
    """A planned action; the unique idempotency key keeps it from being planned twice."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_state_next_attempt_at", "state", "next_attempt_at"),
        Index("ix_outbox_inbox_id_state_kind", "inbox_id", "state", "kind"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    inbox_id: Mapped[int] = mapped_column(ForeignKey("inbox.id"), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(300), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    rule_id: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    platform_ref: Mapped[str | None] = mapped_column(String(200))
    claimed_by: Mapped[str | None] = mapped_column(String(100))  # the worker of the last attempt
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class EscalationRow(Base):
    """A message handed to the moderators, at most one per inbox message."""

    __tablename__ = "escalations"
    __table_args__ = (Index("ix_escalations_status_created_at", "status", "created_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    inbox_id: Mapped[int] = mapped_column(ForeignKey("inbox.id"), unique=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    reason: Mapped[str] = mapped_column(Text)
    suggested_reply: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    card_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    card_message_id: Mapped[int | None] = mapped_column(BigInteger)
    resolution: Mapped[str | None] = mapped_column(String(100))
    resolved_by: Mapped[int | None] = mapped_column(BigInteger)
    resolved_at: Mapped[datetime | None]
    reminded_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class FeedbackRow(Base):
    """A moderator's label for a message: tomorrow's training data."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    inbox_id: Mapped[int] = mapped_column(ForeignKey("inbox.id"), index=True)
    label: Mapped[str] = mapped_column(String(32))
    moderator_id: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]


class AuditRow(Base):
    """One line of the audit trail."""

    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    event: Mapped[str] = mapped_column(String(100))
    # No foreign key: the trail must accept every entry and outlive inbox pruning.
    inbox_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    detail: Mapped[dict[str, Any]]


class KvRow(Base):
    """Small named values adapters keep between runs (e.g. the VK long-poll `ts`)."""

    __tablename__ = "kv"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime]
