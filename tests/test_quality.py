"""CI gates run inside the test suite, so `pytest` alone proves the tree is clean."""

from __future__ import annotations

import ast
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "classifiers")
MAX_FUNCTION_LINES = 50


def run_tool(*command: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which(command[0], path=str(Path(sys.executable).parent))
    if tool is None:
        pytest.fail(f"{command[0]} is not installed; run pip install -e '.[dev]'")
    return subprocess.run(
        [tool, *command[1:]], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )


def test_ruff_is_clean() -> None:
    result = run_tool("ruff", "check", "bot", "classifiers", "tests", "benchmarks")
    assert result.returncode == 0, result.stdout + result.stderr


def test_import_boundaries_hold() -> None:
    # classifiers/ imports nothing from bot/; core knows no platform, ORM or model library.
    result = run_tool("lint-imports")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_on_core_and_classifiers() -> None:
    result = run_tool("mypy", "bot/core", "classifiers")
    assert result.returncode == 0, result.stdout + result.stderr


def function_lengths() -> dict[str, int]:
    lengths: dict[str, int] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    name = f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"
                    lengths[name] = (node.end_lineno or node.lineno) - node.lineno + 1
    return lengths


def test_functions_stay_small() -> None:
    lengths = function_lengths()
    too_long = {name: n for name, n in lengths.items() if n > MAX_FUNCTION_LINES}
    assert not too_long, f"functions over {MAX_FUNCTION_LINES} lines: {too_long}"
    values = sorted(lengths.values())
    assert statistics.median(values) <= 10
    assert values[int(len(values) * 0.9)] <= 25
