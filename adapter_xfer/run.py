"""The top-level run functions: with `plan.py`, the only library code that sees an `ExperimentConfig`.

`train_run` walks one experiment through its stages (language adapters, English intermediate
stages, target training on English, zero-shot evaluation in every language) and writes one run
folder; `eval_run` re-evaluates a finished run into a new folder. `plan.validate` checks a config
without loading any model.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from adapter_xfer.artifacts import save_task_artifact
from adapter_xfer.config import ExperimentConfig, config_from_dict, config_to_dict
from adapter_xfer.errors import UserError
from adapter_xfer.formats import get_format
from adapter_xfer.io_utils import atomic_dir, stable_hash
from adapter_xfer.methods import Method, adapter_name, get_method
from adapter_xfer.modeling import base_identity, load_model, load_tokenizer, resolve_checkpoint
from adapter_xfer.peft_arm import NOTE as PEFT_NOTE
from adapter_xfer.plan import (
    adapter_languages,
    intermediate_steps,
    mixture_plan,
    stage_method,
    validate,
)
from adapter_xfer.results import RESULTS_FILE, averages, git_commit, read_results, versions, write_results
from adapter_xfer.stages import (
    Context,
    StageInterrupted,
    build_eval_model,
    build_task_model,
    ensure_intermediate,
    ensure_lang_adapter,
    is_main_process,
    read_stage,
    train_task,
)  # fmt: skip
from adapter_xfer.tasks import Task, get_task, training_task
from adapter_xfer.zero_shot import evaluate_languages, main_metric


@dataclass(frozen=True)
class RunOutcome:
    """Where a run went and whether it finished (a stopped run resumes when started again)."""

    run_dir: Path
    completed: bool
    message: str


def default_output_dir(config: ExperimentConfig) -> Path:
    """`runs/<chain>-<method>-<model>-s<seed>` when `output_dir` is empty."""
    chain = "-".join([*config.intermediate, config.task])
    return Path("runs") / f"{chain}-{config.method}-{config.model.replace('/', '_')}-s{config.seed}"


def _context(config: ExperimentConfig) -> Context:
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    checkpoint = resolve_checkpoint(config.model)
    identity = base_identity(load_model(checkpoint), config.model)
    data_dir = str(Path(config.data_dir).resolve()) if config.data_dir else None
    return Context(checkpoint, identity, load_tokenizer(checkpoint), data_dir,
                   Path(config.cache_dir).resolve(), config.seed, config.train.bf16)  # fmt: skip


def _lang_folders(ctx: Context, config: ExperimentConfig, langs: list[str]) -> dict[str, Path | None]:
    return {
        lang: None if lang in config.lang_adapters.pretrained else ensure_lang_adapter(ctx, lang, config.lang_adapters)
        for lang in langs
    }


def run_fingerprint(config: ExperimentConfig) -> str:
    """What a run's checkpoint must match to be resumed: the config, less how it is interrupted."""
    settings = config_to_dict(config)
    settings["train"].pop("stop_after_steps")
    settings.pop("threads")
    return stable_hash(settings)


def train_run(config: ExperimentConfig) -> RunOutcome:
    """Run every stage of `config` and write its run folder (resuming a stopped run)."""
    started = time.perf_counter()
    validate(config)
    task, method = get_task(config.task), get_method(config.method)
    run_dir = Path(config.output_dir) if config.output_dir else default_output_dir(config)
    if (run_dir / RESULTS_FILE).is_file():
        raise UserError(f"{run_dir} already holds a finished run; choose another output_dir")
    ctx = _context(config)
    pretrained = dict(config.lang_adapters.pretrained)
    chain: list[Path] = []
    try:
        lang_folders = _lang_folders(ctx, config, adapter_languages(config, task, method))
        if method.uses_lang_adapters and lang_folders.get("en") is None and "en" not in pretrained:
            raise UserError("no English raw text for the English language adapter (raw_text/en.txt)")
        plan = mixture_plan(config, task)
        for step in intermediate_steps(config, task):  # fusion: each stage apart; else each continues the last
            after = chain[-1] if chain and not method.fuses else None
            tasks = tuple(get_task(n) for n in step)
            chain.append(ensure_intermediate(ctx, stage_method(method), tasks, config.train, config.adapter,
                                             lang_folders, pretrained, after, plan))  # fmt: skip
        previous = chain[-1] if chain and not method.fuses else None
        if get_format(task.format).trainable:
            model, names, fit_result = train_task(ctx, method, task, training_task(task), config.train,
                                                 config.adapter, lang_folders, pretrained, previous,
                                                 run_dir / "checkpoint", run_fingerprint(config),
                                                 config.translate_train, config.fusion,
                                                 tuple(chain) if method.fuses else ())  # fmt: skip
        else:  # retrieval: evaluate whatever the chain produced (or the bare encoder + language adapters)
            model, names = build_eval_model(ctx, method, lang_folders, pretrained, previous)
            fit_result = None
    except StageInterrupted as stop:
        return RunOutcome(run_dir, False, f"{stop}; run the same command again to resume")
    if fit_result is not None and not fit_result.completed:
        return RunOutcome(run_dir, False, f"stopped after {fit_result.steps} of {fit_result.total_steps} "
                          "steps; run the same command again to resume")  # fmt: skip
    if is_main_process():
        if fit_result is not None:
            with atomic_dir(run_dir / "artifacts") as tmp:  # a run folder never holds half an artifact
                save_task_artifact(model, method, names, tmp, ctx.identity, adapter_name("task", task.name),
                                   task=task.name)  # fmt: skip
        results = _evaluate(ctx, config, model, method, task, names, lang_folders, run_dir)
        results.update(
            trainable_params=fit_result.trainable_params if fit_result else 0,
            fit={"steps": fit_result.steps, "best_dev": fit_result.best_metric, "history": fit_result.history}
            if fit_result else None,
            stages=[read_stage(f) for f in [*lang_folders.values(), *chain] if f is not None],
            wall_time_s=round(time.perf_counter() - started, 2),
        )  # fmt: skip
        write_results(run_dir, results)
        shutil.rmtree(run_dir / "checkpoint", ignore_errors=True)
    return RunOutcome(run_dir, True, f"wrote {run_dir / RESULTS_FILE}")


