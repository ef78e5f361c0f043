"""Prediction and zero-shot evaluation: one path for every method and language.

For each language the method's composition is activated with that language's adapter (falling back
to English, with a note, when none exists), the split is predicted in length-sorted batches with
dynamic padding, and the predictions are scored by the task's metric. The same `predict` serves
English dev selection during training.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from adapter_xfer.formats import Format
from adapter_xfer.tasks import Task


@torch.no_grad()
def predict(model, fmt: Format, records, tokenizer, task: Task, max_length: int, batch_size: int) -> dict:
    """Predictions `{id: prediction}` for `records` with the currently active setup and head, in the
    records' order (batches run sorted by length; files and pipes read better in input order)."""
    model.eval()
    if fmt.predict is not None:
        return fmt.predict(model, records, tokenizer, task, max_length, batch_size)
    features = fmt.preprocess(records, tokenizer, task, max_length)
    order = sorted(range(len(features)), key=lambda i: features[i].get("length", len(features[i]["input_ids"])))
    ordered = [features[i] for i in order]
    outputs = []
    device = next(model.parameters()).device
    for start in range(0, len(ordered), batch_size):
        batch = fmt.collate(ordered[start : start + batch_size], tokenizer)
        inputs = {k: v.to(device) for k, v in batch.items() if k in ("input_ids", "attention_mask")}
        result = model(**inputs)
        outputs.append({name: getattr(result, name).float().cpu() for name in fmt.outputs})
    decoded = fmt.decode(outputs, ordered, records, task)
    in_order = {r["id"]: decoded[r["id"]] for r in records if "id" in r and r["id"] in decoded}
    return in_order | {k: v for k, v in decoded.items() if k not in in_order}


def score(task: Task, fmt: Format, predictions: dict, records, lang: str) -> dict[str, float]:
    """Score predictions against the gold of `records` with the task's metric (0-100 scale)."""
    from adapter_xfer.metrics import METRICS

    metric: Callable[..., dict[str, Any]] = METRICS[task.metric]
    golds = fmt.gold(records, task)
    return metric(predictions, golds, lang=lang) if task.metric == "mlqa" else metric(predictions, golds)


def dev_evaluator(task: Task, fmt: Format, records, tokenizer, max_length: int, batch_size: int):
    """A `fit()` callback: the main metric of `task` on English dev records."""

    def evaluate(model) -> float:
        predictions = predict(model, fmt, records, tokenizer, task, max_length, batch_size)
        metrics = score(task, fmt, predictions, records, "en")
        return metrics[main_metric(metrics, task)]

    return evaluate


def main_metric(metrics: dict[str, float], task: Task | None = None) -> str:
    """The headline metric: the task's `options["main_metric"]`, else F1, accuracy, EM or mAP@20."""
    if task is not None and task.options.get("main_metric") in metrics:
        return task.options["main_metric"]
    for name in ("f1", "accuracy", "exact_match", "map_at_20"):
        if name in metrics:
            return name
    raise KeyError(f"no headline metric in {sorted(metrics)}")


def evaluate_languages(model, method, task: Task, names: tuple, languages: list[str], available: set[str],
                       split: str, data_dir, tokenizer, max_length: int, batch_size: int,
                       max_examples: int, predictions_dir: Path) -> tuple[dict, list[str], dict]:  # fmt: skip
    """Zero-shot evaluation of `task` in every language; writes one predictions file per language.

    `names` is the adapter list above the language adapter, bottom to top (a tuple entry is a
    fusion). `split` empty means the contracts' default per language (labelled test where it exists,
    else dev). Returns `per_language` (`{lang: {metric: value, "n": ..., "split": ...}}`), notes such
    as language-adapter fallbacks, and, with a fusion, its mean attention per language
    (`{lang: {fusion: {layer: {adapter: mean}}}}`).
    """
    from adapter_xfer.data import default_eval_split, load_split
    from adapter_xfer.formats import get_format
    from adapter_xfer.fusion import recording_attention
    from adapter_xfer.io_utils import atomic_write_jsonl
    from adapter_xfer.methods import activate, adapter_name, split_top

    fmt = get_format(task.format)
    name, below = split_top(tuple(names))
    fused = any(isinstance(entry, tuple) for entry in names)
    # Retrieval reads no head; a peft model has a static one.
    head = adapter_name("task", task.name)
    head = head if head in getattr(model, "heads", {}) else None
    per_language: dict[str, dict[str, Any]] = {}
    attention: dict[str, dict] = {}
    notes: list[str] = []
    for lang in languages:
        lang_adapter = None
        if method.uses_lang_adapters:
            lang_adapter = adapter_name("lang", lang if lang in available else "en")
            if lang not in available:
                notes.append(f"{lang}: no language adapter (no raw text); evaluated with lang_en")
        activate(model, method.setup_for(lang_adapter, name, below), head)
        lang_split = split or default_eval_split(task, data_dir, lang)
        records = load_split(task, lang, lang_split, data_dir, max_examples)
        if fused:
            with recording_attention(model) as recorder:
                predictions = predict(model, fmt, records, tokenizer, task, max_length, batch_size)
            attention[lang] = recorder.means()
        else:
            predictions = predict(model, fmt, records, tokenizer, task, max_length, batch_size)
        atomic_write_jsonl(predictions_dir / f"{task.name}.{lang}.{lang_split}.jsonl",
                           [{"id": k, "prediction": v} for k, v in predictions.items()])  # fmt: skip
        metrics = score(task, fmt, predictions, records, lang)
        per_language[lang] = {**metrics, "split": lang_split}
        if fmt.notes is not None:
            notes += [f"{lang}: {note}" for note in fmt.notes(records, task)]
    return per_language, notes, attention
