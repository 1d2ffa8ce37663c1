"""A LoRA adapter merged into the base encoder, cached as a standard transformers folder.

The folder (`<cache>/<adapter name>-<12 hex of its digest>/`) holds `save_pretrained` of the
merged model plus the base folder's tokenizer files, so `ensure_onnx` can export and quantize it
like the frozen encoder. Its stamp names the adapter's digest and the base folder's identity:
a changed adapter gets a new folder, a re-converted base rebuilds this one (and, through the
stamp that `ensure_onnx` reads, its ONNX export). Checking the cache needs no torch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from classifiers.encoder.convert import STAMP_FILE, swap_in
from classifiers.encoder.onnx_export import read_json, source_identity

log = logging.getLogger(__name__)

MERGE_VERSION = "1"
# What AutoTokenizer and OnnxEmbedder read; the converted e5 folder has the first two.
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "sentencepiece.bpe.model",
)


def adapter_digest(adapter: str | Path) -> str:
    """sha256 of the adapter's `.npz` plus its LoRA settings (rank, alpha, targets).

    The settings live in the `.json`; its other entries (thresholds, training notes) do not
    change the encoder, so editing them does not force a new merge.
    """
    stem = Path(adapter)
    digest = hashlib.sha256()
    with stem.with_suffix(".npz").open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    document = json.loads(stem.with_suffix(".json").read_text(encoding="utf-8"))
    digest.update(json.dumps(document["lora"], sort_keys=True).encode("utf-8"))
    return digest.hexdigest()


def merged_stamp(source: Path, adapter: str | Path) -> dict[str, Any]:
    """What a merged folder was built from; a folder with another stamp is rebuilt."""
    return {
        "adapter": Path(adapter).name,
        "adapter_sha256": adapter_digest(adapter),
        "base": source_identity(source),
        "merge_version": MERGE_VERSION,
    }


def ensure_merged_folder(source: Path, adapter: str | Path, cache_dir: Path | None = None) -> Path:
    """Return the merged model's folder, building it only when missing or stale.

    `cache_dir` defaults to the base folder's parent (the model cache when the base came from
    `ensure_model`). Built in a temp dir and renamed into place, the stamp written last.
    """
    stamp = merged_stamp(source, adapter)
    root = cache_dir if cache_dir is not None else source.parent
    target = root / f"{Path(adapter).name}-{stamp['adapter_sha256'][:12]}"
    if read_json(target / STAMP_FILE) == stamp:
        return target
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".{target.name}.tmp-{uuid.uuid4().hex}"
    try:
        log.info("merging %s into %s at %s", adapter, source, target)
        write_merged(source, Path(adapter), tmp)
        (tmp / STAMP_FILE).write_text(json.dumps(stamp), encoding="utf-8")
        swap_in(tmp, target, stamp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def write_merged(source: Path, adapter: Path, out: Path) -> None:
    """`save_pretrained` of the base model with the adapter merged in, plus tokenizer files."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModel

    from classifiers.encoder.lora import load_merged

    model = AutoModel.from_pretrained(str(source), local_files_only=True).eval()
    load_merged(model, adapter)
    model.save_pretrained(str(out))
    for name in TOKENIZER_FILES:
        if (source / name).exists():
            shutil.copy2(source / name, out / name)
    for path in out.iterdir():
        path.chmod(0o644)  # safetensors writes 0600; the cache may be shared with a service user
