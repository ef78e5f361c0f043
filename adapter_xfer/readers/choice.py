"""Readers for multiple-choice files whose records are not one self-contained row.

- `jsonl_labels_lst`: PIQA's (and the original SocialIQA release's) `X.jsonl` with its gold labels in
  the line-aligned `X-labels.lst`; the label becomes the row's `label` column.
- `csqa_jsonl`: CommonsenseQA in either published shape, the original nested one
  (`{"answerKey", "id", "question": {"stem", "question_concept", "choices": [{"label", "text"}]}}`) or
  the Hugging Face export (`{"id", "question", "question_concept", "choices": {"label": [...],
  "text": [...]}, "answerKey"}`); rows come out in the export's shape, so the task maps one set of
  columns (`choices.text`) for local files and the Hub alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from adapter_xfer.errors import UserError
from adapter_xfer.readers.tables import read_jsonl


def labels_path(path: Path) -> Path:
    """`valid.jsonl` -> `valid-labels.lst` (PIQA's and SocialIQA's naming)."""
    return path.with_name(f"{path.stem}-labels.lst")


def read_jsonl_labels_lst(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """JSON lines joined line by line with the labels file; the counts must agree."""
    label_file = labels_path(path)
    if not label_file.is_file():
        raise UserError(f"labels file not found: {label_file} (needed for {path.name})")
    labels = [line.strip() for line in label_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = list(read_jsonl(path))
    if len(rows) != len(labels):
        raise UserError(f"{label_file}: {len(labels)} labels for {len(rows)} examples in {path.name}")
    for (number, row), label in zip(rows, labels, strict=True):
        yield number, {**row, "label": label}


def _csqa_row(row: dict[str, Any], where: str) -> dict[str, Any]:
    question = row.get("question")
    if isinstance(question, dict):  # the original nested release
        choices = question.get("choices") or []
        return {"id": row.get("id"), "question": question.get("stem"),
                "question_concept": question.get("question_concept"),
                "choices": {"label": [c.get("label") for c in choices], "text": [c.get("text") for c in choices]},
                "answerKey": row.get("answerKey")}  # fmt: skip
    if isinstance(question, str) and isinstance(row.get("choices"), dict):  # the Hugging Face export
        return row
    raise UserError(f"{where}: not a CommonsenseQA record (neither the original nor the exported shape)")


def read_csqa_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """CommonsenseQA JSON lines in the original or the exported shape (see the module docstring)."""
    for number, row in read_jsonl(path):
        yield number, _csqa_row(row, f"{path}:{number}")


READERS = {"jsonl_labels_lst": read_jsonl_labels_lst, "csqa_jsonl": read_csqa_jsonl}
