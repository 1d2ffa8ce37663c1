"""The LoRA encoder on int8 ONNX against torch float32: same dev rows, heads and rules.

Run: `python -m classifiers.training.e5_lora_onnx [--adapter STEM] [--apply [--default]]`.
Embeds the fine-tuner's dev rows (with the SentiRuEval test files) through both embedder kinds
and scores them with the adapter's saved heads (weights, Platt scaling and thresholds as
committed), then with thresholds re-chosen on each kind's embeddings by the trainers' rules
(`set_thresholds`; Platt scaling kept). int8 passes when no checked F1 drops by more than 0.01
against torch and spam FP stays ≤ 1 %, with the committed thresholds or else with its own.
`--apply` stores int8's own thresholds in the adapter's JSON under "thresholds_by_embedder"
(the classifier uses them whenever it runs int8); `--default` also makes the passing kind the
adapter's "embedder". Switching the default stays a separate step: the rule is necessary, not
sufficient (look at single cases too, e.g. the committed adapter's tests).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from classifiers.heads import (
    BY_EMBEDDER,
    DEFAULT_LORA,
    ONNX,
    TORCH,
    E5Heads,
    build_lora_embedder,
    load_heads,
)
from classifiers.ngram import FeatureSettings, Head, NgramModel
from classifiers.training.e5_finetune import (
    TABLE,
    Figures,
    embed,
    figures,
    find,
    restripped,
    spam_fp,
)
from classifiers.training.e5_train import E5Config, load_split
from classifiers.training.ngram_train import (
    DEFAULT_DATA,
    LABELS,
    MAX_SPAM_FP,
    MIN_FP_ROWS,
    Metric,
    Row,
    set_thresholds,
)

# Largest F1 drop of int8 against torch float32 (committed thresholds) on the checked rows.
TOLERANCE = 0.01
CHECKED = (
    ("spam", "dev", "all"),
    ("spam", "dev", "lang=en"),
    ("spam", "dev", "lang=ru"),
    ("negative", "test", "all"),
    ("question", "dev", "all"),
    ("question", "dev", "lang=ru"),
    ("question-no-?", "stripped", "all"),
)


@dataclass(frozen=True, slots=True)
class CompareConfig:
    """Which adapter and data; the dev split is the fine-tuner's (4000-row cap)."""

    adapter: Path = DEFAULT_LORA
    data: Path = DEFAULT_DATA
    folder: Path | None = None
    cache_dir: Path | None = None
    threads: int = 2
    split_cap: int = 4000
    limit: int = 0
    apply: bool = False
    default: bool = False


@dataclass(slots=True)
class KindFigures:
    """One embedder kind: figures with the committed heads and with re-chosen thresholds."""

    kind: str
    committed: Figures
    refit: Figures
    embeddings: np.ndarray
    seconds: float


