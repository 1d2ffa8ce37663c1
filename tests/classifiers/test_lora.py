"""LoRA adapters on a tiny random XLM-R: identity at start, exact merge, files, a short run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from classifiers.contract import Label, Sample
from classifiers.encoder import OnnxEmbedder, ensure_onnx
from classifiers.encoder.convert import STAMP_FILE
from classifiers.encoder.embedder import Embedder
from classifiers.encoder.lora import (
    FFN_OUT,
    QUERY_VALUE,
    LoraLinear,
    LoraSettings,
    adapter_arrays,
    apply_lora,
    load_adapter_arrays,
    load_merged,
    lora_modules,
    merge_lora,
    read_adapter,
    save_adapter,
)
from classifiers.encoder.merged import adapter_digest, ensure_merged_folder
from classifiers.heads import (
    BY_EMBEDDER,
    DEFAULT_LORA,
    ONNX,
    TORCH,
    TransformerClassifier,
    adapter_embedder,
    build_lora_embedder,
    load_heads,
)
from classifiers.training import e5_finetune, e5_lora_onnx
from classifiers.training.ngram_train import FILES
from tests.classifiers.cases import OBVIOUS_CASES, labels_over_threshold

TEXTS = ["hello world", "привет мир spam buy now", "a b c", "buy"]


def _encoder(folder: Path) -> Embedder:
    return Embedder(folder, max_length=16)


def _randomise(model: nn.Module, seed: int = 1, scale: float = 0.1) -> None:
    """Give B non-zero values, as training would, so merge and save have something to keep."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for wrapper in lora_modules(model).values():
            wrapper.lora_b.copy_(torch.randn(wrapper.lora_b.shape, generator=generator) * scale)


def test_targets_query_value_and_ffn_output_only(tiny_folder: Path) -> None:
    model = _encoder(tiny_folder).model
    wrapped = apply_lora(model, LoraSettings())
    names = sorted(wrapped)
    assert len(names) == 6  # 2 layers x (query, value, FFN output)
    assert not any("attention.output" in n or n.endswith(".key") for n in names)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(n.endswith(("lora_a", "lora_b")) for n in trainable)
    only_qv = apply_lora(_encoder(tiny_folder).model, LoraSettings(targets=QUERY_VALUE))
    assert len(only_qv) == 4 and FFN_OUT[0] not in LoraSettings(targets=QUERY_VALUE).targets


def test_fresh_adapter_is_the_identity(tiny_folder: Path) -> None:
    embedder = _encoder(tiny_folder)
    before = embedder.embed(TEXTS)
    wrapped = apply_lora(embedder.model, LoraSettings(rank=4, alpha=8.0, dropout=0.1))
    assert all(float(w.lora_b.detach().abs().sum()) == 0.0 for w in wrapped.values())
    assert all(float(w.lora_a.detach().abs().sum()) > 0.0 for w in wrapped.values())
    np.testing.assert_array_equal(embedder.embed(TEXTS), before)


def test_merge_matches_the_unmerged_adapter(tiny_folder: Path) -> None:
    embedder = _encoder(tiny_folder)
    base = embedder.embed(TEXTS)
    apply_lora(embedder.model, LoraSettings())
    _randomise(embedder.model)
    unmerged = embedder.embed(TEXTS)
    assert np.abs(unmerged - base).max() > 1e-3  # the adapter really changes the output
    assert merge_lora(embedder.model) == 6
    assert not lora_modules(embedder.model)
    assert all(isinstance(m, nn.Linear) for n, m in embedder.model.named_modules() if "query" in n)
    np.testing.assert_allclose(embedder.embed(TEXTS), unmerged, atol=1e-5)


