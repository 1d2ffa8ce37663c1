"""Repositories over one session; they never commit: the unit of work owns the transaction."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Executable, Row, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.model import (
    ActionKind,
    AuthorStats,
    Decision,
    IncomingMessage,
    Label,
    PlannedAction,
    Platform,
    Verdict,
)
from bot.core.ports import (
    AuditEntry,
    Clock,
    EscalationRecord,
    EscalationStatus,
    OutboxItem,
    OutboxState,
)
from bot.storage.codec import (
    action_from_row,
    action_payload,
    message_from_json,
    message_to_json,
    verdict_from_json,
    verdict_to_json,
)
from bot.storage.tables import (
    AuditRow,
    Community,
    DecisionRow,
    EscalationRow,
    FeedbackRow,
    InboxRow,
    KvRow,
    OutboxRow,
    PlatformUser,
)

# Replies in these states never reached the author, so they do not count toward limits.
_UNSENT = (OutboxState.SKIPPED.value, OutboxState.FAILED.value)
IN_FLIGHT = OutboxState.IN_FLIGHT.value


@dataclass(frozen=True, slots=True)
class Db:
    """What every repository of one unit of work shares."""

    session: AsyncSession
    dialect: str  # "sqlite" or "postgresql": picks the INSERT … ON CONFLICT flavour
    clock: Clock

    def insert(self, model: type[Any]) -> Any:
        """An INSERT that supports `on_conflict_do_nothing` / `on_conflict_do_update`."""
        return (postgresql.insert if self.dialect == "postgresql" else sqlite.insert)(model)

    async def rowcount(self, statement: Executable) -> int:
        """Run an UPDATE and say how many rows it changed."""
        result = await self.session.execute(statement)
        return cast(CursorResult[Any], result).rowcount

    async def scalar_int(self, statement: Executable) -> int:
        """Run a COUNT(*)-like query."""
        return int((await self.session.execute(statement)).scalar_one())


def _update(model: type[Any], *where: Any) -> Any:
    # Repositories read plain rows, never ORM objects, so there is nothing to synchronise.
    return update(model).where(*where).execution_options(synchronize_session=False)


async def count_replies(
    db: Db, platform: Platform, community: str, user_id: int, since: datetime
) -> int:
    """Replies planned to an author in a community since a time (sent or still to send)."""
    query = (
        select(func.count())
        .select_from(OutboxRow)
        .join(InboxRow, OutboxRow.inbox_id == InboxRow.id)
        .where(
            InboxRow.platform == platform.value,
            InboxRow.community == community,
            InboxRow.author_id == user_id,
            OutboxRow.kind == ActionKind.REPLY.value,
            OutboxRow.state.not_in(_UNSENT),
            OutboxRow.created_at >= since,
        )
    )
    return await db.scalar_int(query)


class SqlInboxRepo:
    """Incoming events, deduplicated by event key."""

    def __init__(self, db: Db) -> None:
        self._db = db

    async def add(self, message: IncomingMessage, received_at: datetime) -> int | None:
        """Store a message and remember its chat and author; None for a redelivered event."""
        statement = (
            self._db.insert(InboxRow)
            .values(**_inbox_values(message, received_at))
            .on_conflict_do_nothing(index_elements=["event_key"])
            .returning(InboxRow.id)
        )
        # ON CONFLICT keeps the transaction usable; a caught IntegrityError would abort it on
        # PostgreSQL. No row comes back when the key was already there.
        inbox_id = (await self._db.session.execute(statement)).scalar_one_or_none()
        if inbox_id is None:
            return None
        await self._remember_community(message, received_at)
        await self._remember_author(message, received_at)
        return int(inbox_id)

    async def _remember_community(self, message: IncomingMessage, seen: datetime) -> None:
        statement = self._db.insert(Community).values(
            platform=message.platform.value,
            name=message.community,
            chat_id=message.chat.chat_id,
            first_seen=seen,
            last_seen=seen,
        )
        await self._db.session.execute(
            statement.on_conflict_do_update(
                index_elements=["platform", "chat_id"],
                set_={"name": statement.excluded.name, "last_seen": statement.excluded.last_seen},
            )
        )

    async def _remember_author(self, message: IncomingMessage, seen: datetime) -> None:
        author = message.author
        statement = self._db.insert(PlatformUser).values(
            platform=message.platform.value,
            community=message.community,
            user_id=author.user_id,
            display_name=author.display_name,
            first_seen=seen,
            last_seen=seen,
        )
        changes: dict[str, Any] = {"last_seen": statement.excluded.last_seen}
        if author.display_name:  # some events carry no name; keep the one we know
            changes["display_name"] = statement.excluded.display_name
        await self._db.session.execute(
            statement.on_conflict_do_update(
                index_elements=["platform", "community", "user_id"], set_=changes
            )
        )

    async def get(self, inbox_id: int) -> IncomingMessage:
        """Load a stored message (KeyError when there is none)."""
        query = select(InboxRow.message).where(InboxRow.id == inbox_id)
        data = (await self._db.session.execute(query)).scalar_one_or_none()
        if data is None:
            raise KeyError(f"no inbox row {inbox_id}")
        return message_from_json(data)

    async def unprocessed(self, limit: int) -> list[int]:
        """Oldest unprocessed ids, locked for this transaction (other workers skip them)."""
        query = (
            select(InboxRow.id)
            .where(InboxRow.processed_at.is_(None))
            .order_by(InboxRow.received_at, InboxRow.id)
            .limit(limit)
            # SQLite renders no FOR UPDATE; its single writer lock serialises workers instead.
            .with_for_update(skip_locked=True)
        )
        return list((await self._db.session.execute(query)).scalars())

    async def claim(self, inbox_id: int) -> bool:
        """Lock one unprocessed message for this transaction; False if done or held elsewhere."""
        query = (
            select(InboxRow.id)
            .where(InboxRow.id == inbox_id, InboxRow.processed_at.is_(None))
            .with_for_update(skip_locked=True)
        )
        return (await self._db.session.execute(query)).scalar_one_or_none() is not None

    async def mark_processed(
        self, inbox_id: int, verdict: Verdict | None, error: str | None = None
    ) -> None:
        """Record that a message went through classification and decision."""
        await self._db.session.execute(
            _update(InboxRow, InboxRow.id == inbox_id).values(
                processed_at=self._db.clock.now(),
                verdict=None if verdict is None else verdict_to_json(verdict),
                error=error,
            )
        )

    async def verdict(self, inbox_id: int) -> Verdict | None:
        """The verdict stored by `mark_processed` (None before processing)."""
        query = select(InboxRow.verdict).where(InboxRow.id == inbox_id)
        data = (await self._db.session.execute(query)).scalar_one_or_none()
        return None if data is None else verdict_from_json(data)

    async def count(self, *, processed: bool | None = None) -> int:
        """How many messages are stored (optionally only processed or unprocessed ones)."""
        query = select(func.count()).select_from(InboxRow)
        if processed is not None:
            done = InboxRow.processed_at.is_not(None)
            query = query.where(done if processed else ~done)
        return await self._db.scalar_int(query)


def _inbox_values(message: IncomingMessage, received_at: datetime) -> dict[str, Any]:
    return {
        "event_key": message.event_key,
        "platform": message.platform.value,
        "community": message.community,
        "chat_id": message.chat.chat_id,
        "message_id": message.message_id,
        "author_id": message.author.user_id,
        "text": message.text,
        "message": message_to_json(message),
        "received_at": received_at,
    }


class SqlUserRepo:
    """Strikes, trust and clean-message counts per author and community."""

    def __init__(self, db: Db) -> None:
        self._db = db

    async def stats(
        self,
        platform: Platform,
        community: str,
        user_id: int,
        now: datetime,
        *,
        replies: bool = True,
    ) -> AuthorStats:
        """What we know about an author (all zeros for a stranger)."""
        query = select(*_STATS_COLUMNS).where(*_user_key(platform, community, user_id))
        row = (await self._db.session.execute(query)).one_or_none()
        counted = 0
        if replies:
            since = now - timedelta(hours=1)
            counted = await count_replies(self._db, platform, community, user_id, since)
        return _stats(row, counted)

    async def record_message(
        self, platform: Platform, community: str, user_id: int, *, clean: bool, strike: bool
    ) -> AuthorStats:
        """Add to the counters in one atomic upsert; return the new stats."""
        now = self._db.clock.now()
        statement = self._upsert(platform, community, user_id, now, clean=clean, strike=strike)
        return _stats((await self._db.session.execute(statement)).one(), replies=0)

    def _upsert(
        self, platform: Platform, community: str, user_id: int, now: datetime, **add: bool
    ) -> Any:
        clean, strike = int(add["clean"]), int(add["strike"])
        statement = self._db.insert(PlatformUser).values(
            **_user_values(platform, community, user_id, now),
            clean_messages=clean,
            strikes=strike,
        )
        # Counting in SQL (x = x + 1) keeps concurrent workers from losing an increment.
        increments = {
            "clean_messages": PlatformUser.clean_messages + clean,
            "strikes": PlatformUser.strikes + strike,
            "last_seen": now,
        }
        return statement.on_conflict_do_update(
            index_elements=["platform", "community", "user_id"], set_=increments
        ).returning(*_STATS_COLUMNS)

    async def set_trusted(
        self, platform: Platform, community: str, user_id: int, trusted: bool
    ) -> None:
        """A moderator vouched for (or withdrew trust from) an author."""
        await self._set_flag(platform, community, user_id, "trusted", trusted)

    async def set_banned(
        self, platform: Platform, community: str, user_id: int, banned: bool
    ) -> None:
        """Remember that an author was banned (or unbanned) in a community."""
        await self._set_flag(platform, community, user_id, "banned", banned)

    async def _set_flag(
        self, platform: Platform, community: str, user_id: int, flag: str, value: bool
    ) -> None:
        now = self._db.clock.now()
        statement = self._db.insert(PlatformUser).values(
            **_user_values(platform, community, user_id, now), **{flag: value}
        )
        await self._db.session.execute(
            statement.on_conflict_do_update(
                index_elements=["platform", "community", "user_id"], set_={flag: value}
            )
        )


_STATS_COLUMNS = (
    PlatformUser.clean_messages,
    PlatformUser.strikes,
    PlatformUser.banned,
    PlatformUser.trusted,
)


def _stats(row: Row[int, int, bool, bool] | None, replies: int) -> AuthorStats:
    if row is None:
        return AuthorStats(replies_last_hour=replies)
    return AuthorStats(
        clean_messages=row.clean_messages,
        strikes=row.strikes,
        replies_last_hour=replies,
        is_banned=row.banned,
        is_trusted_by_moderator=row.trusted,
    )


def _user_key(platform: Platform, community: str, user_id: int) -> tuple[Any, ...]:
    return (
        PlatformUser.platform == platform.value,
        PlatformUser.community == community,
        PlatformUser.user_id == user_id,
    )


def _user_values(
    platform: Platform, community: str, user_id: int, now: datetime
) -> dict[str, Any]:
    return {
        "platform": platform.value,
        "community": community,
        "user_id": user_id,
        "first_seen": now,
        "last_seen": now,
    }


class SqlDecisionRepo:
    """Decisions as made."""

    def __init__(self, db: Db) -> None:
        self._db = db

    async def add(self, inbox_id: int, decision: Decision, verdict: Verdict) -> int:
        """Store a decision with the scores it was based on."""
        statement = (
            self._db.insert(DecisionRow)
            .values(
                inbox_id=inbox_id,
                rule_id=decision.rule_id,
                label=decision.labels[0].value if decision.labels else "other",
                labels=[label.value for label in decision.labels],
                reason=decision.reason,
                dry_run=decision.dry_run,
                strike=decision.strike,
                clean=decision.clean,
                scores=verdict_to_json(verdict),
                created_at=self._db.clock.now(),
            )
            .returning(DecisionRow.id)
        )
        return int((await self._db.session.execute(statement)).scalar_one())

    async def struck(self, message: IncomingMessage) -> bool:
        """Whether an earlier version of a message already cost its author a strike."""
        query = (
            select(DecisionRow.id)
            .join(InboxRow, DecisionRow.inbox_id == InboxRow.id)
            .where(  # the author's messages first: ix_inbox_platform_community_author_id
                InboxRow.platform == message.platform.value,
                InboxRow.community == message.community,
                InboxRow.author_id == message.author.user_id,
                InboxRow.chat_id == message.chat.chat_id,
                InboxRow.message_id == message.message_id,
                DecisionRow.strike.is_(True),
            )
            .limit(1)
        )
        return (await self._db.session.execute(query)).first() is not None


_OUTBOX_COLUMNS = (
    OutboxRow.id,
    OutboxRow.inbox_id,
    OutboxRow.kind,
    OutboxRow.rule_id,
    OutboxRow.idempotency_key,
    OutboxRow.payload,
    OutboxRow.state,
    OutboxRow.attempts,
    InboxRow.message,
)


class SqlOutboxRepo:
    """Planned actions and their attempts."""

    def __init__(self, db: Db) -> None:
        self._db = db

    async def add(self, inbox_id: int, action: PlannedAction, state: OutboxState) -> int | None:
        """Plan an action; None when its idempotency key is already planned."""
        now = self._db.clock.now()
        statement = (
            self._db.insert(OutboxRow)
            .values(
                inbox_id=inbox_id,
                idempotency_key=action.idempotency_key,
                kind=action.kind.value,
                rule_id=action.rule_id,
                payload=action_payload(action),
                state=state.value,
                attempts=0,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["idempotency_key"])
            .returning(OutboxRow.id)
        )
        outbox_id = (await self._db.session.execute(statement)).scalar_one_or_none()
        return None if outbox_id is None else int(outbox_id)

    async def due(self, now: datetime, limit: int) -> list[OutboxItem]:
        """Pending actions whose attempt is due, oldest first, locked for this transaction."""
        ready = or_(OutboxRow.next_attempt_at.is_(None), OutboxRow.next_attempt_at <= now)
        where = and_(OutboxRow.state == OutboxState.PENDING.value, ready)
        return await self._items(where, limit)

    async def interrupted(self, owner: str | None, stale_before: datetime) -> list[OutboxItem]:
        """Actions in flight that were started by `owner` or not touched since `stale_before`."""
        # With several workers, a fresh IN_FLIGHT row may belong to a live peer, not a crash:
        # only our own rows, ownerless ones and rows older than any call can take are recovered.
        mine = or_(OutboxRow.claimed_by.is_(None), OutboxRow.claimed_by == (owner or ""))
        recoverable = OutboxRow.updated_at < stale_before
        if owner is not None:
            recoverable = or_(mine, recoverable)
        return await self._items(and_(OutboxRow.state == IN_FLIGHT, recoverable), None)

    async def _items(self, where: Any, limit: int | None) -> list[OutboxItem]:
        query = (
            select(*_OUTBOX_COLUMNS)
            .join(InboxRow, OutboxRow.inbox_id == InboxRow.id)
            .where(where)
            .order_by(OutboxRow.id)
            .limit(limit)
            # Lock only the outbox rows: the inbox row stays free for readers and other claims.
            .with_for_update(of=OutboxRow, skip_locked=True)
        )
        return [_outbox_item(row) for row in await self._db.session.execute(query)]

    async def start(self, outbox_id: int, now: datetime, owner: str = "") -> bool:
        """Claim a pending action and count the attempt; False when someone else has it."""
        # Conditional on PENDING, so two workers that both saw the row cannot both run it.
        pending = and_(OutboxRow.id == outbox_id, OutboxRow.state == OutboxState.PENDING.value)
        result = await self._db.session.execute(
            _update(OutboxRow, pending).values(
                state=IN_FLIGHT, attempts=OutboxRow.attempts + 1, claimed_by=owner, updated_at=now
            )
        )
        return bool(getattr(result, "rowcount", 0))

    async def reclaim(
        self, outbox_id: int, state: OutboxState, now: datetime, *, error: str | None
    ) -> bool:
        """Move an interrupted action to `state` (due now if pending) if still in flight."""
        in_flight = and_(OutboxRow.id == outbox_id, OutboxRow.state == IN_FLIGHT)
        due = now if state is OutboxState.PENDING else None
        result = await self._db.session.execute(
            _update(OutboxRow, in_flight).values(
                state=state.value, last_error=error, next_attempt_at=due, updated_at=now
            )
        )
        return bool(getattr(result, "rowcount", 0))

    async def finish(
        self,
        outbox_id: int,
        state: OutboxState,
        now: datetime,
        *,
        error: str | None = None,
        platform_ref: str | None = None,
        retry_at: datetime | None = None,
    ) -> None:
        """Record how an attempt ended; `retry_at` puts the action back to pending."""
        final = OutboxState.PENDING if retry_at is not None else state
        await self._db.session.execute(
            _update(OutboxRow, OutboxRow.id == outbox_id).values(
                state=final.value,
                last_error=error,
                # A retry that fails must not forget the ref an earlier attempt got back.
                platform_ref=func.coalesce(platform_ref, OutboxRow.platform_ref),
                next_attempt_at=retry_at,
                updated_at=now,
            )
        )

    async def replies_since(
        self, platform: Platform, community: str, user_id: int, since: datetime
    ) -> int:
        """How many replies were planned to an author since a time (skipped/failed excluded)."""
        return await count_replies(self._db, platform, community, user_id, since)

    async def counts_by_state(self) -> dict[OutboxState, int]:
        """Queue depth per state (states with no rows are 0)."""
        query = select(OutboxRow.state, func.count()).group_by(OutboxRow.state)
        counts = dict.fromkeys(OutboxState, 0)
        for state, count in await self._db.session.execute(query):
            counts[OutboxState(state)] = int(count)
        return counts


def _outbox_item(row: Row[Any]) -> OutboxItem:
    return OutboxItem(
        id=row.id,
        inbox_id=row.inbox_id,
        action=action_from_row(row.kind, row.rule_id, row.idempotency_key, row.payload),
        state=OutboxState(row.state),
        attempts=row.attempts,
        message=message_from_json(row.message),
    )


_OPEN = EscalationRow.status == EscalationStatus.OPEN.value


class SqlEscalationRepo:
    """Escalations to the moderators, resolved at most once."""

    def __init__(self, db: Db) -> None:
        self._db = db

    async def open(
        self, inbox_id: int, reason: str, suggested_reply: str | None, now: datetime
    ) -> EscalationRecord:
        """Create the escalation of a message, or return the one it already has."""
        statement = self._db.insert(EscalationRow).values(
            inbox_id=inbox_id,
            token=secrets.token_urlsafe(12),
            reason=reason,
            suggested_reply=suggested_reply,
            status=EscalationStatus.OPEN.value,
            created_at=now,
        )
        # Two workers escalating the same message at once both get the one row that won.
        await self._db.session.execute(
            statement.on_conflict_do_nothing(index_elements=["inbox_id"])
        )
        record = await self.for_inbox(inbox_id)
        assert record is not None  # just inserted, or there before
        return record

    async def by_token(self, token: str) -> EscalationRecord | None:
        """Find an escalation by its opaque callback token."""
        return await self._one(EscalationRow.token == token)

    async def for_inbox(self, inbox_id: int) -> EscalationRecord | None:
        """The escalation of one message, if any."""
        return await self._one(EscalationRow.inbox_id == inbox_id)

    async def _one(self, where: Any) -> EscalationRecord | None:
        query = select(*EscalationRow.__table__.c).where(where)
        row = (await self._db.session.execute(query)).one_or_none()
        return None if row is None else _escalation(row)

    async def set_card(self, escalation_id: int, chat_id: int, message_id: int) -> None:
        """Remember where the card was posted."""
        await self._db.session.execute(
            _update(EscalationRow, EscalationRow.id == escalation_id).values(
                card_chat_id=chat_id, card_message_id=message_id
            )
        )

    async def resolve(
        self, escalation_id: int, resolution: str, moderator_id: int, now: datetime
    ) -> bool:
        """Close an open escalation; False when someone else resolved it first."""
        # The status check in the UPDATE itself makes two simultaneous taps resolve once.
        statement = _update(EscalationRow, EscalationRow.id == escalation_id, _OPEN).values(
            status=EscalationStatus.RESOLVED.value,
            resolution=resolution,
            resolved_by=moderator_id,
            resolved_at=now,
        )
        return await self._db.rowcount(statement) == 1

    async def waiting(self, older_than: datetime) -> list[EscalationRecord]:
        """Open escalations created (or last reminded) before a time, oldest first."""
        last_touch = func.coalesce(EscalationRow.reminded_at, EscalationRow.created_at)
        query = (
            select(*EscalationRow.__table__.c)
            .where(_OPEN, last_touch < older_than)
            .order_by(EscalationRow.created_at, EscalationRow.id)
        )
        return [_escalation(row) for row in await self._db.session.execute(query)]

    async def reminded(self, escalation_id: int, now: datetime) -> None:
        """Record that a reminder was sent."""
        await self._db.session.execute(
            _update(EscalationRow, EscalationRow.id == escalation_id).values(reminded_at=now)
        )

    async def open_count(self) -> int:
        """How many escalations wait for a moderator."""
        return await self._db.scalar_int(
            select(func.count()).select_from(EscalationRow).where(_OPEN)
        )


def _escalation(row: Row[Any]) -> EscalationRecord:
    return EscalationRecord(
        id=row.id,
        token=row.token,
        inbox_id=row.inbox_id,
        reason=row.reason,
        suggested_reply=row.suggested_reply,
        status=EscalationStatus(row.status),
        created_at=row.created_at,
        card_chat_id=row.card_chat_id,
        card_message_id=row.card_message_id,
        resolution=row.resolution,
        resolved_by=row.resolved_by,
        resolved_at=row.resolved_at,
        reminded_at=row.reminded_at,
    )


class SqlFeedbackRepo:
    """Moderator labels for retraining."""

    def __init__(self, db: Db) -> None:
        self._db = db

    async def add(self, inbox_id: int, label: Label, moderator_id: int, now: datetime) -> None:
        """Store one moderator label for a message."""
        statement = self._db.insert(FeedbackRow).values(
            inbox_id=inbox_id, label=label.value, moderator_id=moderator_id, created_at=now
        )
        await self._db.session.execute(statement)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """An audit entry as stored, with its id and time."""

    id: int
    at: datetime
    entry: AuditEntry


class SqlAuditLog:
    """The append-only audit trail."""

    def __init__(self, db: Db) -> None:
        self._db = db

    async def record(self, entry: AuditEntry, now: datetime) -> None:
        """Append one entry."""
        statement = self._db.insert(AuditRow).values(
            at=now,
            event=entry.event,
            inbox_id=entry.inbox_id,
            actor=entry.actor,
            detail=entry.detail,
        )
        await self._db.session.execute(statement)

    async def recent(self, limit: int) -> list[AuditRecord]:
        """The newest entries, newest first."""
        query = select(*AuditRow.__table__.c).order_by(AuditRow.id.desc()).limit(limit)
        return [_audit(row) for row in await self._db.session.execute(query)]


def _audit(row: Row[Any]) -> AuditRecord:
    entry = AuditEntry(event=row.event, detail=row.detail, inbox_id=row.inbox_id, actor=row.actor)
    return AuditRecord(id=row.id, at=row.at, entry=entry)


class SqlKvRepo:
    """Small named values kept between runs (e.g. the VK long-poll `ts`)."""

    def __init__(self, db: Db) -> None:
        self._db = db

    async def get(self, key: str) -> str | None:
        """The value under a key, or None."""
        query = select(KvRow.value).where(KvRow.key == key)
        return (await self._db.session.execute(query)).scalar_one_or_none()

    async def lease(self, key: str, owner: str, expired_before: datetime) -> bool:
        """Take or renew a lease: True when `owner` holds `key` after this call.

        One atomic upsert: the row is taken over only when it is ours already or its holder has
        not renewed it since `expired_before` (its process died), so two workers never both win.
        """
        now = self._db.clock.now()
        statement = self._db.insert(KvRow).values(key=key, value=owner, updated_at=now)
        await self._db.session.execute(
            statement.on_conflict_do_update(
                index_elements=["key"],
                set_={"value": owner, "updated_at": now},
                where=or_(KvRow.value == owner, KvRow.updated_at < expired_before),
            )
        )
        return await self.get(key) == owner

    async def set(self, key: str, value: str) -> None:
        """Store a value, replacing any previous one."""
        now = self._db.clock.now()
        statement = self._db.insert(KvRow).values(key=key, value=value, updated_at=now)
        await self._db.session.execute(
            statement.on_conflict_do_update(
                index_elements=["key"], set_={"value": value, "updated_at": now}
            )
        )
