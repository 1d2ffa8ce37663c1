"""`smmbot demo`: real sample messages through the whole pipeline, printed as they are handled."""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

from bot.adapters.recording import RecordingActions
from bot.app import Core, build_core
from bot.core.language import guess_language
from bot.core.model import (
    ActionKind,
    ChatRef,
    IncomingMessage,
    Label,
    Outcome,
    Platform,
    Surface,
    UserRef,
)
from bot.core.ports import ModeratorAct, ModeratorChoice
from bot.core.rules import RuleSet
from bot.i18n import t
from bot.rules_file import RulesSource
from bot.settings import Settings

DEMO_DIR = Path(__file__).resolve().parent
MESSAGES = DEMO_DIR / "messages.jsonl"
EXAMPLE_RULES = DEMO_DIR.parent.parent / "rules.yaml"
DEMO_MODERATOR = (900001, "Demo moderator")


@dataclass(frozen=True, slots=True)
class DemoRow:
    """One bundled sample: who says what, where."""

    community: str
    user: int
    text: str
    source: str


def load_rows(path: Path = MESSAGES) -> list[DemoRow]:
    """The bundled sample messages (see ATTRIBUTION.md beside them)."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [DemoRow(**row) for row in rows]


def to_message(
    row: DemoRow, index: int, run: str, rules: RuleSet, now: datetime
) -> IncomingMessage:
    """Turn a sample into what an adapter would have produced."""
    community = rules.community(row.community)
    platform = Platform.TELEGRAM if community.telegram else Platform.VK
    chat_id = community.telegram.chat_id if community.telegram else -community.vk.group_id  # type: ignore[union-attr]
    surface = Surface.GROUP if community.telegram else Surface.WALL_COMMENT
    return IncomingMessage(
        platform=platform,
        event_key=f"demo:{run}:{index}",
        community=row.community,
        chat=ChatRef(platform, chat_id),
        message_id=index + 1,
        author=UserRef(platform, row.user, display_name=f"user{row.user}"),
        text=row.text,
        date=now,
        surface=surface,
        thread_id=None if community.telegram else 1,
        language=guess_language(row.text),
    )


async def run_demo(settings: Settings, out: TextIO, language: str | None = None) -> int:
    """Replay the samples, play a moderator on the escalations, print a summary."""
    rules = RulesSource(settings.rules if settings.rules.exists() else EXAMPLE_RULES)
    lang = language or rules.rules.language
    actions = RecordingActions(rules.rules.moderators.telegram_chat_id or 0)
    core = await build_core(settings, rules, actions)
    try:
        rows = load_rows()
        print(t("demo-title", lang, count=len(rows)), file=out)
        outcomes = await _replay(core, actions, rows, lang, out)
        await _moderate(core, actions, lang, out)
        print(_summary(outcomes, actions, settings.database_url, lang), file=out)
    finally:
        await core.close()
    return 0


async def _replay(
    core: Core, actions: RecordingActions, rows: list[DemoRow], lang: str, out: TextIO
) -> list[Outcome]:
    run, now = str(int(time.time())), datetime.now(UTC)
    outcomes = []
    for index, row in enumerate(rows):
        message = to_message(row, index, run, core.rules.rules, now + timedelta(seconds=index))
        await core.pipeline.receive(message)
        before = len(actions.performed)
        processed = await core.pipeline.process_pending()
        await core.pipeline.drain()
        outcomes.extend(processed)
        for outcome in processed:
            _print_outcome(message, outcome, actions.performed[before:], lang, out)
    return outcomes


def _print_outcome(
    message: IncomingMessage, outcome: Outcome, performed: list, lang: str, out: TextIO
) -> None:
    decision, verdict = outcome.decision, outcome.verdict
    text = " ".join(message.text.split())
    print(f"\n[{message.community}] user{message.author.user_id}: {text[:110]}", file=out)
    if verdict is not None:
        scores = "  ".join(
            f"{t('label-' + k, lang)} {v:.2f}" for k, v in verdict.as_dict().items()
        )
        print(f"  {scores}", file=out)
        for reason in verdict.reasons()[:4]:
            print(f"    · {reason}", file=out)
    if decision is None:
        return
    labels = ", ".join(t(f"label-{label.value}", lang) for label in decision.labels)
    print(f"  → {labels}: {decision.rule_id} ({decision.reason})", file=out)
    if not performed:
        print(f"  ✓ {t('demo-no-action', lang)}", file=out)
    for record in performed:
        detail = f": {record.action.text[:90]}" if record.action.text else ""
        print(f"  ✓ {t('action-' + record.action.kind.value, lang)}{detail}", file=out)


async def _moderate(core: Core, actions: RecordingActions, lang: str, out: TextIO) -> None:
    # Play the moderator: send the suggested reply where there is one, otherwise mark as fine.
    cards = [r.card for r in actions.performed if r.action.kind is ActionKind.ESCALATE and r.card]
    for card in cards:
        choice = (
            ModeratorChoice.SEND_SUGGESTED
            if card.escalation.suggested_reply
            else ModeratorChoice.FINE
        )
        act = ModeratorAct(card.escalation.token, choice, *DEMO_MODERATOR)
        result = await core.desk.act(act)
        await core.pipeline.drain()
        print(f"\n[moderator] #{card.escalation.id} {card.reason} → {result.message}", file=out)


def _summary(outcomes: list[Outcome], actions: RecordingActions, database: str, lang: str) -> str:
    labels = Counter(
        (o.decision.labels[0] if o.decision and o.decision.labels else Label.OTHER).value
        for o in outcomes
    )
    kinds = Counter(r.action.kind for r in actions.performed)
    return "\n" + t(
        "demo-summary",
        lang,
        messages=len(outcomes),
        spam=labels["spam"],
        negative=labels["negative"],
        question=labels["question"],
        other=labels["other"],
        replies=kinds[ActionKind.REPLY],
        deletes=kinds[ActionKind.DELETE],
        bans=kinds[ActionKind.BAN] + kinds[ActionKind.MUTE],
        escalations=kinds[ActionKind.ESCALATE],
        failed=0,
        database=database,
    )