def test_adapter_survives_save_and_load(tiny_folder: Path, tmp_path: Path) -> None:
    trained = _encoder(tiny_folder)
    settings = LoraSettings(rank=4, alpha=8.0, targets=QUERY_VALUE)
    apply_lora(trained.model, settings)
    _randomise(trained.model)
    arrays = adapter_arrays(trained.model)
    assert all(a.dtype == np.float16 for a in arrays.values())
    extra = {"weights": np.ones((3, 32), np.float32)}
    save_adapter(tmp_path / "ad", {**arrays, **extra}, settings, {"note": "x"})
    loaded_settings, loaded = read_adapter(tmp_path / "ad")
    assert loaded_settings == settings and set(loaded) == set(arrays) | {"weights"}
    assert json.loads((tmp_path / "ad.json").read_text())["note"] == "x"
    fresh = _encoder(tiny_folder)
    apply_lora(fresh.model, loaded_settings)
    load_adapter_arrays(fresh.model, loaded)
    # float16 storage: the reloaded adapter equals the saved (rounded) one exactly.
    for key, value in adapter_arrays(fresh.model).items():
        np.testing.assert_array_equal(value, arrays[key])
    merged = load_merged(_encoder(tiny_folder).model, tmp_path / "ad")
    out = Embedder(tiny_folder, max_length=16)
    out.model = merged
    np.testing.assert_allclose(out.embed(TEXTS), fresh.embed(TEXTS), atol=1e-5)


def test_load_refuses_an_adapter_for_other_layers(tiny_folder: Path) -> None:
    source = _encoder(tiny_folder).model
    apply_lora(source, LoraSettings(targets=QUERY_VALUE))
    target = _encoder(tiny_folder).model
    apply_lora(target, LoraSettings())
    with pytest.raises(ValueError, match="adapter layers differ"):
        load_adapter_arrays(target, adapter_arrays(source))


def test_wrapper_adds_the_scaled_low_rank_product() -> None:
    torch.manual_seed(0)
    base = nn.Linear(6, 5)
    wrapper = LoraLinear(base, LoraSettings(rank=2, alpha=6.0, dropout=0.0))
    with torch.no_grad():
        wrapper.lora_b.fill_(0.5)
    x = torch.randn(3, 6)
    expected = base(x) + 3.0 * (x @ wrapper.lora_a.T @ wrapper.lora_b.T)
    torch.testing.assert_close(wrapper(x), expected)


# Texts in the tiny model's vocabulary, per raw label: a task the tiny encoder can learn.
_TEXTS = {
    "spam": ["buy now spam", "spam buy buy now", "now buy spam spam"],
    "ham": ["hello world", "a b", "привет мир a"],
    "negative": ["мир b c c", "c c мир", "b мир c"],
    "positive": ["hello a", "привет hello", "a a hello"],
    "question": ["a b c", "b a c", "c b a"],
}


def _tiny_data(root: Path) -> Path:
    """The shared data layout (every file of the trainer) with ~4 rows per file."""
    for name in FILES:
        labels = {"spam": ("spam", "ham"), "sentiment": ("negative", "positive")}.get(
            name.split("/")[0], ("question",)
        )
        records = [
            {"text": text, "label": label, "lang": "en", "source": name}
            for label in labels
            for text in _TEXTS[label][: 4 // len(labels) + 1]
        ]
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(json.dumps(r) for r in records) + "\n", encoding="utf-8")
    return root


