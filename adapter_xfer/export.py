"""Exporting a finished run for sharing: `hub_exports/<kind>/<name>/`, in `adapters`' own format.

Everything the run trained is written so that a user with only `adapters` and `transformers`, and the
same base model, gets adapter_xfer's outputs: language adapters (`lang/<name>/lang_<code>/`), task
adapters with their heads (`task/<name>/task_<task>/`), fusion layers
(`fusion/<name>/<a>-<b>/`) and the run's whole composition as one `save_adapter_setup` folder
(`setup/<name>/`: `Stack(lang_en, ...task adapters)` and the head). The artifacts are not copied
but loaded onto the base model and saved again through `adapters`, after checking that the base is
the one they were trained on; that also rewrites `adapter_config.json`'s `model_name`, which would
otherwise carry the local checkpoint folder. Every folder gets a model card and the metadata file.

Runs of `peft_lora` export their PEFT folder as `task/<name>/<adapter>/` (PEFT's format); `full_ft`
runs are refused: a fine-tuned encoder is a whole model, not an adapter (share it with
`save_pretrained`/`push_to_hub`). Each `<kind>/<name>` folder is rebuilt atomically, so exporting
the same name again replaces the previous export cleanly.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
from pathlib import Path
from typing import Any

from adapter_xfer.errors import UserError
from adapter_xfer.io_utils import atomic_dir, atomic_write_json, atomic_write_text
from adapter_xfer.model_card import export_metadata, local_roots, public_base, render_card, render_index
from adapter_xfer.results import read_results

KINDS = ("lang", "task", "fusion", "setup")
INDEX_JSON, INDEX_MD = "index.json", "INDEX.md"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")


def folder_name(adapter: str) -> str:
    """How an export folder spells an adapter or fusion name (`task_a,task_b` -> `task_a-task_b`)."""
    return adapter.replace(",", "-")


def check_name(name: str) -> str:
    """An export name is also a Hub repository name: letters, digits, `._-`, at most 96 characters."""
    if not _NAME.match(name) or ".." in name or name.endswith((".", "-")):
        raise UserError(f"invalid export name '{name}' (letters, digits and . _ -; at most 96 characters; "
                        "choose one with --name)")  # fmt: skip
    return name


def export_run(run_dir: str | Path, name: str | None = None, out: str | Path = "hub_exports") -> list[Path]:
    """Export every artifact a finished run trained into `out/<kind>/<name>/`.

    Args:
        run_dir: a run folder written by `adapter-xfer train`.
        name: the export's name (default: the run folder's name).
        out: the export root (`hub_exports`); its index is regenerated.

    Returns:
        The export folders written (each loadable with `load_adapter` / `load_adapter_setup`).
    """
    run_dir = Path(run_dir)
    results = read_results(run_dir)
    name = check_name(name or run_dir.resolve().name)  # a bad folder name asks for --name
    artifacts = run_dir / "artifacts"
    if not artifacts.is_dir():
        raise UserError(f"{run_dir} has no artifacts/ folder: the run trained no target adapter to export "
                        "(retrieval runs only evaluate)")  # fmt: skip
    if results["method"] == "full_ft":
        raise UserError(f"{run_dir} is a full fine-tuning run: the whole encoder changed, so there is no "
                        "adapter to export (share artifacts/model with save_pretrained instead)")  # fmt: skip
    roots = local_roots(results, run_dir)
    export = _export_peft if (artifacts / "peft").is_dir() else _export_adapters
    groups, model_type = export(results, run_dir)
    out = Path(out)
    # Every kind is built under a temporary name first; only when all are complete (and clean of local
    # paths) are they renamed into place, so a failure anywhere leaves the previous export untouched.
    with contextlib.ExitStack() as building:
        for kind, group in groups.items():
            tmp = building.enter_context(atomic_dir(out / kind / name))
            for adapter, (write, meta) in group.items():
                folder = tmp if kind == "setup" else tmp / folder_name(adapter)
                write(folder)
                meta = export_metadata(results, roots, kind=kind, adapter=adapter, export_name=name,
                                       model_type=model_type, **meta)  # fmt: skip
                atomic_write_json(folder / "adapter_xfer.json", meta)
                atomic_write_text(folder / "README.md", render_card(meta))
            _refuse_local_paths(tmp, roots)
    for kind in set(KINDS) - set(groups):
        shutil.rmtree(out / kind / name, ignore_errors=True)  # left by an earlier export of this name
    written: list[Path] = []
    for kind in (k for k in KINDS if k in groups):
        target = out / kind / name
        written += [target] if kind == "setup" else sorted(p for p in target.iterdir() if p.is_dir())
    _update_index(out, name, results, written)
    return written


def _refuse_local_paths(folder: Path, roots: list[str]) -> None:
    """A guard behind the scrubbing: no exported text may name a local folder of this machine.

    Of a safetensors file only the JSON header is text; its tensor bytes are numbers, in which a short
    root such as `/tmp` would turn up by chance in large files.
    """
    needles = [root.encode() for root in roots]
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if path.suffix == ".safetensors" and len(data) >= 8:
            data = data[8 : 8 + int.from_bytes(data[:8], "little")]
        for needle in needles:
            if needle in data:
                raise UserError(f"export refused: {path.relative_to(folder)} would contain the local path "
                                f"{needle.decode()}")  # fmt: skip


def _export_peft(results: dict, run_dir: Path) -> tuple[dict[str, dict], str]:
    """A PEFT run's folder, with `base_model_name_or_path` made public and PEFT's own card replaced."""
    from transformers import AutoConfig

    from adapter_xfer.modeling import resolve_checkpoint

    artifacts = run_dir / "artifacts"
    source, adapter = artifacts / "peft", (results.get("task_adapters") or [f"task_{results['task']}"])[-1]

    def write(folder: Path) -> None:
        folder.mkdir(parents=True)
        for path in source.iterdir():
            if path.suffix == ".safetensors":
                shutil.copy2(path, folder / path.name)
        config = json.loads((source / "adapter_config.json").read_text(encoding="utf-8"))
        config["base_model_name_or_path"] = public_base(results["model"])[0]
        atomic_write_json(folder / "adapter_config.json", config)

    model_type = AutoConfig.from_pretrained(resolve_checkpoint(results["model"], progress=False)).model_type
    return {"task": {adapter: (write, {"format": "peft", "trained": "target"})}}, model_type


def _stage_folders(results: dict, run_dir: Path) -> tuple[dict[str, Path], list[tuple[Path, dict]]]:
    """Trained language adapters ({code: folder}) and intermediate stages, from `results.json`."""
    by_key = {s["key"]: s for s in results.get("stages", [])}
    langs: dict[str, Path] = {}
    for lang, source in results.get("lang_adapters", {}).items():
        if source.startswith("trained: "):
            stage = by_key.get(source.removeprefix("trained: "))
            if stage is None or not (Path(stage["path"]) / f"lang_{lang}").is_dir():
                raise UserError(f"{run_dir}: the language adapter stage of '{lang}' is no longer in the cache "
                                f"({source}); re-run training to rebuild it")  # fmt: skip
            langs[lang] = Path(stage["path"]) / f"lang_{lang}"
    chain = [(Path(s["path"]), s) for s in results.get("stages", []) if s.get("kind") == "intermediate"]
    for folder, _ in chain:
        if not folder.is_dir():
            raise UserError(f"{run_dir}: intermediate stage {folder.name} is no longer in the cache")
    return langs, chain


def _composition(entries: list) -> Any:
    """`setup.json`'s entries as an `adapters` block above `lang_en`: a list entry is a Fuse."""
    from adapters.composition import Fuse, Stack

    return Stack("lang_en", *[Fuse(*e) if isinstance(e, list) else e for e in entries])


