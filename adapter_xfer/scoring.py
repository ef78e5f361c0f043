"""`score`: a predictions file (the contracts' JSONL format) against the gold of a task split."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from adapter_xfer.data import default_eval_split, load_split
from adapter_xfer.errors import UserError
from adapter_xfer.formats import get_format
from adapter_xfer.io_utils import read_jsonl
from adapter_xfer.tasks import get_task
from adapter_xfer.zero_shot import score


def read_predictions(path: str | Path) -> dict[Any, Any]:
    """`{id: prediction}` from a predictions JSONL file (`-`: stdin, so `predict | score` works);
    duplicate or missing keys are errors."""
    if str(path) == "-":
        from adapter_xfer.pipeline import read_inputs

        rows = read_inputs("-")
    elif not Path(path).is_file():
        raise UserError(f"predictions file not found: {path}")
    else:
        rows = read_jsonl(path)
    predictions: dict[Any, Any] = {}
    for number, row in enumerate(rows, 1):
        if not isinstance(row, dict) or "id" not in row or "prediction" not in row:
            raise UserError(f"{path}:{number}: each line needs 'id' and 'prediction'")
        if row["id"] in predictions:
            raise UserError(f"{path}:{number}: duplicate id {row['id']!r}")
        predictions[row["id"]] = row["prediction"]
    return predictions


def score_file(task_name: str, lang: str, predictions_path: str | Path, split: str = "",
               data_dir: str | None = None, max_examples: int = 0) -> dict[str, Any]:  # fmt: skip
    """Score a predictions file; returns the metrics with `n` and `split`."""
    task = get_task(task_name)
    split = split or default_eval_split(task, data_dir, lang)
    records = load_split(task, lang, split, data_dir, max_examples)
    predictions = read_predictions(predictions_path)
    fmt = get_format(task.format)
    golds = fmt.gold(records, task)
    unknown = [k for k in predictions if k not in golds]
    if unknown:
        raise UserError(f"{predictions_path}: id {unknown[0]!r} is not in {task.name} {lang} {split}")
    try:
        metrics = score(task, fmt, predictions, records, lang)
    except ValueError as exc:  # a prediction of the wrong type or length: bad input, not a bug
        raise UserError(f"{predictions_path}: {exc}") from None
    return {**metrics, "split": split}
