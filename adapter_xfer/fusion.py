"""AdapterFusion: intermediate task adapters, trained independently, combined under a language adapter.

The composition is `Stack(lang_xx, Fuse(task_a, task_b, ...))`, optionally with a new target adapter
on top (`Stack(lang_xx, Fuse(...), task_target)`). Only the fusion layer, the optional target adapter
and the head train; the fused adapters, the language adapter and the encoder stay frozen.

Inside a model, a fusion keeps `adapters`' own name (`task_a,task_b`); in the project's adapter lists
(bottom to top) it is a tuple of the fused adapters' names. Two things `adapters` does only inside its
own trainer are done here for the one `fit()`: the value-matrix regularisation of dynamic fusion is
added to the loss, and the attention the fusion pays to each adapter is recorded at evaluation.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from adapters.composition import Fuse

from adapter_xfer.train import LossFn

Entry = str | tuple[str, ...]  # an adapter, or the adapters a fusion layer combines


def fusion_name(fused: tuple[str, ...]) -> str:
    """`adapters`' own name of a fusion layer (its trainer finds fusions on resume by the comma)."""
    return ",".join(fused)


def to_block(entry: Entry):
    """An entry of an adapter list as an `adapters` composition block."""
    return Fuse(*entry) if isinstance(entry, tuple) else entry


def module_names(entries: tuple[Entry, ...]) -> list[str]:
    """The names under which the entries' weights live in the model (fusions by their own name)."""
    return [fusion_name(e) if isinstance(e, tuple) else e for e in entries]


def add_fusion(model, fused: tuple[str, ...], config: str) -> None:
    """Add the fusion layer over `fused` (config `dynamic` or `static`) unless the model has it."""
    if fusion_name(fused) not in model.adapters_config.fusions:
        model.add_adapter_fusion(Fuse(*fused), config=config)


def with_regularization(loss_fn: LossFn) -> LossFn:
    """The objective plus the fusion value-matrix regularisation (`adapters` adds it only in its own
    trainer; dynamic fusion initialises values to the identity and keeps them near it)."""

    def loss(model, batch: dict[str, Any]) -> torch.Tensor:
        value = loss_fn(model, batch)
        regularization = model.get_fusion_regularization_loss()
        return value if regularization is None else value + regularization

    return loss


class AttentionRecorder:
    """Sums of fusion attention per (fusion, layer, adapter) over evaluation examples.

    Each model input contributes the mean over its non-padding tokens, so long and short inputs count
    alike; `means()` divides by the number of inputs. A model input is an example for classification
    and tagging, one choice for multiple choice, one window for QA over long contexts.
    """

    def __init__(self) -> None:
        self.sums: dict[str, dict[int, torch.Tensor]] = {}
        self.examples: dict[str, dict[int, int]] = {}

    def add(self, attentions: dict, attention_mask: torch.Tensor | None) -> None:
        for fusion, layers in attentions.items():
            for layer, values in layers.items():
                weights = torch.as_tensor(values["output_adapter"]).float()  # (examples, tokens, adapters)
                weights = weights.reshape(-1, *weights.shape[-2:])
                if attention_mask is None:
                    mask = torch.ones(weights.shape[:2])
                else:
                    mask = attention_mask.reshape(-1, attention_mask.shape[-1])[:, : weights.shape[1]].float()
                per_example = (weights * mask.cpu()[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
                sums = self.sums.setdefault(fusion, {})
                sums[int(layer)] = sums.get(int(layer), 0) + per_example.sum(0)
                counts = self.examples.setdefault(fusion, {})
                counts[int(layer)] = counts.get(int(layer), 0) + per_example.shape[0]

    def means(self) -> dict[str, dict[str, dict[str, float]]]:
        """`{fusion: {layer: {adapter: mean attention}}}` (layers as strings, for JSON)."""
        out: dict[str, dict[str, dict[str, float]]] = {}
        for fusion, layers in self.sums.items():
            adapters = fusion.split(",")
            out[fusion] = {
                str(layer): {
                    a: round(float(v) / self.examples[fusion][layer], 6) for a, v in zip(adapters, total, strict=True)
                }
                for layer, total in sorted(layers.items())
            }
        return out


@contextmanager
def recording_attention(model) -> Iterator[AttentionRecorder]:
    """Record fusion attention over every forward pass of `model` inside the block.

    Hooks ask the model for its fusion attentions and collect them with the batch's attention
    mask, so predictions run through the one unchanged prediction path.
    """
    recorder = AttentionRecorder()

    def ask(module, args, kwargs):
        return args, {**kwargs, "output_adapter_fusion_attentions": True}

    def collect(module, args, kwargs, output):
        attentions = getattr(output, "adapter_fusion_attentions", None)
        if attentions:
            recorder.add(attentions, kwargs.get("attention_mask"))

    handles = [model.register_forward_pre_hook(ask, with_kwargs=True),
               model.register_forward_hook(collect, with_kwargs=True)]  # fmt: skip
    try:
        yield recorder
    finally:
        for handle in handles:
            handle.remove()
