"""Reader for SQuAD-style JSON (SQuAD v1.1/v2.0, XQuAD, MLQA, TyDiQA-GoldP): one row per question.

The files nest questions in paragraphs in articles:
`{"data": [{"title", "paragraphs": [{"context", "qas": [{"id", "question", "answers": [{"text",
"answer_start"}], "is_impossible"?}]}]}]}`. Each question becomes one flat row with the columns
`id`, `title`, `context`, `question`, `answers` (answer texts), `answer_starts` (character offsets into
`context`) and `is_impossible`, in file order. The row's location (`data[3].paragraphs[1].qas[0]`)
stands in for a line number in error messages.

Answers whose text is empty are dropped: an empty span is no answer (the SQuAD v2.0 scorer drops them
too), and some redistributed files blank their gold this way (e.g. TyDiQA-GoldP dev files with every
answer `{"text": "", "answer_start": 0}`), which must read as unlabelled rather than as gold `""`.
SQuAD v2.0's `plausible_answers` of unanswerable questions are not answers and are ignored.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from adapter_xfer.errors import UserError


def _load_json(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            document = json.load(handle)
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(document, dict) or not isinstance(document.get("data"), list):
        raise UserError(f"{path}: not a SQuAD-style file (no top-level 'data' list)")
    return document


def _question_row(qa: dict[str, Any], context: str, title: str, where: str) -> dict[str, Any]:
    """One flat row for a question; answers outside the context are data errors."""
    texts, starts = [], []
    for number, answer in enumerate(qa.get("answers") or []):
        text, start = answer.get("text"), answer.get("answer_start")
        if not isinstance(text, str) or not isinstance(start, int):
            raise UserError(f"{where}.answers[{number}]: needs a string 'text' and an integer 'answer_start'")
        if not text:
            continue  # an empty span is no answer (see the module docstring)
        if not 0 <= start <= len(context) - len(text):
            raise UserError(f"{where}.answers[{number}]: answer_start {start} lies outside the context")
        texts.append(text)
        starts.append(start)
    row = {"title": title, "context": context, "answers": texts, "answer_starts": starts,
           "is_impossible": bool(qa.get("is_impossible", False))}  # fmt: skip
    for key in ("id", "question"):
        if key in qa:
            row[key] = qa[key]
    return row


def read_squad(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """SQuAD-style JSON: `(location, row)` per question, in file order.

    Raises:
        UserError: invalid JSON, a file without the SQuAD structure, or a malformed answer; the
            message names the file and the question's location.
    """
    document = _load_json(Path(path))
    for a, article in enumerate(document["data"]):
        title = article.get("title", "") if isinstance(article, dict) else ""
        paragraphs = article.get("paragraphs") if isinstance(article, dict) else None
        if not isinstance(paragraphs, list):
            raise UserError(f"{path}:data[{a}]: no 'paragraphs' list")
        for p, paragraph in enumerate(paragraphs):
            context = paragraph.get("context")
            if not isinstance(context, str):
                raise UserError(f"{path}:data[{a}].paragraphs[{p}]: no 'context' string")
            for q, qa in enumerate(paragraph.get("qas") or []):
                where = f"data[{a}].paragraphs[{p}].qas[{q}]"
                yield where, _question_row(qa, context, title, f"{path}:{where}")


READERS = {"squad_json": read_squad}
