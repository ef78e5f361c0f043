"""Stages and their cache: language adapters, intermediate-task stages, and the target stage.

A stage that other runs can reuse (a language adapter, an intermediate task adapter or fine-tune) is
stored under `cache_dir/stages/<kind>-<name>-<key>/`, where the key hashes everything that
determines it (base-model identity, data source, settings, seed, the stage it continues from). A
stage folder appears only when complete (built under a temporary name); its training checkpoints
live in `cache_dir/work/` so a killed stage resumes. Every saved adapter and model records the base
identity, checked on load.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from adapter_xfer.artifacts import (
    HEADS_DIR,
    artifact_adapters,
    load_adapter_into,
    load_fused,
    load_pretrained_lang_adapter,
    load_stacked,
    read_meta,
    save_task_artifact,
    write_meta,
)
from adapter_xfer.config import AdapterConfig, FusionConfig, LangAdapterConfig, TrainConfig
from adapter_xfer.data import load_raw_text, load_split, local_path, raw_text_path
from adapter_xfer.errors import UserError
from adapter_xfer.formats import get_format
from adapter_xfer.fusion import Entry, with_regularization
from adapter_xfer.io_utils import atomic_dir, atomic_write_json, file_lock, stable_hash
from adapter_xfer.lang_adapters import train_language_adapter
from adapter_xfer.methods import Method, activate, adapter_name, split_top
from adapter_xfer.mixtures import MixturePlan
from adapter_xfer.modeling import BaseIdentity, check_identity, load_model
from adapter_xfer.regimes import language_sampling_loss, translate_train_loss
from adapter_xfer.tasks import Task
from adapter_xfer.train import FitResult, default_loss, fit, process_state
from adapter_xfer.zero_shot import dev_evaluator


@dataclass(frozen=True)
class Context:
    """What every stage of one run shares (plain values, built once by the run function)."""

    checkpoint: str
    identity: BaseIdentity
    tokenizer: Any
    data_dir: str | None
    cache_dir: Path
    seed: int
    bf16: bool


def is_main_process() -> bool:
    """Whether this process writes shared files (the only one, or rank 0 of several)."""
    return process_state().is_main_process


def _wait() -> None:
    process_state().wait_for_everyone()


def data_fingerprint(paths: list[Path | None]) -> list:
    """Size and modification time of local data files, so that edited data is not served stale."""
    return [[str(p), p.stat().st_size, p.stat().st_mtime_ns] if p is not None and p.is_file() else str(p)
            for p in paths]  # fmt: skip


def stage_dir(ctx: Context, kind: str, name: str, payload: dict) -> Path:
    """The cache folder of a stage, keyed by everything that determines it."""
    key = stable_hash({"kind": kind, "name": name, "base": ctx.identity.to_dict(), "seed": ctx.seed,
                       "data": ctx.data_dir, **payload})  # fmt: skip
    return ctx.cache_dir / "stages" / f"{kind}-{name}-{key}"


def read_stage(folder: Path) -> dict:
    """A stage's record (kind, settings, metrics) and where it lives, for `results.json`."""
    record = json.loads((Path(folder) / "stage.json").read_text(encoding="utf-8"))
    return {"path": str(folder), "key": Path(folder).name, **record}


def ensure_lang_adapter(ctx: Context, lang: str, config: LangAdapterConfig) -> Path | None:
    """The folder of language adapter `lang_<lang>`, trained and cached on first use.

    Returns None when no raw text exists for `lang` locally (the caller falls back to English).
    """
    name = adapter_name("lang", lang)
    settings = {k: v for k, v in asdict(config).items() if k != "pretrained"}
    text = data_fingerprint([raw_text_path(lang, ctx.data_dir) if ctx.data_dir else None])
    folder = stage_dir(ctx, "lang", name, {"lang_adapters": settings, "bf16": ctx.bf16, "text": text})
    return build_once(folder, lambda: _train_lang_stage(ctx, lang, config, settings, folder))


