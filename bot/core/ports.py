"""Ports: the small interfaces the pipeline calls; adapters and storage implement them."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from bot.core.model import (
    ActionResult,
    AuthorStats,
    Decision,
    IncomingMessage,
    Label,
    PlannedAction,
    Platform,
    Verdict,
)


class OutboxState(StrEnum):
    """Life of a planned action in the outbox."""

    PENDING = "pending"  # planned, not tried yet (or waiting for a retry)
    IN_FLIGHT = "in_flight"  # a call to the platform was started
    DONE = "done"
    FAILED = "failed"  # gave up after a permanent error or too many attempts
    SKIPPED = "skipped"  # dry-run, or nothing to do any more
    UNCERTAIN = "uncertain"  # crashed mid-call on a non-idempotent action; not repeated


class EscalationStatus(StrEnum):
    """Where an escalation card stands."""

    OPEN = "open"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """A planned action as stored, with the message it concerns."""

    id: int
    inbox_id: int
    action: PlannedAction
    state: OutboxState
    attempts: int
    message: IncomingMessage


@dataclass(frozen=True, slots=True)
class EscalationRecord:
    """An escalation to the moderators, as stored."""

    id: int
    token: str  # opaque id used in callback data
    inbox_id: int
    reason: str
    suggested_reply: str | None
    status: EscalationStatus
    created_at: datetime
    card_chat_id: int | None = None
    card_message_id: int | None = None
    resolution: str | None = None
    resolved_by: int | None = None
    resolved_at: datetime | None = None
    reminded_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One line of the audit trail."""

    event: str  # kebab-case, e.g. "message-received", "action-done", "rules-rejected"
    detail: dict[str, Any]
    inbox_id: int | None = None
    actor: str = "bot"


class InboxRepo(Protocol):
    """Incoming events, persisted before they are acknowledged."""

    async def add(self, message: IncomingMessage, received_at: datetime) -> int | None:
        """Store a message; return its inbox id, or None when the event key was seen before."""
        ...

    async def get(self, inbox_id: int) -> IncomingMessage:
        """Load a stored message."""
        ...

    async def unprocessed(self, limit: int) -> list[int]:
        """Inbox ids not processed yet, oldest first (claimed for this worker)."""
        ...

    async def claim(self, inbox_id: int) -> bool:
        """Lock an unprocessed message for this transaction; False when done or held elsewhere."""
        ...

    async def mark_processed(
        self, inbox_id: int, verdict: Verdict | None, error: str | None = None
    ) -> None:
        """Record that a message was classified and decided (stamped with the store's clock)."""
        ...

    async def verdict(self, inbox_id: int) -> Verdict | None:
        """The verdict stored by mark_processed (None before processing)."""
        ...


class UserRepo(Protocol):
    """Per-community memory about authors: strikes, trust, reply counts."""

    async def stats(
        self,
        platform: Platform,
        community: str,
        user_id: int,
        now: datetime,
        *,
        replies: bool = True,
    ) -> AuthorStats:
        """What we know about an author in one community (`replies=False`: without counting
        the replies of the last hour, when only trust and strikes matter)."""
        ...

    async def record_message(
        self, platform: Platform, community: str, user_id: int, *, clean: bool, strike: bool
    ) -> AuthorStats:
        """Count one more clean message and/or strike for an author; return the new counters
        (replies are not counted: `replies_last_hour` is 0)."""
        ...

    async def set_banned(
        self, platform: Platform, community: str, user_id: int, banned: bool
    ) -> None:
        """Remember that an author was banned (or unbanned) in a community."""
        ...

    async def set_trusted(
        self, platform: Platform, community: str, user_id: int, trusted: bool
    ) -> None:
        """A moderator vouched for (or withdrew trust from) an author."""
        ...


class DecisionRepo(Protocol):
    """Decisions as made, one per inbox message (an edit is its own message)."""

    async def add(self, inbox_id: int, decision: Decision, verdict: Verdict) -> int:
        """Store a decision."""
        ...

    async def struck(self, message: IncomingMessage) -> bool:
        """Whether an earlier version of a message already cost its author a strike."""
        ...


class OutboxRepo(Protocol):
    """Planned actions, executed once each."""

    async def add(self, inbox_id: int, action: PlannedAction, state: OutboxState) -> int | None:
        """Plan an action; None when its idempotency key is already planned."""
        ...

    async def due(self, now: datetime, limit: int) -> list[OutboxItem]:
        """Pending actions whose next attempt is due, oldest first."""
        ...

    async def interrupted(self, owner: str | None, stale_before: datetime) -> list[OutboxItem]:
        """Actions left in flight: started by `owner` (a crash of this worker), or by anyone
        but untouched since `stale_before` (a worker that died and never came back)."""
        ...

    async def start(self, outbox_id: int, now: datetime, owner: str = "") -> bool:
        """Claim a pending action and count the attempt; False when another worker has it."""
        ...

    async def reclaim(
        self, outbox_id: int, state: OutboxState, now: datetime, *, error: str | None
    ) -> bool:
        """Move an interrupted action on, unless its call finished meanwhile (False then)."""
        ...

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
        """Record how an attempt ended (retry_at puts it back to pending for later)."""
        ...

    async def replies_since(
        self, platform: Platform, community: str, user_id: int, since: datetime
    ) -> int:
        """How many replies were planned to an author since a time (for per-user limits)."""
        ...


