"""Embedder on a tiny random XLM-R built in tmp_path, plus its pure helpers."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from classifiers.encoder import Embedder
from classifiers.encoder.embedder import clip_head_tail, length_sorted_batches, pad_batch


def test_embedder_loads_tiny_model_offline(tiny_folder: Path) -> None:
    texts = ["hello world", "привет мир", "buy now buy now spam spam a b c", "a"]
    vectors = Embedder(tiny_folder, batch_size=2).embed(texts)
    assert vectors.shape == (4, 32)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_embedder_returns_rows_in_input_order(tiny_folder: Path) -> None:
    embedder = Embedder(tiny_folder, batch_size=2)
    texts = ["buy now buy now spam spam a b c", "a", "hello world", "привет мир spam"]
    batched = embedder.embed(texts)
    singles = np.stack([embedder.embed([text])[0] for text in texts])
    np.testing.assert_allclose(batched, singles, atol=1e-5)


def test_embedder_prefixes_and_clips_head_and_tail(tiny_folder: Path) -> None:
    embedder = Embedder(tiny_folder, max_length=6)
    ids = embedder.token_ids(["a b c hello world"])[0]
    # <s> query: a b c hello world </s> -> keep 3 from the head and 3 from the tail.
    assert ids == [0, 4, 12, 5, 6, 2]


def test_embedder_handles_no_texts(tiny_folder: Path) -> None:
    assert Embedder(tiny_folder).embed([]).shape == (0, 32)


def test_clip_head_tail_keeps_short_sequences() -> None:
    assert clip_head_tail([0, 5, 2], 8) == [0, 5, 2]
    assert clip_head_tail(list(range(10)), 5) == [0, 1, 2, 8, 9]


def test_length_sorted_batches_groups_similar_lengths() -> None:
    assert list(length_sorted_batches([5, 1, 3, 2], 2)) == [[1, 3], [2, 0]]


def test_pad_batch_right_pads_with_mask() -> None:
    ids, mask = pad_batch([[0, 7, 2], [0, 2]], pad_id=1)
    assert ids.tolist() == [[0, 7, 2], [0, 2, 1]]
    assert mask.tolist() == [[1, 1, 1], [1, 1, 0]]
