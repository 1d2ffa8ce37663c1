"""The word-embedding table kept outside the ONNX graph: same numbers as inside it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from safetensors.numpy import save_file

from classifiers.encoder import ensure_onnx
from classifiers.encoder.onnx_export import quantize_int8
from classifiers.encoder.token_table import TokenTable, safetensors_rows, write_token_table

# More rows than one block (16,384), so the min/max pass and the writes cross block edges.
VOCAB, WIDTH = 40_000, 8


@pytest.fixture(scope="module")
def weights() -> np.ndarray:
    rng = np.random.default_rng(7)
    table = rng.normal(0, 0.05, (VOCAB, WIDTH)).astype(np.float32)
    table[31_000, 3] = 0.9  # the extremes sit in a later block than the first
    table[20_000, 5] = -0.4
    return table


def _gather_graph(weights: np.ndarray, path: Path) -> None:
    """ids -> Gather(weights): the first node of an encoder with the table inside."""
    graph = helper.make_graph(
        [helper.make_node("Gather", ["table", "ids"], ["vectors"])],
        "words",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, [None, None])],
        [helper.make_tensor_value_info("vectors", TensorProto.FLOAT, [None, None, WIDTH])],
        [numpy_helper.from_array(weights, "table")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def test_int8_table_gives_what_onnxruntime_gave_inside_the_graph(
    weights: np.ndarray, tmp_path: Path
) -> None:
    import onnxruntime as ort

    _gather_graph(weights, tmp_path / "gather.onnx")
    quantize_int8(tmp_path / "gather.onnx", tmp_path / "gather.int8.onnx")
    inside = ort.InferenceSession(str(tmp_path / "gather.int8.onnx"))
    write_token_table(lambda a, b: weights[a:b], weights.shape, tmp_path, quantize=True)
    ids = np.array([[0, 31_000, 20_000, 16_384], [39_999, 5, 16_383, 1]], dtype=np.int64)

    outside = TokenTable(tmp_path).lookup(ids)

    expected = inside.run(None, {"ids": ids})[0]
    assert outside.dtype == np.float32
    np.testing.assert_array_equal(outside, expected)
    assert not np.array_equal(outside, weights[ids])  # it is quantized, not a copy


def test_fp32_table_is_the_weights(weights: np.ndarray, tmp_path: Path) -> None:
    write_token_table(lambda a, b: weights[a:b], weights.shape, tmp_path, quantize=False)
    ids = np.array([[3, 17_000, 39_999]], dtype=np.int64)
    np.testing.assert_array_equal(TokenTable(tmp_path).lookup(ids), weights[ids])


def test_safetensors_rows_read_the_word_table_in_blocks(
    weights: np.ndarray, tmp_path: Path
) -> None:
    other = np.ones((VOCAB, WIDTH), dtype=np.float32)  # same shape, another name: not taken
    save_file(
        {"a.dense.weight": other, "embeddings.word_embeddings.weight": weights},
        str(tmp_path / "model.safetensors"),
    )
    rows = safetensors_rows(tmp_path, weights.shape)
    assert rows is not None
    np.testing.assert_array_equal(rows(16_380, 16_390), weights[16_380:16_390])
    np.testing.assert_array_equal(rows(0, VOCAB), weights)


def test_safetensors_rows_refuse_another_shape_or_dtype(
    weights: np.ndarray, tmp_path: Path
) -> None:
    half = weights.astype(np.float16)
    save_file({"embeddings.word_embeddings.weight": half}, str(tmp_path / "model.safetensors"))
    assert safetensors_rows(tmp_path, weights.shape) is None  # float16: read through the model
    assert safetensors_rows(tmp_path, (VOCAB, WIDTH + 1)) is None
    assert safetensors_rows(tmp_path / "missing", weights.shape) is None


def test_exported_graph_takes_vectors_and_holds_no_word_table(tiny_folder: Path) -> None:
    path = ensure_onnx(tiny_folder)
    model = onnx.load(str(path))
    assert [i.name for i in model.graph.input] == ["inputs_embeds", "attention_mask"]
    assert not [i.name for i in model.graph.initializer if "word_embeddings" in i.name]
    table = np.load(path.parent / "word_embeddings.npy", mmap_mode="r")
    assert table.dtype == np.uint8
    config = json.loads((tiny_folder / "config.json").read_text(encoding="utf-8"))
    assert table.shape == (config["vocab_size"], config["hidden_size"])
