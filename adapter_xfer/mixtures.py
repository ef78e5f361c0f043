"""Intermediate training on mixtures: several tasks jointly, and continued masked LM.

A mixture is one stage trained by the one `fit()`: each part (an intermediate task, or masked LM on
one language's raw text) is a `group` of features; every optimizer step draws a group with the
mixture's probabilities and trains on a batch of it. Tasks share one task adapter (or the encoder,
for full fine-tuning) and keep a head each; an MLM step runs under its language's adapter and the
MLM head. Sampling over tasks is proportional to their sizes, uniform, or tempered
(`size ** (1 / T)`); MLM takes `mlm_rate` of the steps, split evenly over its languages. English dev
selection scores every task and keeps the weights with the best mean.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from adapter_xfer.config import AdapterConfig, TrainConfig
from adapter_xfer.errors import UserError


@dataclass(frozen=True)
class MixturePlan:
    """How an intermediate stage mixes its parts (resolved from the `mixture` config section)."""

    sampling: str = "proportional"  # proportional | uniform | temperature
    temperature: float = 2.0
    mlm_rate: float = 0.0
    mlm_languages: tuple[str, ...] = ()
    mlm_probability: float = 0.15  # share of tokens masked in MLM steps


def task_weights(sizes: list[int], sampling: str, temperature: float) -> list[float]:
    """Probabilities of drawing each task: proportional to size, uniform, or `size ** (1 / T)`."""
    exponent = {"proportional": 1.0, "uniform": 0.0, "temperature": 1.0 / temperature}[sampling]
    weights = np.asarray(sizes, dtype=float) ** exponent
    return [float(w) for w in weights / weights.sum()]


def mixture_weights(sizes: list[int], plan: MixturePlan) -> list[float]:
    """Probabilities of every part: the tasks share `1 - mlm_rate`, MLM languages `mlm_rate` evenly."""
    tasks = [w * (1 - plan.mlm_rate) for w in task_weights(sizes, plan.sampling, plan.temperature)]
    languages = plan.mlm_languages if plan.mlm_rate > 0 else ()
    return tasks + ([plan.mlm_rate / len(languages)] * len(languages) if languages else [])


def _features(ctx, tasks, schedule: TrainConfig, plan: MixturePlan, tokenizer) -> tuple[list[dict], list[int]]:
    """Every part's features tagged with its group; returns them and the tasks' sizes."""
    from adapter_xfer.data import load_raw_text, load_split
    from adapter_xfer.formats import get_format
    from adapter_xfer.lang_adapters import mlm_features

    features, sizes = [], []
    for group, task in enumerate(tasks):
        records = load_split(task, "en", "train", ctx.data_dir, schedule.max_train_examples)
        part = get_format(task.format).preprocess(records, tokenizer, task, schedule.max_seq_length)
        features += [{**f, "group": group} for f in part]
        sizes.append(len(part))
    if plan.mlm_rate > 0:
        # Enough lines that an epoch holds the tasks once and MLM its share (batches cycle if short).
        per_language = math.ceil(sum(sizes) * plan.mlm_rate / (1 - plan.mlm_rate) / len(plan.mlm_languages))
        for offset, lang in enumerate(plan.mlm_languages):
            lines = load_raw_text(lang, ctx.data_dir)[:per_language]
            part = mlm_features(lines, tokenizer, schedule.max_seq_length)
            if not part:  # an empty part would silently drop out of the sampling
                raise UserError(f"mixture.mlm_languages: the raw text of '{lang}' has no usable line")
            features += [{**f, "group": len(tasks) + offset} for f in part]
    return features, sizes


def _collate(tasks, plan: MixturePlan, tokenizer):
    """Pads a one-group batch with that part's collator and records the group for the objective."""
    from adapter_xfer.formats import get_format
    from adapter_xfer.lang_adapters import mlm_collator

    formats = [get_format(task.format) for task in tasks]
    masking = mlm_collator(tokenizer, plan.mlm_probability)

    def collate(batch: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        group = batch[0]["group"]
        plain = [{k: v for k, v in f.items() if k != "group"} for f in batch]
        padded = formats[group].collate(plain, tokenizer) if group < len(formats) else masking(plain)
        return {**padded, "mix_group": torch.tensor(group)}

    return collate


def _objective(setups: list[tuple[Any, str]], n_tasks: int):
    """Activates the drawn part's setup and head, then computes its loss (MLM at masked positions)."""
    from adapter_xfer.lang_adapters import masked_lm_loss
    from adapter_xfer.methods import activate
    from adapter_xfer.train import default_loss

    def loss(model, batch: dict[str, Any]) -> torch.Tensor:
        group = int(batch.pop("mix_group"))
        activate(model, *setups[group])
        return default_loss(model, batch) if group < n_tasks else masked_lm_loss(model, batch)

    return loss


def _dev_mean(ctx, tasks, heads: list[str], setup, schedule: TrainConfig):
    """English dev selection for a mixture: the mean of every task's headline dev metric."""
    from adapter_xfer.data import load_split
    from adapter_xfer.formats import get_format
    from adapter_xfer.methods import activate
    from adapter_xfer.zero_shot import dev_evaluator

    evaluators = []
    for task, head in zip(tasks, heads, strict=True):
        dev = load_split(task, "en", "dev", ctx.data_dir, schedule.max_dev_examples)
        fmt = get_format(task.format)
        evaluators.append((dev_evaluator(task, fmt, dev, ctx.tokenizer, schedule.max_seq_length, 64), head))

    def evaluate(model) -> float:
        scores = []
        for score, head in evaluators:
            activate(model, setup, head)
            scores.append(score(model))
        return float(np.mean(scores))

    return evaluate


def train_mixture(ctx, method, tasks, schedule: TrainConfig, adapter: AdapterConfig, plan: MixturePlan | None,
                  lang_folders: dict[str, Path | None], pretrained: dict[str, str], init_from: Path | None,
                  checkpoint_dir: Path, fingerprint: str):  # fmt: skip
    """Train one intermediate stage on a mixture of `tasks` (and MLM); returns the model, its adapter
    list (bottom to top), the heads (one per task), the fit result and each part's probability."""
    from adapter_xfer.lang_adapters import mlm_head
    from adapter_xfer.methods import activate, adapter_name, is_param_of, split_top
    from adapter_xfer.stages import build_task_model
    from adapter_xfer.train import fit

    plan = plan or MixturePlan()
    heads = {adapter_name("task", task.name): task for task in tasks}
    shared = "_".join(task.name for task in tasks)  # the one task adapter every task trains
    mlm = plan.mlm_rate > 0
    model, names = build_task_model(ctx, method, shared, tasks[0], lang_folders, pretrained, init_from,
                                    adapter.chain, adapter, heads=heads, keep_mlm_head=mlm)  # fmt: skip
    name, below = split_top(names)
    head_names = list(heads)
    lang = (lambda code: adapter_name("lang", code)) if method.uses_lang_adapters else (lambda code: None)
    method.prepare(model, name, head_names[0], lang("en"), adapter, below=below)
    trained = head_names[1:]
    if mlm:
        mlm_name, fresh = mlm_head(model)  # the checkpoint's head stays frozen; a fresh one trains
        trained += [mlm_name] if fresh else []
    for param_name, param in model.named_parameters():  # every task's head trains, not only the first
        param.requires_grad |= any(is_param_of(param_name, head) for head in trained)
    english = method.setup_for(lang("en"), name, below)
    setups = [(english, head) for head in head_names]
    setups += [(method.setup_for(lang(code), name, below), mlm_name) for code in (plan.mlm_languages if mlm else ())]
    features, sizes = _features(ctx, tasks, schedule, plan, ctx.tokenizer)
    weights = mixture_weights(sizes, plan)
    result = fit(model, features, _collate(tasks, plan, ctx.tokenizer), schedule, ctx.seed,
                 loss_fn=_objective(setups, len(tasks)), evaluate=_dev_mean(ctx, tasks, head_names, english, schedule),
                 checkpoint_dir=checkpoint_dir, desc=f"{name or shared} ({method.name}, mixture)",
                 fingerprint=fingerprint, group_weights=weights)  # fmt: skip
    activate(model, english, head_names[0])
    parts = [task.name for task in tasks] + [f"mlm_{code}" for code in (plan.mlm_languages if mlm else ())]
    return model, names, head_names, result, dict(zip(parts, [round(w, 6) for w in weights], strict=True))
