"""Text normalisation and cheap features shared by the classifiers; pure functions only."""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

Language = Literal["ru", "en"]

# Zero-width, bidi and other invisible format characters: spammers hide them inside stop words.
_INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f"
    "\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0]"
)
# C0/C1 controls except tab and newline, plus lone surrogates that would break encoding later.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_SPACES = re.compile(r"[^\S\n]+")

_LATIN = "A-Za-z\u00c0-\u024f"
_GREEK = "\u0370-\u03ff"
_CYRILLIC = "\u0400-\u04ff"
_LETTER_RUN = re.compile(r"[^\W\d_]+")
_HAS_LATIN = re.compile(f"[{_LATIN}{_GREEK}]")
_HAS_CYRILLIC = re.compile(f"[{_CYRILLIC}]")
_LATIN_LETTER = re.compile(f"[{_LATIN}]")
# A Latin brand with a Russian case ending ("iPhoneом", "Fiем") is legitimate, not a trick.
_BRAND_ENDING = re.compile(f"[{_LATIN}]+[{_CYRILLIC}]{{1,4}}")

# Latin (and a few Greek/accented) letters that pass for Cyrillic ones, as spam writes them.
_TO_CYRILLIC = {
    "a": "а",
    "c": "с",
    "e": "е",
    "o": "о",
    "p": "р",
    "x": "х",
    "y": "у",
    "k": "к",
    "u": "и",
    "n": "п",
    "r": "г",
    "b": "ь",
    "A": "А",
    "B": "В",
    "C": "С",
    "E": "Е",
    "H": "Н",
    "K": "К",
    "M": "М",
    "O": "О",
    "P": "Р",
    "T": "Т",
    "X": "Х",
    "Y": "У",
    "á": "а",
    "à": "а",
    "é": "е",
    "è": "е",
    "ó": "о",
    "ò": "о",
    "Ó": "О",
    "É": "Е",
    "α": "а",
    "ο": "о",
    "ε": "е",
    "ρ": "р",
    "κ": "к",
    "τ": "т",
    "Α": "А",
    "Β": "В",
    "Ε": "Е",
    "Η": "Н",
    "Κ": "К",
    "Μ": "М",
    "Ο": "О",
    "Ρ": "Р",
    "Τ": "Т",
    "Χ": "Х",
}
_TO_LATIN = {
    "а": "a",
    "с": "c",
    "е": "e",
    "о": "o",
    "р": "p",
    "х": "x",
    "у": "y",
    "к": "k",
    "і": "i",
    "ј": "j",
    "ѕ": "s",
    "А": "A",
    "В": "B",
    "С": "C",
    "Е": "E",
    "Н": "H",
    "К": "K",
    "М": "M",
    "О": "O",
    "Р": "P",
    "Т": "T",
    "Х": "X",
    "І": "I",
    "Ј": "J",
    "Ѕ": "S",
}
# Look-alikes only in italic or handwriting; alone they are more often typos or a lost "\n".
_WEAK_LOOKALIKES = frozenset("nurb")
# A lower-case letter followed by a capital marks two words glued together, not a disguise.
_GLUED = re.compile("[a-zа-яё][A-ZА-ЯЁ]")
_CYRILLIC_TABLE = str.maketrans(_TO_CYRILLIC)
_LATIN_TABLE = str.maketrans(_TO_LATIN)

# Links: explicit schemes or www take any host; bare hosts need a known TLD so "т.е." or
# "file.txt" are not links.
_TLDS = (
    "com|ru|net|org|info|biz|io|me|ly|co|cc|to|gg|su|ua|by|kz|uz|am|ge|uk|de|fr|es|it|nl|pl|"
    "us|ca|in|cn|jp|tv|ws|xyz|top|site|online|shop|store|club|pro|app|dev|ai|link|click|ltd|"
    "live|life|fun|space|website|tech|vip|win|bet|cash|money|today|world|gl|sh|li|tk|ml|ga|"
    "cf|gq|page|bio|one|network|finance|trade|market|invest|capital|group|рф|рус|москва|"
    r"дети|сайт|орг|укр|бел|қаз|xn--[a-z0-9\-]+"
)
_HOST = r"(?:[\w\-]+\.)+"
_LINK = re.compile(
    rf"(?<![\w@.\-])(?:(?:https?|ftp)://\S+|www\.\S+|{_HOST}(?:{_TLDS})(?![\w\-])(?:[/?#]\S*)?)",
    re.IGNORECASE,
)
_SCHEME = re.compile(r"^(?:[a-z][a-z0-9+.\-]*://)?(?:[^@/]*@)?", re.IGNORECASE)
_TRAILING = ".,;:!?)]}>»\"'…"
_HOST_END = re.compile(r"[/?#:\\]")
# Telegram usernames are 5–32 characters; VK short names are similar.
_MENTION = re.compile(r"(?<![\w@./])@([A-Za-z][A-Za-z0-9_]{3,31})(?![\w@])")

