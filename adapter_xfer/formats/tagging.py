"""The `tagging` format (UD-POS, PAN-X / WikiANN, CCG supertags): one tag per pre-split word.

Records carry `tokens` (the words) and, when labelled, `tags` (one per word); a prediction is the list
of predicted tags, one per word, keyed by the record id. The model is `adapters`' tagging head.

Sub-words: the words are tokenised with `is_split_into_words=True` (a fast tokenizer's `word_ids()`
maps pieces to words); the FIRST piece of each word carries the word's label and predicts its tag;
continuation pieces and special tokens get -100, which the head's loss ignores. A word the tokenizer
turns into no piece at all (an empty string, a lone zero-width character) is tokenised as the unknown
token instead, as XTREME does, so that it still gets a prediction.

Long sentences: rather than truncating (which would leave the words past `max_length` unpredicted and
make the scores look better than they are), a sentence is split into consecutive windows of whole
words that each fit in `max_length`, as XTREME's preprocessing does for its `maxlen128` files. Each
word belongs to exactly one window, so training sees every label and decoding yields exactly one tag
per word. Only a single word longer than a whole window is cut (its first piece, which predicts it,
is kept).

Task options: `unknown_tag` names a label that absorbs gold tags outside `task.labels` in TRAINING
(CCG's open supertag set); without it such a tag is a data error. Gold for scoring always keeps the
file's own tags, so a word whose gold tag is outside the label set can never be predicted right.
"""

from __future__ import annotations

from typing import Any

import torch

from adapter_xfer.errors import UserError
from adapter_xfer.formats import Format, pad_batch

IGNORE = -100  # CrossEntropyLoss's ignore_index: no loss on continuation pieces and special tokens


def add_head(model, head_name: str, task) -> None:
    """A token-classification head with one output per tag of `task.labels`."""
    model.add_tagging_head(head_name, num_labels=len(task.labels), id2label=dict(enumerate(task.labels)),
                           overwrite_ok=True)  # fmt: skip


def _piece_counts(sentences: list[list[str]], tokenizer) -> list[list[int]]:
    """Number of sub-word pieces of every word, tokenising each sentence as pre-split words."""
    if not sentences:
        return []
    encoded = tokenizer(sentences, is_split_into_words=True, add_special_tokens=False)
    counts = []
    for index, words in enumerate(sentences):
        count = [0] * len(words)
        for word in encoded.word_ids(index):
            if word is not None:
                count[word] += 1
        counts.append(count)
    return counts


def _tokenisable_words(records, tokenizer) -> tuple[list[list[str]], list[list[int]]]:
    """Each record's words (words with no piece replaced by the unknown token) and their piece counts."""
    sentences = [[str(w) for w in r["tokens"]] for r in records]
    counts = _piece_counts(sentences, tokenizer)
    for index, count in enumerate(counts):
        if 0 in count:  # rare: re-tokenise only the sentences that had a vanishing word
            words = zip(sentences[index], count, strict=True)
            sentences[index] = [tokenizer.unk_token if c == 0 else w for w, c in words]
            counts[index] = _piece_counts([sentences[index]], tokenizer)[0]
            if 0 in counts[index]:
                raise UserError(f"example {records[index]['id']}: the tokenizer yields no piece for a word "
                                "even as its unknown token")  # fmt: skip
    return sentences, counts


def _windows(counts: list[int], budget: int) -> list[tuple[int, int]]:
    """Consecutive word ranges `[start, end)` whose pieces fit in `budget` (a longer word stands alone)."""
    windows, start, used = [], 0, 0
    for index, count in enumerate(counts):
        if index > start and used + count > budget:
            windows.append((start, index))
            start, used = index, 0
        used += count
    if counts:
        windows.append((start, len(counts)))
    return windows


def _tag_ids(record, task) -> list[int]:
    """Label ids of a record's gold tags (unknown tags go to `task.options["unknown_tag"]` if set)."""
    tags = record["tags"]
    if len(tags) != len(record["tokens"]):
        words = len(record["tokens"])
        raise UserError(f"task '{task.name}' example {record['id']}: {len(tags)} tags for {words} words")
    index = {label: i for i, label in enumerate(task.labels)}
    unknown = task.options.get("unknown_tag")
    if unknown is not None and unknown not in index:
        raise UserError(f"task '{task.name}': unknown_tag {unknown!r} is not one of its labels")
    ids = []
    for tag in tags:
        if tag not in index and unknown is None:
            raise UserError(f"task '{task.name}' example {record['id']}: tag {tag!r} is not one of its labels")
        ids.append(index[tag] if tag in index else index[unknown])
    return ids