def _export_adapters(results: dict, run_dir: Path) -> tuple[dict[str, dict], str]:
    """Load the run's adapters onto its (identity-checked) base and plan one writer per export folder."""
    from adapter_xfer.artifacts import (
        META_FILE,
        artifact_adapters,
        load_adapter_into,
        load_pretrained_lang_adapter,
        read_meta,
    )
    from adapter_xfer.methods import activate
    from adapter_xfer.modeling import base_identity, check_identity, load_model, resolve_checkpoint

    artifacts = run_dir / "artifacts"
    setup = json.loads((artifacts / "setup.json").read_text(encoding="utf-8"))
    entries = setup["adapters"]
    head = setup.get("head") or [e for e in entries if isinstance(e, str)][-1]
    langs, chain = _stage_folders(results, run_dir)
    model = load_model(resolve_checkpoint(results["model"], progress=False))
    identity = base_identity(model, results["model"])
    check_identity(results["base_model"], identity, f"run {run_dir}")
    model.config._name_or_path = public_base(results["model"])[0]  # adapters writes it into every config
    for lang, folder in langs.items():
        load_adapter_into(model, folder, f"lang_{lang}", identity)
    pretrained_en = results["config"]["lang_adapters"]["pretrained"].get("en")
    if "en" not in langs and pretrained_en:  # lang_en is part of the composition even if not trained here
        load_pretrained_lang_adapter(model, pretrained_en, "lang_en", identity)
    trained: dict[str, dict] = {}
    for entry in entries:
        for adapter in entry if isinstance(entry, list) else [entry]:
            load_adapter_into(model, artifacts, adapter, identity, with_head=adapter == head)
            role = "fused" if isinstance(entry, list) else "target" if entry == entries[-1] else "stacked"
            trained[adapter] = {"trained": role}
        if isinstance(entry, list):
            fusion = artifacts / ",".join(entry)
            if (fusion / META_FILE).is_file():
                check_identity(read_meta(fusion)["base_model"], identity, f"fusion layer {fusion}")
            model.load_adapter_fusion(str(fusion), use_safetensors=True)
            trained[",".join(entry)] = {"trained": "fusion", "fused": entry, "lang_adapters": sorted(langs)}
    if head not in model.heads:
        model.load_head(str(artifacts / "heads" / head), load_as=head, use_safetensors=True)
    for folder, stage in chain:  # intermediate adapters (each with its head) not already in the composition
        for adapter in artifact_adapters(folder):
            if adapter not in trained:
                load_adapter_into(model, folder, adapter, identity, with_head=True)
                trained[adapter] = {"trained": "intermediate", "stage": stage}
            elif adapter not in model.heads and (folder / adapter / "head_config.json").is_file():
                # a stacked chain keeps the intermediate adapter headless below the target: its export
                # should still be usable on its own task, so it gets the head its stage trained
                model.load_head(str(folder / adapter), load_as=adapter, use_safetensors=True)
    activate(model, _composition(entries), head)

    def adapter_writer(adapter: str):
        return lambda folder: model.save_adapter(str(folder), adapter, with_head=adapter in model.heads,
                                                 use_safetensors=True)  # fmt: skip

    def fusion_writer(adapter: str):
        return lambda folder: model.save_adapter_fusion(str(folder), adapter, use_safetensors=True)

    stages = {s.get("language"): s for s in results.get("stages", []) if s.get("kind") == "lang"}
    groups: dict[str, dict] = {
        "lang": {f"lang_{lang}": (adapter_writer(f"lang_{lang}"), {"stage": stages.get(lang), "language": lang})
                 for lang in langs},
        "task": {a: (adapter_writer(a), {**m, "lang_adapters": sorted(langs)})
                 for a, m in trained.items() if m["trained"] != "fusion"},
        "setup": {"setup": (lambda folder: model.save_adapter_setup(str(folder), _composition(entries),
                                                                    head_setup=head, use_safetensors=True),
                            {"composition": _composition_data(entries), "head": head, "lang_adapters": sorted(langs)})},
    }  # fmt: skip
    if fusions := {a: (fusion_writer(a), m) for a, m in trained.items() if m["trained"] == "fusion"}:
        groups["fusion"] = fusions
    return {kind: group for kind, group in groups.items() if group}, model.config.model_type


def _composition_data(entries: list) -> dict:
    """The composition in the project's YAML shape, e.g. `{stack: [lang_{lang}, {fuse: [a, b]}, c]}`."""
    return {"stack": ["lang_{lang}", *[{"fuse": e} if isinstance(e, list) else e for e in entries]]}


def _update_index(out: Path, name: str, results: dict, folders: list[Path]) -> None:
    """Record this export in `index.json` and regenerate `INDEX.md` from it."""
    path = out / INDEX_JSON
    index = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {"exports": {}}
    index["exports"][name] = {
        "run_id": results["run_id"], "task": results["task"], "method": results["method"],
        "model": public_base(results["model"])[0],
        "metric": results.get("metric"), "average_zero_shot": results.get("average_zero_shot"),
        "folders": [p.relative_to(out).as_posix() for p in folders],
    }  # fmt: skip
    for other in [n for n in index["exports"] if not any((out / k / n).exists() for k in KINDS)]:
        del index["exports"][other]  # deleted by hand since: the index follows the folders
    atomic_write_json(path, index)
    atomic_write_text(out / INDEX_MD, render_index(index))
