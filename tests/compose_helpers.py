"""Helpers for the composition tests: tiny adapters, perturbed away from their identity init, saved as exports.

An adapter fresh from `add_adapter` changes nothing (its up-projection starts at zero), so a test that
loads one and compares outputs could pass with the adapter ignored. Every adapter here is perturbed
with seeded noise before saving, so different adapters give different outputs.
"""

from __future__ import annotations

from pathlib import Path

import torch

from adapter_xfer.artifacts import write_meta
from adapter_xfer.formats import get_format
from adapter_xfer.methods import is_param_of
from adapter_xfer.modeling import base_identity, load_model
from adapter_xfer.tasks import get_task


def perturb(model, name: str, seed: int, scale: float = 0.5) -> None:
    """Add seeded noise to every parameter of adapter (or head) `name`."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param_name, param in model.named_parameters():
            if is_param_of(param_name, name):
                param.add_(torch.randn(param.shape, generator=generator) * scale)


def build_exports(checkpoint: str, root: Path, task_name: str, langs=("de", "zh"), task_config: str = "seq_bn",
                  lang_config: str = "seq_bn_inv") -> dict[str, Path]:  # fmt: skip
    """Perturbed language adapters `lang_<x>` and a task adapter `task_<task>` with its head, each saved
    as an export folder (adapters' format + adapter_xfer.json) under `root`; returns name -> folder."""
    task = get_task(task_name)
    torch.manual_seed(1)  # adapters and heads are initialised from the global RNG
    model = load_model(checkpoint)
    identity = base_identity(model, "tiny")
    folders = {}
    for seed, lang in enumerate(langs, start=1):
        name = f"lang_{lang}"
        model.add_adapter(name, config=lang_config)
        perturb(model, name, seed)
        folders[name] = root / "lang" / name
    name = f"task_{task.name}"
    model.add_adapter(name, config=task_config)
    get_format(task.format).add_head(model, name, task)
    perturb(model, name, 99, scale=0.5 if task_config != "lora" else 0.3)
    folders[name] = root / "task" / name
    for name, folder in folders.items():
        folder.parent.mkdir(parents=True, exist_ok=True)
        model.save_adapter(str(folder), name, with_head=name.startswith("task_"), use_safetensors=True)
        write_meta(folder, identity, kind=name.split("_")[0], name=name)
    return folders