class EscalationRepo(Protocol):
    """Escalations to the moderators' chat."""

    async def open(
        self, inbox_id: int, reason: str, suggested_reply: str | None, now: datetime
    ) -> EscalationRecord:
        """Create (or return the existing) escalation for a message."""
        ...

    async def by_token(self, token: str) -> EscalationRecord | None:
        """Find an escalation by its opaque callback token."""
        ...

    async def for_inbox(self, inbox_id: int) -> EscalationRecord | None:
        """The escalation of one message, if any."""
        ...

    async def set_card(self, escalation_id: int, chat_id: int, message_id: int) -> None:
        """Remember where the card was posted."""
        ...

    async def resolve(
        self, escalation_id: int, resolution: str, moderator_id: int, now: datetime
    ) -> bool:
        """Close an open escalation; False when it was already resolved."""
        ...

    async def waiting(self, older_than: datetime) -> list[EscalationRecord]:
        """Open escalations created (or last reminded) before a time."""
        ...

    async def reminded(self, escalation_id: int, now: datetime) -> None:
        """Record that a reminder was sent."""
        ...


class FeedbackRepo(Protocol):
    """Labels given by moderators, used for retraining."""

    async def add(self, inbox_id: int, label: Label, moderator_id: int, now: datetime) -> None:
        """Store one moderator label for a message."""
        ...


class AuditLog(Protocol):
    """The audit trail: every step and its outcome."""

    async def record(self, entry: AuditEntry, now: datetime) -> None:
        """Append one entry."""
        ...


class UnitOfWork(Protocol):
    """One transaction over every repository; committed when the block exits cleanly."""

    @property
    def inbox(self) -> InboxRepo: ...
    @property
    def users(self) -> UserRepo: ...
    @property
    def decisions(self) -> DecisionRepo: ...
    @property
    def outbox(self) -> OutboxRepo: ...
    @property
    def escalations(self) -> EscalationRepo: ...
    @property
    def feedback(self) -> FeedbackRepo: ...
    @property
    def audit(self) -> AuditLog: ...


class Store(Protocol):
    """Opens units of work; the pipeline owns the transaction boundaries."""

    def begin(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """Start a transaction; commit on success, roll back on error."""
        ...


@dataclass(frozen=True, slots=True)
class EscalationCard:
    """What the moderators see about an escalated message (rendered by the moderators' adapter)."""

    escalation: EscalationRecord
    message: IncomingMessage
    verdict: Verdict | None
    reason: str


class Actions(Protocol):
    """Performs planned actions on a platform."""

    async def execute(
        self, message: IncomingMessage, action: PlannedAction, card: EscalationCard | None
    ) -> ActionResult:
        """Perform one action; platform errors are returned as data, never raised."""
        ...

    def is_idempotent(self, message: IncomingMessage, action: PlannedAction) -> bool:
        """True when repeating the call after a crash cannot do the thing twice."""
        ...


class ScoringEngine(Protocol):
    """Classifies messages off the event loop (the pipeline's view of the classifier cascade)."""

    async def score(
        self, messages: Sequence[IncomingMessage], skip_spam: Sequence[bool]
    ) -> list[Verdict]:
        """One verdict per message, in order; never raises (errors live in the scores)."""
        ...


class Clock(Protocol):
    """Current time (UTC, aware); injected so tests control it."""

    def now(self) -> datetime:
        """Now."""
        ...


class Intake(Protocol):
    """What a platform runner calls: persist first, acknowledge to the platform after."""

    async def receive(self, message: IncomingMessage) -> int | None:
        """Store a message in the inbox and wake the workers; None when it is a duplicate."""
        ...

    async def record_event(self, event: str, detail: dict[str, Any]) -> None:
        """Audit a non-message platform event (bot removed, rights changed, comment deleted…)."""
        ...


class ModeratorChoice(StrEnum):
    """The one-tap actions a moderator has on an escalation card."""

    SEND_SUGGESTED = "send"
    OWN_REPLY = "reply"
    DELETE = "delete"
    BAN = "ban"
    FINE = "fine"


@dataclass(frozen=True, slots=True)
class ModeratorAct:
    """A moderator's tap (or typed answer) on an escalation card."""

    token: str
    choice: ModeratorChoice
    moderator_id: int
    moderator_name: str
    text: str | None = None  # the moderator's own answer for OWN_REPLY


@dataclass(frozen=True, slots=True)
class ModeratorActResult:
    """What came of a moderator's act, for the card and the alert."""

    ok: bool
    message: str  # localised, shown to the moderator
    escalation: EscalationRecord | None = None
    card: EscalationCard | None = None


class ModeratorDesk(Protocol):
    """The moderators' side of the pipeline, called by the moderators' chat adapter."""

    async def act(self, act: ModeratorAct) -> ModeratorActResult:
        """Apply a moderator's choice to an escalation (once; a replay changes nothing)."""
        ...
