"""`smmbot demo`: the real service against local Telegram and VK emulators, with a live log.

The demo starts both emulators on 127.0.0.1, runs `smmbot run` wired to them, replays real sample
messages into a brand group, a channel's discussion group, private chats and a VK community, and
plays a moderator who taps buttons on the escalation cards. Nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import yaml
from pydantic import SecretStr
from sqlalchemy import select

from bot.adapters.sandbox.telegram import FakeTelegram, make_user
from bot.adapters.sandbox.vk import FakeVK
from bot.core.rules import RuleSet
from bot.i18n import t
from bot.rules_file import RulesSource
from bot.service import run_service
from bot.settings import Settings
from bot.storage.db import display_url, sqlite_file
from bot.storage.stats import activity
from bot.storage.store import SqlStore, create_store
from bot.storage.tables import DecisionRow, EscalationRow, InboxRow, OutboxRow

DEMO_DIR = Path(__file__).resolve().parent
MESSAGES = DEMO_DIR / "messages.jsonl"
EXAMPLE_RULES = DEMO_DIR.parent.parent / "rules.yaml"
MODERATOR = make_user(900001, "Mila", username="mila_moderator")
CHANNEL_POST = "Новинка: уишаньский Да Хун Пао, −20% всю неделю. Доставка по России бесплатно."
STEP_TIMEOUT = 30.0
UNFINISHED = ("pending", "in_flight")


@dataclass(frozen=True, slots=True)
class DemoRow:
    """One bundled sample: who says what, where."""

    community: str
    user: int
    text: str
    source: str
    via: str = "public"  # "public" or "private"
    edit: str | None = None  # the text the author later edits the message into


@dataclass
class Sandbox:
    """The emulators and the ids the example rules.yaml uses."""

    telegram: FakeTelegram
    vk: FakeVK
    rules: RuleSet
    store: SqlStore
    lang: str
    out: TextIO
    channel_post: dict[str, Any] | None = None
    started: datetime = field(default_factory=lambda: datetime.now(UTC))


def load_rows(path: Path = MESSAGES) -> list[DemoRow]:
    """The bundled sample messages (see ATTRIBUTION.md beside them)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [DemoRow(**json.loads(line)) for line in lines if line.strip()]


async def run_demo(settings: Settings, out: TextIO, language: str | None = None) -> int:
    """Start the emulators and the service, replay the samples, moderate, summarise."""
    with tempfile.TemporaryDirectory(prefix="smmbot-demo-") as folder:
        source = settings.rules if settings.rules.exists() else EXAMPLE_RULES
        rules_path = _in_language(source, language, Path(folder))
        rules = RulesSource(rules_path).rules
        async with FakeTelegram() as telegram:
            vk = FakeVK(group_id=_vk_group(rules), group_name="Tea & Co", max_wait=0.5)
            await vk.start()
            try:
                return await _with_service(
                    settings, rules_path, rules, telegram, vk, rules.language, out
                )
            finally:
                await vk.stop()


def _in_language(path: Path, language: str | None, folder: Path) -> Path:
    # --language switches the cards and notices too, so the copy of the rules says it.
    if language is None:
        return path
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["language"] = language
    copy = folder / "rules.yaml"
    copy.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return copy


async def _with_service(
    settings: Settings,
    rules_path: Path,
    rules: RuleSet,
    telegram: FakeTelegram,
    vk: FakeVK,
    lang: str,
    out: TextIO,
) -> int:
    _set_up_chats(telegram, rules)
    service_settings = _service_settings(settings, rules_path, telegram, vk)
    store = await create_store(settings.database_url)
    stop = asyncio.Event()
    service = asyncio.create_task(run_service(service_settings, stop=stop))
    box = Sandbox(telegram, vk, rules, store, lang, out)
    try:
        await telegram.wait_for_calls("getUpdates", within=STEP_TIMEOUT)
        await _replay(box, load_rows())
        await _moderate(box)
        await _summary(box, settings.database_url)
    finally:
        stop.set()
        code = await asyncio.wait_for(service, STEP_TIMEOUT)
        await store.close()
    return code


def _vk_group(rules: RuleSet) -> int:
    return next((c.vk.group_id for c in rules.communities if c.vk), 1)


def _set_up_chats(telegram: FakeTelegram, rules: RuleSet) -> None:
    for community in rules.communities:
        if community.telegram is None:
            continue
        linked = community.telegram.linked_channel_id
        if linked is not None:
            telegram.add_chat(linked, "channel", f"{community.name} (channel)")
        telegram.add_chat(community.telegram.chat_id, title=community.name, linked_chat_id=linked)
    moderators = rules.moderators.telegram_chat_id
    if moderators is not None:
        telegram.add_chat(moderators, title="Moderators")
        telegram.add_admin(moderators, MODERATOR)


