"""`smmbot report` end to end on SQLite, and the parts it is made of."""

from __future__ import annotations

import asyncio
import csv
import subprocess
import sys
from datetime import UTC, datetime, time
from pathlib import Path

import numpy as np
import pytest

from bot.cli import main
from bot.core.decide import in_business_hours
from bot.core.rules import BusinessHours
from bot.reports.clusters import CharNgramEmbedder, kebab_id, stem, top_keywords
from bot.reports.command import parse_period
from bot.reports.fold import inside_hours
from bot.storage.store import create_store
from tests.db import sqlite_url
from tests.reports.seed import seed

NOW = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)


async def _seeded(folder: Path) -> str:
    url = sqlite_url(folder)
    store = await create_store(url)
    await seed(store)
    await store.close()
    return url


def test_cli_report_writes_text_html_and_csv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SMMBOT_DATABASE_URL", asyncio.run(_seeded(tmp_path)))
    monkeypatch.setenv("SMMBOT_RULES", str(tmp_path / "missing.yaml"))
    html, folder = tmp_path / "report.html", tmp_path / "csv"
    code = main(
        [
            "report",
            "--from",
            "2026-03-02",
            "--to",
            "2026-03-03",
            "--language",
            "ru",
            "--html",
            str(html),
            "--csv",
            str(folder),
            "--embedder",
            "ngram",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "Сообщений: 11 (спам 2 · негатив 2 · вопрос 5 · прочее 2)" in out
    assert "<svg" in html.read_text(encoding="utf-8")
    with (folder / "days.csv").open(encoding="utf-8-sig") as handle:
        rows = {(r["community"], r["day"]): r for r in csv.DictReader(handle)}
    assert rows[("Shop chat", "2026-03-02")]["messages"] == "6"
    assert rows[("Shop chat", "2026-03-02")]["first_response_median_s"] == "4.0"


def test_cli_report_reads_a_database_named_by_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(_seeded(tmp_path))
    monkeypatch.setenv("SMMBOT_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'other.db'}")
    monkeypatch.setenv("SMMBOT_RULES", str(tmp_path / "missing.yaml"))
    monkeypatch.chdir(tmp_path)
    database = sqlite_url(tmp_path).removeprefix("sqlite+aiosqlite:///")
    args = ["report", "--from", "2026-03-02", "--to", "2026-03-03", "--embedder", "ngram"]
    assert main([*args, "--database", str(Path(database).relative_to(tmp_path))]) == 0
    assert "Messages: 11 (spam 2 · negative 2 · question 5 · other 2)" in capsys.readouterr().out


def test_cli_report_refuses_a_missing_sqlite_file_and_creates_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SMMBOT_RULES", str(tmp_path / "missing.yaml"))
    missing = tmp_path / "smmbot.db"
    assert main(["report", "--database", str(missing), "--language", "ru"]) == 2
    error = capsys.readouterr().err
    assert f"Базы данных {missing} нет" in error and "smmbot-demo.db" in error
    assert not missing.exists()


def test_cli_report_refuses_a_bad_period(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--since", "soon"]) == 2
    assert "--since" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("since", "start", "end", "expected"),
    [
        ("7d", None, None, (datetime(2026, 3, 3, 12, 30, tzinfo=UTC), NOW)),
        ("36h", None, None, (datetime(2026, 3, 9, 0, 30, tzinfo=UTC), NOW)),
        (
            None,
            "2026-03-01",
            "2026-03-02",
            (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 3, tzinfo=UTC)),
        ),
    ],
    ids=["days", "hours", "dates-inclusive"],
)
def test_parse_period_reads_since_and_dates(
    since: str | None, start: str | None, end: str | None, expected: tuple[datetime, datetime]
) -> None:
    period = parse_period(since, start, end, NOW)
    assert (period.start, period.end) == expected


def test_keywords_and_ids_are_kebab_stems() -> None:
    group = ["Сколько идёт доставка в Казань?", "Сколько идет доставка в Москву?"]
    keywords = top_keywords(group, [*group, "Есть ли пуэр?"])
    assert keywords[0] == "достав"
    assert kebab_id(("достав", "shipping")) == "dostav-shipping"
    assert stem("сертификаты") == "сертифика" and stem("shipping") == "shipping"


def test_char_ngram_embedder_is_deterministic_and_unit_length() -> None:
    texts = ["Do you ship to Canada?", "Do you deliver to Canada?", "Привет"]
    first, second = CharNgramEmbedder().embed(texts), CharNgramEmbedder().embed(texts)
    assert (first == second).all()
    assert [round(float(v @ v), 5) for v in first] == [1.0, 1.0, 1.0]


def test_reports_import_no_platform_library() -> None:
    code = (
        "import sys, bot.reports.command, bot.reports.build, bot.reports.html, "
        "bot.reports.csv; print(sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('aiogram', 'vk_api')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == "[]"


def test_inside_hours_agrees_with_decide() -> None:
    # The vectorised check must give the pipeline's answer, across weekends and DST changes.
    hours = BusinessHours(
        timezone="Europe/Berlin", days=("mon", "tue", "sat"), start=time(9, 30), end=time(17, 45)
    )
    start = datetime(2026, 3, 20, tzinfo=UTC).timestamp()
    moments = start + np.arange(0, 20 * 86400, 601.0)  # every ~10 min over the March DST switch
    expected = [in_business_hours(hours, datetime.fromtimestamp(m, UTC)) for m in moments]
    assert inside_hours(hours, moments).tolist() == expected