def _train_lang_stage(ctx: Context, lang: str, config: LangAdapterConfig, settings: dict,
                      folder: Path) -> Path | None:  # fmt: skip
    """Train language adapter `lang_<lang>` and save its stage into `folder` (None: no raw text);
    `settings` are the recorded ones, the stage key's."""
    name = adapter_name("lang", lang)
    try:
        lines = load_raw_text(lang, ctx.data_dir, config.max_lines)
    except UserError:
        if ctx.data_dir is not None:
            return None
        raise
    model = load_model(ctx.checkpoint, keep_mlm_head=True)
    from transformers import set_seed

    set_seed(ctx.seed)
    result, metrics = train_language_adapter(
        model, ctx.tokenizer, name, lines, config, ctx.seed,
        checkpoint_dir=ctx.cache_dir / "work" / folder.name, bf16=ctx.bf16, fingerprint=folder.name,
    )  # fmt: skip
    if not result.completed:
        raise StageInterrupted(f"language adapter {name} stopped after {result.steps} steps")
    if is_main_process():
        with atomic_dir(folder) as tmp:
            model.save_adapter(str(tmp / name), name, with_head=False, use_safetensors=True)
            write_meta(tmp / name, ctx.identity, kind="lang", name=name, language=lang)
            atomic_write_json(tmp / "stage.json", {"kind": "lang", "name": name, "language": lang,
                              "settings": settings, "metrics": metrics, "fit": asdict(result)})  # fmt: skip
        shutil.rmtree(ctx.cache_dir / "work" / folder.name, ignore_errors=True)  # the stage is complete
    _wait()
    return folder


def build_once(folder: Path, build: Callable[[], Path | None]) -> Path | None:
    """`folder` when its stage is complete, else what `build()` returns.

    Runs that share a cache build a stage they both need once: the builder holds a file lock, and a
    run that waited finds the stage complete. The processes of one (multi-process) run build
    together, so only the main process takes the lock and the others wait for it at a barrier.
    """
    if (folder / "stage.json").is_file():
        return folder
    with file_lock(folder) if is_main_process() else contextlib.nullcontext():
        _wait()  # the run's other processes go on once the main process holds the lock
        return folder if (folder / "stage.json").is_file() else build()


class StageInterrupted(Exception):
    """A stage stopped early on purpose (`train.stop_after_steps`); re-running resumes it."""


def build_task_model(ctx: Context, method: Method, task_name: str, head_task: Task,
                     lang_folders: dict[str, Path | None], pretrained: dict[str, str],
                     init_from: Path | None, chain: str = "continue",
                     adapter_settings: AdapterConfig | None = None,
                     fusion: FusionConfig | None = None, fuse_from: tuple[Path, ...] = (),
                     heads: dict[str, Task] | None = None, keep_mlm_head: bool = False):  # fmt: skip
    """A model ready for a task stage: base (or a fine-tuned predecessor), language adapters, head.

    Returns the model and its adapter list, bottom to top; the last is the one to train, and the head
    is named `task_<task_name>` like it (so that `adapters` activates the head with the adapter). With
    `chain="continue"` the new adapter starts from the predecessor's; with `chain="stack"` the
    predecessor's adapters stay, frozen, below a fresh one. With `fuse_from` (method `fusion`) the
    stages' adapters are fused (the list ends with the fusion, or with a new adapter above it).
    `heads` (name -> task) replaces the one head (multi-task mixtures); `keep_mlm_head` keeps the
    checkpoint's MLM head (continued MLM).
    """
    from transformers import set_seed

    set_seed(ctx.seed)  # new adapters and heads are initialised from the global RNG
    task_adapter = adapter_name("task", task_name)
    if method.uses_peft:
        from adapter_xfer.peft_arm import build_peft_model

        peft_dir = init_from / "peft" if init_from is not None and (init_from / "peft").is_dir() else None
        return build_peft_model(ctx.checkpoint, head_task, adapter_settings, peft_dir), (task_adapter,)
    if method.trains_base and init_from is not None:
        model = _load_fine_tuned(ctx, init_from)
    else:
        model = load_model(ctx.checkpoint, keep_mlm_head=keep_mlm_head)
    if method.uses_lang_adapters:
        _load_lang_adapters(model, ctx, lang_folders, pretrained)
    below: list[Entry] = []
    if fuse_from:
        fusion = fusion or FusionConfig()
        below = [load_fused(model, list(fuse_from), ctx.identity, fusion.config)]
    elif method.uses_lang_adapters and not method.trains_base and init_from is not None:
        if chain == "stack":
            below = load_stacked(model, init_from, ctx.identity)
        else:  # continue: the new task adapter starts from the intermediate one (its head stays behind)
            source = init_from / artifact_adapters(init_from)[-1]
            check_identity(read_meta(source)["base_model"], ctx.identity, f"adapter {source}")
            model.load_adapter(str(source), load_as=task_adapter, with_head=False, use_safetensors=True)
    heads = heads or {task_adapter: head_task}
    for head in [h for h in model.heads if h not in heads and not (keep_mlm_head and h == "default")]:
        model.delete_head(head)  # predecessors' heads have served their purpose
    for head, task in heads.items():
        if head not in model.heads:
            get_format(task.format).add_head(model, head, task)
    if fuse_from and not fusion.target_adapter:
        return model, tuple(below)
    return model, (*below, task_adapter)


