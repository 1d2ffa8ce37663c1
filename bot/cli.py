"""The `smmbot` command."""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from bot.i18n import t
from bot.rules_file import RulesError, load_rules, peek_language, schema_text
from bot.settings import DEFAULT_DATABASE_URL, ENVIRONMENT_HELP, SettingsError, load_settings

log = logging.getLogger("smmbot")

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `smmbot` console script."""
    args = _parser().parse_args(argv)
    _setup_logging(os.environ.get("SMMBOT_LOG_LEVEL", "INFO"))
    try:
        return int(args.handler(args))
    except SettingsError as exc:
        print(t("config-error", "en", error=exc), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smmbot", description="Moderation and reply bot for Telegram and VK communities."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_check(commands)
    _add_schema(commands)
    _add_classify(commands)
    _add_demo(commands)
    _add_run(commands)
    _add_db(commands)
    _add_report(commands)
    _add_train(commands)
    _add_eval(commands)
    return parser


def _add_check(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    check = commands.add_parser("check", help="validate rules.yaml")
    check.add_argument("path", nargs="?", type=Path, help="rules file (default: $SMMBOT_RULES)")
    check.set_defaults(handler=cmd_check)


def _add_schema(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    schema = commands.add_parser("schema", help="print the JSON Schema of rules.yaml")
    schema.set_defaults(handler=cmd_schema)


def _add_classify(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    classify = commands.add_parser("classify", help="label texts: spam, negative, question")
    classify.add_argument("text", nargs="?", help="one text to classify")
    classify.add_argument(
        "--file", type=Path, help=".jsonl (text field), .csv (text column), .txt"
    )
    classify.add_argument("--json", action="store_true", help="one JSON object per input")
    classify.add_argument(
        "--model",
        choices=("cascade", "e5", "e5-lora", "heuristics"),
        default="cascade",
        help="cascade: rule checks and the n-gram model (default); e5: also the encoder; "
        "e5-lora: also the LoRA-tuned encoder",
    )
    classify.set_defaults(handler=cmd_classify)


def _add_demo(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    demo = commands.add_parser("demo", help="replay sample messages through the whole pipeline")
    demo.add_argument("--language", choices=("ru", "en"), help="output language")
    demo.set_defaults(handler=cmd_demo)


def _add_run(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    run = commands.add_parser(
        "run",
        help="run the service",
        epilog=ENVIRONMENT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("--dry-run", action="store_true", help="decide and record, never act")
    run.set_defaults(handler=cmd_run)


def _add_db(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    db = commands.add_parser("db", help="database maintenance")
    actions = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    upgrade = actions.add_parser("upgrade", help="bring the database to the current schema")
    upgrade.set_defaults(handler=cmd_db_upgrade)


def _add_report(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    report = commands.add_parser("report", help="what happened: labels, answers, response times")
    report.add_argument("--since", help="period up to now: 24h, 7d, 4w (default 7d)")
    report.add_argument("--from", dest="date_from", help="first day, YYYY-MM-DD (UTC)")
    report.add_argument("--to", dest="date_to", help="last day, YYYY-MM-DD (inclusive)")
    report.add_argument(
        "--database",
        help="a database URL or an SQLite file, e.g. smmbot-demo.db "
        "(default: SMMBOT_DATABASE_URL, else smmbot.db)",
    )
    report.add_argument("--community", help="only this community (its name in rules.yaml)")
    report.add_argument("--html", type=Path, help="also write a self-contained HTML report")
    report.add_argument("--csv", type=Path, help="also write CSV files into this folder")
    report.add_argument("--language", choices=("ru", "en"), help="when rules.yaml is unreadable")
    report.add_argument(
        "--embedder",
        choices=("auto", "ngram"),
        default="auto",
        help="grouping of questions: the encoder (auto) or character n-grams",
    )
    report.set_defaults(handler=cmd_report)


def _add_train(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    train = commands.add_parser(
        "train",
        help="train a classifier model on ../shared/data (options after the model name go to it)",
    )
    train.add_argument("model", choices=sorted(TRAINERS), help="which model to train")
    train.add_argument("options", nargs=argparse.REMAINDER, help="trainer options (see --help)")
    train.set_defaults(handler=cmd_train)


def _add_eval(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    evaluate = commands.add_parser(
        "eval",
        help="precision, recall and F1 of a model on a labelled .jsonl (text, label)",
        add_help=False,  # the evaluator prints its own help
    )
    evaluate.add_argument("options", nargs=argparse.REMAINDER, help="FILE [--json] [--model M]")
    evaluate.set_defaults(handler=cmd_eval)


# Trainers live in the classifiers library; the CLI only dispatches to them.
TRAINERS = {
    "ngram": "classifiers.training.ngram_train",
    "e5": "classifiers.training.e5_train",
    "e5-lora": "classifiers.training.e5_finetune",
}


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    for noisy in ("aiogram.event", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


# --- commands ----------------------------------------------------------------------------------


def cmd_check(args: argparse.Namespace) -> int:
    """`smmbot check [PATH]`: one line per problem as PATH:LINE:COLUMN: reason, exit 2."""
    path = args.path or Path(os.environ.get("SMMBOT_RULES", "rules.yaml"))
    try:
        rules = load_rules(path)
    except RulesError as exc:
        for problem in exc.problems:
            print(problem)
        lang = peek_language(path)
        print(t("rules-bad", lang, path=path, count=len(exc.problems)), file=sys.stderr)
        return EXIT_USAGE
    print(t("rules-ok", rules.language, path=path, communities=len(rules.communities)))
    return EXIT_OK


def cmd_schema(args: argparse.Namespace) -> int:
    """`smmbot schema`: the JSON Schema of rules.yaml on standard output."""
    print(schema_text())
    return EXIT_OK


def cmd_classify(args: argparse.Namespace) -> int:
    """`smmbot classify`: labels, scores and reasons per text."""
    from bot.classify_cli import classify_texts, render

    try:
        texts = list(_texts(args))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        print(t("file-unreadable", "en", path=args.file, error=exc), file=sys.stderr)
        return EXIT_USAGE
    if not texts:
        print(t("classify-empty", "en"), file=sys.stderr)
        return EXIT_USAGE
    for text, result in zip(texts, classify_texts(texts, args.model), strict=True):
        print(json.dumps(result, ensure_ascii=False) if args.json else render(text, result))
    return EXIT_OK


def _texts(args: argparse.Namespace) -> Iterator[str]:
    if args.text is not None:
        yield args.text
    if args.file is not None:
        yield from read_texts(args.file)


def read_texts(path: Path) -> Iterator[str]:
    """Texts from .jsonl (`text` field), .csv (`text` column) or .txt (one per line)."""
    suffix = path.suffix.lower()
    with path.open(encoding="utf-8", newline="") as handle:
        if suffix == ".jsonl":
            for number, line in enumerate(handle, 1):
                if line.strip():
                    yield _jsonl_text(line, number)
        elif suffix == ".csv":
            for row in csv.DictReader(handle):
                yield row.get("text") or ""
        else:
            yield from (line.rstrip("\n") for line in handle if line.strip())


def _jsonl_text(line: str, number: int) -> str:
    row = json.loads(line)
    if not isinstance(row, dict) or not isinstance(row.get("text"), str):
        raise ValueError(f"line {number}: expected an object with a text field")
    return str(row["text"])


def cmd_demo(args: argparse.Namespace) -> int:
    """`smmbot demo`: the sandbox."""
    from bot.demo.run import run_demo

    environ = dict(os.environ)
    environ.setdefault("SMMBOT_DATABASE_URL", _demo_database_url())
    settings = load_settings(environ)
    return asyncio.run(run_demo(settings, sys.stdout, args.language))


def _demo_database_url() -> str:
    return f"sqlite+aiosqlite:///{Path.cwd() / 'smmbot-demo.db'}"


def cmd_report(args: argparse.Namespace) -> int:
    """`smmbot report`: activity, answers and response times per community and day."""
    from bot.reports.command import run

    return run(args)


def cmd_run(args: argparse.Namespace) -> int:
    """`smmbot run`: the service."""
    from bot.service import run_service

    settings = load_settings()
    return asyncio.run(run_service(settings, dry_run=args.dry_run))


def cmd_train(args: argparse.Namespace) -> int:
    """`smmbot train MODEL [OPTIONS]`: fit and write a model with its card."""
    import importlib

    trainer = importlib.import_module(TRAINERS[args.model])
    return int(trainer.main(args.options))


def cmd_eval(args: argparse.Namespace) -> int:
    """`smmbot eval FILE.jsonl [--json] [--model M]`: quality figures on labelled rows."""
    from classifiers.training.evaluate import main as evaluate

    return int(evaluate(args.options))


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    """`smmbot db upgrade`: migrate the configured database to the current schema."""
    from bot.storage.db import display_url
    from bot.storage.migrate import head_revision, upgrade

    settings = load_settings()
    asyncio.run(upgrade(settings.database_url))
    url = settings.database_url if settings.database_url != DEFAULT_DATABASE_URL else "smmbot.db"
    print(t("db-upgraded", "en", database=display_url(url), revision=head_revision()))
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
