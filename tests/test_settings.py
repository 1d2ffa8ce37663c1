"""Settings and platform planning: environment in, typed secrets and a platform plan out."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.platforms import plan_platforms
from bot.rules_file import load_rules, parse_rules
from bot.settings import SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[1]
RULES = load_rules(ROOT / "rules.yaml")


def test_settings_read_nested_variables_and_hide_secrets() -> None:
    settings = load_settings(
        {
            "SMMBOT_DATABASE_URL": "sqlite+aiosqlite:///x.db",
            "SMMBOT_TELEGRAM__TOKEN": "123:secret-token",
            "SMMBOT_TELEGRAM__API_BASE": "http://127.0.0.1:8081",
            "SMMBOT_VK__GROUP_ID": "229000001",
            "UNRELATED": "ignored",
        }
    )
    assert settings.telegram.token is not None
    assert settings.telegram.token.get_secret_value() == "123:secret-token"
    assert "secret-token" not in repr(settings) and "secret-token" not in str(settings)
    assert settings.telegram.api_base == "http://127.0.0.1:8081"
    assert settings.vk.group_id == 229000001


def test_settings_refuse_unknown_keys_with_the_variable_name() -> None:
    with pytest.raises(SettingsError, match="SMMBOT_TELEGRAM__TOKN"):
        load_settings({"SMMBOT_TELEGRAM__TOKN": "x"})


def test_settings_read_a_dotenv_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("SMMBOT_VK__GROUP_ID=42\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    for name in ("SMMBOT_VK__GROUP_ID", "SMMBOT_RULES"):
        monkeypatch.delenv(name, raising=False)
    assert load_settings().vk.group_id == 42


def test_plan_without_credentials_is_empty_and_warns(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        plan = plan_platforms(load_settings({}), RULES, environ={})
    assert plan.empty
    assert len(plan.skipped) == 3
    assert "Tea & Co VK" in caplog.text


def test_plan_takes_telegram_and_single_vk_from_settings() -> None:
    settings = load_settings(
        {
            "SMMBOT_TELEGRAM__TOKEN": "1:a",
            "SMMBOT_VK__GROUP_TOKEN": "vk-group",
            "SMMBOT_VK__USER_TOKEN": "vk-user",
        }
    )
    plan = plan_platforms(settings, RULES, environ={})
    assert not plan.empty and plan.skipped == ()
    assert len(plan.telegram_communities) == 2
    (vk,) = plan.vk
    assert vk.group_id == 229000001 and vk.user_token is not None


def test_plan_names_tokens_per_community() -> None:
    rules = parse_rules(
        """
version: 1
communities:
  - {name: a, vk: {group_id: 1, token_env: A_TOKEN}}
  - {name: b, vk: {group_id: 2, token_env: B_TOKEN, user_token_env: B_ADMIN}}
  - {name: c, vk: {group_id: 3, token_env: C_TOKEN}}
"""
    )
    environ = {"A_TOKEN": "a", "B_TOKEN": "b", "B_ADMIN": "badmin"}
    plan = plan_platforms(load_settings({}), rules, environ=environ)
    assert [(c.name, c.user_token is not None) for c in plan.vk] == [("a", False), ("b", True)]
    assert len(plan.skipped) == 1 and "'c'" in plan.skipped[0]