def build_eval_model(ctx: Context, method: Method, lang_folders: dict[str, Path | None],
                     pretrained: dict[str, str], previous: Path | None):  # fmt: skip
    """A model for evaluation-only tasks (retrieval): the encoder, language adapters, and the last
    intermediate stage's task adapters or fine-tuned encoder. Returns the model and those adapters'
    names, bottom to top (none without a chain)."""
    if method.trains_base and previous is not None:
        return _load_fine_tuned(ctx, previous), ()
    model = load_model(ctx.checkpoint)
    names: tuple[str, ...] = ()
    if method.uses_lang_adapters:
        _load_lang_adapters(model, ctx, lang_folders, pretrained)
        if previous is not None:
            names = tuple(load_stacked(model, previous, ctx.identity))
    return model, names


def _load_fine_tuned(ctx: Context, stage: Path):
    """The fully fine-tuned encoder a stage saved, checked against the run's base identity."""
    check_identity(read_meta(stage / "model")["base_model"], ctx.identity, f"model {stage}")
    return load_model(str(stage / "model"))


def _load_lang_adapters(model, ctx: Context, lang_folders: dict[str, Path | None], pretrained: dict[str, str]):
    for lang, folder in lang_folders.items():
        name = adapter_name("lang", lang)
        if lang in pretrained:
            load_pretrained_lang_adapter(model, pretrained[lang], name, ctx.identity)
        elif folder is not None:
            load_adapter_into(model, folder, name, ctx.identity)


def _training_features(ctx: Context, data: Task, schedule: TrainConfig, languages: tuple[str, ...]) -> list[dict]:
    """English train features, plus translated train files per language, each tagged with its group."""
    fmt, features = get_format(data.format), []
    for group, lang in enumerate(("en", *languages)):
        records = load_split(data, lang, "train", ctx.data_dir, schedule.max_train_examples)
        for feature in fmt.preprocess(records, ctx.tokenizer, data, schedule.max_seq_length):
            features.append({**feature, "group": group} if languages else feature)
    return features


def train_task(ctx: Context, method: Method, task: Task, train_data: Task, schedule: TrainConfig,
               adapter: AdapterConfig, lang_folders: dict[str, Path | None], pretrained: dict[str, str],
               init_from: Path | None, checkpoint_dir: Path, fingerprint: str,
               translations: tuple[str, ...] = (), fusion: FusionConfig | None = None,
               fuse_from: tuple[Path, ...] = ()) -> tuple[Any, tuple[Entry, ...], FitResult]:  # fmt: skip
    """Train `method` for `task` on the English train split of `train_data`, selecting on its dev.

    Returns the trained model (best dev weights loaded), its adapter list bottom to top (the top is
    the trained adapter or fusion; the head is `task_<task>`) and the fit result.
    """
    fmt = get_format(train_data.format)
    model, names = build_task_model(ctx, method, task.name, train_data, lang_folders, pretrained, init_from,
                                    adapter.chain, adapter, fusion, fuse_from)  # fmt: skip
    name, below = split_top(names)
    head = adapter_name("task", task.name)
    lang_en = adapter_name("lang", "en") if method.uses_lang_adapters else None
    method.prepare(model, name, head, lang_en, adapter, below=below)
    dev = load_split(train_data, "en", "dev", ctx.data_dir, schedule.max_dev_examples)
    features = _training_features(ctx, train_data, schedule, translations)
    collate = lambda batch: fmt.collate(batch, ctx.tokenizer)  # noqa: E731
    evaluate = dev_evaluator(train_data, fmt, dev, ctx.tokenizer, schedule.max_seq_length, 64)
    loss_fn = default_loss
    if adapter.train_languages and method.uses_lang_adapters:
        languages = [adapter_name("lang", lang) for lang in adapter.train_languages]
        if missing := [n for n in languages if n not in model.adapters_config.adapters]:
            raise UserError(f"adapter.train_languages: no language adapter {missing[0]} (no raw text?)")
        loss_fn = language_sampling_loss(languages, lambda lang: method.setup_for(lang, name, below))
    if translations:  # translate-train: one language per batch, each under its own adapter
        langs = [adapter_name("lang", lang) if method.uses_lang_adapters else None for lang in ("en", *translations)]
        loss_fn = translate_train_loss(langs, lambda lang: method.setup_for(lang, name, below))
        collate = lambda batch: {**fmt.collate(batch, ctx.tokenizer),  # noqa: E731
                                 "lang_group": torch.tensor(batch[0]["group"])}  # fmt: skip
    if method.fuses:
        loss_fn = with_regularization(loss_fn)
    result = fit(model, features, collate, schedule, ctx.seed, loss_fn=loss_fn,
                 evaluate=evaluate, checkpoint_dir=checkpoint_dir, desc=f"{name or head} ({method.name})",
                 fingerprint=fingerprint)  # fmt: skip
    activate(model, method.setup_for(lang_en, name, below), head)
    return model, names, result


