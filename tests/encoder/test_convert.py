"""Source checks, stamp caching and the precompiled charsmap, without a full conversion."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from tokenizers import normalizers

from classifiers.encoder.charsmap import build_precompiled_charsmap
from classifiers.encoder.convert import (
    MODEL_DIRNAME,
    STAMP_FILE,
    SourceMismatchError,
    ensure_model,
    verify_source,
)


def test_verify_source_refuses_a_wrong_digest(tmp_path: Path) -> None:
    fake = tmp_path / "e5-small-q4.bin"
    fake.write_bytes(b"E5S1 not the real model")
    with pytest.raises(SourceMismatchError, match="refusing"):
        verify_source(fake)


def test_verify_source_accepts_the_expected_digest(tmp_path: Path) -> None:
    fake = tmp_path / "model.bin"
    fake.write_bytes(b"payload")
    digest = hashlib.sha256(b"payload").hexdigest()
    assert verify_source(fake, expected=digest) == digest


def test_ensure_model_refuses_a_tampered_source_and_leaves_no_folder(tmp_path: Path) -> None:
    fake = tmp_path / "tampered.bin"
    fake.write_bytes(b"\0" * 1024)
    cache = tmp_path / "cache"
    with pytest.raises(SourceMismatchError):
        ensure_model(cache, source=fake)
    assert not (cache / MODEL_DIRNAME).exists()


def test_ensure_model_reuses_a_folder_with_a_current_stamp(e5_folder: Path) -> None:
    missing_source = e5_folder.parent / "does-not-exist.bin"
    assert ensure_model(e5_folder.parent, source=missing_source) == e5_folder


def test_ensure_model_reconverts_when_the_stamp_is_stale(tmp_path: Path) -> None:
    folder = tmp_path / MODEL_DIRNAME
    folder.mkdir()
    stale = {"source_sha256": "0" * 64, "converter_version": "0"}
    (folder / STAMP_FILE).write_text(json.dumps(stale))
    fake = tmp_path / "tampered.bin"
    fake.write_bytes(b"x")
    # A stale stamp sends us to the source, whose check then refuses the fake file.
    with pytest.raises(SourceMismatchError):
        ensure_model(tmp_path, source=fake)


def test_build_precompiled_charsmap_maps_deletes_and_keeps() -> None:
    mapping = {0x09: " ", 0x07: "", 0xFB01: "fi", 0xFF21: "A", 0x1D400: "A", 0x2581: " "}
    normaliser = normalizers.Precompiled(build_precompiled_charsmap(mapping))
    text = "a\tb\x07ﬁ Ａ𝐀▁й"
    assert normaliser.normalize_str(text) == "a bfi AA й"


def test_build_precompiled_charsmap_never_composes() -> None:
    # e5.c maps one codepoint at a time, so a decomposed "й" must stay decomposed.
    normaliser = normalizers.Precompiled(build_precompiled_charsmap({0x09: " "}))
    assert normaliser.normalize_str("и\u0306") == "и\u0306"
