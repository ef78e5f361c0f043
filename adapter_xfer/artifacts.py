"""Saved artifacts: adapters, fusion layers, heads and their order, each beside its base identity.

A stage or a run saves what it trained in `adapters`' own format (safetensors) plus `adapter_xfer.json`
(the base model's identity and what the artifact is); `setup.json` records the adapter list bottom to
top, where a list is a fusion, and the head. Loading checks every identity against the model's, so an
adapter trained on another base is a user error rather than silently wrong outputs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from adapter_xfer.errors import UserError
from adapter_xfer.fusion import Entry, add_fusion, fusion_name
from adapter_xfer.io_utils import atomic_write_json
from adapter_xfer.methods import Method, split_top
from adapter_xfer.modeling import BaseIdentity, check_identity

META_FILE = "adapter_xfer.json"


def write_meta(folder: Path, identity: BaseIdentity, **fields: Any) -> None:
    """Record the base identity (and anything else) beside a saved adapter or model."""
    atomic_write_json(folder / META_FILE, {"base_model": identity.to_dict(), **fields})


def read_meta(folder: Path) -> dict:
    """The `adapter_xfer.json` beside a saved artifact (base identity and what it is)."""
    path = Path(folder) / META_FILE
    if not path.is_file():
        raise UserError(f"{folder} is not an adapter_xfer artifact (no {META_FILE})")
    return json.loads(path.read_text(encoding="utf-8"))


def load_adapter_into(model, folder: Path, name: str, identity: BaseIdentity, with_head: bool = False) -> None:
    """Load a saved adapter (checking its base identity) under `name`."""
    path = Path(folder) / name if (Path(folder) / name).is_dir() else Path(folder)
    check_identity(read_meta(path)["base_model"], identity, f"adapter {path}")
    model.load_adapter(str(path), load_as=name, with_head=with_head, use_safetensors=True)


def load_pretrained_lang_adapter(model, source: str, name: str, identity: BaseIdentity) -> None:
    """A language adapter given by Hub id, export folder or run folder (e.g. AdapterHub's `*-wiki_pfeiffer`).

    Resolved like every adapter source (`adapter_sources`); a recorded base identity must match the model's.
    """
    from adapter_xfer.adapter_sources import load_entry, resolve_sources

    load_entry(model, resolve_sources([f"{name}={source}"]).get(name), identity, model_name=identity.name)


SETUP_FILE = "setup.json"
HEADS_DIR = "heads"  # a head with no adapter of its name (a fusion on top) is saved here


def artifact_setup(folder: Path) -> tuple[tuple[Entry, ...], str | None]:
    """What a saved stage holds: its adapter list (bottom to top; a fusion is a tuple of the fused
    adapters) and its head's name."""
    if (folder / SETUP_FILE).is_file():
        setup = json.loads((folder / SETUP_FILE).read_text(encoding="utf-8"))
        entries = tuple(tuple(e) if isinstance(e, list) else e for e in setup["adapters"])
        top = entries[-1] if isinstance(entries[-1], str) else None
        return entries, setup.get("head", top)
    names = tuple(sorted(p.name for p in folder.iterdir() if p.is_dir() and p.name.startswith("task_")))
    return names, names[-1] if names else None


def artifact_adapters(folder: Path) -> list[str]:
    """The task adapters a saved stage holds, bottom to top (fused adapters included)."""
    entries, _ = artifact_setup(folder)
    return [n for e in entries for n in (e if isinstance(e, tuple) else (e,))]


def load_stacked(model, folder: Path, identity: BaseIdentity) -> tuple[Entry, ...]:
    """Load every adapter, fusion layer and the head of a saved stage under their own names (for
    stacking or evaluation); returns the adapter list, bottom to top."""
    entries, head = artifact_setup(folder)
    for entry in entries:  # the top adapter's head comes along (a stacked successor deletes it)
        for name in entry if isinstance(entry, tuple) else (entry,):
            load_adapter_into(model, folder, name, identity, with_head=name == head)
        if isinstance(entry, tuple):
            path = folder / fusion_name(entry)
            check_identity(read_meta(path)["base_model"], identity, f"fusion {path}")
            model.load_adapter_fusion(str(path), with_head=False, use_safetensors=True)
    if head is not None and (folder / HEADS_DIR / head).is_dir():
        check_identity(read_meta(folder / HEADS_DIR / head)["base_model"], identity, f"head {folder / HEADS_DIR}")
        model.load_head(str(folder / HEADS_DIR / head), use_safetensors=True)
    return entries


def load_fused(model, folders: list[Path], identity: BaseIdentity, config: str) -> tuple[str, ...]:
    """Load the top task adapter of each (independently trained) stage and add a fusion layer over
    them; returns the fused adapters' names."""
    fused = []
    for folder in folders:
        name = artifact_adapters(folder)[-1]
        load_adapter_into(model, folder, name, identity)
        fused.append(name)
    add_fusion(model, tuple(fused), config)
    return tuple(fused)


def save_task_artifact(model, method: Method, names: tuple[Entry, ...], folder: Path, identity: BaseIdentity,
                       head: str, **meta) -> None:  # fmt: skip
    """Save what a task stage trained: its adapters and fusion layers (the top adapter with the head,
    else the head apart) and their order, or the whole fine-tuned model."""
    folder.mkdir(parents=True, exist_ok=True)  # `save_adapter` makes one level of folder only
    if method.uses_peft:  # peft's own format: adapter_model.safetensors + adapter_config.json
        model.save_pretrained(str(folder / "peft"), save_embedding_layers=False)
        write_meta(folder / "peft", identity, kind="peft", name=names[-1], **meta)
        return
    if method.trains_base:
        model.save_pretrained(str(folder / "model"), safe_serialization=True)
        write_meta(folder / "model", identity, kind="model", name=names[-1], **meta)
        return
    for entry in names:
        for name in entry if isinstance(entry, tuple) else (entry,):
            model.save_adapter(str(folder / name), name, with_head=name == head, use_safetensors=True)
            write_meta(folder / name, identity, kind="task", name=name, **meta)
        if isinstance(entry, tuple):
            model.save_adapter_fusion(str(folder / fusion_name(entry)), fusion_name(entry), use_safetensors=True)
            write_meta(folder / fusion_name(entry), identity, kind="fusion", name=fusion_name(entry), **meta)
    if split_top(names)[0] != head:  # no adapter carries the head
        (folder / HEADS_DIR).mkdir(exist_ok=True)
        model.save_head(str(folder / HEADS_DIR / head), head, use_safetensors=True)
        write_meta(folder / HEADS_DIR / head, identity, kind="head", name=head, **meta)
    atomic_write_json(folder / SETUP_FILE, {"adapters": [list(e) if isinstance(e, tuple) else e for e in names],
                                            "head": head})  # fmt: skip
