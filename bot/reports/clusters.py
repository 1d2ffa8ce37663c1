"""Group unanswered questions by meaning and draft a rules.yaml answer for each group.

The embedder is injected. `default_embedder()` uses the project's encoder (e5-small through ONNX
Runtime) and falls back to `CharNgramEmbedder`, a deterministic character n-gram TF-IDF
vectoriser that needs no model: it groups wordings that share spelling rather than meaning, which
is weaker but honest, and the report names the embedder it used.
"""

from __future__ import annotations

import json
import logging
import math
import re
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from bot.reports.model import QuestionGroup

log = logging.getLogger(__name__)

Vectors = npt.NDArray[np.float32]
MAX_EXAMPLES = 3
MAX_KEYWORDS = 3
WORD = re.compile(r"[^\W\d_]{3,}")
# Words that say "this is a question" rather than what it is about.
STOP_WORDS = frozenset(
    (
        "the",
        "and",
        "you",
        "your",
        "are",
        "can",
        "how",
        "what",
        "when",
        "where",
        "which",
        "why",
        "who",
        "does",
        "with",
        "for",
        "have",
        "this",
        "that",
        "there",
        "from",
        "will",
        "would",
        "could",
        "please",
        "any",
        "about",
        "just",
        "как",
        "где",
        "когда",
        "что",
        "это",
        "или",
        "вас",
        "вам",
        "все",
        "уже",
        "там",
        "тут",
        "ещё",
        "еще",
        "есть",
        "ли",
        "можно",
        "нужно",
        "почему",
        "какой",
        "какая",
        "какие",
        "который",
        "сколько",
        "будет",
        "будут",
        "если",
        "чтобы",
        "для",
        "при",
        "так",
        "мне",
        "меня",
        "подскажите",
        "скажите",
        "пожалуйста",
        "здравствуйте",
    )
)
# ъ and ь have no Latin letter; a dash marks them and kebab_id drops it.
TRANSLIT = dict(
    zip(
        "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
        (
            "a",
            "b",
            "v",
            "g",
            "d",
            "e",
            "e",
            "zh",
            "z",
            "i",
            "y",
            "k",
            "l",
            "m",
            "n",
            "o",
            "p",
            "r",
            "s",
            "t",
            "u",
            "f",
            "h",
            "ts",
            "ch",
            "sh",
            "sch",
            "-",
            "y",
            "-",
            "e",
            "yu",
            "ya",
        ),
        strict=True,
    )
)


class Embedder(Protocol):
    """Turns texts into unit-length vectors; `group_distance` is its cosine cut-off for a group."""

    name: str
    group_distance: float

    def embed(self, texts: Sequence[str]) -> Vectors: ...


class CharNgramEmbedder:
    """Character 2–4-gram TF-IDF fitted on the texts being grouped: deterministic, no model.

    N-grams of each word (padded with spaces, like scikit-learn's `char_wb`) are hashed with
    CRC-32 into `DIMENSIONS` columns: stable across runs, unlike Python's salted `hash`.
    """

    name = "char n-gram TF-IDF"
    group_distance = 0.75  # n-gram vectors of paraphrases are far less similar than e5's
    DIMENSIONS = 4096

    def embed(self, texts: Sequence[str]) -> Vectors:
        counts = np.zeros((len(texts), self.DIMENSIONS), dtype=np.float32)
        for row, text in enumerate(texts):
            for gram in char_ngrams(text):
                counts[row, zlib.crc32(gram.encode()) % self.DIMENSIONS] += 1
        documents = (counts > 0).sum(axis=0)
        idf = np.log((1 + len(texts)) / (1 + documents)) + 1  # smoothed, as scikit-learn does
        vectors = counts * idf.astype(np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return np.asarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)


def char_ngrams(text: str, sizes: range = range(2, 5)) -> Iterator[str]:
    """Character n-grams inside each lower-cased word, the word padded with spaces."""
    for word in text.lower().replace("ё", "е").split():
        padded = f" {word} "
        for n in sizes:
            for i in range(max(len(padded) - n + 1, 1)):
                yield padded[i : i + n]


class EncoderEmbedder:
    """The project's e5-small encoder (ONNX int8); e5 puts all texts close, hence the tight cut."""

    name = "e5-small encoder"
    group_distance = 0.11  # paraphrases sit at 0.09–0.11 on e5-small int8, unrelated at 0.15+

    def __init__(self, inner: object) -> None:
        self._inner = inner

    def embed(self, texts: Sequence[str]) -> Vectors:
        return np.asarray(self._inner.embed(texts), dtype=np.float32)  # type: ignore[attr-defined]


def default_embedder() -> Embedder:
    """The encoder when it can be loaded offline, otherwise the n-gram fallback (logged)."""
    try:
        from classifiers.encoder import OnnxEmbedder, ensure_model, ensure_onnx

        folder = ensure_model()
        return EncoderEmbedder(OnnxEmbedder(folder, ensure_onnx(folder)))
    except Exception as exc:  # any failure to load only costs grouping quality
        log.warning("encoder unavailable (%s); grouping questions by character n-grams", exc)
        return CharNgramEmbedder()