def _evaluate(ctx: Context, config: ExperimentConfig, model, method: Method, task: Task, names: tuple,
              lang_folders: dict[str, Path | None], run_dir: Path) -> dict:  # fmt: skip
    """Zero-shot evaluation in every language + the common fields of `results.json`."""
    from adapter_xfer.train import process_state

    model.to(process_state().device)  # a freshly assembled eval model starts on the CPU
    split = config.eval.split  # empty: the default per language
    available = {lang for lang, f in lang_folders.items() if f is not None} | set(config.lang_adapters.pretrained)
    per_language, notes, attention = evaluate_languages(
        model, method, task, names, list(config.eval.languages or task.languages), available, split,
        ctx.data_dir, ctx.tokenizer, config.train.max_seq_length, config.eval.batch_size,
        config.eval.max_examples, run_dir / "predictions",
    )  # fmt: skip
    metric = main_metric(next(iter(per_language.values())), task)
    average, zero_shot = averages(per_language, metric, task.source_language)
    return {
        "run_id": f"{run_dir.name}-{stable_hash(config_to_dict(config), 8)}",
        "task": task.name, "method": method.name, "model": config.model, "seed": config.seed,
        "intermediate": list(config.intermediate), "metric": metric, "config": config_to_dict(config),
        "base_model": ctx.identity.to_dict(), "versions": versions(), "git_commit": git_commit(),
        "total_params": sum(p.numel() for p in model.parameters()),
        "per_language": per_language, "average": average, "average_zero_shot": zero_shot,
        "notes": ([PEFT_NOTE] if method.uses_peft else []) + notes,
        "lang_adapters": _lang_adapter_sources(config, lang_folders),
        "task_adapters": [list(e) if isinstance(e, tuple) else e for e in names],  # above the language adapter
        **({"fusion_attention": attention} if attention else {}),
    }  # fmt: skip


def _lang_adapter_sources(config: ExperimentConfig, lang_folders: dict[str, Path | None]) -> dict[str, str]:
    """Where each language adapter came from: a trained stage, a pretrained source, or none."""
    sources = {}
    for lang, folder in lang_folders.items():
        if lang in config.lang_adapters.pretrained:
            sources[lang] = f"pretrained: {config.lang_adapters.pretrained[lang]}"
        else:
            sources[lang] = f"trained: {folder.name}" if folder else "none (lang_en used)"
    return sources


def eval_run(run_dir: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> RunOutcome:
    """Re-evaluate a finished run's setup (e.g. other languages or splits) into a new run folder."""
    started = time.perf_counter()
    source = read_results(run_dir)
    run_dir = Path(run_dir)
    config = config_from_dict(source["config"], overrides, str(run_dir / RESULTS_FILE))
    if config.output_dir != source["config"]["output_dir"]:
        out = Path(config.output_dir)
        if out.exists():
            raise UserError(f"{out} already exists; eval never overwrites a run folder")
    else:
        n = 1
        while (out := run_dir.parent / f"{run_dir.name}-eval{n}").exists():
            n += 1
    task, method = get_task(config.task), get_method(config.method)
    ctx = _context(config)
    lang_folders = _lang_folders(ctx, config, adapter_languages(config, task, method))
    head_task, artifacts = training_task(task), run_dir / "artifacts"
    pretrained = dict(config.lang_adapters.pretrained)
    if not get_format(task.format).trainable:
        chain = [Path(s["path"]) for s in source.get("stages", []) if s.get("kind") == "intermediate"]
        model, names = build_eval_model(ctx, method, lang_folders, pretrained, chain[-1] if chain else None)
    elif method.trains_base or method.uses_peft:
        model, names = build_task_model(ctx, method, task.name, head_task, {}, {}, artifacts,
                                        adapter_settings=config.adapter)  # fmt: skip
    else:  # the run's task adapters (and their order) with the top one's head
        model, names = build_eval_model(ctx, method, lang_folders, pretrained, artifacts)
    results = _evaluate(ctx, config, model, method, task, names, lang_folders, out)
    results.update(trainable_params=source["trainable_params"], source_run=str(run_dir),
                   stages=source.get("stages", []), wall_time_s=round(time.perf_counter() - started, 2))  # fmt: skip
    write_results(out, results)
    return RunOutcome(out, True, f"wrote {out / RESULTS_FILE}")
