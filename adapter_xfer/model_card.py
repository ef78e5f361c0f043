"""What an export says about itself: the metadata file (`adapter_xfer.json`) and the model card.

The metadata keeps the base identity under `base_model` (so adapter_xfer's own loaders keep refusing
another base) and adds what a reader needs to reproduce or judge the artifact: run id, seed, the
training config without local paths, data sources with revisions and licences, package versions,
git commit and results. The card (`README.md`) renders the same record with Hugging Face Hub front
matter. Local paths never leave the machine: every string is scrubbed against the run's folders,
and `export.py` checks every written byte afterwards.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path, PurePath
from typing import Any

import yaml

from adapter_xfer.errors import UserError

LOCAL = "<local>"
_NONCOMMERCIAL = re.compile(r"\bNC\b|non-?commercial|research use", re.IGNORECASE)


def is_noncommercial(licence: str) -> bool:
    """Whether a licence text restricts use to non-commercial or research purposes (CC BY-NC, ...)."""
    return bool(_NONCOMMERCIAL.search(licence or ""))


def public_base(model: str) -> tuple[str, str | None]:
    """(name to show, Hub id or None) of a run's `model`: local folders show only their name."""
    from adapter_xfer.modeling import RANDOM_PREFIX, is_named_model
    from adapter_xfer.offline_models import OFFLINE_MODELS

    if model in OFFLINE_MODELS:
        return model, OFFLINE_MODELS[model].original  # a lossy copy; the card says so
    if is_named_model(model):
        return model, None  # tiny, random:<...>: built by adapter_xfer, on no Hub
    if model.startswith((".", "/", "~", RANDOM_PREFIX)) or Path(model).expanduser().is_dir():
        return PurePath(model.removeprefix(RANDOM_PREFIX)).name, None
    return model, model


def local_roots(results: dict, run_dir: Path) -> list[str]:
    """Absolute local paths the export must not contain, longest first (so replacement is greedy)."""
    from adapter_xfer.modeling import cache_root

    config = results.get("config", {})
    candidates = [run_dir, run_dir.resolve(), cache_root(), Path.home(), Path.cwd(),
                  *[config.get(k) for k in ("data_dir", "cache_dir", "output_dir")],
                  *[s.get("path") for s in results.get("stages", [])],
                  *config.get("lang_adapters", {}).get("pretrained", {}).values()]  # fmt: skip
    roots = set()
    for item in candidates:
        if item and (Path(str(item)).expanduser().is_absolute() or Path(str(item)).expanduser().exists()):
            for path in {Path(str(item)).expanduser().absolute(), Path(str(item)).expanduser().resolve()}:
                if len(str(path)) > 3:  # never "/" or "/a": those would match everywhere
                    roots.add(str(path))
    return sorted(roots, key=len, reverse=True)


def scrub(value: Any, roots: list[str]) -> Any:
    """`value` with every local path replaced: absolute paths by `<local>/<name>`, roots by `<local>`."""
    if isinstance(value, dict):
        return {k: scrub(v, roots) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v, roots) for v in value]
    if not isinstance(value, str):
        return value
    if value.startswith(("/", "~")) or re.match(r"^[A-Za-z]:[\\/]", value):
        return f"{LOCAL}/{PurePath(value).name}"
    for root in roots:
        value = value.replace(root, LOCAL)
    return value


def data_sources(results: dict, kind: str, trained: str, stage: dict | None) -> list[dict]:
    """The data an artifact was trained on (its chain included), with Hub id, revision and licence."""
    from adapter_xfer.data import local_path
    from adapter_xfer.tasks import RAW_TEXT, get_task, training_task

    data_dir = results["config"].get("data_dir")
    stages = [s for s in results.get("stages", []) if s.get("kind") == "intermediate"]
    if trained == "intermediate" and stage is not None:
        stages = stages[: [s["key"] for s in stages].index(stage["key"]) + 1]
    chain = [name for s in stages for name in s.get("tasks", [s["task"]])]  # a joint stage trains several
    if trained != "intermediate" and kind != "lang":
        chain.append(training_task(get_task(results["task"])).name)
    records = []
    for name in dict.fromkeys(chain):
        task = get_task(name)
        source = "hub"
        if data_dir:
            try:
                source = f"local files: {local_path(task, 'en', 'train', data_dir).relative_to(data_dir).as_posix()}"
            except (UserError, ValueError, OSError):
                source = "local files"
        records.append({"task": name, "hub_id": task.hub.path, "hub_config": task.hub.config.format(lang="en"),
                        "revision": task.hub.revision or "main (not pinned)", "license": task.license,
                        "source": source})  # fmt: skip
    if kind in ("lang", "setup"):
        lang = stage.get("language", "en") if stage else "en"
        local = RAW_TEXT.local_file.format(lang=lang)
        records.append({"task": f"raw text ({lang})", "hub_id": RAW_TEXT.hub_path,
                        "hub_config": RAW_TEXT.hub_config.format(lang=lang), "revision": "main (not pinned)",
                        "license": "CC BY-SA 4.0 / GFDL (Wikipedia)" if not data_dir else "as the local file's",
                        "source": f"local files: {local}" if data_dir else "hub"})  # fmt: skip
    return records