def _service_settings(
    settings: Settings, rules_path: Path, telegram: FakeTelegram, vk: FakeVK
) -> Settings:
    return settings.model_copy(
        update={
            "rules": rules_path,
            "telegram": settings.telegram.model_copy(
                update={
                    "token": SecretStr(telegram.token),
                    "api_base": telegram.base_url,
                    "polling_timeout": 1,
                }
            ),
            "vk": settings.vk.model_copy(
                update={
                    "group_id": vk.group_id,
                    "group_token": SecretStr(vk.group_token),
                    "user_token": SecretStr(vk.user_token),
                    "api_base": vk.base_url,
                    "longpoll_wait": 1,
                }
            ),
        }
    )


# --- replay ------------------------------------------------------------------------------------


async def _replay(box: Sandbox, rows: list[DemoRow]) -> None:
    print(t("demo-title", box.lang, count=len(rows)), file=box.out)
    for row in rows:
        platform, chat_id, message_id = _push(box, row)
        _print_incoming(box, row)
        await _show_outcome(box, platform, chat_id, message_id)
        if row.edit:
            _push_edit(box, row, chat_id, message_id)
            print(f"  ✎ {t('demo-edited', box.lang)}: {_short(row.edit)}", file=box.out)
            await _show_outcome(box, platform, chat_id, message_id, edited=True)


def _push(box: Sandbox, row: DemoRow) -> tuple[str, int, int]:
    community = box.rules.community(row.community)
    if community.vk is not None:
        return _push_vk(box, row, community.vk.group_id)
    assert community.telegram is not None
    user = make_user(row.user, f"user{row.user}")
    if row.via == "private":
        message = box.telegram.push_private(user, row.text)["message"]
        return "telegram", message["chat"]["id"], message["message_id"]
    chat_id, linked = community.telegram.chat_id, community.telegram.linked_channel_id
    if linked is None:
        message = box.telegram.push_message(chat_id, user, row.text)["message"]
    else:
        message = box.telegram.push_comment(
            chat_id, user, _channel_post(box, chat_id, linked), row.text
        )["message"]
    return "telegram", chat_id, message["message_id"]


def _channel_post(box: Sandbox, chat_id: int, channel: int) -> dict[str, Any]:
    # The channel post arrives in the discussion group as an automatic forward, never actioned.
    if box.channel_post is None:
        box.channel_post = box.telegram.push_auto_forward(chat_id, channel, 1, CHANNEL_POST)[
            "message"
        ]
        print(f"\n📣 {t('demo-channel-post', box.lang)}: {CHANNEL_POST}", file=box.out)
    return box.channel_post


def _push_vk(box: Sandbox, row: DemoRow, group_id: int) -> tuple[str, int, int]:
    if row.via == "private":
        event = box.vk.message_new(row.user, row.text)["object"]["message"]
        return "vk", event["peer_id"], event["conversation_message_id"]
    event = box.vk.wall_reply_new(1, row.user, row.text)["object"]
    return "vk", -group_id, event["id"]


def _push_edit(box: Sandbox, row: DemoRow, chat_id: int, message_id: int) -> None:
    original = box.telegram.message(chat_id, message_id)
    assert original is not None, "the emulator keeps every message it delivered"
    box.telegram.push_edited(original, row.edit or "")


def _print_incoming(box: Sandbox, row: DemoRow) -> None:
    where = (
        f"{row.community}, {t('demo-private', box.lang)}"
        if row.via == "private"
        else row.community
    )
    print(f"\n[{where}] user{row.user}: {_short(row.text)}", file=box.out)


async def _show_outcome(
    box: Sandbox, platform: str, chat_id: int, message_id: int, edited: bool = False
) -> None:
    inbox_id = await _wait_processed(box.store, platform, chat_id, message_id, edited)
    decision, actions = await _outcome(box.store, inbox_id)
    if decision is not None:
        combined = decision.scores.get("combined", {})
        scores = " ".join(f"{t('label-' + k, box.lang)} {v:.2f}" for k, v in combined.items())
        labels = ", ".join(t(f"label-{label}", box.lang) for label in decision.labels)
        print(f"  {scores}", file=box.out)
        print(f"  → {labels} · {decision.rule_id} ({decision.reason})", file=box.out)
    for row in actions or []:
        print(f"  ✓ {_describe_action(row, box.lang)}", file=box.out)
    if not actions:
        print(f"  · {t('demo-no-action', box.lang)}", file=box.out)


async def _wait_processed(
    store: SqlStore, platform: str, chat_id: int, message_id: int, edited: bool
) -> int:
    async def probe() -> int | None:
        async with store.begin() as uow:
            query = (
                select(InboxRow.id, InboxRow.processed_at)
                .where(
                    InboxRow.platform == platform,
                    InboxRow.chat_id == chat_id,
                    InboxRow.message_id == message_id,
                )
                .order_by(InboxRow.id.desc())
            )
            rows = (await uow.session.execute(query)).all()
            if len(rows) < (2 if edited else 1) or rows[0].processed_at is None:
                return None
            unfinished = await uow.session.scalar(
                select(OutboxRow.id).where(
                    OutboxRow.inbox_id == rows[0].id, OutboxRow.state.in_(UNFINISHED)
                )
            )
            return None if unfinished else int(rows[0].id)

    return await _eventually(probe)


