"""The report's numbers against a database built by hand, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta

import pytest
import yaml

from bot.core.rules import Answer
from bot.reports.build import build_report
from bot.reports.clusters import CharNgramEmbedder, answer_stub
from bot.reports.model import Facts, Period, Report, median, negative_trend, percentile
from bot.reports.text import render
from bot.storage.store import SqlStore, create_store
from tests.db import store_url
from tests.reports.seed import MON, RULES, SHOP, TUE, VK, seed

__all__ = ["store_url"]
PERIOD = Period(MON, TUE + timedelta(days=1))
D_MON, D_TUE = MON.date(), TUE.date()


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[SqlStore]:
    opened = await create_store(store_url)
    await seed(opened)
    yield opened
    await opened.close()


@pytest.fixture
async def report(store: SqlStore) -> Report:
    return await build_report(store, PERIOD, rules=RULES, embedder=CharNgramEmbedder())


def test_report_counts_labels_per_community_and_day(report: Report) -> None:
    assert {key: dict(f.labels) for key, f in report.cells.items()} == {
        (SHOP, D_MON): {"question": 2, "spam": 2, "negative": 1, "other": 1},
        (SHOP, D_TUE): {"question": 2, "negative": 1},
        (VK, D_TUE): {"question": 1, "other": 1},
    }


def test_report_counts_spam_bans_and_answers(report: Report) -> None:
    monday = report.cells[(SHOP, D_MON)]
    assert (monday.spam_removed, monday.users_banned, monday.auto_answered) == (2, 1, 1)
    assert (monday.escalations, monday.questions_escalated, monday.resolved) == (2, 1, 2)
    tuesday = report.cells[(SHOP, D_TUE)]
    assert (tuesday.escalations, tuesday.questions_escalated, tuesday.resolved) == (3, 2, 1)


def test_questions_neither_answered_nor_escalated_are_counted(report: Report) -> None:
    # Every seeded question got an answer or a card; a day where the rules ignored two did not.
    assert [f.questions_unanswered for f in report.cells.values()] == [0, 0, 0]
    ignored = Facts(labels={"question": 3, "other": 1}, auto_answered=1)
    assert ignored.questions_unanswered == 2
    assert (ignored + ignored).questions_unanswered == 4


def test_report_measures_resolution_times(report: Report) -> None:
    times = report.total().resolution_times
    assert sorted(times) == pytest.approx([300, 600, 1200, 3600], abs=0.01)
    assert median(times) == pytest.approx(900, abs=0.01)
    assert percentile(times, 90) == pytest.approx(2880, abs=0.01)


def test_report_measures_first_response_in_and_out_of_hours(report: Report) -> None:
    total = report.total()
    # The failed reply to message 10 is no response; its escalation's resolution is.
    assert sorted(total.response_times) == pytest.approx([2, 4, 300, 600, 1200], abs=0.01)
    assert median(total.response_times) == pytest.approx(300, abs=0.01)
    assert median(total.response_in_hours) == pytest.approx(450, abs=0.01)
    assert list(total.response_off_hours) == pytest.approx([2], abs=0.01)


def test_report_tracks_negative_share_and_trend(report: Report) -> None:
    assert report.community(SHOP).negative_share == pytest.approx(2 / 9)
    assert negative_trend(report.by_day(SHOP)) == pytest.approx(1 / 3 - 1 / 6)
    assert report.by_day()[D_TUE].negative_share == pytest.approx(1 / 5)


def test_report_shows_moderators_workload(report: Report) -> None:
    loads = {m.moderator_id: m for m in report.moderators}
    assert dict(loads[77].resolutions) == {"reply": 2}
    assert dict(loads[78].resolutions) == {"fine": 2}
    assert median(loads[77].resolution_times) == pytest.approx(900, abs=0.01)
    assert (loads[77].feedback, loads[78].feedback) == (1, 2)


def test_report_groups_unanswered_questions_largest_first(report: Report) -> None:
    groups = report.questions
    assert [g.size for g in groups] == [2, 1]
    assert set(groups[0].examples) == {"Do you ship to Canada?", "Do you deliver to Canada?"}
    assert groups[1].examples == ("Сколько стоит подарочный сертификат?",)
    assert report.grouped_by == "char n-gram TF-IDF"


def test_report_answer_stub_is_valid_rules_yaml(report: Report) -> None:
    entry = yaml.safe_load(answer_stub(report.questions[0], "TODO: write it"))[0]
    answer = Answer.model_validate(entry)
    assert answer.id == report.questions[0].answer_id
    assert "canada" in answer.keywords


async def test_report_filters_by_community(store: SqlStore) -> None:
    report = await build_report(
        store, PERIOD, community=VK, rules=RULES, embedder=CharNgramEmbedder()
    )
    assert report.communities() == [VK]
    assert report.total().messages == 2


def test_report_text_shows_the_numbers(report: Report) -> None:
    text = render(report)
    assert "Messages: 11 (spam 2 · negative 2 · question 5 · other 2)" in text
    assert "Escalations: 6 · resolved 4 · median 15 min · p90 48 min" in text
    assert "- id: " in text and "Do you ship to Canada?" in text


def test_period_days_cover_the_range() -> None:
    assert PERIOD.days() == [D_MON, D_TUE]
    assert Period(MON, MON + timedelta(hours=1)).days() == [date(2026, 3, 2)]
