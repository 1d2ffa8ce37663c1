"""Export a transformers encoder folder to ONNX and quantize it to int8, cached beside it.

The word-embedding table goes beside the graph, not into it (see `token_table`): the graph
takes `inputs_embeds`, which keeps the one-time export and quantization small in memory.
"""

from __future__ import annotations

import json
import logging
import shutil
import uuid
import warnings
from pathlib import Path
from typing import Any

from classifiers.encoder.convert import STAMP_FILE
from classifiers.encoder.token_table import RowReader, safetensors_rows, write_token_table

log = logging.getLogger(__name__)

EXPORT_VERSION = "2"  # 2: word embeddings outside the graph
INT8_FILE = "model.int8.onnx"
FP32_FILE = "model.onnx"
_ONNX_STAMP = "stamp.json"
_AXES = {0: "batch", 1: "sequence"}
_INPUTS = ["inputs_embeds", "attention_mask"]
_OUTPUT = "last_hidden_state"


def ensure_onnx(folder: Path, *, quantize: bool = True) -> Path:
    """Return `<folder>/onnx-<int8|fp32>/model*.onnx`, exporting only when missing or stale."""
    variant = "int8" if quantize else "fp32"
    target = folder / f"onnx-{variant}"
    name = INT8_FILE if quantize else FP32_FILE
    stamp = _stamp(folder, quantize)
    if read_json(target / _ONNX_STAMP) == stamp and (target / name).exists():
        return target / name
    tmp = folder / f".{target.name}.tmp-{uuid.uuid4().hex}"
    try:
        _export_into(folder, tmp, quantize)
        (tmp / _ONNX_STAMP).write_text(json.dumps(stamp), encoding="utf-8")
        _replace_dir(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target / name


def _stamp(folder: Path, quantize: bool) -> dict[str, Any]:
    """Ties the export to the source folder (`source_identity`), exporter version and variant."""
    source = source_identity(folder)
    return {"source": source, "export_version": EXPORT_VERSION, "quantize": quantize}


def source_identity(folder: Path) -> dict[str, Any]:
    """A model folder's stamp (converted or merged by us), else its weights' size and mtime."""
    found = read_json(folder / STAMP_FILE)
    if found is not None:
        return found
    info = (folder / "model.safetensors").stat()
    return {"size": info.st_size, "mtime_ns": info.st_mtime_ns}


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object from a file; None when it is missing, unreadable or not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _replace_dir(tmp: Path, target: Path) -> None:
    old = target.parent / f".{target.name}.old-{uuid.uuid4().hex}"
    if target.exists():
        target.rename(old)
    tmp.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def _export_into(folder: Path, out: Path, quantize: bool) -> None:
    out.mkdir(parents=True)
    log.info("exporting %s to ONNX (int8: %s)", folder, quantize)
    export_fp32(folder, out, quantize_words=quantize)
    if quantize:
        quantize_int8(out / FP32_FILE, out / INT8_FILE)
        (out / FP32_FILE).unlink()


def export_fp32(folder: Path, out: Path, *, quantize_words: bool) -> None:
    """Write the word-embedding table and trace the rest of the encoder (inputs_embeds,
    attention_mask -> last_hidden_state, dynamic axes) to `out/model.onnx`."""
    import torch
    from transformers import AutoModel

    # Eager attention traces into plain ops; the SDPA path does not export cleanly. float32
    # whatever the folder holds: the table lookup feeds float32 and quantization expects it.
    model = AutoModel.from_pretrained(
        str(folder), attn_implementation="eager", dtype=torch.float32
    ).eval()
    words = model.get_input_embeddings()
    shape = tuple(words.weight.shape)
    rows = safetensors_rows(folder, shape) or _tensor_rows(words.weight.detach().numpy())
    write_token_table(rows, shape, out, quantize=quantize_words)
    # Drop the table before tracing, so that neither the graph nor the exporter copies it.
    model.set_input_embeddings(torch.nn.Embedding(1, words.embedding_dim))
    del words
    embeds = torch.zeros(2, 5, model.config.hidden_size)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    with warnings.catch_warnings(), torch.inference_mode():
        # The TorchScript exporter is deprecated and chatty; its tracer warnings are expected.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _hidden_states_module(model),
            (embeds, mask),
            str(out / FP32_FILE),
            dynamo=False,  # the dynamo exporter needs onnxscript, which we do not ship
            input_names=_INPUTS,
            output_names=[_OUTPUT],
            dynamic_axes=dict.fromkeys([*_INPUTS, _OUTPUT], _AXES),
            opset_version=17,
        )


def _tensor_rows(weights: Any) -> RowReader:
    """Rows of a table already in memory (a model saved without safetensors)."""
    return lambda start, stop: weights[start:stop]


def quantize_int8(src: Path, dst: Path) -> None:
    """Dynamic int8 quantization; per-channel scales keep cosine to fp32 near 0.996."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True)


def _hidden_states_module(model: Any) -> Any:
    """Wrap the model so the traced graph returns a plain tensor, not a ModelOutput."""
    import torch

    class HiddenStates(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor) -> Any:
            # XLM-R numbers positions 2, 3, … here; with right padding (pad_batch) the real
            # tokens get the numbers input_ids would give them, and pads are masked out.
            out = self.model(inputs_embeds=inputs_embeds, attention_mask=attention_mask)
            return out.last_hidden_state

    return HiddenStates()
