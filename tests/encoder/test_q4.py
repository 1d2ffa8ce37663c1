"""Q4_0 block decoding against blocks written by hand."""

from __future__ import annotations

import numpy as np
import pytest

from classifiers.encoder.q4 import dequantize_q4_0, q4_nbytes


def _block(scale: float, values: list[int]) -> bytes:
    """Encode 32 nibble values (0..15) the ggml way: byte j = value j | value j+16 << 4."""
    packed = bytes(values[j] | (values[j + 16] << 4) for j in range(16))
    return np.float16(scale).tobytes() + packed


def test_dequantize_q4_0_decodes_low_then_high_nibbles() -> None:
    nibbles = list(range(16)) + list(range(15, -1, -1))
    out = dequantize_q4_0(_block(0.5, nibbles), 32)
    expected = 0.5 * (np.array(nibbles, dtype=np.float32) - 8)
    np.testing.assert_array_equal(out, expected)


def test_dequantize_q4_0_uses_each_block_scale() -> None:
    raw = _block(2.0, [9] * 32) + _block(-0.25, [0] * 32)
    out = dequantize_q4_0(raw, 64)
    np.testing.assert_array_equal(out, [2.0] * 32 + [2.0] * 32)


def test_dequantize_q4_0_reads_a_byte_by_hand() -> None:
    # scale 1.0 (fp16 0x3C00), first byte 0x2F: value 0 = 0xF - 8 = 7, value 16 = 0x2 - 8 = -6.
    raw = bytes([0x00, 0x3C, 0x2F]) + bytes([0x88] * 15)
    out = dequantize_q4_0(raw, 32)
    assert out[0] == 7.0
    assert out[16] == -6.0
    assert not out[1:16].any() and not out[17:].any()


def test_q4_nbytes_rejects_partial_blocks() -> None:
    assert q4_nbytes(64) == 36
    with pytest.raises(ValueError, match="multiple of 32"):
        q4_nbytes(33)
