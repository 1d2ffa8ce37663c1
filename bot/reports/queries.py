"""SQL aggregation for reports: GROUP BY community, day and label on SQLite and PostgreSQL.

Every figure is bucketed by the UTC day its message arrived (`inbox.received_at`), so a day's
escalations and response times belong to that day's messages, whenever they were handled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Date, Float, Select, and_, case, cast, func, literal, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from bot.storage.tables import (
    DecisionRow,
    EscalationRow,
    FeedbackRow,
    InboxRow,
    OutboxRow,
    PlatformUser,
)

# Row shapes differ per query; callers unpack the tuples they know.
if TYPE_CHECKING:
    Query = Select[*tuple[Any, ...]]
else:
    Query = Select

# Resolutions that put an answer in front of the customer.
ANSWERING_RESOLUTIONS = ("send", "reply")
ANSWER_RULE_PREFIX = "answer-"  # decide.py names the reply of a matched answer `answer-<id>`
UNANSWERED_LIMIT = 2000  # newest questions grouped; older ones rarely change the top groups


@dataclass(frozen=True, slots=True)
class Scope:
    """Which messages a report covers: arrived in [start, end), optionally one community."""

    start: datetime
    end: datetime
    community: str | None = None
    dialect: str = "sqlite"

    def where(self) -> ColumnElement[bool]:
        """The filter on `inbox` rows."""
        clause = and_(InboxRow.received_at >= self.start, InboxRow.received_at < self.end)
        if self.community is not None:
            clause = and_(clause, InboxRow.community == self.community)
        return clause

    def day(self, column: Any) -> ColumnElement[Any]:
        """The UTC calendar day of a timestamp column."""
        if self.dialect == "postgresql":
            # timestamptz → UTC wall time first: date() would use the session's time zone.
            return cast(func.timezone("UTC", column), Date)
        # SQLite keeps UTC text as 'YYYY-MM-DD HH:MM:SS.ffffff'; cutting is cheaper than date().
        return func.substr(column, 1, 10)

    def epoch(self, column: Any) -> ColumnElement[float]:
        """Seconds since 1970 as a float, so durations never need Python datetimes."""
        if self.dialect == "postgresql":
            return cast(func.extract("epoch", column), Float())
        return (func.julianday(column) - 2440587.5) * 86400.0


def as_date(value: date | str) -> date:
    """A day from SQL: PostgreSQL returns `date`, SQLite an ISO string."""
    return value if isinstance(value, date) else date.fromisoformat(value)


async def fetch(session: AsyncSession, query: Query) -> Sequence[Any]:
    """All rows of a query, run on the session's connection: the ORM adds nothing to plain rows
    but costs about a microsecond per row, and response times come in hundreds of thousands."""
    connection = await session.connection()
    return list((await connection.execute(query)).all())


def label_counts(scope: Scope) -> Query:
    """(community, day, label, messages) by the decision's primary label."""
    day = scope.day(InboxRow.received_at).label("day")
    return (
        select(InboxRow.community, day, DecisionRow.label, func.count())
        .join(DecisionRow, DecisionRow.inbox_id == InboxRow.id)
        .where(scope.where())
        .group_by(InboxRow.community, day, DecisionRow.label)
    )


def action_counts(scope: Scope) -> Query:
    """(community, day, kind, is_answer, actions, distinct authors) of executed actions."""
    day = scope.day(InboxRow.received_at).label("day")
    is_answer = OutboxRow.rule_id.like(f"{ANSWER_RULE_PREFIX}%").label("is_answer")
    return (
        select(
            InboxRow.community,
            day,
            OutboxRow.kind,
            is_answer,
            func.count(),
            # Distinct authors matter for bans only; counting them for replies is wasted work.
            func.count(case((OutboxRow.kind.in_(("ban", "mute")), InboxRow.author_id)).distinct()),
        )
        .join(OutboxRow, OutboxRow.inbox_id == InboxRow.id)
        .where(scope.where(), OutboxRow.state == "done", OutboxRow.kind != "escalate")
        .group_by(InboxRow.community, day, OutboxRow.kind, is_answer)
    )