def export_metadata(results: dict, roots: list[str], *, kind: str, adapter: str, export_name: str,
                    trained: str = "", stage: dict | None = None, **extra: Any) -> dict:  # fmt: skip
    """The `adapter_xfer.json` of one export folder (no local paths)."""
    config = copy.deepcopy(results["config"])
    for key in ("output_dir", "cache_dir"):  # where things lived on the training machine: nobody else's concern
        config.pop(key, None)
    if config.get("data_dir"):
        config["data_dir"] = LOCAL
    name, hub_id = public_base(results["model"])
    if kind == "lang" or trained == "intermediate":
        scores = {"stage": {k: v for k, v in (stage or {}).items() if k != "path"}}
    else:
        scores = {k: results.get(k) for k in ("metric", "per_language", "average", "average_zero_shot")}
    record = {
        "base_model": {**results["base_model"], "name": name, "hub_id": hub_id},
        "kind": kind, "name": adapter, "export_name": export_name, "trained": trained or kind,
        "run_id": results["run_id"], "task": results["task"], "method": results["method"],
        "seed": results["seed"], "intermediate": results.get("intermediate", []),
        "git_commit": results.get("git_commit"), "versions": results.get("versions", {}),
        "config": config, "data": data_sources(results, kind, trained, stage), "results": scores,
        "notes": results.get("notes", []), **extra,
    }  # fmt: skip
    return scrub(record, roots)


def _front_matter(meta: dict) -> dict:
    languages = sorted(meta["results"].get("per_language") or {}) or ["en"]
    if meta["kind"] == "lang":
        languages = [meta["language"]]
    tags = [
        "adapter-transformers",
        "adapters",
        meta.get("model_type") or "xlm-roberta",
        "adapter_xfer",
        "cross-lingual-transfer",
        {"lang": "mad-x", "fusion": "adapterfusion"}.get(meta["kind"], meta["task"]),
    ]
    matter = {"library_name": "peft" if meta.get("format") == "peft" else "adapter-transformers",
              "tags": list(dict.fromkeys(tags))}  # fmt: skip
    if meta["base_model"]["hub_id"]:
        matter["base_model"] = meta["base_model"]["hub_id"]
    matter["datasets"] = list(dict.fromkeys(d["hub_id"] for d in meta["data"]))
    matter["dataset_licenses"] = {d["hub_id"]: d["license"] for d in meta["data"]}
    matter["language"] = languages
    matter["metrics"] = [meta["results"].get("metric") or "accuracy"] if meta["kind"] != "lang" else ["perplexity"]
    return matter


def _usage(meta: dict) -> str:
    base = meta["base_model"]["hub_id"] or f"path/to/{meta['base_model']['name']}"
    name, kind, exp = meta["name"], meta["kind"], meta["export_name"]
    langs = [x for x in meta.get("lang_adapters", []) if x != "en"]
    other = langs[0] if langs else "de"  # an exported language adapter to show the zero-shot swap with
    if meta.get("format") == "peft":
        return (f'from peft import PeftModel\nfrom transformers import AutoModelForSequenceClassification\n\n'
                f'model = AutoModelForSequenceClassification.from_pretrained("{base}", num_labels=...)\n'
                f'model = PeftModel.from_pretrained(model, "task/{exp}/{name}")')  # fmt: skip
    lines = ["from adapters import AutoAdapterModel", "from adapters.composition import Stack", "",
             f'model = AutoAdapterModel.from_pretrained("{base}")']  # fmt: skip
    if kind == "setup":
        lines += [
            f'setup, head = model.load_adapter_setup("setup/{exp}", set_active=True, use_safetensors=True)',
            "# zero-shot in another language: swap its language adapter in for lang_en",
            f'model.load_adapter("lang/{exp}/lang_{other}", use_safetensors=True)',
            f'model.set_active_adapters(Stack("lang_{other}", *setup.children[1:]))',
            "model.active_head = head",
        ]
    elif kind == "fusion":
        lines += [
            f"for name in {meta['fused']!r}:",
            f'    model.load_adapter(f"task/{exp}/{{name}}", use_safetensors=True)',
            f'model.load_adapter_fusion("fusion/{exp}/{name.replace(",", "-")}", use_safetensors=True)',
            f'model.load_adapter("lang/{exp}/lang_{other}", use_safetensors=True)',
            "from adapters.composition import Fuse",
            f'model.set_active_adapters(Stack("lang_{other}", Fuse(*{meta["fused"]!r})))',
            "# the prediction head travels with the task adapter of the same name, or in setup/",
        ]
    elif kind == "lang":
        lines += [
            f'model.load_adapter("lang/{exp}/{name}", use_safetensors=True)  # no head: stack a task adapter',
            f'model.set_active_adapters(Stack("{name}", ...))  # the language adapter comes first',
        ]
    else:
        lines += [
            f'model.load_adapter("lang/{exp}/lang_{other}", use_safetensors=True)',
            f'model.load_adapter("task/{exp}/{name}", use_safetensors=True)  # with its head',
            f'model.set_active_adapters(Stack("lang_{other}", "{name}"))',
        ]
    return "\n".join(lines)


