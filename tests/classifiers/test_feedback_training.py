"""Moderators' labels from an smmbot database join the n-gram and e5 heads' training."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.storage.store import create_store
from classifiers.contract import Label
from classifiers.training import e5_train, ngram_train
from tests.core.test_pipeline import RULES, build_rig
from tests.fakes.ports import FakeClock

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


async def labelled_database(url: str) -> None:
    clock = FakeClock()
    store = await create_store(url, clock=clock)
    rig = build_rig(store, clock, [RULES])
    try:
        labels = [
            ("Крипта x100, пиши в личку", Label.SPAM),
            ("Всё отлично, спасибо", Label.OTHER),
            ("Курьер нагрубил, заказ помят", Label.NEGATIVE),
        ]
        for text, label in labels:
            inbox_id = await rig.pipeline.receive(rig.message(text, author=5))
            async with store.begin() as uow:
                await uow.feedback.add(inbox_id, label, 900001, clock.now())
        async with store.begin() as uow:  # a second opinion on the first message wins
            await uow.feedback.add(1, Label.OTHER, 900002, clock.now())
    finally:
        await store.close()


def test_feedback_rows_map_moderator_labels(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fb.db'}"
    asyncio.run(labelled_database(url))
    rows = {row.text: row for row in ngram_train.feedback_rows(url)}
    fine = rows["Крипта x100, пиши в личку"]  # relabelled "other" by the second moderator
    assert (fine.spam, fine.negative, fine.question) == (0, 0, ngram_train.UNLABELLED)
    complaint = rows["Курьер нагрубил, заказ помят"]
    assert (complaint.spam, complaint.negative, complaint.source) == (0, 1, "feedback")


@pytest.mark.skipif(not DATA.is_dir(), reason=f"the shared data is not at {DATA}")
def test_training_with_feedback_db_uses_the_labels(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fb.db'}"
    asyncio.run(labelled_database(url))
    stem = tmp_path / "model" / "ngram-fb"
    argv = ["--limit", "60", "--no-loso", "--out", str(stem), "--feedback-db", url]
    assert ngram_train.main(argv) == 0
    card = stem.with_suffix(".md").read_text(encoding="utf-8")
    assert "| feedback |" in card


@pytest.mark.skipif(not DATA.is_dir(), reason=f"the shared data is not at {DATA}")
def test_e5_training_with_feedback_db_uses_the_labels(
    tmp_path: Path,
    tiny_folder: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fb.db'}"
    asyncio.run(labelled_database(url))
    stem = tmp_path / "model" / "e5-fb"
    argv = ["--limit", "30", "--folder", str(tiny_folder), "--cache-dir", str(tmp_path),
            "--out", str(stem), "--no-loso", "--no-compare", "--threads", "1",
            "--feedback-db", url]  # fmt: skip
    assert e5_train.main(argv) == 0
    card = stem.with_suffix(".md").read_text(encoding="utf-8")
    assert "| feedback |" in card
