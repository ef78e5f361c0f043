"""Sentence and sentence-pair classification (XNLI, PAWS-X, MNLI, ...): a classification head.

Records carry `text_a` (and `text_b` for pairs) and a string `label`; predictions are label strings.
"""

from __future__ import annotations

from typing import Any

import torch

from adapter_xfer.formats import Format, pad_batch


def add_head(model, head_name: str, task) -> None:
    """A 2-layer classification head over the first token (`adapters`' default for XLM-R)."""
    model.add_classification_head(
        head_name,
        num_labels=len(task.labels),
        id2label=dict(enumerate(task.labels)),
        overwrite_ok=True,
    )


def _preprocess(records, tokenizer, task, max_length: int, pair: bool) -> list[dict[str, Any]]:
    label_ids = {label: i for i, label in enumerate(task.labels)}
    first = [r["text_a"] for r in records]
    second = [r["text_b"] for r in records] if pair else None
    encoded = tokenizer(first, second, truncation=True, max_length=max_length)
    features = []
    for index, record in enumerate(records):
        feature = {"input_ids": encoded["input_ids"][index], "example_index": index}
        if record.get("label") is not None:
            feature["labels"] = label_ids[record["label"]]
        features.append(feature)
    return features


def preprocess_pair(records, tokenizer, task, max_length: int) -> list[dict[str, Any]]:
    """Tokenise (text_a, text_b) pairs, truncating the longer side first."""
    return _preprocess(records, tokenizer, task, max_length, pair=True)


def preprocess_single(records, tokenizer, task, max_length: int) -> list[dict[str, Any]]:
    """Tokenise single sentences."""
    return _preprocess(records, tokenizer, task, max_length, pair=False)


def collate(features: list[dict[str, Any]], tokenizer) -> dict[str, torch.Tensor]:
    """Pad to the longest sequence in the batch (dynamic padding)."""
    batch = pad_batch([f["input_ids"] for f in features], tokenizer.pad_token_id)
    if "labels" in features[0]:
        batch["labels"] = torch.tensor([f["labels"] for f in features], dtype=torch.long)
    return dict(batch)


def decode(outputs: list[dict[str, torch.Tensor]], features, records, task) -> dict[Any, str]:
    """Arg-max label string per example, keyed by the example's id."""
    predicted = torch.cat([o["logits"] for o in outputs]).argmax(dim=-1).tolist()
    return {records[f["example_index"]]["id"]: task.labels[p] for f, p in zip(features, predicted, strict=True)}


def gold(records, task) -> dict[Any, str]:
    """Gold label strings keyed by id."""
    return {r["id"]: r["label"] for r in records}


PAIR_CLASSIFICATION = Format("pair_classification", add_head, preprocess_pair, collate, decode, gold)
CLASSIFICATION = Format("classification", add_head, preprocess_single, collate, decode, gold)
FORMATS = (PAIR_CLASSIFICATION, CLASSIFICATION)
