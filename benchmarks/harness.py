"""Run `smmbot run` against the sandbox emulators: shared by the e2e tests and the chaos soak.

The service is configured only through SMMBOT_* variables, so the same environment serves an
in-process `run_service` (tests) and a `python -m bot.cli run` subprocess that can be SIGKILLed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import bot
from bot.adapters.sandbox.telegram import FakeTelegram
from bot.adapters.sandbox.vk import FakeVK

ROOT = Path(bot.__file__).resolve().parents[1]

Row = tuple[Any, ...]


def service_env(
    tmp_path: Path,
    rules: str,
    telegram: FakeTelegram | None = None,
    vk: FakeVK | None = None,
    *,
    vk_user_token: bool = True,
    database_url: str | None = None,
) -> dict[str, str]:
    """The SMMBOT_* environment of a service using the given emulators (also for a subprocess)."""
    path = tmp_path / "rules.yaml"
    path.write_text(rules, encoding="utf-8")
    env = {
        "SMMBOT_RULES": str(path),
        "SMMBOT_DATABASE_URL": database_url or f"sqlite+aiosqlite:///{tmp_path / 'service.db'}",
    }
    if telegram is not None:
        env |= {
            "SMMBOT_TELEGRAM__TOKEN": telegram.token,
            "SMMBOT_TELEGRAM__API_BASE": telegram.base_url,
            "SMMBOT_TELEGRAM__POLLING_TIMEOUT": "1",
        }
    if vk is not None:
        env |= {
            "SMMBOT_VK__GROUP_TOKEN": vk.group_token,
            "SMMBOT_VK__API_BASE": vk.base_url,
            "SMMBOT_VK__LONGPOLL_WAIT": "1",
        }
        if vk_user_token:
            env["SMMBOT_VK__USER_TOKEN"] = vk.user_token
    return env


def query(db: Path, sql: str, params: Sequence[Any] = ()) -> list[Row]:
    """Rows of one query on the service's SQLite file (a plain reader; WAL lets it in)."""
    with contextlib.closing(sqlite3.connect(db, timeout=10)) as connection:
        return connection.execute(sql, tuple(params)).fetchall()


def child_env(env: dict[str, str]) -> dict[str, str]:
    """Only the given SMMBOT_* settings plus what Python needs: nothing leaks from the caller."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        "HF_HUB_OFFLINE": "1",
        "SMMBOT_LOG_LEVEL": "WARNING",
        **env,
    }


async def spawn(
    env: dict[str, str], cwd: Path, *args: str, log_name: str = "service.log"
) -> asyncio.subprocess.Process:
    """`python -m bot.cli run` (or other `args`) with the given settings, logging to a file."""
    log = (cwd / log_name).open("ab")  # inherited by the child; closed right after
    try:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.cli",
            *(args or ("run",)),
            env=child_env(env),
            cwd=cwd,
            stdout=log,
            stderr=log,
        )
    finally:
        log.close()


def peak_memory_kb(pid: int) -> int:
    """VmHWM (peak resident set) of a live process in kB; 0 once it is gone."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0
