"""ONNX export, int8 quantization and the torch-free OnnxEmbedder, on the tiny model."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from classifiers.encoder import Embedder, OnnxEmbedder, ensure_onnx
from classifiers.encoder.token_table import safetensors_rows

TEXTS = ["hello world", "привет мир spam", "buy now buy now spam spam a b c", "a"]


@pytest.fixture(scope="module")
def torch_vectors(tiny_folder: Path) -> np.ndarray:
    return Embedder(tiny_folder).embed(TEXTS)


def test_onnx_fp32_matches_torch(tiny_folder: Path, torch_vectors: np.ndarray) -> None:
    path = ensure_onnx(tiny_folder, quantize=False)
    vectors = OnnxEmbedder(tiny_folder, path, batch_size=3).embed(TEXTS)
    np.testing.assert_allclose(vectors, torch_vectors, atol=1e-4)


def test_onnx_int8_stays_close_to_torch(tiny_folder: Path, torch_vectors: np.ndarray) -> None:
    path = ensure_onnx(tiny_folder)
    vectors = OnnxEmbedder(tiny_folder, path).embed(TEXTS)
    assert vectors.shape == (4, 32)
    assert (vectors * torch_vectors).sum(axis=1).min() > 0.99


def test_onnx_exports_a_float16_folder_reading_the_table_through_the_model(
    tiny_folder: Path, tmp_path: Path
) -> None:
    import torch
    from transformers import AutoModel

    folder = tmp_path / "fp16"
    shutil.copytree(tiny_folder, folder, ignore=shutil.ignore_patterns("onnx-*"))
    AutoModel.from_pretrained(str(tiny_folder), dtype=torch.float16).save_pretrained(folder)
    shape = tuple(Embedder(folder).model.get_input_embeddings().weight.shape)
    assert safetensors_rows(folder, shape) is None  # float16 on disk: not read from the file

    path = ensure_onnx(folder)

    vectors = OnnxEmbedder(folder, path).embed(TEXTS)
    reference = Embedder(folder).embed(TEXTS)
    assert (vectors * reference).sum(axis=1).min() > 0.99


def test_ensure_onnx_reuses_the_cached_export(tiny_folder: Path) -> None:
    path = ensure_onnx(tiny_folder)
    mtime = path.stat().st_mtime_ns
    assert ensure_onnx(tiny_folder) == path
    assert path.stat().st_mtime_ns == mtime


def test_onnx_embedder_does_not_import_torch(tiny_folder: Path) -> None:
    path = ensure_onnx(tiny_folder)
    code = (
        "import sys; from pathlib import Path; from classifiers.encoder import OnnxEmbedder; "
        f"e = OnnxEmbedder(Path({str(tiny_folder)!r}), Path({str(path)!r})); e.embed(['a']); "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])
