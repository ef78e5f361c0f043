"""The `multiple_choice` format (XCOPA, COPA, SIQA, PIQA, CommonsenseQA, Cosmos QA, HellaSwag, SWAG).

Every example is encoded once per choice as a segment pair (context side, choice side) and scored by
`adapters`' multiple-choice head, which reads the batch as (batch, choices, tokens) and returns one
logit per choice; the prediction is the 0-based index of the best choice.

Records: `id`, optional `context` and `question`, the choices either as a `choices` list (Hub
sequences such as HellaSwag's `endings`) or as numbered fields `choice0`, `choice1`, ... (datasets that
store one column per choice), and `label`. A string label is a stored code and its choice index is its
position in `task.labels` (COPA "0"/"1", SIQA "1".."3", CommonsenseQA "A".."E"); an int is the index.

Per-task options (`task.options`):
    num_choices: number of choices (default: `len(task.labels)`); the head is built with it.
    question_templates: stored question value -> text (COPA/XCOPA: "cause" -> "What was the cause of
        this?", as the XCOPA authors and jiant spell the question out); unknown values are data errors.
    question_with: "context" (default: context and question form the first segment, e.g. SIQA, Cosmos
        QA) or "choice" (the question prefixes every choice: SWAG's sent2, HellaSwag's ctx_b).
"""

from __future__ import annotations

from typing import Any

import torch

from adapter_xfer.errors import UserError
from adapter_xfer.formats import Format, pad_batch


def num_choices(task) -> int:
    """Choices per example: `task.options["num_choices"]`, else one per label code."""
    return int(task.options.get("num_choices", len(task.labels)))


def choices_of(record: dict[str, Any], count: int) -> list[str]:
    """The choice texts of `record` (a `choices` list or fields `choice0`...), checked against `count`."""
    if "choices" in record:
        choices = list(record["choices"])
    else:
        missing = [f"choice{i}" for i in range(count) if f"choice{i}" not in record]
        if missing:
            raise UserError(f"example {record.get('id')!r}: no 'choices' and no field {missing[0]}")
        choices = [record[f"choice{i}"] for i in range(count)]
    if len(choices) != count:
        raise UserError(f"example {record.get('id')!r}: {len(choices)} choices, the task has {count}")
    return [str(choice) for choice in choices]


def label_index(label: Any, task) -> int:
    """0-based gold choice of a stored label (a code in `task.labels`, or already an index)."""
    count = num_choices(task)
    if isinstance(label, int) and not isinstance(label, bool):
        index = label
    elif str(label) in task.labels:
        index = task.labels.index(str(label))
    else:
        raise UserError(f"task '{task.name}': label {label!r} is not one of {', '.join(task.labels)}")
    if not 0 <= index < count:
        raise UserError(f"task '{task.name}': label {label!r} is outside choices 0..{count - 1}")
    return index


def _join(*parts: str) -> str:
    return " ".join(part.strip() for part in parts if part and part.strip())


def segments(record: dict[str, Any], task) -> list[tuple[str, str]]:
    """The (first, second) segment pair of every choice of `record`, as the task defines them."""
    question = str(record.get("question") or "")
    templates = task.options.get("question_templates")
    if templates:
        if question not in templates:
            raise UserError(f"task '{task.name}' example {record.get('id')!r}: question {question!r} "
                            f"is not one of {', '.join(templates)}")  # fmt: skip
        question = templates[question]
    context = str(record.get("context") or "")
    choices = choices_of(record, num_choices(task))
    if task.options.get("question_with", "context") == "choice":
        return [(context, _join(question, choice)) for choice in choices]
    first = _join(context, question)
    return [(first, choice) for choice in choices]


def add_head(model, head_name: str, task) -> None:
    """`adapters`' multiple-choice head with the task's number of choices."""
    model.add_multiple_choice_head(head_name, num_choices=num_choices(task), overwrite_ok=True)


def preprocess(records, tokenizer, task, max_length: int) -> list[dict[str, Any]]:
    """One feature per example whose `input_ids` holds one token list per choice.

    `length` (the longest choice) is bookkeeping for length-sorted batching; `labels` is the gold
    choice index when the record has a label.
    """
    pairs = [segments(record, task) for record in records]
    firsts = [first for example in pairs for first, _ in example]
    seconds = [second for example in pairs for _, second in example]
    encoded = tokenizer(firsts, seconds, truncation=True, max_length=max_length)["input_ids"]
    count = num_choices(task)
    features = []
    for index, record in enumerate(records):
        ids = encoded[index * count : (index + 1) * count]
        feature: dict[str, Any] = {"input_ids": ids, "example_index": index, "length": max(map(len, ids))}
        if record.get("label") is not None:
            feature["labels"] = label_index(record["label"], task)
        features.append(feature)
    return features


def collate(features: list[dict[str, Any]], tokenizer) -> dict[str, torch.Tensor]:
    """Pad every choice of the batch to the longest one: tensors of shape (batch, choices, tokens)."""
    count = len(features[0]["input_ids"])
    flat = [ids for feature in features for ids in feature["input_ids"]]
    padded = pad_batch(flat, tokenizer.pad_token_id)
    batch = {key: value.view(len(features), count, -1) for key, value in padded.items()}
    if "labels" in features[0]:
        batch["labels"] = torch.tensor([f["labels"] for f in features], dtype=torch.long)
    return batch


def decode(outputs: list[dict[str, torch.Tensor]], features, records, task) -> dict[Any, int]:
    """Arg-max choice index per example, keyed by the example's id."""
    predicted = torch.cat([o["logits"] for o in outputs]).argmax(dim=-1).tolist()
    return {records[f["example_index"]]["id"]: int(p) for f, p in zip(features, predicted, strict=True)}


def gold(records, task) -> dict[Any, int]:
    """Gold choice indices keyed by id (records without a label have no gold)."""
    return {r["id"]: label_index(r["label"], task) for r in records if r.get("label") is not None}


MULTIPLE_CHOICE = Format("multiple_choice", add_head, preprocess, collate, decode, gold)
FORMATS = (MULTIPLE_CHOICE,)
