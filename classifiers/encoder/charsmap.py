"""Build a SentencePiece `precompiled_charsmap` from a per-codepoint map.

The `tokenizers` `Precompiled` normaliser reads a darts-clone double-array trie over UTF-8 keys
followed by NUL-terminated replacements. We write that format ourselves so the converted tokenizer
applies exactly the map the C engine applies, with no sentencepiece dependency.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

_HAS_LEAF = 1 << 8
_IS_LEAF = 1 << 31
_MAX_OFFSET = 1 << 21  # offsets above this need darts' extended encoding, which we avoid


@dataclass
class _Node:
    children: dict[int, _Node] = field(default_factory=dict)
    value: int | None = None


def build_precompiled_charsmap(mapping: dict[int, str]) -> bytes:
    """Serialise `codepoint -> replacement` as a `precompiled_charsmap` blob."""
    root, normalized = _build_trie(mapping)
    trie = _DoubleArray().build(root).astype("<u4").tobytes()
    return struct.pack("<I", len(trie)) + trie + normalized


def _build_trie(mapping: dict[int, str]) -> tuple[_Node, bytes]:
    """Insert every key's UTF-8 bytes; leaf values are offsets into the replacements blob."""
    root = _Node()
    blob = bytearray()
    for cp in sorted(mapping):
        node = root
        for byte in chr(cp).encode("utf-8"):
            node = node.children.setdefault(byte, _Node())
        node.value = len(blob)
        blob += mapping[cp].encode("utf-8") + b"\0"
    return root, bytes(blob)


class _DoubleArray:
    """Greedy darts-clone placement: every node gets a unique base B, children at B ^ label."""

    def __init__(self, capacity: int = 1 << 14) -> None:
        self.units = np.zeros(capacity, dtype=np.uint32)
        self.taken = np.zeros(capacity, dtype=bool)
        self.used_base = np.zeros(capacity, dtype=bool)
        self.taken[0] = True  # position 0 is the root

    def build(self, root: _Node) -> npt.NDArray[np.uint32]:
        queue = [(root, 0)]
        while queue:
            node, pos = queue.pop()
            queue.extend(self._place(node, pos))
        # Lookups touch B ^ c for any byte c, i.e. the whole 256-block: pad to full blocks.
        size = (int(np.flatnonzero(self.taken).max()) // 256 + 1) * 256
        return self.units[:size]

    def _place(self, node: _Node, pos: int) -> list[tuple[_Node, int]]:
        labels = sorted(node.children)
        slots = labels + ([0] if node.value is not None else [])
        base = self._find_base(slots)
        offset = pos ^ base
        if offset >= _MAX_OFFSET:
            raise ValueError("charsmap trie too large for the simple offset encoding")
        leaf_bit = _HAS_LEAF if node.value is not None else 0
        self.units[pos] = (int(self.units[pos]) & 0xFF) | leaf_bit | (offset << 10)
        if node.value is not None:
            self.units[base] = node.value | _IS_LEAF
        for label in labels:
            self.units[base ^ label] = label
        self.taken[[base ^ s for s in slots]] = True
        self.used_base[base] = True
        return [(node.children[label], base ^ label) for label in labels]

    def _find_base(self, slots: list[int]) -> int:
        """Lowest unused base whose slots are all free, found with whole-array masks."""
        size = self.taken.size
        candidates = np.arange(size)
        fits = ~self.used_base
        for slot in slots:
            fits &= ~self.taken[candidates ^ slot]
        found = np.flatnonzero(fits)
        if found.size:
            return int(found[0])
        self._grow()
        return self._find_base(slots)

    def _grow(self) -> None:
        """Double the capacity (sizes stay multiples of 256, so B ^ c stays in range)."""
        pad = self.taken.size
        self.units = np.concatenate([self.units, np.zeros(pad, dtype=np.uint32)])
        self.taken = np.concatenate([self.taken, np.zeros(pad, dtype=bool)])
        self.used_base = np.concatenate([self.used_base, np.zeros(pad, dtype=bool)])
