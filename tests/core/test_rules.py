"""rules.yaml: the shipped example is valid; every broken copy is refused with file:line:column."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from bot.cli import main
from bot.core.rules import Punishment, Unanswered
from bot.rules_file import RulesError, RulesSource, load_rules, rules_json_schema

EXAMPLE = Path(__file__).resolve().parents[2] / "rules.yaml"


def broken_copy(tmp_path: Path, old: str, new: str) -> Path:
    text = EXAMPLE.read_text(encoding="utf-8")
    assert old in text, f"the example no longer contains {old!r}"
    path = tmp_path / "rules.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return path


def line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if needle in line:
            return number
    raise AssertionError(needle)


def test_example_rules_are_valid_and_run_as_a_brand_would() -> None:
    rules = load_rules(EXAMPLE)
    assert not rules.dry_run
    assert rules.spam.action == "delete" and rules.spam.strikes.punishment is Punishment.BAN
    assert rules.negative.action == "escalate"
    assert rules.questions.unanswered is Unanswered.ESCALATE and rules.questions.answers
    assert rules.moderators.telegram_chat_id is not None


def test_overrides_merge_key_by_key() -> None:
    vk = load_rules(EXAMPLE).for_community("Tea & Co VK")
    assert vk.spam.strikes.punishment is Punishment.MUTE
    assert vk.spam.strikes.mute_for == timedelta(days=7)
    assert vk.spam.strikes.ban_after == 2  # inherited from the global section
    assert vk.spam.threshold == 0.85


BROKEN = [
    pytest.param(
        "  remind_after: 30m",
        "    remind_after: 30m",
        "remind_after",
        5,
        "YAML syntax",
        id="bad-indentation",
    ),
    pytest.param(
        "  check_edits: true",
        "  check_edit: true",
        "check_edit",
        3,
        "spam.check_edit: unknown key 'check_edit'",
        id="unknown-key",
    ),
    pytest.param(
        "  threshold: 0.85 ",
        "  threshold: 1.7 ",
        "threshold: 1.7",
        14,
        "spam.threshold: Input should be less than or equal to 1",
        id="threshold-1.7",
    ),
    pytest.param(
        "  action: delete  ",
        "  action: explode  ",
        "action: explode",
        11,
        "spam.action: Input should be 'delete', 'escalate' or 'ignore'",
        id="unknown-action",
    ),
    pytest.param(
        "    telegram:\n      chat_id: -1001500000001",
        "    # telegram section removed",
        "- name: Tea & Co chat",
        5,
        "needs a telegram or a vk section",
        id="community-without-platform",
    ),
]


@pytest.mark.parametrize(("old", "new", "where", "column", "reason"), BROKEN)
def test_broken_rules_are_located(
    tmp_path: Path, old: str, new: str, where: str, column: int, reason: str
) -> None:
    path = broken_copy(tmp_path, old, new)
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    problem = caught.value.problems[0]
    assert (problem.path, problem.line, problem.column) == (
        str(path),
        line_of(path, where),
        column,
    )
    assert reason in problem.reason


def test_duplicate_keys_are_refused(tmp_path: Path) -> None:
    path = broken_copy(tmp_path, "dry_run: false", "dry_run: false\ndry_run: true")
    with pytest.raises(RulesError, match="duplicate key 'dry_run'"):
        load_rules(path)


def test_tokens_have_no_place_in_rules(tmp_path: Path) -> None:
    path = broken_copy(
        tmp_path, "      group_id: 229000001", "      group_id: 229000001\n      token: x"
    )
    with pytest.raises(RulesError, match="unknown key 'token'"):
        load_rules(path)


def test_override_is_validated_after_merging(tmp_path: Path) -> None:
    old = "      unanswered: ignore"
    path = broken_copy(tmp_path, old, old + "\n    spam: {review_threshold: 0.8, threshold: 0.7}")
    with pytest.raises(RulesError, match="review_threshold must not be above threshold"):
        load_rules(path)


def test_bad_regex_in_answer_is_refused(tmp_path: Path) -> None:
    path = broken_copy(tmp_path, "patterns: ['", "patterns: ['(unclosed', '")
    with pytest.raises(RulesError, match="not a valid regex"):
        load_rules(path)


@pytest.mark.parametrize(
    ("argv_path", "exit_code"),
    [pytest.param("good", 0, id="valid"), pytest.param("bad", 2, id="invalid")],
)
def test_cli_check_exit_codes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv_path: str, exit_code: int
) -> None:
    path = EXAMPLE if argv_path == "good" else broken_copy(tmp_path, "version: 1", "version: 7")
    assert main(["check", str(path)]) == exit_code
    out = capsys.readouterr().out
    if exit_code:
        assert out.startswith(f"{path}:{line_of(path, 'version: 7')}:10: version:")


def test_json_schema_describes_the_fixed_keys() -> None:
    schema = rules_json_schema()
    text = json.dumps(schema)
    assert schema["additionalProperties"] is False
    for key in ("communities", "moderators", "telegram_chat_id", "chat_id", "group_id"):
        assert f'"{key}"' in text


def test_rules_source_keeps_last_good_rules(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    source = RulesSource(path)
    path.write_text("version: 1\ncommunities: []\n", encoding="utf-8")
    assert source.changed()
    problems = source.reload()
    assert problems and problems[0].line == 2
    assert len(source.rules.communities) == 3
    assert not source.changed()
