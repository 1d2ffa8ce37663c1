"""Embeddings with ONNX Runtime and the `tokenizers` library only: no torch import."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer

from classifiers.encoder.embedder import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_MAX_LENGTH,
    E5_PREFIX,
    F32,
    clip_head_tail,
    length_sorted_batches,
    mean_pool_normalised,
    pad_batch,
)
from classifiers.encoder.token_table import TokenTable


class OnnxEmbedder:
    """Same contract as `Embedder`, running an exported (usually int8) ONNX encoder."""

    def __init__(
        self,
        folder: Path,
        onnx_path: Path,
        *,
        prefix: str = E5_PREFIX,
        max_length: int = DEFAULT_MAX_LENGTH,
        batch_size: int = DEFAULT_BATCH_SIZE,
        num_threads: int | None = None,
    ) -> None:
        self.prefix = prefix
        self.max_length = max_length
        self.batch_size = batch_size
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.pad_id = _pad_id(folder, self.tokenizer)
        self.session = _session(onnx_path, num_threads)
        self.words = TokenTable(onnx_path.parent)
        self.dim = _hidden_size(folder)

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Prefixed, tokenised and head+tail-clipped ids, with the model's special tokens."""
        encoded = self.tokenizer.encode_batch([self.prefix + text for text in texts])
        return [clip_head_tail(list(enc.ids), self.max_length) for enc in encoded]

    def embed(self, texts: Sequence[str]) -> F32:
        """Unit-length float32 embeddings, one row per text, in input order."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        ids = self.token_ids(texts)
        for batch in length_sorted_batches([len(s) for s in ids], self.batch_size):
            input_ids, mask = pad_batch([ids[i] for i in batch], self.pad_id)
            feeds = {"inputs_embeds": self.words.lookup(input_ids), "attention_mask": mask}
            hidden = self.session.run(None, feeds)[0]
            out[batch] = mean_pool_normalised(hidden, mask)
        return out


def _pad_id(folder: Path, tokenizer: Tokenizer) -> int:
    """The pad token named in tokenizer_config.json (XLM-R: `<pad>` = 1)."""
    config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    pad = config.get("pad_token")
    pad_id = tokenizer.token_to_id(pad) if isinstance(pad, str) else None
    return int(pad_id) if pad_id is not None else 0


def _hidden_size(folder: Path) -> int:
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    return int(config["hidden_size"])


def _session(path: Path, num_threads: int | None) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    if num_threads:
        options.intra_op_num_threads = num_threads
        options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
