"""Low-rank adapters (LoRA) for the encoder's linear layers, in plain torch.

A wrapped layer computes `base(x) + scale * B(A(dropout(x)))` with A (rank × in) random and
B (out × rank) zero, so a fresh adapter leaves the encoder unchanged. After training the
product is added into the base weight (`merge_lora`), so inference costs nothing extra.
Only A and B are saved (float16): the base encoder comes from `ensure_model` as before.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

# Attention query and value projections (the classic LoRA targets) of every XLM-R layer.
QUERY_VALUE = (r"encoder\.layer\.\d+\.attention\.self\.(query|value)",)
# The feed-forward output projection; "attention.output.dense" must not match it.
FFN_OUT = (r"encoder\.layer\.\d+\.output\.dense",)
KEY_PREFIX = "lora/"


@dataclass(frozen=True, slots=True)
class LoraSettings:
    """Adapter shape: rank, scaling (alpha / rank), dropout and which layers get one."""

    rank: int = 8
    alpha: float = 16.0
    dropout: float = 0.1
    targets: tuple[str, ...] = QUERY_VALUE + FFN_OUT

    def to_json(self) -> dict[str, Any]:
        """Plain values for the adapter's JSON file."""
        return {**asdict(self), "targets": list(self.targets)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LoraSettings:
        """Inverse of `to_json`."""
        return cls(
            rank=int(data["rank"]),
            alpha=float(data["alpha"]),
            dropout=float(data["dropout"]),
            targets=tuple(str(t) for t in data["targets"]),
        )


class LoraLinear(nn.Module):
    """An `nn.Linear` plus a trainable low-rank update; the base weights stay frozen."""

    def __init__(self, base: nn.Linear, settings: LoraSettings) -> None:
        """Wrap `base`; A gets the usual Kaiming init, B zeros, so the output starts unchanged."""
        super().__init__()
        self.base = base
        self.scale = settings.alpha / settings.rank
        self.dropout = nn.Dropout(settings.dropout)
        self.lora_a = nn.Parameter(torch.empty(settings.rank, base.in_features))
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, settings.rank))
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))
        for param in base.parameters():
            param.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Base output plus the scaled low-rank path."""
        update = self.dropout(x) @ self.lora_a.T @ self.lora_b.T
        out: torch.Tensor = self.base(x) + self.scale * update
        return out

    def delta(self) -> torch.Tensor:
        """The weight change this adapter stands for (out × in)."""
        return self.scale * (self.lora_b @ self.lora_a)

    def merged(self) -> nn.Linear:
        """The base layer with the update added into its weight (no extra cost at inference)."""
        with torch.no_grad():
            self.base.weight += self.delta().to(self.base.weight.dtype)
        return self.base


def _targets(model: nn.Module, settings: LoraSettings) -> list[str]:
    patterns = [re.compile(p) for p in settings.targets]
    return [
        name
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and any(p.fullmatch(name) for p in patterns)
    ]


def _replace(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, module)


def apply_lora(model: nn.Module, settings: LoraSettings) -> dict[str, LoraLinear]:
    """Freeze every weight of `model` and wrap the target layers; returns name → wrapper."""
    for param in model.parameters():
        param.requires_grad_(False)
    wrappers: dict[str, LoraLinear] = {}
    for name in _targets(model, settings):
        base = model.get_submodule(name)
        assert isinstance(base, nn.Linear)
        wrappers[name] = LoraLinear(base, settings)
        # A new module starts in training mode; follow the model's, or dropout would stay on.
        wrappers[name].train(model.training)
        _replace(model, name, wrappers[name])
    if not wrappers:
        raise ValueError(f"no layer of the model matches {settings.targets}")
    return wrappers


def lora_modules(model: nn.Module) -> dict[str, LoraLinear]:
    """The adapters currently inside `model`, by the name of the layer they wrap."""
    return {name: m for name, m in model.named_modules() if isinstance(m, LoraLinear)}


def merge_lora(model: nn.Module) -> int:
    """Fold every adapter into its base weight and put the plain layer back; returns how many."""
    wrappers = lora_modules(model)
    for name, wrapper in wrappers.items():
        _replace(model, name, wrapper.merged())
    return len(wrappers)


def adapter_arrays(model: nn.Module) -> dict[str, npt.NDArray[np.float16]]:
    """A and B of every adapter as float16 arrays, keyed `lora/<layer>/a` and `.../b`."""
    found: dict[str, npt.NDArray[np.float16]] = {}
    for name, wrapper in lora_modules(model).items():
        for part, tensor in (("a", wrapper.lora_a), ("b", wrapper.lora_b)):
            found[f"{KEY_PREFIX}{name}/{part}"] = tensor.detach().cpu().numpy().astype(np.float16)
    return found


def load_adapter_arrays(model: nn.Module, arrays: Mapping[str, npt.NDArray[Any]]) -> None:
    """Copy saved A and B into the adapters of `model` (which `apply_lora` has set up)."""
    wrappers = lora_modules(model)
    wanted = {f"{KEY_PREFIX}{n}/{p}" for n in wrappers for p in ("a", "b")}
    saved = {k for k in arrays if k.startswith(KEY_PREFIX)}
    if saved != wanted:
        raise ValueError(f"adapter layers differ from the model's: {sorted(saved ^ wanted)[:4]}")
    with torch.no_grad():
        for name, wrapper in wrappers.items():
            for part, param in (("a", wrapper.lora_a), ("b", wrapper.lora_b)):
                value = torch.from_numpy(np.asarray(arrays[f"{KEY_PREFIX}{name}/{part}"]))
                param.copy_(value.to(param.dtype))


def save_adapter(
    stem: str | Path,
    arrays: Mapping[str, npt.NDArray[Any]],
    settings: LoraSettings,
    meta: Mapping[str, Any] | None = None,
) -> tuple[Path, Path]:
    """Write `<stem>.npz` (`adapter_arrays` plus e.g. heads) and `<stem>.json` (settings)."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    npz, info = stem.with_suffix(".npz"), stem.with_suffix(".json")
    np.savez_compressed(npz, allow_pickle=False, **dict(arrays))
    document = {**dict(meta or {}), "lora": settings.to_json()}
    info.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return npz, info


def read_adapter(stem: str | Path) -> tuple[LoraSettings, dict[str, npt.NDArray[Any]]]:
    """Settings and every array written by `save_adapter`."""
    stem = Path(stem)
    document = json.loads(stem.with_suffix(".json").read_text(encoding="utf-8"))
    with np.load(stem.with_suffix(".npz")) as arrays:
        loaded = {key: arrays[key] for key in arrays.files}
    return LoraSettings.from_json(document["lora"]), loaded


def load_merged(model: nn.Module, stem: str | Path) -> nn.Module:
    """Apply the adapter saved at `stem` to `model`, merge it in and return the model."""
    settings, arrays = read_adapter(stem)
    apply_lora(model, settings)
    load_adapter_arrays(model, arrays)
    merge_lora(model)
    return model
