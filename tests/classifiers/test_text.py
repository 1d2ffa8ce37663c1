"""Unit tests for text normalisation and features."""

from __future__ import annotations

import pytest

from classifiers.text import (
    deconfuse,
    detect_language,
    domain_of,
    emoji_count,
    extract_links,
    extract_mentions,
    fold,
    head_tail,
    match_key,
    mixed_script_words,
    normalize,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("за\u200bработок", "заработок"),
        ("\u202eevil\u202c", "evil"),
        ("ﬁne ２０２４", "fine 2024"),
        ("a\x00b\x1bc", "abc"),
        ("lone \ud800 surrogate", "lone surrogate"),
        ("  many   spaces \t here ", "many spaces here"),
        ("line\nbreak", "line\nbreak"),
        ("", ""),
    ],
    ids=["zero-width", "bidi", "nfkc", "controls", "surrogate", "spaces", "newline-kept", "empty"],
)
def test_normalize_cleans_text(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ЗАРАБОТОК", "заработок"),
        ("Удалённо", "удаленно"),
        ("STRASSE", "strasse"),
        ("it’s", "it's"),
    ],
    ids=["cyrillic-caps", "yo-as-ye", "latin", "curly-apostrophe"],
)
def test_fold_gives_matching_form(raw: str, expected: str) -> None:
    assert fold(raw) == expected


def test_match_key_undoes_homoglyphs_and_invisible_characters() -> None:
    assert match_key("ЗAРA\u200bБOТOК в интеpнете") == "заработок в интернете"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("go https://example.com/a?b=1.", ("https://example.com/a?b=1",)),
        ("see www.Example.org/path)", ("www.Example.org/path",)),
        ("короткая bit.ly/x и всё", ("bit.ly/x",)),
        ("канал t.me/+AbC_12 тут", ("t.me/+AbC_12",)),
        ("сайт пример.рф, заходите", ("пример.рф",)),
        ("shop example.ru!", ("example.ru",)),
        ("punycode xn--e1afmkfd.xn--p1ai", ("xn--e1afmkfd.xn--p1ai",)),
        ("mail me at a.b@mail.ru", ()),
        ("т.е. file.txt и v1.2.3", ()),
        ("", ()),
    ],
    ids=[
        "scheme",
        "www",
        "shortener",
        "t-me",
        "cyrillic-domain",
        "bare-domain",
        "punycode",
        "email-is-not-link",
        "abbreviations",
        "empty",
    ],
)
def test_extract_links_finds_urls(text: str, expected: tuple[str, ...]) -> None:
    assert extract_links(text) == expected


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ("https://www.Bit.ly/x", "bit.ly"),
        ("bit.ly/abc", "bit.ly"),
        ("http://user:pw@host.com:8080/x", "host.com"),
        ("t.me/+abc", "t.me"),
        ("ПРИМЕР.РФ/путь", "пример.рф"),
        ("xn--e1afmkfd.xn--p1ai", "пример.рф"),
        ("xn--broken-.com", "xn--broken-.com"),
        ("", ""),
    ],
    ids=[
        "scheme-www-case",
        "bare",
        "userinfo-port",
        "t-me",
        "cyrillic",
        "punycode",
        "bad-punycode",
        "empty",
    ],
)
def test_domain_of_returns_host(link: str, expected: str) -> None:
    assert domain_of(link) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("пиши @earn_bot и @Some_User.", ("@earn_bot", "@Some_User")),
        ("mail a.b@mail.ru", ()),
        ("short @ab", ()),
        ("@@double", ()),
    ],
    ids=["handles", "email", "too-short", "double-at"],
)
def test_extract_mentions_finds_handles(text: str, expected: tuple[str, ...]) -> None:
    assert extract_mentions(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Привет, как дела?", "ru"),
        ("Hello there", "en"),
        ("Купил iPhone 15 Pro вчера", "ru"),
        ("", "en"),
        ("12345 !!!", "en"),
    ],
    ids=["russian", "english", "russian-with-brand", "empty", "no-letters"],
)
def test_detect_language_by_alphabet(text: str, expected: str) -> None:
    assert detect_language(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("зaработок в интернете", ("зaработок",)),
        ("Пpиглaшaю вac", ("Пpиглaшaю", "вac")),
        ("Bitсoin", ("Bitсoin",)),
        ("дoхoдα", ("дoхoдα",)),
        ("Купил iPhone и MacBook", ()),
        ("с iPhoneом и Wi-Fiем", ()),
        ("розетки на 32А и 5 кВт", ()),
        ("переписка nУ кого", ()),
        ("лuчные", ()),
    ],
    ids=[
        "latin-a",
        "several",
        "cyrillic-in-latin",
        "greek",
        "brands",
        "brand-ending",
        "units",
        "glued-words",
        "italic-only",
    ],
)
def test_mixed_script_words_flags_disguises(text: str, expected: tuple[str, ...]) -> None:
    assert mixed_script_words(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("зaрaбoтoк", "заработок"),
        ("в лuчные сообщенuя", "в личные сообщения"),
        ("Bitсoin", "Bitcoin"),
        ("iPhone и MacBook", "iPhone и MacBook"),
        ("Óбyчeниe", "Обучение"),
    ],
    ids=["latin-in-cyrillic", "italic-lookalikes", "cyrillic-in-latin", "untouched", "accented"],
)
def test_deconfuse_maps_lookalikes(text: str, expected: str) -> None:
    assert deconfuse(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("🔥🔥🔥 ok", 3), ("♨️ ➡️ ✅", 3), ("🇷🇺", 2), ("plain text :)", 0), ("", 0)],
    ids=["pictographs", "with-variation-selectors", "flag", "none", "empty"],
)
def test_emoji_count_counts_pictographs(text: str, expected: int) -> None:
    assert emoji_count(text) == expected


@pytest.mark.parametrize(
    ("text", "max_chars", "expected"),
    [
        ("short", 10, "short"),
        ("abcdefghijklmnopqrstuvwxyz", 12, "abcdef … xyz"),
        ("abcdefghij", 2, "ab"),
        ("abcdefghij", 0, ""),
    ],
    ids=["fits", "head-and-tail", "tiny-limit", "zero"],
)
def test_head_tail_keeps_both_ends(text: str, max_chars: int, expected: str) -> None:
    assert head_tail(text, max_chars) == expected
    assert len(head_tail(text, max_chars)) <= max(max_chars, 0)