def test_short_fine_tune_lowers_the_loss_and_loads(
    tiny_folder: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "lora"
    data = _tiny_data(tmp_path / "data")
    argv = ["--data", str(data), "--folder", str(tiny_folder), "--out", str(out),
            "--epochs", "15", "--batch-size", "8", "--lr", "1e-2", "--head-lr", "5e-2",
            "--threads", "1", "--log-every", "5", "--save", "always"]  # fmt: skip
    outcome = e5_finetune.run(e5_finetune.parse(argv))
    assert 30 <= len(outcome.train_rows) <= 50
    record = outcome.record
    assert len(record.losses) == record.planned
    assert record.probe_after < 0.85 * record.probe_before
    assert any(np.abs(a.astype(np.float32)).max() > 0 for k, a in outcome.arrays.items()
               if k.endswith("/b"))  # fmt: skip
    assert outcome.refused == ["no frozen figures to compare with"]  # heads of another size
    assert e5_finetune.main(argv) == 0
    assert "| negative | test | all |" in capsys.readouterr().out
    assert "## Frozen e5 against LoRA" in out.with_suffix(".md").read_text(encoding="utf-8")
    heads = load_heads(out)
    assert heads.dim == 32 and set(heads.thresholds) == {
        Label.SPAM,
        Label.NEGATIVE,
        Label.QUESTION,
    }
    classifier = TransformerClassifier(adapter=out, folder=tiny_folder)
    (scores,) = classifier.classify([Sample("buy now spam")])
    assert [s.label for s in scores] == [Label.SPAM, Label.NEGATIVE, Label.QUESTION]
    assert all(s.error is None for s in scores)


needs_adapter = pytest.mark.skipif(
    not DEFAULT_LORA.with_suffix(".npz").exists(), reason="no committed LoRA adapter"
)


@pytest.fixture(scope="module")
def lora_classifier(e5_folder: Path) -> TransformerClassifier:
    classifier = TransformerClassifier(adapter=DEFAULT_LORA, folder=e5_folder)
    classifier.warm_up()
    return classifier


@needs_adapter
def test_committed_adapter_is_small_and_complete() -> None:
    size = sum(DEFAULT_LORA.with_suffix(s).stat().st_size for s in (".npz", ".json"))
    assert size < 5_000_000
    settings, arrays = read_adapter(DEFAULT_LORA)
    assert settings.rank == 8 and settings.alpha == 16.0
    lora = {k: a for k, a in arrays.items() if k.startswith("lora/")}
    assert len(lora) == 2 * 36 and all(a.dtype == np.float16 for a in lora.values())
    heads = load_heads(DEFAULT_LORA)
    assert heads.dim == 384 and set(heads.thresholds) == set(heads.labels)


@needs_adapter
@OBVIOUS_CASES
def test_committed_adapter_scores_obvious_cases(
    lora_classifier: TransformerClassifier, text: str, label: Label
) -> None:
    assert label in labels_over_threshold(lora_classifier, text)


@needs_adapter
def test_committed_adapter_leaves_ordinary_message_alone(
    lora_classifier: TransformerClassifier,
) -> None:
    (scores,) = lora_classifier.classify([Sample("Сбербанк опять обновил приложение")])
    assert all(
        s.score < lora_classifier.thresholds[s.label] for s in scores if s.label is Label.SPAM
    )


# ---- the merged folder and its int8 ONNX export ---------------------------------------------


def _save_tiny_adapter(tiny_folder: Path, stem: Path, seed: int = 1, kind: str = ONNX) -> Path:
    """A random (trained-looking) adapter for the tiny model, with heads `load_heads` reads."""
    model = _encoder(tiny_folder).model
    settings = LoraSettings(rank=4, alpha=8.0)
    torch.manual_seed(seed)  # A's random init: the same adapter whatever ran before
    apply_lora(model, settings)
    _randomise(model, seed, scale=1.0)  # a strong update: merged and base outputs differ
    heads = {
        "weights": np.random.default_rng(seed).normal(size=(3, 32)).astype(np.float32),
        "bias": np.zeros(3),
        "platt": np.tile([1.0, 0.0], (3, 1)),
    }
    meta = {
        "version": "tiny-lora",
        "labels": ["spam", "negative", "question"],
        "dim": 32,
        "thresholds": {"spam": 0.5, "negative": 0.5, "question": 0.5},
        "embedder": kind,
    }
    save_adapter(stem, {**adapter_arrays(model), **heads}, settings, meta)
    return stem


def _torch_merged(tiny_folder: Path, stem: Path) -> Embedder:
    embedder = _encoder(tiny_folder)
    load_merged(embedder.model, stem)
    return embedder


def _identity(folder: Path) -> tuple[int, int]:
    info = (folder / "model.safetensors").stat()
    return info.st_ino, info.st_mtime_ns


def test_merged_folder_is_built_once_and_reused(tiny_folder: Path, tmp_path: Path) -> None:
    stem = _save_tiny_adapter(tiny_folder, tmp_path / "ad")
    cache = tmp_path / "cache"
    folder = ensure_merged_folder(tiny_folder, stem, cache)
    assert folder.parent == cache and folder.name == f"ad-{adapter_digest(stem)[:12]}"
    assert {"config.json", "model.safetensors", "tokenizer.json", STAMP_FILE} <= {
        p.name for p in folder.iterdir()
    }
    assert not [p for p in cache.iterdir() if p.name.startswith(".")]  # no temp dir left
    built = _identity(folder)
    assert ensure_merged_folder(tiny_folder, stem, cache) == folder
    assert _identity(folder) == built
    # A plain transformers folder: the merged weights load without the adapter.
    plain = Embedder(folder, max_length=16)
    expected = _torch_merged(tiny_folder, stem).embed(TEXTS)
    np.testing.assert_allclose(plain.embed(TEXTS), expected, atol=1e-5)


def test_merged_folder_follows_the_adapter(tiny_folder: Path, tmp_path: Path) -> None:
    stem = _save_tiny_adapter(tiny_folder, tmp_path / "ad", seed=1)
    cache = tmp_path / "cache"
    first = ensure_merged_folder(tiny_folder, stem, cache)
    first_vectors = Embedder(first, max_length=16).embed(TEXTS)
    _save_tiny_adapter(tiny_folder, stem, seed=2)  # retrained: same name, other weights
    second = ensure_merged_folder(tiny_folder, stem, cache)
    assert second != first
    second_vectors = Embedder(second, max_length=16).embed(TEXTS)
    assert np.abs(second_vectors - first_vectors).max() > 1e-3
    expected = _torch_merged(tiny_folder, stem).embed(TEXTS)
    np.testing.assert_allclose(second_vectors, expected, atol=1e-5)
    # A stale stamp in place (e.g. the base model was converted again) rebuilds the folder.
    stamp = json.loads((second / STAMP_FILE).read_text())
    (second / STAMP_FILE).write_text(json.dumps({**stamp, "base": {"size": -1}}))
    before = _identity(second)
    assert ensure_merged_folder(tiny_folder, stem, cache) == second
    assert _identity(second) != before
    assert json.loads((second / STAMP_FILE).read_text()) == stamp


def test_merged_onnx_export_is_tied_to_the_merge(tiny_folder: Path, tmp_path: Path) -> None:
    stem = _save_tiny_adapter(tiny_folder, tmp_path / "ad")
    folder = ensure_merged_folder(tiny_folder, stem, tmp_path / "cache")
    path = ensure_onnx(folder)
    exported = path.stat().st_mtime_ns
    assert ensure_onnx(folder) == path and path.stat().st_mtime_ns == exported
    stamp = json.loads((path.parent / "stamp.json").read_text())
    assert stamp["source"] == json.loads((folder / STAMP_FILE).read_text())


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray((a * b).sum(axis=1))


def test_onnx_lora_embedders_agree_with_torch(tiny_folder: Path, tmp_path: Path) -> None:
    stem = _save_tiny_adapter(tiny_folder, tmp_path / "ad")
    expected = build_lora_embedder(stem, None, tiny_folder, 1, kind=TORCH).embed(TEXTS)
    base = _encoder(tiny_folder).embed(TEXTS)
    assert _cosines(expected, base).max() < 0.95  # the adapter really moves the embeddings
    int8 = build_lora_embedder(stem, tmp_path / "cache", tiny_folder, 1, kind=ONNX)
    assert isinstance(int8, OnnxEmbedder)
    # Measured 0.99998 on this model; dynamic int8 on real e5 gives about 0.996 (onnx_export).
    assert _cosines(int8.embed(TEXTS), expected).min() >= 0.999
    folder = ensure_merged_folder(tiny_folder, stem, tmp_path / "cache")
    fp32 = OnnxEmbedder(folder, ensure_onnx(folder, quantize=False)).embed(TEXTS)
    assert _cosines(fp32, expected).min() >= 0.9999


def test_int8_lora_embedding_does_not_depend_on_batch_mates(
    tiny_folder: Path, tmp_path: Path
) -> None:
    stem = _save_tiny_adapter(tiny_folder, tmp_path / "ad")
    embedder = build_lora_embedder(stem, tmp_path / "cache", tiny_folder, 1, kind=ONNX)
    long = "buy now " * 20 + "spam"
    alone = embedder.embed(["hello world"])[0]
    np.testing.assert_array_equal(embedder.embed(["hello world", long, "a"])[0], alone)


def test_classifier_scores_through_the_int8_lora_encoder(
    tiny_folder: Path, tmp_path: Path
) -> None:
    stem = _save_tiny_adapter(tiny_folder, tmp_path / "ad", kind=ONNX)
    cache = tmp_path / "cache"
    classifier = TransformerClassifier(adapter=stem, folder=tiny_folder, cache_dir=cache)
    samples = [Sample("buy now spam"), Sample("привет мир a b")]
    scores = classifier.classify(samples)
    assert isinstance(classifier._embedder, OnnxEmbedder)
    assert all(s.error is None for row in scores for s in row)
    # The same heads over the torch merge: probabilities agree to int8 precision.
    reference = TransformerClassifier(adapter=stem, folder=tiny_folder, embedder=TORCH)
    assert isinstance(reference._ensure(), Embedder)
    texts = [s.text for s in samples]
    np.testing.assert_allclose(
        classifier.probabilities(texts), reference.probabilities(texts), atol=0.02
    )
    assert adapter_embedder(stem) == ONNX
    assert adapter_embedder(_save_tiny_adapter(tiny_folder, tmp_path / "t", kind=TORCH)) == TORCH


def test_warm_int8_lora_load_does_not_import_torch(tiny_folder: Path, tmp_path: Path) -> None:
    stem = _save_tiny_adapter(tiny_folder, tmp_path / "ad")
    cache = tmp_path / "cache"
    build_lora_embedder(stem, cache, tiny_folder, 1, kind=ONNX)  # cold: merge and export
    code = (
        "import sys; from pathlib import Path; from classifiers.heads import build_lora_embedder; "
        f"e = build_lora_embedder({str(stem)!r}, Path({str(cache)!r}), "
        f"Path({str(tiny_folder)!r}), 1, kind='onnx-int8'); e.embed(['a']); "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])


