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

    Attributes:
        name: format name used in the task table.
        add_head: `(model, head_name, labels) -> None` adds the flex head.
        preprocess: `(records, tokenizer, labels, max_length) -> list[feature dict]`; every feature
            has `input_ids`, `example_index` and, for training, `labels`.
        collate: `(features, tokenizer) -> dict of tensors` with dynamic padding.
        decode: `(logits tensors per batch, features, records, labels) -> {id: prediction}`.
        gold: `(records) -> {id: gold}` in the form the metric expects.
    """

    name: str
    add_head: Callable[..., None]
    preprocess: Callable[..., list[dict[str, Any]]]
    collate: Callable[..., dict[str, Any]]
    decode: Callable[..., dict[Any, Any]]
    gold: Callable[..., dict[Any, Any]]


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


def _build_table() -> dict[str, Format]:
    from adapter_xfer.formats import classification

    return {fmt.name: fmt for fmt in (classification.PAIR_CLASSIFICATION, classification.CLASSIFICATION)}


FORMATS: dict[str, Format] = _build_table()


def get_format(name: str) -> Format:
    """Look a format up by name."""
    try:
        return FORMATS[name]
    except KeyError:
        raise UserError(f"unknown format '{name}' (known: {', '.join(sorted(FORMATS))})") from None
