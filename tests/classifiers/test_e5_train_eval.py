"""e5 trainer on a small subset with a tiny encoder, and the `smmbot eval` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from classifiers.contract import Label, Sample
from classifiers.heads import TransformerClassifier, load_heads
from classifiers.training import e5_train, evaluate
from classifiers.training.ngram_train import DEFAULT_DATA

needs_data = pytest.mark.skipif(not DEFAULT_DATA.exists(), reason="shared data not mounted")


@needs_data
def test_e5_train_writes_loadable_heads(
    tiny_folder: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "heads"
    argv = [
        "--limit",
        "40",
        "--folder",
        str(tiny_folder),
        "--cache-dir",
        str(tmp_path),
        "--out",
        str(out),
        "--no-loso",
        "--no-compare",
        "--threads",
        "1",
    ]
    assert e5_train.main(argv) == 0
    heads = load_heads(out)
    assert heads.dim == 32 and set(heads.thresholds) == set(heads.labels)
    assert "## Random split" in out.with_suffix(".md").read_text(encoding="utf-8")
    assert "== dev" in capsys.readouterr().out
    (scores,) = TransformerClassifier(out, folder=tiny_folder).classify([Sample("hello")])
    assert [s.label for s in scores] == [Label.SPAM, Label.NEGATIVE, Label.QUESTION]


@needs_data
def test_e5_train_reuses_cached_embeddings(tiny_folder: Path, tmp_path: Path) -> None:
    config = e5_train.E5Config(folder=tiny_folder, cache_dir=tmp_path, limit=5, threads=1)
    store, embedder = e5_train.open_store(config)
    rows, _, _ = e5_train.load_split(config)
    first = e5_train.embed_rows(rows, store, embedder).matrix
    reopened, _ = e5_train.open_store(config)
    assert len(reopened.vectors) == len(store.vectors) > 0

    class Refuse:
        def embed(self, texts: object) -> None:
            raise AssertionError("cached texts must not be embedded again")

    again = e5_train.embed_rows(rows, reopened, Refuse()).matrix
    assert (again == first).all()


@pytest.mark.parametrize(
    ("raw", "label"),
    [
        ("ham", Label.OTHER),
        ("spam", Label.SPAM),
        ("mixed", Label.NEGATIVE),
        ("positive", Label.OTHER),
        ("card_arrival", Label.QUESTION),
        ("oos", Label.QUESTION),
    ],
    ids=["ham", "spam", "mixed", "positive", "intent", "oos"],
)
def test_evaluate_maps_labels(raw: str, label: Label) -> None:
    assert evaluate.map_label(raw) == label


def _eval_file(tmp_path: Path) -> Path:
    rows = [
        {"text": "Заработок в интернете, пиши в лс https://t.me/x", "label": "spam", "lang": "ru"},
        {"text": "Как заблокировать карту?", "label": "card_lost", "lang": "ru"},
        {"text": "Nice weather today", "label": "ham", "lang": "en"},
        {"text": "Ужасный сервис, верните деньги", "label": "negative", "lang": "ru"},
        {"text": "", "label": "ham"},
    ]
    path = tmp_path / "eval.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n")
    return path


def test_evaluate_prints_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert evaluate.main([str(_eval_file(tmp_path)), "--model", "heuristics"]) == 0
    out = capsys.readouterr().out
    assert "model heuristics, 4 rows" in out
    assert "confusion (rows: true, columns: predicted)" in out and "worst" in out


def test_evaluate_prints_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert evaluate.main([str(_eval_file(tmp_path)), "--model", "ngram", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["rows"] == 4 and set(result["by_lang"]) == {"en", "ru"}
    assert sum(sum(row.values()) for row in result["confusion"].values()) == 4
    assert set(result["labels"]) == {"spam", "negative", "question", "other"}