@dataclass(frozen=True, slots=True)
class Grouping:
    """Question groups, largest first, and the name of the embedder that made them."""

    groups: tuple[QuestionGroup, ...]
    embedder: str


def group_questions(items: Sequence[tuple[str, str]], embedder: Embedder | None) -> Grouping:
    """Group (community, text) pairs by meaning, largest groups first.

    Identical texts (after collapsing whitespace) are embedded once and weigh by their count.
    """
    counts: Counter[str] = Counter()
    where: dict[str, set[str]] = defaultdict(set)
    for community, text in items:
        clean = " ".join(text.split())
        if clean:
            counts[clean] += 1
            where[clean].add(community)
    if not counts:
        return Grouping((), embedder.name if embedder else "")
    embedder = embedder or default_embedder()
    texts = list(counts)
    vectors = embedder.embed(texts)
    members: dict[int, list[int]] = defaultdict(list)
    for index, label in enumerate(cluster(vectors, embedder.group_distance)):
        members[label].append(index)
    groups = [_group(m, texts, counts, where, vectors) for m in members.values()]
    # A stable sort: equal sizes keep the order their first text was seen in.
    return Grouping(tuple(_unique_ids(sorted(groups, key=lambda g: -g.size))), embedder.name)


def cluster(vectors: Vectors, distance: float) -> list[int]:
    """Average-linkage clusters under a cosine distance cut-off (deterministic)."""
    if len(vectors) < 2:
        return [0] * len(vectors)
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import pdist

    # A zero vector has no cosine; treat it as unrelated to everything.
    distances = np.nan_to_num(pdist(vectors.astype(np.float64), "cosine"), nan=1.0)
    tree = linkage(np.clip(distances, 0.0, 2.0), method="average")
    return [int(label) for label in fcluster(tree, t=distance, criterion="distance")]


def _group(
    members: list[int],
    texts: list[str],
    counts: Counter[str],
    where: dict[str, set[str]],
    vectors: Vectors,
) -> QuestionGroup:
    keywords = top_keywords([texts[i] for i in members], texts)
    return QuestionGroup(
        answer_id=kebab_id(keywords),
        keywords=keywords,
        examples=_examples(members, texts, vectors),
        size=sum(counts[texts[i]] for i in members),
        communities=tuple(sorted(set().union(*(where[texts[i]] for i in members)))),
    )


def _examples(members: list[int], texts: list[str], vectors: Vectors) -> tuple[str, ...]:
    """The distinct texts nearest the group's centre: the most typical wordings."""
    centre = vectors[members].mean(axis=0)
    nearest = sorted(members, key=lambda i: (-float(vectors[i] @ centre), i))
    return tuple(texts[i] for i in nearest[:MAX_EXAMPLES])


def top_keywords(group: Sequence[str], everything: Sequence[str]) -> tuple[str, ...]:
    """Words frequent in the group and rare elsewhere (TF-IDF over texts), as match stems."""
    in_group = Counter(word for text in group for word in set(_words(text)))
    everywhere = Counter(word for text in everything for word in set(_words(text)))
    n = len(everything)

    def score(word: str) -> tuple[float, str]:
        return (-in_group[word] * math.log(1 + n / everywhere[word]), word)

    return tuple(sorted(in_group, key=score)[:MAX_KEYWORDS])


def _words(text: str) -> list[str]:
    words = WORD.findall(text.lower().replace("ё", "е"))
    return [stem(w) for w in words if w not in STOP_WORDS]


def stem(word: str) -> str:
    """Drop a Russian case ending, since rules.yaml keywords match as substrings."""
    is_cyrillic = any("а" <= ch <= "я" or ch == "ё" for ch in word)
    return word[:-2] if is_cyrillic and len(word) > 5 else word


def kebab_id(keywords: Sequence[str]) -> str:
    """A kebab-case answer id from the top two keywords, transliterated to ASCII."""
    parts = ["".join(TRANSLIT.get(ch, ch) for ch in word).replace("-", "") for word in keywords]
    ascii_parts = [re.sub(r"[^a-z0-9]", "", part) for part in parts[:2]]
    return "-".join(part for part in ascii_parts if part) or "question"


def _unique_ids(groups: list[QuestionGroup]) -> list[QuestionGroup]:
    seen: Counter[str] = Counter()
    unique = []
    for group in groups:
        seen[group.answer_id] += 1
        n = seen[group.answer_id]
        answer_id = group.answer_id if n == 1 else f"{group.answer_id}-{n}"
        unique.append(
            QuestionGroup(answer_id, group.keywords, group.examples, group.size, group.communities)
        )
    return unique


def answer_stub(group: QuestionGroup, todo: str) -> str:
    """A ready-to-paste `questions.answers` entry; JSON strings are valid YAML scalars."""

    def flow(values: Sequence[str]) -> str:
        return "[" + ", ".join(json.dumps(v, ensure_ascii=False) for v in values) + "]"

    return (
        f"- id: {group.answer_id}\n"
        f"  keywords: {flow(group.keywords)}\n"
        f"  examples: {flow(group.examples)}\n"
        f"  reply: {json.dumps(todo, ensure_ascii=False)}\n"
    )
