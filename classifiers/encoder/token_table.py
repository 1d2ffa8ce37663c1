"""The word-embedding table of an exported encoder, kept outside the ONNX graph.

e5-small's table (250,037 × 384) is 82 % of its weights. Inside the graph, tracing and
quantizing it held several copies at once (the first start peaked at 3.4 GB). Outside, it is
quantized here row block by row block into a memory-mapped file, the graph takes the looked-up
vectors as `inputs_embeds`, and a running service pages in only the rows its texts use.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from classifiers.encoder.embedder import F32

TABLE_FILE = "word_embeddings.npy"
META_FILE = "word_embeddings.json"
_ROWS_PER_BLOCK = 16_384


RowReader = Callable[[int, int], F32]


def write_token_table(
    rows: RowReader, shape: tuple[int, int], out: Path, *, quantize: bool
) -> None:
    """Write the (vocab × hidden) table that `rows(start, stop)` reads, block by block, to
    `out`: as uint8 with one scale when `quantize`, else as float32.

    The int8 scheme is the one `quantize_dynamic` gives a Gather on a weight (per tensor,
    asymmetric uint8, onnxruntime's own rounding), so moving the table out of the graph leaves
    every embedding as it was.
    """
    blocks = range(0, shape[0], _ROWS_PER_BLOCK)
    meta: dict[str, Any] = {"quantized": quantize}
    if quantize:
        scale, zero_point = _uint8_params(rows, blocks)
        meta |= {"scale": float(scale), "zero_point": int(zero_point)}
    table = np.lib.format.open_memmap(
        out / TABLE_FILE, "w+", np.uint8 if quantize else np.float32, shape
    )
    for start in blocks:
        block = rows(start, min(start + _ROWS_PER_BLOCK, shape[0]))
        table[start : start + len(block)] = (
            _quantize(block, scale, zero_point) if quantize else block
        )
    table.flush()
    del table
    (out / META_FILE).write_text(json.dumps(meta), encoding="utf-8")


def _uint8_params(rows: RowReader, blocks: range) -> tuple[Any, Any]:
    from onnx import TensorProto
    from onnxruntime.quantization.quant_utils import compute_data_quant_params

    rmin, rmax = 0.0, 0.0  # onnxruntime widens the range to hold 0 too
    for start in blocks:
        block = rows(start, min(start + blocks.step, blocks.stop))
        rmin, rmax = min(rmin, float(block.min())), max(rmax, float(block.max()))
    zero_point, scale = compute_data_quant_params(
        np.zeros(1, np.float32), TensorProto.UINT8, False, rmin_override=rmin, rmax_override=rmax
    )
    return scale, zero_point


def _quantize(block: F32, scale: Any, zero_point: Any) -> npt.NDArray[np.uint8]:
    from onnx import TensorProto
    from onnxruntime.quantization.quant_utils import quantize_nparray

    return quantize_nparray(TensorProto.UINT8, block, scale, zero_point)  # type: ignore[no-any-return]


def safetensors_rows(folder: Path, shape: tuple[int, int]) -> RowReader | None:
    """A reader of the float32 word-embedding table in `folder`'s safetensors files, or None.

    It reads blocks with plain file reads: through the model (a memory map) every page of the
    table would stay resident in this process at once.
    """
    for path in sorted(folder.glob("*.safetensors")):
        for name, entry in _safetensors_header(path).items():
            if not name.endswith("word_embeddings.weight"):
                continue
            if entry.get("dtype") == "F32" and tuple(entry.get("shape", ())) == shape:
                return _file_rows(path, entry["data_offsets"][0], shape[1])
    return None


def _safetensors_header(path: Path) -> dict[str, Any]:
    with path.open("rb") as f:
        size = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(size))
    data_start = 8 + size
    return {
        name: entry | {"data_offsets": [o + data_start for o in entry["data_offsets"]]}
        for name, entry in header.items()
        if name != "__metadata__"
    }


def _file_rows(path: Path, offset: int, width: int) -> RowReader:
    row_bytes = width * 4

    def rows(start: int, stop: int) -> F32:
        with path.open("rb") as f:
            f.seek(offset + start * row_bytes)
            data = f.read((stop - start) * row_bytes)
        return np.frombuffer(data, dtype="<f4").reshape(stop - start, width)

    return rows


class TokenTable:
    """Looks token ids up in a table written by `write_token_table` (memory-mapped)."""

    def __init__(self, folder: Path) -> None:
        meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
        self._table: npt.NDArray[Any] = np.load(folder / TABLE_FILE, mmap_mode="r")
        self._quantized = bool(meta["quantized"])
        self._scale = np.float32(meta.get("scale", 1.0))
        self._zero_point = np.int32(meta.get("zero_point", 0))

    def lookup(self, ids: npt.NDArray[np.int64]) -> F32:
        """Vectors for `ids` (any shape), with a trailing hidden axis."""
        rows = self._table[ids]
        if not self._quantized:
            return np.asarray(rows, dtype=np.float32)
        # As DequantizeLinear computes it: (q - zero point) in integers, then times the scale.
        return (rows.astype(np.int32) - self._zero_point).astype(np.float32) * self._scale