def preprocess(records, tokenizer, task, max_length: int) -> list[dict[str, Any]]:
    """One feature per window of whole words; labels on each word's first piece, -100 elsewhere.

    Features hold `input_ids`, `example_index`, `first_word` (index of the window's first word in its
    sentence), `word_starts` (position of each word's first piece) and, for labelled records, `labels`.

    Raises:
        UserError: a slow tokenizer, a `max_length` leaving no room for words, or malformed tags.
    """
    if not getattr(tokenizer, "is_fast", False):
        raise UserError("the tagging format needs a fast tokenizer (word_ids)")
    budget = max_length - tokenizer.num_special_tokens_to_add(pair=False)
    if budget < 1:
        raise UserError(f"max_seq_length {max_length} leaves no room for words")
    sentences, counts = _tokenisable_words(records, tokenizer)
    spans = [(i, span) for i, count in enumerate(counts) for span in _windows(count, budget)]
    if not spans:
        return []
    windows = [sentences[i][start:end] for i, (start, end) in spans]
    encoded = tokenizer(windows, is_split_into_words=True, truncation=True, max_length=max_length)
    tag_ids = {i: _tag_ids(r, task) for i, r in enumerate(records) if r.get("tags") is not None}
    features = []
    for number, (example, (start, end)) in enumerate(spans):
        starts: dict[int, int] = {}
        for position, word in enumerate(encoded.word_ids(number)):
            if word is not None and word not in starts:
                starts[word] = position
        word_starts = [starts[w] for w in range(end - start)]  # every word has a piece: see _tokenisable_words
        feature = {"input_ids": encoded["input_ids"][number], "example_index": example, "first_word": start,
                   "word_starts": word_starts}  # fmt: skip
        if example in tag_ids:
            labels = [IGNORE] * len(feature["input_ids"])
            for position, label in zip(word_starts, tag_ids[example][start:end], strict=True):
                labels[position] = label
            feature["labels"] = labels
        features.append(feature)
    return features


def collate(features: list[dict[str, Any]], tokenizer) -> dict[str, torch.Tensor]:
    """Pad ids and attention mask; pad `labels` with -100 (the head's training input)."""
    batch = pad_batch([f["input_ids"] for f in features], tokenizer.pad_token_id)
    if "labels" in features[0]:
        labels = torch.full_like(batch["input_ids"], IGNORE)
        for row, feature in enumerate(features):
            labels[row, : len(feature["labels"])] = torch.tensor(feature["labels"], dtype=torch.long)
        batch["labels"] = labels
    return dict(batch)


def decode(outputs: list[dict[str, torch.Tensor]], features, records, task) -> dict[Any, list[str]]:
    """Word-level tags: the arg-max at each word's first piece, windows put back in place.

    Raises:
        ValueError: the outputs do not match the features, or a word got no prediction (a bug).
    """
    rows = [row for batch in outputs for row in batch["logits"]]
    if len(rows) != len(features):
        raise ValueError(f"tagging decode: {len(rows)} output rows for {len(features)} features")
    predicted: list[list[str | None]] = [[None] * len(r["tokens"]) for r in records]
    for feature, logits in zip(features, rows, strict=True):
        best = logits[feature["word_starts"]].argmax(dim=-1).tolist()
        slots = predicted[feature["example_index"]]
        for offset, label in enumerate(best):
            slots[feature["first_word"] + offset] = task.labels[label]
    result: dict[Any, list[str]] = {}
    for record, tags in zip(records, predicted, strict=True):
        if any(tag is None for tag in tags):
            raise ValueError(f"tagging decode: example {record['id']} has words without a prediction")
        result[record["id"]] = [str(tag) for tag in tags]
    return result


def gold(records, task) -> dict[Any, list[str]]:
    """Gold tags per sentence id, as stored in the data (seqeval's input)."""
    return {r["id"]: list(r["tags"]) for r in records}


TAGGING = Format("tagging", add_head, preprocess, collate, decode, gold)
FORMATS = (TAGGING,)