def log(message: str) -> None:
    """Progress to stderr, so stdout carries only the report."""
    print(f"[e5-lora-onnx {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def committed_model(heads: E5Heads) -> NgramModel:
    """The saved heads as the trainers' `NgramModel`: weights, Platt scaling and thresholds."""
    found = {}
    for i, label in enumerate(heads.labels):
        a, b = (float(v) for v in heads.platt[i])
        weights = heads.weights[i].astype(np.float32)
        threshold = heads.thresholds[label]
        found[label] = Head(label, weights, float(heads.bias[i]), a, b, threshold)
    return NgramModel(FeatureSettings(), found)


def measure(
    kind: str, config: CompareConfig, rows: tuple[list[Row], list[Row]], heads: E5Heads
) -> KindFigures:
    """Embed dev rows (and their "?"-stripped copies) with one kind; score both ways."""
    embedder = build_lora_embedder(
        config.adapter, config.cache_dir, config.folder, config.threads, kind=kind
    )
    start = time.perf_counter()
    log(f"{kind}: embedding {len(rows[0])} dev rows")
    dev = embed(embedder, rows[0])
    keys = {id(r) for r in rows[1]}
    test = dev.subset(lambda r: id(r) in keys)
    stripped = restripped(dev, embedder)
    seconds = time.perf_counter() - start
    committed = figures(committed_model(heads), dev, test, stripped)
    retuned = committed_model(heads)
    set_thresholds(retuned, dev)
    refit = figures(retuned, dev, test, stripped)
    return KindFigures(kind, committed, refit, np.asarray(dev.matrix), seconds)


def drops(reference: Figures, candidate: Figures) -> list[str]:
    """Why `candidate` may not replace `reference` (empty when it may)."""
    found = []
    for label, where, name in CHECKED:
        old, new = find(reference, where, label, name), find(candidate, where, label, name)
        if old is not None and new is not None and new.f1 < old.f1 - TOLERANCE:
            found.append(f"{label} {where} {name} F1 {new.f1:.3f} < {old.f1:.3f} − {TOLERANCE}")
    if spam_fp(candidate) > MAX_SPAM_FP:
        found.append(f"spam FP {spam_fp(candidate):.3f} > {MAX_SPAM_FP}")
    return found


def table_lines(fp32: KindFigures, int8: KindFigures) -> list[str]:
    """F1 (P / R) per label and slice: torch, int8 with the committed and with its thresholds."""
    columns = (fp32.committed, int8.committed, int8.refit)
    lines = [
        "| label | rows | slice | torch fp32 F1 (P / R) | int8, committed thresholds | Δ F1 | "
        "int8, own thresholds | Δ F1 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for label, where, name in TABLE:
        old, new, refit = (find(f, where, label, name) for f in columns)
        cells = f"{_cell(old)} | {_cell(new)} | {_delta(old, new)} | {_cell(refit)}"
        lines.append(f"| {label} | {where} | {name} | {cells} | {_delta(old, refit)} |")
    fps = [f"{spam_fp(f):.3f}" for f in columns]
    lines.append(
        f"| spam FP (worst slice ≥ {MIN_FP_ROWS} rows) | dev | max | {fps[0]} | {fps[1]} | – | "
        f"{fps[2]} | – |"
    )
    return lines


def _delta(old: Metric | None, new: Metric | None) -> str:
    return f"{new.f1 - old.f1:+.3f}" if old and new else "–"


def _cell(m: Metric | None) -> str:
    return "–" if m is None else f"{m.f1:.3f} ({m.precision:.3f} / {m.recall:.3f})"


def threshold_lines(heads: E5Heads, fp32: KindFigures, int8: KindFigures) -> list[str]:
    """Committed thresholds next to those `set_thresholds` picks on each kind's embeddings."""
    lines = ["| label | committed | torch fp32 re-fit | int8 re-fit |", "|---|---|---|---|"]
    for label in LABELS:
        refits = [k.refit.model.heads[label].threshold for k in (fp32, int8)]
        lines.append(f"| {label.value} | {heads.thresholds[label]} | {refits[0]} | {refits[1]} |")
    return lines


def cosine_line(fp32: KindFigures, int8: KindFigures) -> str:
    """How close the int8 embeddings are to the float32 ones, row by row."""
    cos = (fp32.embeddings * int8.embeddings).sum(axis=1)
    return (
        f"cosine int8 vs torch fp32 over {len(cos)} dev rows: mean {cos.mean():.4f}, "
        f"1st percentile {np.percentile(cos, 1):.4f}, min {cos.min():.4f}"
    )


@dataclass(slots=True)
class Verdict:
    """Whether int8 may run the adapter, and with which thresholds (None: the committed)."""

    kind: str
    thresholds: dict[str, float] | None
    refused: list[str]
    text: str


def verdict(fp32: KindFigures, int8: KindFigures) -> Verdict:
    """int8 with the committed thresholds, else with its own, else torch stays."""
    committed = drops(fp32.committed, int8.committed)
    if not committed:
        return Verdict(ONNX, None, [], "int8 keeps quality with the committed thresholds")
    own = drops(fp32.committed, int8.refit)
    if not own:
        heads = int8.refit.model.heads
        thresholds = {label.value: heads[label].threshold for label in LABELS}
        text = f"int8 keeps quality with its own thresholds {thresholds}; committed: " + "; ".join(
            committed
        )
        return Verdict(ONNX, thresholds, committed, text)
    return Verdict(TORCH, None, own, "int8 refused: " + "; ".join(own))


def apply(adapter: Path, chosen: Verdict, *, default: bool = False) -> None:
    """Store int8's own thresholds (or drop stale ones) and, if `default`, the passing kind."""
    path = adapter.with_suffix(".json")
    document = json.loads(path.read_text(encoding="utf-8"))
    if default:
        document["embedder"] = chosen.kind
    by_kind = dict(document.get(BY_EMBEDDER) or {})
    by_kind.pop(ONNX, None)
    if chosen.thresholds is not None:
        by_kind[ONNX] = chosen.thresholds
    document.pop(BY_EMBEDDER, None)
    if by_kind:
        document[BY_EMBEDDER] = by_kind
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def run(config: CompareConfig) -> tuple[list[str], Verdict]:
    """Both kinds on the same rows; returns the report lines and the verdict."""
    _, dev, test = load_split(E5Config(data=config.data, cap=config.split_cap, limit=config.limit))
    heads = load_heads(config.adapter)
    fp32 = measure(TORCH, config, (dev, test), heads)
    int8 = measure(ONNX, config, (dev, test), heads)
    chosen = verdict(fp32, int8)
    report = [
        *table_lines(fp32, int8),
        "",
        *threshold_lines(heads, fp32, int8),
        "",
        cosine_line(fp32, int8),
        f"embedding time (dev + stripped rows, {config.threads} threads): "
        f"torch {fp32.seconds:.0f} s, int8 {int8.seconds:.0f} s",
        chosen.text,
    ]
    return report, chosen


def parse(argv: Sequence[str] | None) -> CompareConfig:
    """Command-line options → CompareConfig."""
    parser = argparse.ArgumentParser(
        prog="python -m classifiers.training.e5_lora_onnx", description=__doc__
    )
    add = parser.add_argument
    add("--adapter", type=Path, default=DEFAULT_LORA, help="adapter path stem (.npz, .json)")
    add("--data", type=Path, default=DEFAULT_DATA, help="shared data folder")
    add("--folder", type=Path, default=None, help="a transformers encoder folder (default e5)")
    add("--cache-dir", type=Path, default=None, help="model cache (default ~/.cache/smmbot)")
    add("--threads", type=int, default=2, help="encoder threads")
    add("--limit", type=int, default=0, help="rows per file (0 = all; for tests)")
    add("--apply", action="store_true", help="store int8's own thresholds in the adapter's JSON")
    add("--default", action="store_true", help="with --apply: make the passing kind the default")
    args = parser.parse_args(argv)
    return CompareConfig(
        adapter=args.adapter,
        data=args.data,
        folder=args.folder,
        cache_dir=args.cache_dir,
        threads=args.threads,
        limit=args.limit,
        apply=args.apply,
        default=args.default,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Print the comparison; with `--apply`, record the result in the adapter's JSON."""
    config = parse(argv)
    report, chosen = run(config)
    print("\n".join(report))
    if config.apply:
        apply(config.adapter, chosen, default=config.default)
        kind = chosen.kind if config.default else "unchanged"
        log(f"{config.adapter.with_suffix('.json')}: int8 thresholds {chosen.thresholds}, "
            f"embedder {kind}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
