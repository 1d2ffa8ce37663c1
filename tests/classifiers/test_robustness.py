"""Bad input never raises: empty, huge, control characters, lone surrogates, any Unicode."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classifiers import KeywordClassifier, Label, Sample
from classifiers import text as tx

CLASSIFIER = KeywordClassifier()
# Surrogates (category Cs) included on purpose: Telegram payloads can carry them.
ANY_TEXT = st.text(st.one_of(st.characters(), st.characters(categories=["Cs"])), max_size=300)
HOSTILE = {
    "empty": "",
    "controls": "\x00\x01\x1b\x7f\u0085\u2028",
    "surrogates": "\ud800 заработок \udfff",
    "digits": "1" * 100_000,
    "spaced-digits": "1 " * 50_000,
    "dollars": "$1" * 50_000,
    "dots": "a." * 50_000,
    "letters": "a" * 100_000,
    "mixed": "aа" * 50_000,
    "mentions": "@a" * 50_000,
    "long-url": "http://" + "a/" * 50_000,
    "emoji": "🔥" * 100_000,
    "brackets": "(" * 100_000,
    "spam-repeated": "Заработок в интернете, пишите в лс 🔥 " * 3_000,
}


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_classify_hostile_text_is_fast_and_valid(text: str) -> None:
    started = time.perf_counter()
    (scores,) = CLASSIFIER.classify([Sample(text)])
    # Generous bound: it catches regex backtracking (which took 46 s here), not slow machines.
    assert time.perf_counter() - started < 5
    assert [s.label for s in scores] == [Label.SPAM, Label.QUESTION, Label.NEGATIVE]
    assert all(s.ok and 0.0 <= s.score <= 1.0 for s in scores)


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_text_functions_hostile_text_never_raise(text: str) -> None:
    for func in (
        tx.normalize,
        tx.fold,
        tx.match_key,
        tx.deconfuse,
        tx.mixed_script_words,
        tx.detect_language,
        tx.extract_links,
        tx.extract_mentions,
        tx.emoji_count,
    ):
        func(text)
    assert len(tx.head_tail(text, 1000)) <= 1000


@settings(max_examples=200, deadline=None)
@given(ANY_TEXT)
def test_classify_any_unicode_scores_in_range(text: str) -> None:
    (scores,) = CLASSIFIER.classify([Sample(text, links=(text,), mentions=(text,))])
    assert all(s.ok and 0.0 <= s.score <= 1.0 for s in scores)


@settings(max_examples=200, deadline=None)
@given(ANY_TEXT)
def test_text_functions_any_unicode_never_raise(text: str) -> None:
    tx.match_key(text)
    tx.mixed_script_words(text)
    for link in (*tx.extract_links(text), text):
        tx.domain_of(link)
    tx.extract_mentions(text)
    tx.emoji_count(text)
