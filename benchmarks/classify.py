"""Throughput, latency, load time and peak memory of each classifier on real comment texts.

Run: `python -m benchmarks.classify [--rows 600] [--threads 2] [--only e5]`. Each classifier runs
in its own child process so load times are cold and peak memory (ru_maxrss) is its own.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from classifiers.contract import Sample

DATA = Path("/work/shared/data")
# A comment-like mix: chat messages, tweets, short questions and a few long reviews.
MIX = {
    "spam/tg-spam-samples.jsonl": 0.25,
    "sentiment/sentirueval2015-banks-test.jsonl": 0.3,
    "sentiment/sentirueval2015-telecoms-test.jsonl": 0.15,
    "questions/banking77-train.jsonl": 0.1,
    "questions/rubq-1.0.jsonl": 0.1,
    "spam/sms-spam-collection.jsonl": 0.07,
    "sentiment/sentirueval2015-rest-reviews-train.jsonl": 0.03,
}
NAMES = ("heuristics", "ngram", "e5", "e5-lora", "e5-lora-torch", "e5-lora-int8", "cascade")
# e5-lora runs on the embedder its adapter JSON names; these two force one kind.
LORA_KINDS = {"e5-lora-torch": "torch", "e5-lora-int8": "onnx-int8"}
SEED = 7


def sample_texts(rows: int) -> list[str]:
    """A fixed-seed sample of real texts in the proportions of MIX."""
    rng = random.Random(SEED)
    texts: list[str] = []
    for name, share in MIX.items():
        lines = (DATA / name).read_text(encoding="utf-8").splitlines()
        picked = rng.sample(lines, min(len(lines), max(1, round(rows * share))))
        texts += [json.loads(line)["text"] for line in picked]
    rng.shuffle(texts)
    return texts


def make(name: str, threads: int | None) -> Any:
    """Build one classifier, loading its model fully (warm_up where it has one)."""
    from classifiers.heuristics import KeywordClassifier

    if name == "heuristics":
        return KeywordClassifier()
    from classifiers.ngram import NgramClassifier

    if name == "ngram":
        return NgramClassifier()
    from classifiers.cascade import Cascade
    from classifiers.heads import DEFAULT_LORA, TransformerClassifier

    adapter = DEFAULT_LORA if name.startswith("e5-lora") else None
    kind = LORA_KINDS.get(name)
    e5 = TransformerClassifier(num_threads=threads, cache_size=0, adapter=adapter, embedder=kind)
    e5.warm_up()
    return e5 if name.startswith("e5") else Cascade([KeywordClassifier(), NgramClassifier(), e5])


def timed(call: Callable[[], object]) -> float:
    """Seconds one call takes."""
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (nearest rank) in milliseconds."""
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def measure(name: str, rows: int, threads: int | None) -> dict[str, Any]:
    """Every figure for one classifier, in this (fresh) process."""
    texts = sample_texts(rows)
    cold = timed(lambda: make(name, threads))
    warm_start = time.perf_counter()
    classifier = make(name, threads)
    warm = time.perf_counter() - warm_start
    single = [timed(lambda t=t: classifier.classify([Sample(t)])) for t in texts]
    batches = [texts[i : i + 32] for i in range(0, len(texts), 32)]
    batch_times = [timed(lambda b=b: classifier.classify([Sample(t) for t in b])) for b in batches]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "classifier": name,
        "texts": len(texts),
        "cold_load_s": round(cold, 2),
        "warm_load_s": round(warm, 2),
        "single_per_s": round(len(texts) / sum(single), 1),
        "single_p50_ms": round(percentile(single, 50), 2),
        "single_p99_ms": round(percentile(single, 99), 2),
        "batch32_per_s": round(len(texts) / sum(batch_times), 1),
        "batch32_p50_ms": round(percentile(batch_times, 50), 1),
        "batch32_p99_ms": round(percentile(batch_times, 99), 1),
        "peak_rss_mb": round(peak_mb),
        "median_chars": statistics.median(len(t) for t in texts),
    }


def run_child(name: str, rows: int, threads: int | None) -> dict[str, Any]:
    """Measure one classifier in a child process and read its JSON line."""
    cmd = [sys.executable, "-m", "benchmarks.classify", "--one", name, "--rows", str(rows)]
    cmd += ["--threads", str(threads)] if threads else []
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"classifier": name, "error": done.stderr.strip().splitlines()[-1:]}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Print one line of figures per classifier."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=600, help="texts to classify")
    parser.add_argument("--threads", type=int, default=None, help="encoder threads")
    parser.add_argument("--only", choices=NAMES, action="append", help="classifier(s) to run")
    parser.add_argument("--one", choices=NAMES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure(args.one, args.rows, args.threads)))
        return 0
    for name in args.only or NAMES:
        print(json.dumps(run_child(name, args.rows, args.threads)), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
