"""A short chaos soak (`benchmarks/soak.py`): real texts, injected faults and two SIGKILLs.

Every event pushed must end up stored and decided, and no reply or strike may count twice;
actions left `uncertain` by a kill are allowed (they are never repeated).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.soak import Options, soak_main
from benchmarks.soak_texts import DATA

pytestmark = [
    pytest.mark.slow,  # three process starts and ~300 events: under a minute here
    pytest.mark.skipif(not DATA.is_dir(), reason=f"the labelled texts are not at {DATA}"),
]


async def test_short_soak_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    # settle_within only bounds a stuck run (a failure guard, not a timing assertion).
    options = Options(events=300, rate=30, kills=2, workers=1, seed=11, settle_within=60)
    report = await soak_main(options, tmp_path)
    assert report.lost == [], "\n".join(report.lines())
    assert report.duplicate_replies == 0, "\n".join(report.lines())
    assert report.duplicate_strikes == 0, "\n".join(report.lines())
    assert report.settled, "\n".join(report.lines())
    assert report.decided == report.sent