def test_int8_comparison_reports_both_kinds(
    tiny_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stem = _save_tiny_adapter(tiny_folder, tmp_path / "ad", kind=TORCH)
    argv = ["--adapter", str(stem), "--data", str(_tiny_data(tmp_path / "data")),
            "--folder", str(tiny_folder), "--cache-dir", str(tmp_path / "cache"),
            "--threads", "1", "--apply", "--default"]  # fmt: skip
    report, chosen = e5_lora_onnx.run(e5_lora_onnx.parse(argv))
    assert report[0].startswith("| label | rows | slice | torch fp32 F1")
    assert any(line.startswith("| negative | test | all |") for line in report)
    assert any(line.startswith("| question | 0.5 |") for line in report)  # committed thresholds
    # The int8 encoder is nearly the float32 one: the same heads give the same F1s here.
    assert chosen.kind == ONNX and chosen.thresholds is None and chosen.refused == []
    assert report[-1] == "int8 keeps quality with the committed thresholds"
    assert e5_lora_onnx.main(argv) == 0
    assert "cosine int8 vs torch fp32" in capsys.readouterr().out
    assert adapter_embedder(stem) == ONNX
    assert BY_EMBEDDER not in json.loads(stem.with_suffix(".json").read_text())


def test_int8_thresholds_are_stored_and_used_by_kind(tiny_folder: Path, tmp_path: Path) -> None:
    stem = _save_tiny_adapter(tiny_folder, tmp_path / "ad", kind=TORCH)
    own = {"spam": 0.7, "negative": 0.5, "question": 0.4}
    passed = e5_lora_onnx.Verdict(ONNX, own, ["spam FP"], "own thresholds")
    e5_lora_onnx.apply(stem, passed)  # thresholds only: the default kind stays
    document = json.loads(stem.with_suffix(".json").read_text())
    assert document["embedder"] == TORCH and document[BY_EMBEDDER] == {ONNX: own}
    assert TransformerClassifier(adapter=stem, folder=tiny_folder).thresholds[Label.SPAM] == 0.5
    as_int8 = TransformerClassifier(adapter=stem, folder=tiny_folder, embedder=ONNX)
    assert as_int8.thresholds == {Label(k): v for k, v in own.items()}
    e5_lora_onnx.apply(stem, passed, default=True)
    document = json.loads(stem.with_suffix(".json").read_text())
    assert document["embedder"] == ONNX and document[BY_EMBEDDER] == {ONNX: own}
    assert document["thresholds"] == {"spam": 0.5, "negative": 0.5, "question": 0.5}
    default = TransformerClassifier(adapter=stem, folder=tiny_folder, cache_dir=tmp_path)
    assert default.thresholds == {Label(k): v for k, v in own.items()}
    on_torch = TransformerClassifier(adapter=stem, folder=tiny_folder, embedder=TORCH)
    assert set(on_torch.thresholds.values()) == {0.5}
    # A later verdict for torch drops int8's thresholds again.
    e5_lora_onnx.apply(stem, e5_lora_onnx.Verdict(TORCH, None, ["x"], "refused"), default=True)
    document = json.loads(stem.with_suffix(".json").read_text())
    assert document["embedder"] == TORCH and BY_EMBEDDER not in document
