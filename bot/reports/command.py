"""`smmbot report`: parse the period, read rules.yaml if readable, build and write the report."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import TextIO

from bot.core.rules import RuleSet
from bot.i18n import t
from bot.reports.model import Period, Report
from bot.rules_file import RulesError, load_rules
from bot.settings import load_settings
from bot.storage.db import as_database_url, sqlite_file

SINCE = re.compile(r"^(\d+)([hdw])$")
UNITS = {"h": "hours", "d": "days", "w": "weeks"}


def parse_period(since: str | None, start: str | None, end: str | None, now: datetime) -> Period:
    """`--since 7d` (h, d, w) or `--from/--to` dates (`--to` inclusive); default: last 7 days."""
    if start or end:
        first = _day_start(start) if start else now - timedelta(days=7)
        last = _day_start(end) + timedelta(days=1) if end else now
        if first >= last:
            raise ValueError(f"--from {start} is after --to {end}")
        return Period(first, last)
    match = SINCE.match(since or "7d")
    if match is None or int(match[1]) == 0:
        raise ValueError(f"--since {since!r}: use a number with h, d or w, e.g. 7d")
    return Period(now - timedelta(**{UNITS[match[2]]: int(match[1])}), now)


def _day_start(text: str) -> datetime:
    return datetime.combine(datetime.strptime(text, "%Y-%m-%d").date(), time(), UTC)


def read_rules(environ: dict[str, str]) -> RuleSet | None:
    """rules.yaml when it is readable and valid; the report still works without it."""
    path = Path(environ.get("SMMBOT_RULES", "rules.yaml"))
    try:
        return load_rules(path)
    except (RulesError, OSError):
        return None


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Build the report and write it out: text always, HTML and CSV when asked."""
    environ = dict(os.environ)
    try:
        period = parse_period(args.since, args.date_from, args.date_to, datetime.now(UTC))
    except ValueError as exc:
        print(t("report-bad-period", args.language or "en", error=exc), file=sys.stderr)
        return 2
    rules = read_rules(environ)
    url = report_database(args.database)
    missing = _missing_file(url)
    if missing is not None:
        language = rules.language if rules is not None else (args.language or "en")
        print(t("report-no-database", language, path=missing), file=sys.stderr)
        return 2
    report = asyncio.run(_build(url, period, args, rules))
    write(report, args, out or sys.stdout)
    return 0


def report_database(database: str | None) -> str:
    """--database (a URL or an SQLite file), else the service's setting (environment, .env)."""
    if database:
        return as_database_url(database)
    return load_settings().database_url


def _missing_file(url: str) -> Path | None:
    # Reading a report must not leave an empty database behind where none was.
    path = sqlite_file(url)
    return path if path is not None and not path.exists() else None


async def _build(
    url: str, period: Period, args: argparse.Namespace, rules: RuleSet | None
) -> Report:
    from bot.reports.build import build_report
    from bot.reports.clusters import CharNgramEmbedder
    from bot.storage.store import create_store

    # None: the encoder is loaded only when there are questions to group.
    embedder = CharNgramEmbedder() if args.embedder == "ngram" else None
    store = await create_store(url)
    try:
        return await build_report(
            store,
            period,
            community=args.community,
            rules=rules,
            language=args.language or "en",
            embedder=embedder,
        )
    finally:
        await store.close()


def write(report: Report, args: argparse.Namespace, out: TextIO) -> None:
    """Text to `out`; the HTML file and the CSV folder when their options are given."""
    from bot.reports import csv, html, text

    out.write(text.render(report))
    if args.html is not None:
        args.html.write_text(html.render(report), encoding="utf-8")
        print(t("report-written", report.language, path=args.html), file=out)
    if args.csv is not None:
        for path in csv.write(report, args.csv):
            print(t("report-written", report.language, path=path), file=out)
