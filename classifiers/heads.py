"""Spam, negative and question probabilities from e5 embeddings and three small logistic heads."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from classifiers.contract import SCORED_LABELS, Label, Sample, Score
from classifiers.text import head_tail

MODEL_DIR = Path(__file__).resolve().parent / "models"
DEFAULT_HEADS = MODEL_DIR / "e5-heads-v1"
# Low-rank adapters for the encoder plus their own heads (classifiers/training/e5_finetune.py).
DEFAULT_LORA = MODEL_DIR / "e5-lora-v1"
VERSION = "e5-heads-v1"
ONNX = "onnx-int8"
TORCH = "torch"
# Heads JSON key: thresholds chosen on one embedder kind's outputs, replacing "thresholds" there.
BY_EMBEDDER = "thresholds_by_embedder"
# Dynamic int8 quantizes activations per tensor, so in a batch a text's embedding depends on its
# batch-mates (padding included): on 1,000 real texts frozen e5's probabilities moved by up to
# 0.39 between batches of 32 and single texts, and 0.6-0.9 % changed label. int8 encoders run one
# text at a time, so a message scores the same in the pipeline, in /check and in a re-check (on
# short comments this is no slower than padded mixed batches; F1 moved by at most 0.005).
INT8_BATCH = 1
# The encoder sees at most 128 tokens (head and tail); more characters only cost tokenising.
MAX_CHARS = 2000
DEFAULT_CACHE_SIZE = 4096
# Below this many letters or digits the embedding is the prefix's, which says nothing.
MIN_CONTENT = 2

F32 = NDArray[np.float32]
F64 = NDArray[np.float64]
_CONTENT = re.compile(r"[^\W_]")


class TextEmbedder(Protocol):
    """What the heads need from an encoder: unit-length embeddings of a fixed size."""

    @property
    def dim(self) -> int:
        """Embedding size."""
        ...

    def embed(self, texts: Sequence[str]) -> F32:
        """One row per text, in input order."""
        ...


def _sigmoid(z: F64) -> F64:
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(z, -40.0, 40.0))), dtype=np.float64)


@dataclass(slots=True)
class E5Heads:
    """One calibrated logistic head per label over the same embedding; saved as npz + json."""

    labels: tuple[Label, ...]
    weights: F32
    bias: F64
    platt: F64
    thresholds: dict[Label, float]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def dim(self) -> int:
        """Embedding size the heads expect."""
        return int(self.weights.shape[1])

    def probabilities(self, embeddings: F32) -> F64:
        """Calibrated probabilities, one row per text and one column per label."""
        margins = embeddings.astype(np.float64) @ self.weights.T.astype(np.float64) + self.bias
        return _sigmoid(self.platt[:, 0] * margins + self.platt[:, 1])

    def save(self, stem: str | Path) -> tuple[Path, Path]:
        """Write `<stem>.npz` (weights, bias, calibration) and `<stem>.json` (the rest)."""
        stem = Path(stem)
        stem.parent.mkdir(parents=True, exist_ok=True)
        npz, meta = stem.with_suffix(".npz"), stem.with_suffix(".json")
        np.savez_compressed(npz, weights=self.weights, bias=self.bias, platt=self.platt)
        meta.write_text(json.dumps(self.metadata(), indent=2, ensure_ascii=False) + "\n")
        return npz, meta

    def metadata(self) -> dict[str, Any]:
        """Version, labels, dims and thresholds, plus whatever the trainer recorded."""
        thresholds = {label.value: self.thresholds[label] for label in self.labels}
        return {
            "version": VERSION,
            "labels": [label.value for label in self.labels],
            "dim": self.dim,
            "thresholds": thresholds,
            **self.meta,
        }


def load_heads(stem: str | Path = DEFAULT_HEADS) -> E5Heads:
    """Read heads written by `E5Heads.save`."""
    stem = Path(stem)
    meta = json.loads(stem.with_suffix(".json").read_text(encoding="utf-8"))
    labels = tuple(Label(name) for name in meta.pop("labels"))
    thresholds = {Label(k): float(v) for k, v in meta.pop("thresholds").items()}
    with np.load(stem.with_suffix(".npz")) as arrays:
        weights = arrays["weights"].astype(np.float32)
        bias, platt = arrays["bias"].astype(np.float64), arrays["platt"].astype(np.float64)
    if weights.shape != (len(labels), int(meta["dim"])):
        raise ValueError(f"heads file {stem} holds weights of shape {weights.shape}")
    extra = {k: v for k, v in meta.items() if k not in ("version", "dim")}
    return E5Heads(labels, weights, bias, platt, thresholds, extra)


def for_embedder(heads: E5Heads, kind: str) -> E5Heads:
    """The heads with the thresholds chosen for `kind`, when their JSON holds such a set."""
    chosen = (heads.meta.get(BY_EMBEDDER) or {}).get(kind)
    if not chosen:
        return heads
    thresholds = {**heads.thresholds, **{Label(k): float(v) for k, v in chosen.items()}}
    return replace(heads, thresholds=thresholds)


def prepare_text(text: str) -> str:
    """Whitespace collapsed and long texts cut to head and tail: what the encoder sees."""
    return head_tail(" ".join(text.split()), MAX_CHARS)


def text_key(prepared: str) -> bytes:
    """Cache key of a prepared text (repeated spam hits the same key)."""
    return hashlib.sha256(prepared.encode("utf-8", "surrogatepass")).digest()


def build_embedder(
    kind: str, cache_dir: Path | None, folder: Path | None, num_threads: int | None
) -> TextEmbedder:
    """The int8 ONNX embedder (default) or the torch one, over the converted e5 folder."""
    from classifiers.encoder import Embedder, OnnxEmbedder, ensure_model, ensure_onnx

    source = folder if folder is not None else ensure_model(cache_dir)
    length = max_length(source)
    if kind == TORCH:
        return Embedder(source, num_threads=num_threads, max_length=length)
    if kind != ONNX:
        raise ValueError(f"unknown embedder kind {kind!r} (use {ONNX!r} or {TORCH!r})")
    onnx = ensure_onnx(source)
    return OnnxEmbedder(
        source, onnx, num_threads=num_threads, max_length=length, batch_size=INT8_BATCH
    )


def build_lora_embedder(
    adapter: str | Path,
    cache_dir: Path | None,
    folder: Path | None,
    num_threads: int | None,
    kind: str | None = None,
) -> TextEmbedder:
    """The encoder with a saved LoRA adapter merged into its weights.

    `kind` defaults to the adapter JSON's "embedder" (the path its thresholds were checked on).
    `onnx-int8` exports the merged folder (`ensure_merged_folder`, in `cache_dir`, else beside
    the base folder) and quantizes it like frozen e5, run one text at a time (`INT8_BATCH`);
    `torch` merges in memory at every load.
    """
    from classifiers.encoder import Embedder, OnnxEmbedder, ensure_model, ensure_onnx
    from classifiers.encoder.merged import ensure_merged_folder

    kind = kind or adapter_embedder(adapter)
    source = folder if folder is not None else ensure_model(cache_dir)
    length = max_length(source)
    if kind == ONNX:
        merged = ensure_merged_folder(source, adapter, cache_dir)
        onnx = ensure_onnx(merged)
        return OnnxEmbedder(
            merged, onnx, num_threads=num_threads, max_length=length, batch_size=INT8_BATCH
        )
    if kind != TORCH:
        raise ValueError(f"unknown embedder kind {kind!r} (use {ONNX!r} or {TORCH!r})")
    from classifiers.encoder.lora import load_merged

    embedder = Embedder(source, num_threads=num_threads, max_length=length)
    # Merged once at load: the fine-tuned encoder then costs exactly what the frozen one does.
    load_merged(embedder.model, adapter)
    return embedder


def adapter_embedder(adapter: str | Path) -> str:
    """The embedder kind an adapter's JSON names; torch (where it was trained) if none."""
    document = json.loads(Path(adapter).with_suffix(".json").read_text(encoding="utf-8"))
    return str(document.get("embedder", TORCH))


