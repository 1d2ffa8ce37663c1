"""LoRA adapters on a tiny random XLM-R: identity at start, exact merge, files, a short run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from classifiers.contract import Label, Sample
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
from classifiers.heads import DEFAULT_LORA, TransformerClassifier, load_heads
from classifiers.training import e5_finetune
from classifiers.training.ngram_train import FILES

TEXTS = ["hello world", "привет мир spam buy now", "a b c", "buy"]


def _encoder(folder: Path) -> Embedder:
    return Embedder(folder, max_length=16)


def _randomise(model: nn.Module, seed: int = 1) -> None:
    """Give B non-zero values, as training would, so merge and save have something to keep."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for wrapper in lora_modules(model).values():
            wrapper.lora_b.copy_(torch.randn(wrapper.lora_b.shape, generator=generator) * 0.1)


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
@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Нужны люди для удаленной работы, доход от 3000 в день, пиши в личку", Label.SPAM),
        ("WINNER!! You have won a £1000 prize, call 09061701461 to claim now", Label.SPAM),
        ("подскажите как перевести деньги на карту другого банка", Label.QUESTION),
        ("Третий день не могу дозвониться в поддержку, деньги списали дважды", Label.NEGATIVE),
    ],
    ids=["ru-spam", "en-spam", "ru-question-no-mark", "ru-complaint"],
)
def test_committed_adapter_scores_obvious_cases(
    lora_classifier: TransformerClassifier, text: str, label: Label
) -> None:
    (scores,) = lora_classifier.classify([Sample(text)])
    found = {s.label for s in scores if s.score >= lora_classifier.thresholds[s.label]}
    assert label in found


@needs_adapter
def test_committed_adapter_leaves_ordinary_message_alone(
    lora_classifier: TransformerClassifier,
) -> None:
    (scores,) = lora_classifier.classify([Sample("Сбербанк опять обновил приложение")])
    assert all(
        s.score < lora_classifier.thresholds[s.label] for s in scores if s.label is Label.SPAM
    )