def escalation_counts(scope: Scope) -> Query:
    """(community, day, label, resolved 0/1, resolution, moderator, escalations).

    Grouping by moderator too costs a few more rows and saves a second pass for the workload.
    """
    day = scope.day(InboxRow.received_at).label("day")
    resolved = case((EscalationRow.resolved_at.is_(None), 0), else_=1).label("resolved")
    columns = (
        InboxRow.community,
        day,
        DecisionRow.label,
        resolved,
        EscalationRow.resolution,
        EscalationRow.resolved_by,
    )
    return (
        select(*columns, func.count())
        .join(EscalationRow, EscalationRow.inbox_id == InboxRow.id)
        .outerjoin(DecisionRow, DecisionRow.inbox_id == InboxRow.id)
        .where(scope.where())
        .group_by(*columns)
    )


def resolution_times(scope: Scope) -> Query:
    """(community, received epoch, moderator, seconds to resolve) per resolved escalation.

    Percentiles need every duration, so these rows are not grouped; the rest is.
    """
    took = scope.epoch(EscalationRow.resolved_at) - scope.epoch(EscalationRow.created_at)
    return (
        select(
            InboxRow.community,
            scope.epoch(InboxRow.received_at),
            func.coalesce(EscalationRow.resolved_by, 0),
            took,
        )
        .join(EscalationRow, EscalationRow.inbox_id == InboxRow.id)
        .where(scope.where(), EscalationRow.resolved_at.is_not(None))
    )


def first_responses(scope: Scope) -> Query:
    """(community, received epoch, first response epoch) for every message that got one.

    A response is a reply the bot sent (outbox `reply` done; its `updated_at` is when) or a
    moderator resolving the escalation, whichever came first after the message.
    """
    responses = union_all(
        select(OutboxRow.inbox_id, OutboxRow.updated_at.label("at")).where(
            OutboxRow.kind == "reply", OutboxRow.state == "done"
        ),
        select(EscalationRow.inbox_id, EscalationRow.resolved_at.label("at")).where(
            EscalationRow.resolved_at.is_not(None)
        ),
    ).subquery()
    return (
        select(
            InboxRow.community,
            scope.epoch(InboxRow.received_at),
            func.min(scope.epoch(responses.c.at)),
        )
        .join(responses, responses.c.inbox_id == InboxRow.id)
        .where(scope.where(), responses.c.at >= InboxRow.received_at)
        .group_by(InboxRow.id, InboxRow.community, InboxRow.received_at)
    )


def unanswered_questions(scope: Scope) -> Query:
    """(community, text) of escalated questions with no reply sent and no answering resolution."""
    replied = (
        select(literal(1))
        .where(
            OutboxRow.inbox_id == InboxRow.id,
            OutboxRow.kind == "reply",
            OutboxRow.state == "done",
        )
        .exists()
    )
    not_answered = or_(
        EscalationRow.resolution.is_(None),
        EscalationRow.resolution.not_in(ANSWERING_RESOLUTIONS),
    )
    return (
        select(InboxRow.community, InboxRow.text)
        .join(EscalationRow, EscalationRow.inbox_id == InboxRow.id)
        .join(DecisionRow, DecisionRow.inbox_id == InboxRow.id)
        .where(scope.where(), DecisionRow.label == "question", not_answered, ~replied)
        .order_by(InboxRow.received_at.desc())
        .limit(UNANSWERED_LIMIT)
    )


def feedback_counts(scope: Scope) -> Query:
    """(moderator, labels given) on messages of the period."""
    return (
        select(FeedbackRow.moderator_id, func.count())
        .join(InboxRow, InboxRow.id == FeedbackRow.inbox_id)
        .where(scope.where())
        .group_by(FeedbackRow.moderator_id)
    )


def user_names(user_ids: Sequence[int]) -> Query:
    """(user id, display name) for the moderators we happen to know as community members."""
    return (
        select(PlatformUser.user_id, func.max(PlatformUser.display_name))
        .where(PlatformUser.user_id.in_(user_ids), PlatformUser.display_name != "")
        .group_by(PlatformUser.user_id)
    )
