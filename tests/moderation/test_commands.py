"""The moderators' chat commands on a real store, real rules and the real classifier."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import make_classifier_factory
from bot.moderation.commands import Commands
from bot.rules_file import RulesSource
from bot.scoring import CascadeScoring
from bot.settings import ClassifierSettings
from bot.storage.store import SqlStore, create_store
from tests.core.test_pipeline import QUESTION, RULES, SPAM, build_rig
from tests.fakes.ports import FakeClock

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[tuple[Commands, SqlStore, FakeClock, Path]]:
    rules_path = tmp_path / "rules.yaml"
    rules_path.write_text((ROOT / "rules.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    rules = RulesSource(rules_path)
    clock = FakeClock()
    store = await create_store(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}", clock=clock)
    scoring = CascadeScoring(rules, make_classifier_factory(ClassifierSettings()))

    async def reload() -> str:
        problems = rules.reload()
        return "refused" if problems else "reloaded"

    yield Commands(rules, scoring, store, clock, reload), store, clock, rules_path
    scoring.close()
    await store.close()


async def test_check_explains_a_text_without_acting(setup) -> None:  # type: ignore[no-untyped-def]
    commands, *_ = setup
    answer = await commands.check("Заработок в интернете без вложений, пишите в лс")
    assert answer.startswith("Метки: спам")
    assert "stop-word" in answer and "удаление" in answer
    assert await commands.check("   ") == "Использование: /check ТЕКСТ"


async def test_stats_counts_today_and_the_week(setup) -> None:  # type: ignore[no-untyped-def]
    commands, store, clock, _ = setup
    rig = build_rig(store, clock, [RULES])
    await rig.handle(SPAM, author=1)
    await rig.handle(QUESTION, author=2)
    text = await commands.stats()
    assert "Сегодня: сообщений 2 · спам 1" in text
    assert "удалено 1" in text and "ответов 1" in text


async def test_help_names_the_communities(setup) -> None:  # type: ignore[no-untyped-def]
    commands, *_ = setup
    assert "Tea & Co VK" in await commands.help("ru")


async def test_reload_reports_what_happened(setup) -> None:  # type: ignore[no-untyped-def]
    commands, _, _, rules_path = setup
    assert await commands.reload() == "reloaded"
    rules_path.write_text("version: 1\n", encoding="utf-8")
    assert await commands.reload() == "refused"
