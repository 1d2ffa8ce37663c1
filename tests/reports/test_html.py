"""The HTML report in headless Chromium: the charts render, with the database's numbers."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.reports.build import build_report
from bot.reports.clusters import CharNgramEmbedder
from bot.reports.html import render
from bot.storage.store import create_store
from tests.db import sqlite_url
from tests.reports.seed import RULES, seed
from tests.reports.test_report import PERIOD

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


async def _html(folder: Path) -> str:
    store = await create_store(sqlite_url(folder))
    try:
        await seed(store)
        report = await build_report(store, PERIOD, rules=RULES, embedder=CharNgramEmbedder())
    finally:
        await store.close()
    return render(report)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("Chromium is not installed: apt-get install chromium chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    profile = tempfile.mkdtemp(prefix="smmbot-chromium-")
    for flag in (*FLAGS, f"--user-data-dir={profile}", "--window-size=420,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(browser: object, tmp_path: Path) -> object:
    path = tmp_path / "report.html"
    path.write_text(asyncio.run(_html(tmp_path)), encoding="utf-8")
    browser.get(path.as_uri())  # type: ignore[attr-defined]
    return browser


def _items(page: object, css: str) -> list[object]:
    from selenium.webdriver.common.by import By

    return page.find_elements(By.CSS_SELECTOR, css)  # type: ignore[attr-defined, no-any-return]


def test_html_label_bars_match_the_database(page: object) -> None:
    bars = _items(page, "svg[data-chart=labels] rect.bar")
    values = {
        (b.get_attribute("data-day"), b.get_attribute("data-label")):  # type: ignore[attr-defined]
        int(b.get_attribute("data-value"))
        for b in bars
    }  # type: ignore[attr-defined]
    assert values == {
        ("2026-03-02", "spam"): 2,
        ("2026-03-02", "negative"): 1,
        ("2026-03-02", "question"): 2,
        ("2026-03-02", "other"): 1,
        ("2026-03-03", "negative"): 1,
        ("2026-03-03", "question"): 3,
        ("2026-03-03", "other"): 1,
    }
    _assert_proportional(bars, "data-value")


def _assert_proportional(rects: list[object], attribute: str) -> None:
    """Rendered heights (CSS px after responsive scaling) are one constant times the values."""
    sizes = [(r.size["height"], int(r.get_attribute(attribute))) for r in rects]  # type: ignore[attr-defined]
    drawn = [(h, v) for h, v in sizes if v]
    assert drawn and all(h > 0 for h, _ in drawn)
    assert all(r.size["width"] > 0 for r in rects)  # type: ignore[attr-defined]
    per_unit = drawn[0][0] / drawn[0][1]
    for height, value in drawn:
        assert height == pytest.approx(value * per_unit, abs=1.0)


def test_html_response_histogram_matches_the_database(page: object) -> None:
    bars = _items(page, "svg[data-chart=response] rect.hist")
    counts = {
        b.get_attribute("data-bucket"): int(b.get_attribute("data-count"))  # type: ignore[attr-defined]
        for b in bars
    }
    # Responses took 2 s, 4 s, 300 s, 600 s and 1200 s.
    assert counts == {
        "< 1 min": 2,
        "1–5 min": 0,
        "5–15 min": 2,
        "15–60 min": 1,
        "1–4 h": 0,
        "4–24 h": 0,
        "> 1 d": 0,
    }
    _assert_proportional(bars, "data-count")


def test_html_negative_line_matches_the_database(page: object) -> None:
    points = _items(page, "svg[data-chart=negative] circle.point")
    shares = {
        p.get_attribute("data-day"): float(p.get_attribute("data-share"))  # type: ignore[attr-defined]
        for p in points
    }
    assert shares == {
        "2026-03-02": pytest.approx(1 / 6, abs=1e-4),
        "2026-03-03": pytest.approx(1 / 5, abs=1e-4),
    }
    monday, tuesday = sorted(points, key=lambda p: p.location["x"])  # type: ignore[attr-defined]
    assert tuesday.location["y"] < monday.location["y"]  # type: ignore[attr-defined]  # higher share


def test_html_fits_a_phone_screen(page: object) -> None:
    width = page.execute_script("return document.documentElement.scrollWidth")  # type: ignore[attr-defined]
    viewport = page.execute_script("return window.innerWidth")  # type: ignore[attr-defined]
    assert width <= viewport
    assert "<script" not in page.page_source  # type: ignore[attr-defined]
