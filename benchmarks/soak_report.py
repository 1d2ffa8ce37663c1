"""The soak's verdict: the database and the emulators' records, compared."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from benchmarks.soak_check import Key, Performed, percentile
from benchmarks.soak_db import Database

KINDS = ("reply", "delete", "ban", "mute")
# VK flood control (error 9) pauses a method for minutes, and the rows it holds back are
# waiting, not lost: the report shows them apart and the soak does not wait for them.
FLOOD_DEFERRED = "state = 'pending' AND COALESCE(last_error, '') LIKE '%[9] Flood control%'"


@dataclass
class Report:
    """Everything the soak prints; `ok` is the pass/fail verdict."""

    sent: int = 0
    stored: int = 0
    decided: int = 0
    decisions: int = 0
    lost: list[Key] = field(default_factory=list)
    outbox: dict[str, Counter[str]] = field(default_factory=dict)  # kind -> state -> rows
    performed: dict[str, int] = field(default_factory=dict)
    duplicate_replies: int = 0
    duplicate_strikes: int = 0
    missing_strikes: int = 0
    latency: dict[str, tuple[float, float, int]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    settled: bool = True

    @property
    def ok(self) -> bool:
        """0 lost and 0 duplicated; a drain that never finished fails too."""
        clean = not self.lost and not self.duplicate_replies and not self.duplicate_strikes
        return clean and self.settled

    @property
    def uncertain(self) -> int:
        return sum(states.get("uncertain", 0) for states in self.outbox.values())

    def lines(self) -> list[str]:
        out = [
            f"events sent:       {self.sent}",
            f"events stored:     {self.stored} (inbox rows from customers)",
            f"events processed:  {self.decided} decided ({self.decisions} decision rows)",
            f"events lost:       {len(self.lost)} {self.lost[:5] if self.lost else ''}".rstrip(),
        ]
        for kind in KINDS:
            states = self.outbox.get(kind, Counter())
            detail = ", ".join(f"{s} {n}" for s, n in sorted(states.items())) or "none"
            label = "replies:" if kind == "reply" else f"{kind}s:"
            out.append(f"{label:<18} outbox {detail}; performed {self.performed.get(kind, 0)}")
        out += [
            f"duplicates:        {self.duplicate_replies} replies posted twice, "
            f"{self.duplicate_strikes} strikes counted twice "
            f"({self.missing_strikes} strikes missing)",
            f"uncertain actions: {self.uncertain}",
        ]
        for kind, (p50, p99, count) in self.latency.items():
            out.append(f"latency {kind + ':':<10} p50 {p50:.2f} s, p99 {p99:.2f} s (n={count})")
        return out + [f"note: {note}" for note in self.notes]


async def build_report(
    db: Database, pushed: Sequence[Any], performed: Performed, report: Report
) -> Report:
    """Fill a report from the database and the emulators (`pushed` are soak.Pushed)."""
    report.sent = len(pushed)
    stored = {
        (platform, int(chat), int(message))
        for platform, chat, message in await db.rows(
            "SELECT platform, chat_id, message_id FROM inbox WHERE author_id > 0"
        )
    }
    report.stored = len(stored)
    report.lost = [p.key for p in pushed if p.key not in stored]
    report.decided = await db.value("SELECT count(DISTINCT inbox_id) FROM decisions")
    report.decisions = await db.value("SELECT count(*) FROM decisions")
    for kind, state, rows in await db.rows(
        f"SELECT kind, CASE WHEN {FLOOD_DEFERRED} THEN 'deferred by VK flood control' "
        "ELSE state END AS shown, count(*) FROM outbox GROUP BY kind, shown"
    ):
        report.outbox.setdefault(kind, Counter())[state] = rows
    report.performed = {
        "reply": sum(performed.replies.values()),
        "delete": len(performed.deletes),
        "ban": len(performed.bans),
    }
    report.duplicate_replies = performed.duplicate_replies
    await _strikes(db, report)
    _latency(pushed, performed, report)
    return report


async def _strikes(db: Database, report: Report) -> None:
    # A strike is one spam decision: the author's counter must equal their strike decisions.
    decided = {
        (platform, community, int(author)): count
        for platform, community, author, count in await db.rows(
            "SELECT i.platform, i.community, i.author_id, count(DISTINCT d.inbox_id) "
            "FROM decisions d JOIN inbox i ON i.id = d.inbox_id WHERE d.strike "
            "GROUP BY i.platform, i.community, i.author_id"
        )
    }
    counted = {
        (platform, community, int(user)): strikes
        for platform, community, user, strikes in await db.rows(
            "SELECT platform, community, user_id, strikes FROM platform_users"
        )
    }
    for author in decided.keys() | counted.keys():
        difference = counted.get(author, 0) - decided.get(author, 0)
        report.duplicate_strikes += max(0, difference)
        report.missing_strikes += max(0, -difference)


def _latency(pushed: Sequence[Any], performed: Performed, report: Report) -> None:
    for kind, times in (("reply", performed.reply_at), ("delete", performed.delete_at)):
        done = performed.replies if kind == "reply" else performed.deletes
        delays = [times[p.key] - p.at for p in pushed if p.key in times and p.key in done]
        report.latency[kind] = (percentile(delays, 0.5), percentile(delays, 0.99), len(delays))
