"""The `smmbot` command as a user runs it: a real process, real files, no environment."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def smmbot(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    # A clean environment: the CLI must work from any directory with no SMMBOT_* variables.
    base = {k: v for k, v in os.environ.items() if not k.startswith("SMMBOT_")}
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=cwd,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_cli_schema_matches_committed_copy(tmp_path: Path) -> None:
    result = smmbot("schema", cwd=tmp_path)
    assert result.returncode == 0
    committed = (ROOT / "rules.schema.json").read_text(encoding="utf-8")
    assert json.loads(result.stdout) == json.loads(committed), (
        "run: smmbot schema > rules.schema.json"
    )


def test_cli_classify_json_keeps_order_and_stdout_clean(tmp_path: Path) -> None:
    texts = [
        "Заработок в интернете без вложений, пишите в лс",
        "Подскажите, сколько идёт доставка в Казань?",
        "Ужасный сервис, заказ не пришёл, верните деньги!",
        "ok thanks, see you tomorrow",
    ]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    result = smmbot("classify", "--file", str(source), "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["label"] for row in rows] == ["spam", "question", "negative", "other"]
    for row in rows:
        assert set(row) >= {"labels", "label", "scores", "reasons"}
        assert all(0.0 <= s <= 1.0 for s in row["scores"].values())
    assert any(r.startswith("stop-word") for r in rows[0]["reasons"])


@pytest.mark.parametrize("suffix", [".csv", ".txt"])
def test_cli_classify_reads_csv_and_txt(tmp_path: Path, suffix: str) -> None:
    source = tmp_path / f"in{suffix}"
    body = "text\nhow long is shipping?\n" if suffix == ".csv" else "how long is shipping?\n"
    source.write_text(body, encoding="utf-8")
    result = smmbot("classify", "--file", str(source), "--json", cwd=tmp_path)
    assert [json.loads(line)["label"] for line in result.stdout.splitlines()] == ["question"]


def test_cli_classify_refuses_broken_jsonl(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"text": "fine"}\n{"no_text": 1}\n', encoding="utf-8")
    result = smmbot("classify", "--file", str(source), "--json", cwd=tmp_path)
    assert result.returncode == 2
    assert "line 2" in result.stderr and result.stdout == ""


def test_cli_run_refuses_without_any_platform(tmp_path: Path) -> None:
    env = {"SMMBOT_RULES": str(ROOT / "rules.yaml")}
    result = smmbot("run", cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert "SMMBOT_TELEGRAM__TOKEN" in result.stderr


def test_cli_run_help_lists_the_environment(tmp_path: Path) -> None:
    result = smmbot("run", "--help", cwd=tmp_path)
    for name in (
        "SMMBOT_RULES",
        "SMMBOT_DATABASE_URL",
        "SMMBOT_TELEGRAM__TOKEN",
        "SMMBOT_VK__USER_TOKEN",
        "SMMBOT_VK__API_BASE",
    ):
        assert name in result.stdout


def test_cli_demo_runs_to_a_summary_and_leaves_its_database(tmp_path: Path) -> None:
    result = smmbot("demo", "--language", "en", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Summary:" in result.stdout and "0 failed" in result.stdout
    _the_named_report_command_shows_the_demo(result.stdout, tmp_path)
    with sqlite3.connect(tmp_path / "smmbot-demo.db") as db:
        inbox = db.execute("select count(*) from inbox").fetchone()[0]
        decisions = db.execute("select count(*) from decisions").fetchone()[0]
        done = dict(
            db.execute("select kind, count(*) from outbox where state = 'done' group by kind")
        )
        resolved = db.execute("select count(*) from escalations where status = 'resolved'")
    assert inbox == decisions > 20
    assert done["reply"] > 0 and done["escalate"] > 0 and done["delete"] > 0
    assert resolved.fetchone()[0] == done["escalate"]  # the demo moderator handled every card


def _the_named_report_command_shows_the_demo(stdout: str, folder: Path) -> None:
    (line,) = [x for x in stdout.splitlines() if x.startswith("Its report: ")]
    command = line.removeprefix("Its report: ").split()
    assert command == ["smmbot", "report", "--database", "smmbot-demo.db"]
    report = smmbot(*command[1:], "--embedder", "ngram", cwd=folder)
    assert report.returncode == 0, report.stderr
    # Per community first, then "All communities": the last count is the total.
    *_, total = re.findall(r"Messages: (\d+)", report.stdout)
    assert int(total) > 20
    assert not (folder / "smmbot.db").exists()


def test_cli_db_upgrade_creates_a_fresh_database(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    result = smmbot("db", "upgrade", cwd=tmp_path, env={"SMMBOT_DATABASE_URL": url})
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(tmp_path / "fresh.db") as db:
        tables = {row[0] for row in db.execute("select name from sqlite_master")}
    assert {"inbox", "outbox", "escalations", "audit"} <= tables


@pytest.mark.skipif(not DATA.is_dir(), reason=f"the shared data is not at {DATA}")
def test_cli_train_ngram_writes_a_loadable_model(tmp_path: Path) -> None:
    stem = tmp_path / "model" / "ngram-test"
    result = smmbot(
        "train", "ngram", "--limit", "60", "--no-loso", "--out", str(stem), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    from classifiers.contract import Sample
    from classifiers.ngram import NgramClassifier

    (scores,) = NgramClassifier(str(stem)).classify(
        [Sample("Подскажите, сколько стоит доставка?")]
    )
    assert {s.label.value for s in scores} == {"spam", "negative", "question"}
    assert stem.with_suffix(".md").read_text(encoding="utf-8").strip()