_EMOJI = re.compile(
    "[\U0001f000-\U0001faff\u2600-\u27bf\u2300-\u23ff\u2b00-\u2bff\u2190-\u21ff\u3297\u3299"
    "\u203c\u2049\u2122\u2139\u24c2\u25aa-\u25fe]"
)
_ELLIPSIS = " … "


def normalize(text: str) -> str:
    """Return text in NFKC with invisible and control characters removed, spaces collapsed."""
    clean = _CONTROL.sub("", _INVISIBLE.sub("", text))
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", clean)).strip()


def fold(text: str) -> str:
    """Return the matching form: normalised, casefolded, "ё" as "е" and "’" as "'"."""
    return normalize(text).casefold().replace("ё", "е").replace("’", "'")


def match_key(text: str) -> str:
    """Return the form stop words and cues are matched against: folded and deconfused."""
    return fold(deconfuse(normalize(text)))


def _is_mixed(word: str) -> bool:
    return bool(_HAS_LATIN.search(word)) and bool(_HAS_CYRILLIC.search(word))


def _foreign_letters(word: str, script: re.Pattern[str]) -> set[str]:
    return {ch for ch in word if script.match(ch)}


def _deconfuse_word(word: str) -> str:
    if not _is_mixed(word):
        return word
    if _foreign_letters(word, _HAS_LATIN) <= _TO_CYRILLIC.keys():
        return word.translate(_CYRILLIC_TABLE)
    if _is_brand(word):
        return word
    if _foreign_letters(word, _HAS_CYRILLIC) <= _TO_LATIN.keys():
        return word.translate(_LATIN_TABLE)
    return word


def _is_brand(word: str) -> bool:
    return bool(_BRAND_ENDING.fullmatch(word))


def deconfuse(text: str) -> str:
    """Map look-alike letters in mixed-script words to the word's main script ("зaрaбoтoк")."""
    return _LETTER_RUN.sub(lambda m: _deconfuse_word(m.group()), text)


def _is_disguised(word: str) -> bool:
    if not _is_mixed(word) or _GLUED.search(word):
        return False
    swapped = {a for a, b in zip(word, _deconfuse_word(word), strict=True) if a != b}
    return bool(swapped - _WEAK_LOOKALIKES)


def mixed_script_words(text: str) -> tuple[str, ...]:
    """Words where one alphabet only supplies look-alike letters to the other ("зaработок")."""
    return tuple(word for word in _LETTER_RUN.findall(normalize(text)) if _is_disguised(word))


def detect_language(text: str) -> Language:
    """Guess "ru" or "en" by alphabet: Cyrillic letters at least as many as Latin ones means ru."""
    cyrillic = len(_HAS_CYRILLIC.findall(text))
    latin = len(_LATIN_LETTER.findall(text))
    return "ru" if cyrillic and cyrillic >= latin else "en"


def _strip_link(raw: str) -> str:
    return raw.rstrip(_TRAILING)


def extract_links(text: str) -> tuple[str, ...]:
    """URLs with or without a scheme (t.me links, bare domains, Cyrillic domains), in order."""
    return tuple(link for m in _LINK.finditer(normalize(text)) if (link := _strip_link(m.group())))


def _decode_idna(host: str) -> str:
    if "xn--" not in host:
        return host
    try:
        return host.encode("ascii").decode("idna")
    except UnicodeError:
        return host


def domain_of(link: str) -> str:
    """The lower-case host of a link without "www." or port ("https://www.Bit.ly/x" → "bit.ly")."""
    rest = _SCHEME.sub("", link.strip())
    host = _HOST_END.split(rest, maxsplit=1)[0].rstrip(".").casefold()
    host = host.removeprefix("www.")
    return _decode_idna(host)


def extract_mentions(text: str) -> tuple[str, ...]:
    """@usernames in order of appearance ("@earn_bot"); e-mail addresses are not mentions."""
    return tuple(f"@{m.group(1)}" for m in _MENTION.finditer(normalize(text)))


def emoji_count(text: str) -> int:
    """Number of emoji code points (flags count twice, variation selectors not at all)."""
    return len(_EMOJI.findall(text))


def head_tail(text: str, max_chars: int) -> str:
    """Shorten text to max_chars by keeping its head (2/3) and tail (1/3) around an ellipsis."""
    if len(text) <= max_chars:
        return text
    if max_chars <= len(_ELLIPSIS):
        return text[: max(max_chars, 0)]
    keep = max_chars - len(_ELLIPSIS)
    head = keep * 2 // 3
    tail = keep - head
    return text[:head] + _ELLIPSIS + (text[-tail:] if tail else "")
