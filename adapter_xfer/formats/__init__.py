"""The format table: one record of functions per task format.

A format knows how to add its prediction head, turn canonical records into model features, pad a
batch, decode model outputs into predictions (the contracts' predictions format), and read gold
answers. Tasks pick a format by name in the task table; adding a task of an existing format costs
one table entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from adapter_xfer.errors import UserError


@dataclass(frozen=True)
class Format:
    """Functions that make a task format work end to end.

    Every function receives the `Task` entry, so per-task facts (labels, choices, stride, layer)
    come from the task table rather than from the format.

    Attributes:
        name: format name used in the task table.
        add_head: `(model, head_name, task) -> None` adds the flex head (no-op without a head).
        preprocess: `(records, tokenizer, task, max_length) -> list[feature]`; every feature has
            `input_ids` and `example_index`, and, when the records carry gold, the training targets.
        collate: `(features, tokenizer) -> dict of tensors` with dynamic padding.
        decode: `(outputs, features, records, task) -> {id: prediction}` where `outputs` is a list of
            per-batch dicts holding the model-output fields named in `outputs`.
        gold: `(records, task) -> {id: gold}` in the form the task's metric expects.
        outputs: model-output fields `predict` collects (e.g. `logits`, `start_logits`).
        predict: optional whole-split prediction `(model, records, tokenizer, task, max_length,
            batch_size) -> {id: prediction}` for formats that do not predict through a head (retrieval).
        trainable: False for evaluation-only formats (retrieval): they have no training stage.
        notes: optional `(records, task) -> list[str]` of remarks for `results.json` (e.g. a BUCC
            threshold tuned on the evaluated split itself).
    """

    name: str
    add_head: Callable[..., None]
    preprocess: Callable[..., list[dict[str, Any]]]
    collate: Callable[..., dict[str, Any]]
    decode: Callable[..., dict[Any, Any]]
    gold: Callable[..., dict[Any, Any]]
    outputs: tuple[str, ...] = ("logits",)
    predict: Callable[..., dict[Any, Any]] | None = None
    trainable: bool = True
    notes: Callable[..., list[str]] | None = None


def pad_batch(sequences: list[list[int]], pad_id: int, value_key: str = "input_ids") -> dict[str, Any]:
    """Right-pad token id lists to the longest one; returns `input_ids` and `attention_mask` tensors."""
    import torch

    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, sequence in enumerate(sequences):
        ids[row, : len(sequence)] = torch.tensor(sequence, dtype=torch.long)
        mask[row, : len(sequence)] = 1
    return {value_key: ids, "attention_mask": mask}


# Each module lists its formats in `FORMATS`; a new format is a new module named here.
FORMAT_MODULES = ("classification", "multiple_choice", "span_qa", "tagging", "retrieval")


def _build_table() -> dict[str, Format]:
    import importlib

    table: dict[str, Format] = {}
    for module in FORMAT_MODULES:
        for fmt in importlib.import_module(f"adapter_xfer.formats.{module}").FORMATS:
            table[fmt.name] = fmt
    return table


FORMATS: dict[str, Format] = _build_table()


def get_format(name: str) -> Format:
    """Look a format up by name."""
    try:
        return FORMATS[name]
    except KeyError:
        raise UserError(f"unknown format '{name}' (known: {', '.join(sorted(FORMATS))})") from None
