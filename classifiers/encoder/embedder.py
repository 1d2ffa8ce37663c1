"""Sentence embeddings with transformers: e5 prefix, mean pooling, L2 norm, sorted batches."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from classifiers.encoder.convert import ensure_model

E5_PREFIX = "query: "
DEFAULT_MAX_LENGTH = 128
DEFAULT_BATCH_SIZE = 32

F32 = npt.NDArray[np.float32]


def clip_head_tail(ids: list[int], max_length: int) -> list[int]:
    """Keep the first and last tokens of a long sequence (the specials at both ends survive)."""
    if len(ids) <= max_length:
        return ids
    head = (max_length + 1) // 2
    return ids[:head] + ids[len(ids) - (max_length - head) :]


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> Iterator[list[int]]:
    """Indices grouped so each batch holds texts of similar length (little padding)."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


def pad_batch(seqs: Sequence[Sequence[int]], pad_id: int) -> tuple[npt.NDArray[np.int64], ...]:
    """Right-pad to the longest sequence; returns (input_ids, attention_mask)."""
    # Right padding keeps positions intact: XLM-R numbers only the non-pad tokens.
    width = max(len(s) for s in seqs)
    ids = np.full((len(seqs), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(seqs), width), dtype=np.int64)
    for row, seq in enumerate(seqs):
        ids[row, : len(seq)] = seq
        mask[row, : len(seq)] = 1
    return ids, mask


def mean_pool_normalised(hidden: F32, mask: npt.NDArray[np.int64]) -> F32:
    """Average token vectors where the mask is 1, then scale each row to unit length."""
    weights = mask[:, :, None].astype(np.float32)
    summed = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1.0)
    norms = np.linalg.norm(summed, axis=1, keepdims=True)
    unit: F32 = (summed / np.maximum(norms, 1e-12)).astype(np.float32)
    return unit


class Embedder:
    """Text embeddings from a transformers encoder folder (the converted e5-small by default)."""

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        prefix: str = E5_PREFIX,
        max_length: int = DEFAULT_MAX_LENGTH,
        batch_size: int = DEFAULT_BATCH_SIZE,
        num_threads: int | None = None,
        offline: bool = True,
    ) -> None:
        import torch

        if num_threads:
            # Process-wide in torch; the caller chooses it for the whole service.
            torch.set_num_threads(num_threads)
        self.prefix = prefix
        self.max_length = max_length
        self.batch_size = batch_size
        self.tokenizer, self.model = _load(model if model is not None else ensure_model(), offline)
        self.pad_id = int(self.tokenizer.pad_token_id or 0)

    @property
    def dim(self) -> int:
        """Embedding size."""
        return int(self.model.config.hidden_size)

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Prefixed, tokenised and head+tail-clipped ids, with the model's special tokens."""
        prefixed = [self.prefix + text for text in texts]
        encoded = self.tokenizer(prefixed, add_special_tokens=True, verbose=False)["input_ids"]
        return [clip_head_tail(list(ids), self.max_length) for ids in encoded]

    def embed(self, texts: Sequence[str]) -> F32:
        """Unit-length float32 embeddings, one row per text, in input order."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        ids = self.token_ids(texts)
        # Similar lengths per batch: unsorted batches pad to their longest text, 2-4x slower.
        for batch in length_sorted_batches([len(s) for s in ids], self.batch_size):
            out[batch] = self._forward([ids[i] for i in batch])
        return out

    def _forward(self, seqs: list[list[int]]) -> F32:
        import torch

        ids, mask = pad_batch(seqs, self.pad_id)
        with torch.inference_mode():
            output = self.model(
                input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)
            )
        hidden = output.last_hidden_state.float().numpy()
        return mean_pool_normalised(hidden, mask)


def _load(model: str | Path, offline: bool) -> tuple[Any, Any]:
    """AutoTokenizer + AutoModel in eval mode, never touching the hub when offline."""
    if offline:
        # Must be set before huggingface_hub is first imported to take full effect.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModel, AutoTokenizer

    name = str(model)
    tokenizer = AutoTokenizer.from_pretrained(name, local_files_only=offline)
    encoder = AutoModel.from_pretrained(name, local_files_only=offline)
    return tokenizer, encoder.eval()