def _results_table(meta: dict) -> str:
    scores = meta["results"]
    if "stage" in scores:
        stage = scores["stage"]
        if meta["kind"] == "lang":
            m = stage.get("metrics", {})
            return (f"Held-out masked-LM loss: {m.get('mlm_loss_before', '-')} before, "
                    f"{m.get('mlm_loss_after', '-')} after training ({m.get('train_lines', '-')} lines).")  # fmt: skip
        return f"Best English dev score of the intermediate stage: {stage.get('fit', {}).get('best_metric')}."
    metric = scores.get("metric") or "accuracy"
    rows = ["| language | " + metric + " | n | split |", "|---|---|---|---|"]
    for lang, values in sorted((scores.get("per_language") or {}).items()):
        rows.append(f"| {lang} | {_number(values.get(metric))} | {values.get('n', '-')} | {values.get('split', '-')} |")
    rows.append(f"| average | {_number(scores.get('average'))} | | |")
    rows.append(f"| average zero-shot (without en) | {_number(scores.get('average_zero_shot'))} | | |")
    return "\n".join(rows)


def _title(meta: dict) -> str:
    what = {"lang": "language adapter", "task": "task adapter", "fusion": "AdapterFusion layer"}
    if meta["kind"] == "setup":
        stack = [f"Fuse({', '.join(e['fuse'])})" if isinstance(e, dict) else e for e in meta["composition"]["stack"]]
        return f"# {meta['export_name']}: Stack({', '.join(stack)}) with head {meta['head']}"
    return f"# {meta['name']}: {what[meta['kind']]} (export `{meta['export_name']}`)"


def _number(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, int | float) else "-"


def render_card(meta: dict) -> str:
    """The model card (`README.md`) of one export folder, from its metadata record."""
    front = yaml.safe_dump(_front_matter(meta), sort_keys=False, allow_unicode=True)
    base = meta["base_model"]
    data = ["| data | Hub dataset | revision | licence | used from |", "|---|---|---|---|---|"]
    data += [f"| {d['task']} | {d['hub_id']} ({d['hub_config']}) | {d['revision']} | {d['license']} | {d['source']} |"
             for d in meta["data"]]  # fmt: skip
    restricted = [d["task"] for d in meta["data"] if is_noncommercial(d["license"])]
    warning = (f"\n**Licence warning:** training data under non-commercial or research-only terms "
               f"({', '.join(restricted)}); the weights may inherit those terms.\n") if restricted else ""  # fmt: skip
    body = [
        _title(meta), "",
        f"Trained by adapter_xfer, run `{meta['run_id']}`: task `{meta['task']}`, "
        f"method `{meta['method']}`, chain {' > '.join([*meta['intermediate'], meta['task']])}, seed {meta['seed']}.",
        "", "## Usage", "", "Paths are relative to `hub_exports/`. In a Hub repository pushed by `adapter-xfer export "
        "--push`, the setup sits at the root (`load_adapter_setup(\"<repo id>\")`) and every other folder under "
        "`<kind>/<adapter>/` of a download (`huggingface_hub.snapshot_download`). Always pass `use_safetensors=True`.",
        "",
        "```python", _usage(meta), "```", "", "## Results", "", _results_table(meta), "",
        "## Training data", "", *data, warning, "## Base model", "",
        f"`{base['name']}` (config hash `{base['config_hash']}`, weights hash `{base['weights_hash']}`). "
        "Use exactly this checkpoint: `adapters` checks only tensor shapes, adapter_xfer refuses another base.", "",
        "## Reproducibility", "",
        f"Commit `{meta['git_commit']}`; packages: "
        + ", ".join(f"{k} {v}" for k, v in sorted(meta["versions"].items()))
        + ". The resolved training config (local paths removed) is in `adapter_xfer.json`.", "",
    ]  # fmt: skip
    return f"---\n{front}---\n\n" + "\n".join(body)


def render_index(index: dict) -> str:
    """`hub_exports/INDEX.md`: one row per export name (regenerated from `index.json`)."""
    rows = ["# Exports", "", "Regenerated by `adapter-xfer export`; do not edit.", "",
            "| name | run | task | method | base | avg 0-shot | folders |",
            "|---|---|---|---|---|---|---|"]  # fmt: skip
    for name, e in sorted(index["exports"].items()):
        folders = "<br>".join(f"`{f}`" for f in e["folders"])
        rows.append(f"| {name} | {e['run_id']} | {e['task']} | {e['method']} | {e['model']} | "
                    f"{_number(e.get('average_zero_shot'))} | {folders} |")  # fmt: skip
    return "\n".join(rows) + "\n"