def max_length(folder: Path, wanted: int = 128) -> int:
    """Tokens per text: `wanted`, unless the model has fewer positions."""
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    # XLM-R numbers positions from padding_idx + 1, so two position rows are never used.
    positions = int(config.get("max_position_embeddings", wanted + 2)) - 2
    return max(8, min(wanted, positions))


class LruScores:
    """A small LRU of per-text probabilities keyed by text hash."""

    def __init__(self, size: int) -> None:
        """Keep at most `size` entries (0 disables the cache)."""
        self.size = size
        self._items: OrderedDict[bytes, F64] = OrderedDict()

    def get(self, key: bytes) -> F64 | None:
        """Stored probabilities, refreshed as most recent."""
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
        return found

    def put(self, key: bytes, value: F64) -> None:
        """Store, evicting the least recently used entry when full."""
        if self.size <= 0:
            return
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


class TransformerClassifier:
    """Per-label probabilities from e5 embeddings; the model loads on first use."""

    name = "e5"

    def __init__(
        self,
        heads: E5Heads | str | Path | None = None,
        *,
        embedder: TextEmbedder | str | None = None,
        cache_dir: Path | None = None,
        folder: Path | None = None,
        num_threads: int | None = None,
        cache_size: int = DEFAULT_CACHE_SIZE,
        adapter: str | Path | None = None,
    ) -> None:
        """Heads (committed by default) and an embedder kind, or a ready embedder object.

        `adapter` (e.g. `DEFAULT_LORA`) selects a LoRA-tuned encoder: the encoder with the
        adapter merged in (on the kind its JSON names unless `embedder` is a kind), and the
        heads saved with it unless `heads` is given. Loaded heads use the thresholds their JSON
        holds for that kind (`BY_EMBEDDER`), if any.
        """
        default = DEFAULT_HEADS if adapter is None else adapter
        self._heads_path = default if heads is None or isinstance(heads, E5Heads) else heads
        self.adapter = adapter
        self._kind = embedder if isinstance(embedder, str) else None
        self.cache_dir, self.folder, self.num_threads = cache_dir, folder, num_threads
        self.cache = LruScores(cache_size)
        self._heads: E5Heads | None = heads if isinstance(heads, E5Heads) else None
        self._embedder: TextEmbedder | None = None if isinstance(embedder, str) else embedder
        self._lock = threading.Lock()

    @property
    def heads(self) -> E5Heads:
        """The loaded heads (on first access), with their thresholds for the embedder kind."""
        if self._heads is None:
            heads = load_heads(self._heads_path)
            self._heads = for_embedder(heads, self.embedder_kind(heads))
        return self._heads

    def embedder_kind(self, heads: E5Heads) -> str:
        """The kind asked for, else the adapter's (its JSON), else the heads' ("embedder")."""
        if self._kind is not None:
            return self._kind
        if self.adapter is not None:
            return adapter_embedder(self.adapter)
        return str(heads.meta.get("embedder", ONNX))

    @property
    def thresholds(self) -> dict[Label, float]:
        """Per-label decision thresholds chosen on dev data."""
        return dict(self.heads.thresholds)

    def warm_up(self) -> None:
        """Load heads and encoder now and run one text, so the first message is not slow."""
        with self._lock:
            self._ensure().embed(["warm up"])

    def _ensure(self) -> TextEmbedder:
        heads = self.heads
        if self._embedder is None:
            self._embedder = self._build(heads)
        if self._embedder.dim != heads.dim:
            raise ValueError(f"encoder gives {self._embedder.dim} dims, heads need {heads.dim}")
        return self._embedder

    def _build(self, heads: E5Heads) -> TextEmbedder:
        kind = self.embedder_kind(heads)
        if self.adapter is not None:
            args = (self.adapter, self.cache_dir, self.folder, self.num_threads)
            return build_lora_embedder(*args, kind=kind)
        return build_embedder(kind, self.cache_dir, self.folder, self.num_threads)

    def probabilities(self, texts: Sequence[str]) -> F64:
        """Probabilities (texts × head labels) for raw texts; may raise (training, tests)."""
        prepared = [prepare_text(t) for t in texts]
        with self._lock:
            return self._cached(prepared, [text_key(p) for p in prepared])

    def _cached(self, prepared: Sequence[str], keys: Sequence[bytes]) -> F64:
        embedder, heads = self._ensure(), self.heads
        found = {k: v for k in keys if (v := self.cache.get(k)) is not None}
        missing = list(dict.fromkeys(k for k in keys if k not in found))
        if missing:
            texts = {k: p for k, p in zip(keys, prepared, strict=True)}
            probs = heads.probabilities(embedder.embed([texts[k] for k in missing]))
            for key, row in zip(missing, probs, strict=True):
                found[key] = row
                self.cache.put(key, row)
        out = np.zeros((len(keys), len(heads.labels)))
        for i, key in enumerate(keys):
            out[i] = found[key]
        return out

    def classify(self, samples: Sequence[Sample]) -> list[tuple[Score, ...]]:
        """Return one tuple of scores per sample; failures become `Score.error`, never raise."""
        prepared = [_prepare_safely(s) for s in samples]
        good = [i for i, p in enumerate(prepared) if isinstance(p, str) and _has_content(p)]
        try:
            texts = [str(prepared[i]) for i in good]
            probs = self.probabilities(texts) if good else np.zeros((0, 0))
            labels = self.heads.labels
        except Exception as exc:  # an encoder or heads failure degrades to error scores
            return [self._failed(s, exc) for s in samples]
        rows = dict(zip(good, probs, strict=True))
        return [self._scores(s, prepared[i], labels, rows.get(i)) for i, s in enumerate(samples)]

    def _scores(
        self,
        sample: Sample,
        prepared: str | Exception,
        labels: tuple[Label, ...],
        row: F64 | None,
    ) -> tuple[Score, ...]:
        if isinstance(prepared, Exception):
            return self._failed(sample, prepared)
        wanted = _wanted(sample, labels)
        if row is None:
            return tuple(Score(self.name, lab, 0.0, ("e5: too little text",)) for lab in wanted)
        values = dict(zip(labels, row.tolist(), strict=True))
        return tuple(self._score(label, values[label]) for label in wanted)

    def _score(self, label: Label, probability: float) -> Score:
        detail = f"e5: {label.value} {probability:.2f}"
        return Score(self.name, label, round(probability, 4), (detail,))

    def _failed(self, sample: Sample, exc: Exception) -> tuple[Score, ...]:
        error = f"{type(exc).__name__}: {exc}"
        return tuple(Score(self.name, lab, 0.0, (), error) for lab in _wanted(sample, None))


def _prepare_safely(sample: Sample) -> str | Exception:
    try:
        return prepare_text(sample.text)
    except Exception as exc:  # bad input (wrong type, odd code points) is data, not a crash
        return exc


def _has_content(prepared: str) -> bool:
    return len(_CONTENT.findall(prepared, 0, 64)) >= MIN_CONTENT


def _wanted(sample: Sample, labels: tuple[Label, ...] | None) -> list[Label]:
    try:
        skip = frozenset(sample.skip)
    except Exception:  # a sample without a usable skip set still gets its scores or errors
        skip = frozenset()
    return [lab for lab in SCORED_LABELS if lab not in skip and (labels is None or lab in labels)]