def ensure_intermediate(ctx: Context, method: Method, tasks: tuple[Task, ...], schedule: TrainConfig,
                        adapter: AdapterConfig, lang_folders: dict[str, Path | None],
                        pretrained: dict[str, str], init_from: Path | None,
                        mixture: MixturePlan | None = None) -> Path:  # fmt: skip
    """An English intermediate stage (cached): a task adapter + head, or a full fine-tune.

    Several `tasks` train jointly (a shared adapter or encoder, a head per task), and a `mixture`
    with an MLM rate mixes masked LM on raw text in; one task without MLM is the plain stage.
    """
    mixed = len(tasks) > 1 or (mixture is not None and mixture.mlm_rate > 0)
    # How a stage is checkpointed or interrupted does not change what it learns.
    settings = {k: v for k, v in asdict(schedule).items() if k not in ("stop_after_steps", "save_steps")}
    files = [local_path(t, "en", split, ctx.data_dir) for t in tasks for split in ("train", "dev")]
    if mixed and mixture is not None and mixture.mlm_rate > 0:
        files += [raw_text_path(lang, ctx.data_dir) for lang in mixture.mlm_languages]
    payload = {"method": method.name, "schedule": settings, "adapter": asdict(adapter),
               "data": data_fingerprint(files if ctx.data_dir else []), "lang_en": str(lang_folders.get("en")),
               "pretrained": pretrained, "init_from": str(init_from),
               **({"mixture": asdict(mixture), "tasks": [t.name for t in tasks]} if mixed else {})}  # fmt: skip
    label = "_".join(t.name for t in tasks)
    folder = stage_dir(ctx, "intermediate", f"{label}-{method.name}", payload)
    build = lambda: _train_intermediate_stage(ctx, method, tasks, schedule, adapter, lang_folders,  # noqa: E731
                                              pretrained, init_from, (mixture or MixturePlan()) if mixed else None,
                                              folder)  # fmt: skip
    return build_once(folder, build)


def _train_intermediate_stage(ctx: Context, method: Method, tasks: tuple[Task, ...], schedule: TrainConfig,
                              adapter: AdapterConfig, lang_folders: dict[str, Path | None],
                              pretrained: dict[str, str], init_from: Path | None, mixture: MixturePlan | None,
                              folder: Path) -> Path:  # fmt: skip
    """Train an intermediate stage and save it into `folder`: a mixture when `mixture` is given (joint
    tasks, masked LM mixed in), else the plain one-task stage."""
    mixed, label = mixture is not None, "_".join(t.name for t in tasks)
    work = ctx.cache_dir / "work" / folder.name
    record: dict[str, Any] = {"kind": "intermediate", "task": label, "method": method.name}
    if mixed:
        from adapter_xfer.mixtures import train_mixture

        model, names, heads, result, weights = train_mixture(
            ctx, method, tasks, schedule, adapter, mixture, lang_folders, pretrained, init_from, work, folder.name
        )
        record |= {"tasks": [t.name for t in tasks], "mixture": asdict(mixture), "weights": weights}
    else:
        model, names, result = train_task(ctx, method, tasks[0], tasks[0], schedule, adapter, lang_folders,
                                          pretrained, init_from, work, folder.name)  # fmt: skip
        heads = [adapter_name("task", tasks[0].name)]
    if not result.completed:
        raise StageInterrupted(f"intermediate stage {label} stopped after {result.steps} steps")
    if is_main_process():
        with atomic_dir(folder) as tmp:
            save_task_artifact(model, method, names, tmp, ctx.identity, heads[0], task=label,
                               labels=list(tasks[0].labels))  # fmt: skip
            if not method.trains_base:  # a mixture's other heads (a saved full model holds them all)
                for head in heads[1:]:
                    (tmp / HEADS_DIR).mkdir(exist_ok=True)
                    model.save_head(str(tmp / HEADS_DIR / head), head, use_safetensors=True)
                    write_meta(tmp / HEADS_DIR / head, ctx.identity, kind="head", name=head, task=label)
            atomic_write_json(tmp / "stage.json", {**record, "heads": heads, "fit": asdict(result)})
        shutil.rmtree(work, ignore_errors=True)  # the stage is complete
    _wait()
    return folder
