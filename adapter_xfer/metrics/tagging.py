"""Sequence-labelling scores: seqeval's default chunk F1 (conlleval-like) and token accuracy.

XTREME scores both PAN-X (NER) and UD-POS with `seqeval.metrics.f1_score(labels, predictions)`: the
default, non-strict mode, micro-averaged over chunk types. This module re-implements that computation
(seqeval 1.2.2, `metrics/sequence_labeling.py`: `get_entities`, `end_of_chunk`, `start_of_chunk`,
micro precision / recall / F1) without numpy or warnings, and checks it against seqeval in the tests.

How seqeval reads a tag, and why UPOS scores look odd: the first character is the chunk tag and the
type is what follows the first "-" of the rest, else the rest itself (`"B-PER"` -> `B`, `PER`;
`"NOUN"` -> `N`, `OUN`; `"O"` and `"X"` -> type `_`). So with UPOS tags, a run of equal tags is one
chunk (`NOUN NOUN` is a single `OUN` chunk), `SYM`/`SCONJ` are single-token `S` chunks, `INTJ` behaves
like an `I-` tag, and `CCONJ`/`SCONJ` share the type `CONJ`. All of that is kept, since it is what the
published UD-POS numbers measure.

Like seqeval, sentences are concatenated with an `"O"` between them and chunked as one stream (a chunk
of a type-`_` tag such as `X` can then reach into the next sentence; seqeval does the same).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

from adapter_xfer.metrics.classification import check_ids

Chunk = tuple[str, int, int]  # (type, first token, last token), positions in the concatenated stream
Tags = Mapping[Hashable, Sequence[str]]  # tag sequence per sentence id


def split_tag(tag: str) -> tuple[str, str]:
    """seqeval's (non-suffix) reading of a tag: `(chunk tag, chunk type)`."""
    return tag[0], tag[1:].split("-", maxsplit=1)[-1] or "_"


def _chunk_ends(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    """seqeval's `end_of_chunk`: did a chunk end between the previous token and this one?"""
    if prev_tag in ("E", "S"):
        return True
    if prev_tag in ("B", "I") and tag in ("B", "S", "O"):
        return True
    return prev_tag not in ("O", ".") and prev_type != type_


def _chunk_starts(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    """seqeval's `start_of_chunk`: does a chunk start at this token?"""
    if tag in ("B", "S"):
        return True
    if prev_tag in ("E", "S", "O") and tag in ("E", "I"):
        return True
    return tag not in ("O", ".") and prev_type != type_


def get_chunks(tags: Sequence[str]) -> list[Chunk]:
    """Chunks of a tag stream exactly as `seqeval.metrics.sequence_labeling.get_entities` finds them.

    Args:
        tags: One flat tag sequence (join sentences with `"O"` first, as seqeval does).

    Returns:
        `(type, start, end)` triples, `end` inclusive, in order of their ends.
    """
    # The initial type is "" (not "_"), so a type-"_" tag like "X" starts a chunk at position 0 but not
    # after an "O"; seqeval has the same asymmetry.
    prev_tag, prev_type, begin = "O", "", 0
    chunks: list[Chunk] = []
    for i, tag_string in enumerate([*tags, "O"]):
        tag, type_ = split_tag(tag_string)
        if _chunk_ends(prev_tag, tag, prev_type, type_):
            chunks.append((prev_type, begin, i - 1))
        if _chunk_starts(prev_tag, tag, prev_type, type_):
            begin = i
        prev_tag, prev_type = tag, type_
    return chunks


def _validate(key: Hashable, tags: object, role: str) -> list[str]:
    if isinstance(tags, str) or not isinstance(tags, Sequence):
        raise ValueError(f"seqeval_f1: id {key!r}: {role} must be a list of tags, got {tags!r}")
    for tag in tags:
        if not isinstance(tag, str) or not tag:
            raise ValueError(f"seqeval_f1: id {key!r}: {role} tag {tag!r} is not a non-empty string")
    return list(tags)


def seqeval_f1(predictions: Tags, golds: Tags) -> dict[str, float]:
    """Chunk F1, precision and recall (seqeval default mode, micro average) plus token accuracy.

    Sentences are taken in gold order. A sentence without a prediction counts as wrong: its gold chunks
    are missed and its tokens count as incorrect (it contributes all-`"O"` to the chunk stream).

    Args:
        predictions: Predicted tags per sentence id, one per word.
        golds: Gold tags per sentence id.

    Returns:
        `f1`, `precision`, `recall` (chunks) and `accuracy` (tokens), all 0-100; `n` sentences;
        `missing` sentences without a prediction.

    Raises:
        ValueError: Unknown id, a sentence whose prediction and gold differ in length (naming the id),
            or a tag that is not a non-empty string.
    """
    missing = set(check_ids(predictions, golds, "seqeval_f1"))
    gold_stream: list[str] = []
    pred_stream: list[str] = []
    correct = tokens = 0
    for key, gold_tags in golds.items():
        gold = _validate(key, gold_tags, "gold")
        if key in missing:
            pred = ["O"] * len(gold)
        else:
            pred = _validate(key, predictions[key], "prediction")
            if len(pred) != len(gold):
                raise ValueError(f"seqeval_f1: id {key!r}: {len(pred)} predicted tags for {len(gold)} gold tags")
            correct += sum(p == g for p, g in zip(pred, gold, strict=True))
        tokens += len(gold)
        gold_stream += [*gold, "O"]
        pred_stream += [*pred, "O"]
    gold_chunks, pred_chunks = set(get_chunks(gold_stream)), set(get_chunks(pred_stream))
    true_positives = len(gold_chunks & pred_chunks)
    # seqeval's zero-division default ("warn") yields 0 for an undefined precision, recall or F1.
    precision = true_positives / len(pred_chunks) if pred_chunks else 0.0
    recall = true_positives / len(gold_chunks) if gold_chunks else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    # XTREME multiplies seqeval's fractions by 100 (kept in that order so the floats agree).
    return {"f1": f1 * 100, "precision": precision * 100, "recall": recall * 100,
            "accuracy": (correct / tokens if tokens else 0.0) * 100, "n": len(golds),
            "missing": len(missing)}  # fmt: skip