async def _outcome(store: SqlStore, inbox_id: int) -> tuple[Any, list[Any]]:
    async with store.begin() as uow:
        decision = await uow.session.scalar(
            select(DecisionRow).where(DecisionRow.inbox_id == inbox_id)
        )
        actions = (
            await uow.session.scalars(
                select(OutboxRow).where(OutboxRow.inbox_id == inbox_id).order_by(OutboxRow.id)
            )
        ).all()
    return decision, list(actions)


def _describe_action(row: Any, lang: str) -> str:
    text = row.payload.get("text")
    detail = f": {_short(text, 90)}" if text and row.kind != "escalate" else ""
    state = "" if row.state == "done" else f" [{row.state}: {row.last_error or ''}]"
    return f"{t('action-' + row.kind, lang)}{detail}{state}"


# --- the moderator -----------------------------------------------------------------------------


async def _moderate(box: Sandbox) -> None:
    chat_id = box.rules.moderators.telegram_chat_id
    if chat_id is None:
        return
    print(f"\n{t('demo-moderator', box.lang, name=MODERATOR['first_name'])}", file=box.out)
    cards = [m for m in box.telegram.sent_messages(chat_id) if m.get("reply_markup")]
    for card in cards:
        await _tap(box, card)


async def _tap(box: Sandbox, card: dict[str, Any]) -> None:
    reason = await _card_reason(box.store, card)
    buttons = {b["callback_data"].rsplit(":", 1)[-1]: b for r in _keyboard(card) for b in r}
    before = len(box.telegram.calls_to("editMessageText"))
    if "negative" in reason or ("question" in reason and "send" not in buttons):
        what = _own_reply(
            box, card, "demo-own-reply" if "negative" in reason else "demo-own-answer"
        )
    else:
        button = buttons.get("send") or buttons.get("delete" if "spam" in reason else "fine")
        assert button is not None, "every card offers send, delete and fine"
        box.telegram.push_callback(MODERATOR, card, button["callback_data"])
        what = f"«{button['text']}»"
    await box.telegram.wait_for_calls("editMessageText", count=before + 1, within=STEP_TIMEOUT)
    edited = box.telegram.message(card["chat"]["id"], card["message_id"]) or card
    outcome = _short(edited["text"].splitlines()[-1], 90)
    print(f"  👆 {reason}: {what} → {outcome}", file=box.out)


def _keyboard(card: dict[str, Any]) -> list[list[dict[str, Any]]]:
    markup: dict[str, Any] = card.get("reply_markup") or {}
    rows: list[list[dict[str, Any]]] = markup.get("inline_keyboard", [])
    return rows


def _own_reply(box: Sandbox, card: dict[str, Any], key: str) -> str:
    # "Answer yourself": the moderator replies to the card; the bot posts it under the original.
    text = t(key, box.lang)
    box.telegram.push_message(card["chat"]["id"], MODERATOR, text, reply_to_message=card)
    return f"✍️ {text}"


async def _card_reason(store: SqlStore, card: dict[str, Any]) -> str:
    async with store.begin() as uow:
        reason = await uow.session.scalar(
            select(EscalationRow.reason).where(
                EscalationRow.card_chat_id == card["chat"]["id"],
                EscalationRow.card_message_id == card["message_id"],
            )
        )
    return str(reason or "")


async def _summary(box: Sandbox, database: str) -> None:
    await _wait_idle(box.store)  # the moderator's replies are still going out
    numbers = await activity(box.store, since=box.started)
    shown, report = display_url(database), report_command(database)
    summary = t("demo-summary", box.lang, database=shown, report=report, **numbers.counts())
    print("\n" + summary, file=box.out)


def report_command(database: str) -> str:
    """The command that shows the report of this database."""
    path = sqlite_file(database)
    if path is None:  # PostgreSQL: the same SMMBOT_DATABASE_URL the demo ran with
        return "smmbot report"
    return f"smmbot report --database {_relative(path)}"


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


async def _wait_idle(store: SqlStore) -> None:
    async def probe() -> bool | None:
        async with store.begin() as uow:
            busy = await uow.session.scalar(
                select(OutboxRow.id).where(OutboxRow.state.in_(UNFINISHED)).limit(1)
            )
        return None if busy else True

    await _eventually(probe)


async def _eventually(probe: Callable[[], Any]) -> Any:
    async with asyncio.timeout(STEP_TIMEOUT):
        while True:
            result = await probe()
            if result is not None:
                return result
            await asyncio.sleep(0.1)


def _short(text: str, limit: int = 110) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
