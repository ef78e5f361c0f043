"""Extractive question answering (SQuAD, XQuAD, MLQA, TyDiQA-GoldP): the `span_qa` format.

Records: `{"id", "context", "question", "answers": [texts], "answer_starts": [character offsets]}`;
empty answer lists mean "no answer". Predictions: the answer text, `""` for no answer.

Preprocessing follows the BERT / `transformers` SQuAD recipe: the question first, then the context,
cut into windows of `max_length` tokens that overlap by `doc_stride` tokens (`truncation="only_second"`,
overflowing tokens). Training targets are the first and last token of the first gold answer in every
window that holds it whole; other windows, and unanswerable questions, point at the first token (CLS).
Decoding searches, per example over all of its windows, the `n_best_size` best start and end logits for
the best span inside the context with `end >= start` and at most `max_answer_length` tokens, and cuts its
text out of the context by character offsets. With `no_answer` (SQuAD v2.0) the prediction is `""` when
the null score (CLS start + end, smallest over the windows) beats the best span score by more than
`null_score_diff_threshold` (0, as the official BERT and `transformers` scripts use by default).

Per-task settings come from `task.options`; `DEFAULTS` holds the published defaults (for windows of
384 tokens). Short windows scale the stride and the question budget down to a third of the window each,
so a context window always keeps at least a third of the tokens.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from adapter_xfer.errors import UserError
from adapter_xfer.formats import Format, pad_batch

DEFAULTS: dict[str, Any] = {
    "doc_stride": 128,  # tokens shared by consecutive windows
    "max_query_length": 64,  # longer questions are cut (as BERT's run_squad does)
    "max_answer_length": 30,  # tokens
    "n_best_size": 20,
    "no_answer": False,  # SQuAD v2.0: unanswerable questions exist and "" may be predicted
    "null_score_diff_threshold": 0.0,
}
MIN_LENGTH = 16  # below this, question + stride + special tokens leave no room for the context


def option(task, name: str) -> Any:
    """A `span_qa` setting of `task` (its `options`, else the format's default)."""
    return task.options.get(name, DEFAULTS[name])


def window_settings(task, max_length: int) -> tuple[int, int]:
    """`(stride, max_query_tokens)` for windows of `max_length` tokens.

    Raises:
        UserError: `max_length` is too short for question-first windows.
    """
    if max_length < MIN_LENGTH:
        raise UserError(f"task '{task.name}': max_seq_length {max_length} is too short for QA (minimum {MIN_LENGTH})")
    return min(option(task, "doc_stride"), max_length // 3), min(option(task, "max_query_length"), max_length // 3)


def add_head(model, head_name: str, task) -> None:
    """`adapters`' question-answering head: one linear layer giving start and end logits per token."""
    model.add_qa_head(head_name, num_labels=2, layers=1, overwrite_ok=True)


def _cut_questions(questions: list[str], tokenizer, max_tokens: int) -> list[str]:
    """Questions cut to at most `max_tokens` tokens (at a token boundary, by character offsets)."""
    encoded = tokenizer(questions, add_special_tokens=False, return_offsets_mapping=True)
    return [q if len(offsets) <= max_tokens else q[: offsets[max_tokens - 1][1]]
            for q, offsets in zip(questions, encoded["offset_mapping"], strict=True)]  # fmt: skip


def answer_positions(record: dict[str, Any], offsets: list[tuple[int, int] | None]) -> tuple[int, int]:
    """Token positions of the record's first answer in one window; `(0, 0)` when it is not all inside.

    Args:
        record: a canonical record with `answers` and `answer_starts`.
        offsets: per token, its `(start, end)` characters in the context, None outside the context.
    """
    if not record["answers"]:
        return 0, 0
    start_char = record["answer_starts"][0]
    end_char = start_char + len(record["answers"][0])
    context = [i for i, span in enumerate(offsets) if span is not None]
    if not context or offsets[context[0]][0] > start_char or offsets[context[-1]][1] < end_char:
        return 0, 0
    start = next(i for i in context if offsets[i][1] > start_char)
    end = next(i for i in reversed(context) if offsets[i][0] < end_char)
    return start, end


def _trimmed(span: tuple[int, int], context: str) -> tuple[int, int]:
    """A token's character span without surrounding white space (SentencePiece's "▁" may carry the space)."""
    start, end = span
    while start < end and context[start].isspace():
        start += 1
    while end > start and context[end - 1].isspace():
        end -= 1
    return start, end


def preprocess(records, tokenizer, task, max_length: int) -> list[dict[str, Any]]:
    """Question-first windows over each context; targets when the records carry `answers`.

    Every feature holds `input_ids`, `example_index`, `offsets` (context character span per token,
    None elsewhere) and, for records with gold, `start_positions` and `end_positions`.
    """
    stride, max_query = window_settings(task, max_length)
    questions = _cut_questions([r["question"].lstrip() for r in records], tokenizer, max_query)
    encoded = tokenizer(questions, [r["context"] for r in records], truncation="only_second",
                        max_length=max_length, stride=stride, return_overflowing_tokens=True,
                        return_offsets_mapping=True)  # fmt: skip
    features = []
    for window, ids in enumerate(encoded["input_ids"]):
        index = encoded["overflow_to_sample_mapping"][window]
        sides = encoded.sequence_ids(window)
        context = records[index]["context"]
        offsets = [_trimmed(span, context) if side == 1 else None
                   for span, side in zip(encoded["offset_mapping"][window], sides, strict=True)]  # fmt: skip
        feature: dict[str, Any] = {"input_ids": ids, "example_index": index, "offsets": offsets}
        if "answers" in records[index]:
            feature["start_positions"], feature["end_positions"] = answer_positions(records[index], offsets)
        features.append(feature)
    return features


def collate(features: list[dict[str, Any]], tokenizer) -> dict[str, torch.Tensor]:
    """Pad to the longest window in the batch; add the span targets when the features have them."""
    batch = pad_batch([f["input_ids"] for f in features], tokenizer.pad_token_id)
    if "start_positions" in features[0]:
        batch["start_positions"] = torch.tensor([f["start_positions"] for f in features], dtype=torch.long)
        batch["end_positions"] = torch.tensor([f["end_positions"] for f in features], dtype=torch.long)
    return dict(batch)


def best_span(start_logits: torch.Tensor, end_logits: torch.Tensor, offsets, n_best: int,
              max_answer_length: int) -> tuple[float, int, int] | None:  # fmt: skip
    """The best valid span of one window: `(score, start_char, end_char)`, or None if there is none.

    Candidates are the `n_best` highest start and end logits; a span is valid when both ends are
    context tokens, `end >= start` and it has at most `max_answer_length` tokens.
    """
    k = min(n_best, len(offsets))
    starts = torch.topk(start_logits[: len(offsets)], k).indices.tolist()
    ends = torch.topk(end_logits[: len(offsets)], k).indices.tolist()
    best = None
    for i in starts:
        if offsets[i] is None:
            continue
        for j in ends:
            if offsets[j] is None or j < i or j - i + 1 > max_answer_length:
                continue
            score = float(start_logits[i] + end_logits[j])
            if best is None or score > best[0]:
                best = (score, offsets[i][0], offsets[j][1])
    return best


def _rows(outputs: list[dict[str, torch.Tensor]]):
    """(start logits, end logits) per window, across batches of different padded widths."""
    for batch in outputs:
        yield from zip(batch["start_logits"], batch["end_logits"], strict=True)


def decode(outputs: list[dict[str, torch.Tensor]], features, records, task) -> dict[Any, str]:
    """Answer text per example id: the best span over all of the example's windows (or `""`)."""
    n_best, longest = option(task, "n_best_size"), option(task, "max_answer_length")
    best: dict[int, tuple[float, int, int]] = {}
    null: dict[int, float] = {}
    for feature, (start, end) in zip(features, _rows(outputs), strict=True):
        index = feature["example_index"]
        null[index] = min(null.get(index, math.inf), float(start[0] + end[0]))
        span = best_span(start, end, feature["offsets"], n_best, longest)
        if span is not None and (index not in best or span[0] > best[index][0]):
            best[index] = span
    threshold = option(task, "null_score_diff_threshold")
    predictions = {}
    for index, record in enumerate(records):
        span = best.get(index)
        if span is None or (option(task, "no_answer") and null[index] - span[0] > threshold):
            predictions[record["id"]] = ""
        else:
            predictions[record["id"]] = record["context"][span[1] : span[2]]
    return predictions


def gold(records, task) -> dict[Any, list[str]]:
    """Gold answer texts keyed by id (empty list: unanswerable, only where the task allows it).

    Raises:
        UserError: a repeated id, or a question without gold answers in a task that has none
            (an unlabelled file).
    """
    golds: dict[Any, list[str]] = {}
    for record in records:
        if record["id"] in golds:
            raise UserError(f"task '{task.name}': id {record['id']!r} occurs twice; predictions are keyed by id")
        if not record["answers"] and not option(task, "no_answer"):
            raise UserError(f"task '{task.name}': question {record['id']!r} has no gold answer (unlabelled file?)")
        golds[record["id"]] = list(record["answers"])
    return golds


SPAN_QA = Format("span_qa", add_head, preprocess, collate, decode, gold, outputs=("start_logits", "end_logits"))
FORMATS = (SPAN_QA,)
