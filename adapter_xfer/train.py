"""The one training loop: every method, objective and stage is trained by `fit()`.

Same batches (length-grouped, dynamically padded, ordered by (seed, epoch)), same schedule (AdamW,
linear warm-up and decay), same selection (best English dev score), same checkpoints for every
method, so comparisons are fair by construction. `accelerate` supplies devices, mixed precision and
multi-process data parallelism: each optimizer step consumes one batch per process from the same
global order, and the model is wrapped together with its objective so that any loss (classification,
masked LM at masked positions only) is synchronised by DDP.

Resume is exact: data order and dropout are functions of (seed, step, rank), and a checkpoint holds
the trainable weights, the best weights so far, the optimizer and scheduler state and the history.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from adapter_xfer.config import TrainConfig
from adapter_xfer.io_utils import atomic_dir

LossFn = Callable[[nn.Module, dict[str, Any]], torch.Tensor]


@dataclass
class FitResult:
    """What a `fit()` call did."""

    completed: bool
    steps: int
    total_steps: int
    best_metric: float | None
    trainable_params: int
    history: list[dict[str, float]] = field(default_factory=list)
    wall_time_s: float = 0.0


def default_loss(model: nn.Module, batch: dict[str, Any]) -> torch.Tensor:
    """The loss the active head computes from `labels`."""
    return model(**batch).loss


class _Objective(nn.Module):
    """Model + loss in one module, so DDP synchronises whatever the objective touches."""

    def __init__(self, model: nn.Module, loss_fn: LossFn):
        super().__init__()
        self.model = model
        self.loss_fn = loss_fn

    def forward(self, **batch: Any) -> torch.Tensor:
        return self.loss_fn(self.model, batch)


def batch_order(lengths: list[int], batch_size: int, seed: int, epoch: int, groups: list[int] | None = None,
                weights: list[float] | None = None, world: int = 1) -> list[list[int]]:  # fmt: skip
    """Length-grouped batches for one epoch: shuffle, sort within mega-chunks, shuffle the batches.

    Batches hold examples of similar length (little padding) while the order stays random; with
    `groups` (the language in translate-train, the task in a multi-task mixture) no batch mixes two
    groups. With `weights` (one per group) each optimizer step draws its group with those
    probabilities, and all `world` processes take a batch of that group (cycling through a group's
    batches when it runs out); without them every batch appears once per epoch. The result is a pure
    function of its arguments.
    """
    rng = np.random.default_rng([seed, epoch])
    permutation = rng.permutation(len(lengths))
    chunk = batch_size * 50
    by_group: dict[int | None, list[list[int]]] = {}
    for group in sorted(set(groups)) if groups else [None]:
        members = [int(i) for i in permutation if groups is None or groups[i] == group]
        batches = by_group.setdefault(group, [])
        for start in range(0, len(members), chunk):
            part = sorted(members[start : start + chunk], key=lambda i: -lengths[i])
            batches += [part[j : j + batch_size] for j in range(0, len(part), batch_size)]
    everything = [b for batches in by_group.values() for b in batches]
    if weights is None:
        return [everything[i] for i in rng.permutation(len(everything))]
    names = sorted(by_group)
    queues = {g: [by_group[g][i] for i in rng.permutation(len(by_group[g]))] for g in names}
    probabilities = np.array([weights[g] for g in names], dtype=float)
    drawn = rng.choice(len(names), size=math.ceil(len(everything) / world), p=probabilities / probabilities.sum())
    taken = dict.fromkeys(names, 0)
    order = []
    for index in drawn:
        group = names[index]
        for _ in range(world):
            order.append(queues[group][taken[group] % len(queues[group])])
            taken[group] += 1
    return order


def _optimizer(model: nn.Module, schedule: TrainConfig) -> torch.optim.Optimizer:
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        if param.requires_grad:
            (no_decay if param.ndim < 2 or "LayerNorm" in name else decay).append(param)
    groups = [
        {"params": decay, "weight_decay": schedule.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    try:  # fused AdamW is several times faster than foreach on CPU too
        return torch.optim.AdamW(groups, lr=schedule.learning_rate, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.AdamW(groups, lr=schedule.learning_rate)


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """A detached copy of every trainable parameter."""
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def process_state():
    """The process group as `accelerate` sees it; on a machine without GPUs, several CPU
    processes (torchrun / accelerate launch) form a gloo group."""
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())


def _accelerator(bf16: bool, unused_parameters: bool = False):
    from accelerate import Accelerator, DistributedDataParallelKwargs
    from accelerate.state import AcceleratorState

    process_state()
    # The accelerator state is a process-wide singleton; precision may differ between stages.
    AcceleratorState._reset_state(reset_partial_state=False)
    handlers = [DistributedDataParallelKwargs(find_unused_parameters=True)] if unused_parameters else []
    return Accelerator(mixed_precision="bf16" if bf16 else "no", cpu=not torch.cuda.is_available(),
                       kwargs_handlers=handlers)  # fmt: skip


def _save_checkpoint(folder: Path, model, optimizer, scheduler, state: dict, best: dict | None) -> None:
    from safetensors.torch import save_file

    with atomic_dir(folder) as tmp:
        save_file({k: v.contiguous() for k, v in trainable_state(model).items()}, tmp / "trainable.safetensors")
        if best is not None:
            save_file({k: v.contiguous() for k, v in best.items()}, tmp / "best.safetensors")
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, tmp / "optim.pt")
        (tmp / "state.json").write_text(json.dumps(state, indent=2) + "\n")


def _load_checkpoint(folder: Path, model, optimizer, scheduler) -> tuple[dict, dict | None]:
    from safetensors.torch import load_file

    saved = load_file(folder / "trainable.safetensors")
    if set(saved) != {n for n, p in model.named_parameters() if p.requires_grad}:
        from adapter_xfer.errors import UserError

        raise UserError(f"{folder}: the checkpoint's trainable parameters differ from this model's")
    model.load_state_dict(saved, strict=False)
    best = load_file(folder / "best.safetensors") if (folder / "best.safetensors").is_file() else None
    optim = torch.load(folder / "optim.pt", weights_only=True)
    optimizer.load_state_dict(optim["optimizer"])
    scheduler.load_state_dict(optim["scheduler"])
    return json.loads((folder / "state.json").read_text()), best


class _GradientAudit:
    """Trainable means receives a gradient: anything else breaks DDP and the parameter counts.

    A plain stage is checked after its first backward pass. In a mixture each step trains one part
    (one task's head, or the MLM head), so the check waits until every part has had a step and then
    compares the union of the parameters that received a gradient with the trainable ones.
    """

    def __init__(self, groups: list[int] | None, mixture: bool):
        self.pending = set(groups) if mixture and groups else None
        self.touched: set[str] = set()
        self.done = False

    def after_backward(self, model: nn.Module, group: int | None) -> None:
        if self.done:
            return
        self.touched |= {n for n, p in model.named_parameters() if p.grad is not None}
        if self.pending is not None:
            self.pending.discard(group)
            if self.pending:
                return
        self.done = True
        missing = [n for n, p in model.named_parameters() if p.requires_grad and n not in self.touched]
        if missing:
            raise RuntimeError(f"{len(missing)} trainable parameters received no gradient, e.g. {missing[:3]}")


@dataclass(frozen=True)
class _Plan:
    """Step counts of one `fit()`: a pure function of the data size, the schedule and the world size."""

    steps_per_epoch: int
    total: int
    eval_every: int
    save_every: int

    @classmethod
    def of(cls, n_features: int, schedule: TrainConfig, world: int) -> _Plan:
        per_epoch = max(1, math.ceil(n_features / schedule.batch_size) // world)
        total = schedule.max_steps if schedule.max_steps > 0 else math.ceil(schedule.epochs * per_epoch)
        eval_every = schedule.eval_steps if schedule.eval_steps > 0 else per_epoch
        return cls(per_epoch, total, eval_every, schedule.save_steps if schedule.save_steps > 0 else eval_every)


def _resume(checkpoint: Path | None, fingerprint: str, total: int, model, optimizer, scheduler) -> tuple[dict, Any]:
    """The loop state (and best weights) to start from: fresh, or a matching checkpoint's."""
    state: dict[str, Any] = {"step": 0, "best_metric": None, "history": [], "running": [],
                             "total_steps": total, "fingerprint": fingerprint}  # fmt: skip
    if checkpoint is None or not (checkpoint / "state.json").is_file():
        return state, None
    saved = json.loads((checkpoint / "state.json").read_text())
    if saved.get("fingerprint", "") != fingerprint or saved.get("total_steps") != total:
        from adapter_xfer.errors import UserError

        raise UserError(f"{checkpoint} holds a checkpoint of a different configuration; "
                        "delete it or choose another output_dir")  # fmt: skip
    return _load_checkpoint(checkpoint, model, optimizer, scheduler)


def _select(model: nn.Module, evaluate: Callable[[nn.Module], float], state: dict) -> dict | None:
    """Score English dev, log it, and return a copy of the weights when they are the best so far."""
    model.eval()
    with torch.no_grad():
        metric = float(evaluate(model))
    model.train()
    state["history"].append({"step": state["step"], "loss": float(np.mean(state["running"])), "dev": metric})
    state["running"].clear()
    if state["best_metric"] is None or metric > state["best_metric"]:
        state["best_metric"] = metric
        return trainable_state(model)
    return None


def fit(
    model: nn.Module,
    features: list[dict[str, Any]],
    collate: Callable[[list[dict[str, Any]]], dict[str, Any]],
    schedule: TrainConfig,
    seed: int,
    *,
    loss_fn: LossFn = default_loss,
    evaluate: Callable[[nn.Module], float] | None = None,
    checkpoint_dir: str | Path | None = None,
    desc: str = "train",
    fingerprint: str = "",
    group_weights: list[float] | None = None,
) -> FitResult:
    """Train the trainable parameters of `model` on `features`.

    Args:
        model: the prepared model (its `requires_grad` flags say what trains).
        features: preprocessed examples, each with `input_ids`; an integer `group` keeps batches within
            one group (translate-train: one language per batch).
        collate: pads a list of features into a batch of tensors.
        schedule: steps or epochs, batch size, learning rate, warm-up, evaluation cadence, bf16.
        seed: fixes data order, dropout and masking (with the step and process rank).
        loss_fn: the objective `(model, batch) -> loss`.
        evaluate: English dev score (higher is better) used to select the best weights.
        checkpoint_dir: where to checkpoint; an existing checkpoint there is resumed.
        desc: progress-bar label.
        fingerprint: identifies the training being checkpointed (the caller's config hash); a
            checkpoint with another fingerprint is refused rather than silently mixed in.
        group_weights: sampling probability per `group` (multi-task mixtures). Each step then uses
            one group's head, so the other heads get no gradient in that step: DDP is told to expect
            unused parameters, and every trainable parameter must have had a gradient once every
            group has had a step.
    """
    from transformers import get_linear_schedule_with_warmup

    started = time.perf_counter()
    accelerator = _accelerator(schedule.bf16, unused_parameters=group_weights is not None)
    world, rank = accelerator.num_processes, accelerator.process_index
    lengths = [f.get("length", len(f["input_ids"])) for f in features]  # multiple choice: longest choice
    groups = [f["group"] for f in features] if features and "group" in features[0] else None
    plan = _Plan.of(len(features), schedule, world)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    optimizer = _optimizer(model, schedule)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(schedule.warmup_ratio * plan.total), plan.total)
    checkpoint = Path(checkpoint_dir) if checkpoint_dir else None
    state, best = _resume(checkpoint, fingerprint, plan.total, model, optimizer, scheduler)
    wrapped, optimizer = accelerator.prepare(_Objective(model, loss_fn), optimizer)
    bar = tqdm(total=plan.total, initial=state["step"], desc=desc, disable=not accelerator.is_main_process,
               file=sys.stderr, dynamic_ncols=True, mininterval=1.0)  # fmt: skip
    first_step, order = state["step"], (-1, [])
    audit = _GradientAudit(groups, mixture=group_weights is not None)
    model.train()
    while state["step"] < plan.total:
        epoch, within = divmod(state["step"], plan.steps_per_epoch)
        if order[0] != epoch:
            order = (epoch, batch_order(lengths, schedule.batch_size, seed, epoch, groups, group_weights, world))
        torch.manual_seed(seed * 1_000_003 + state["step"] * world + rank)  # dropout, masking: f(seed, step, rank)
        # Fewer batches in an epoch than processes (tiny data) is the one case that wraps around.
        indices = order[1][(within * world + rank) % len(order[1])]
        batch = collate([features[i] for i in indices])
        with accelerator.autocast():
            loss = wrapped(**{k: v.to(accelerator.device) for k, v in batch.items()})
        accelerator.backward(loss)
        audit.after_backward(model, groups[indices[0]] if groups else None)
        if schedule.max_grad_norm > 0:
            accelerator.clip_grad_norm_(model.parameters(), schedule.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        state["step"] += 1
        state["running"].append(float(loss.detach()))
        bar.update(1)
        bar.set_postfix(loss=f"{np.mean(state['running'][-20:]):.4f}", refresh=False)
        step = state["step"]
        if evaluate is not None and (step % plan.eval_every == 0 or step == plan.total):
            best = _select(model, evaluate, state) or best
        # Counted per invocation, so that re-running the same command always makes progress.
        stopping = 0 < schedule.stop_after_steps <= step - first_step and step < plan.total
        if checkpoint is not None and (step % plan.save_every == 0 or stopping) and step < plan.total:
            if accelerator.is_main_process:
                _save_checkpoint(checkpoint, model, optimizer, scheduler, state, best)
            accelerator.wait_for_everyone()
        if stopping:
            break
    bar.close()
    completed = state["step"] >= plan.total
    if completed:
        if best is not None:
            model.load_state_dict(best, strict=False)
        model.eval()
    return FitResult(completed, state["step"], plan.total, state["best_metric"], trainable, state["history"],
                     time.perf_counter() - started)  # fmt: skip
