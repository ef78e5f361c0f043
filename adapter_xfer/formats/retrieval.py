"""The `retrieval` format (Tatoeba, BUCC, LAReQA, Mewsli-X): no head, never trained, evaluated directly.

Sentences are embedded as the attention-masked mean of one layer's hidden states (XTREME's
`mean_pool_embedding`, special tokens included) of whatever adapter setup is active; the setup is
read, never changed. The layer is `task.options["layer"]` (an index into `hidden_states`, 0 being the
embeddings) or, by default, a middle layer: `round(num_hidden_layers * 7 / 12)`, i.e. 14 of XLM-R
large's 24 layers and 7 of a 12-layer encoder (XTREME uses the 14th layer for XLM-R large and the 8th
for mBERT). Texts are length-sorted and padded per batch. `task.options["mode"]` picks the task:

- `nearest` (Tatoeba): records `{"id", "text_a", "text_b"}`, aligned pairs; the prediction for the
  i-th record is the 0-based index of the `text_b` nearest to its `text_a` by cosine.
- `mine` (BUCC): sentence records (`src_id` + `text_a`, or `tgt_id` + `text_b`) and gold records
  (both ids), each with a `role` ("eval", or "tune" for the dev corpus); one prediction per language
  pair, `{"<lang>-en": ["src_id\ttgt_id", ...]}`.
- `rank` (LAReQA, Mewsli-X): `{"kind": "query", "id", "text", "gold": [candidate ids]}` and
  `{"kind": "candidate", "id", "text"}`; the prediction for a query is its top-k candidate ids by
  cosine (k = `options["k"]`, 20).

BUCC follows XTREME: ratio-margin mining ("max" retrieval, k=4), ids whose text repeats on its side
dropped, and the threshold that maximises F1 on the dev corpus (role "tune", which the reader adds
next to a test split) applied to the evaluated corpus. Where no dev corpus comes with the records,
the threshold is tuned on the evaluated corpus itself; `notes()` says so, for `results.json`.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from adapter_xfer.errors import UserError
from adapter_xfer.formats import Format, pad_batch
from adapter_xfer.metrics import best_threshold, knn, mine_pairs, normalize_rows

log = logging.getLogger(__name__)


def default_layer(model) -> int:
    """The middle layer retrieval reads by default: `round(num_hidden_layers * 7 / 12)`."""
    return round(model.config.num_hidden_layers * 7 / 12)


def _layer(model, task) -> int:
    layer = task.options.get("layer")
    if layer is None:
        return default_layer(model)
    count = model.config.num_hidden_layers
    if isinstance(layer, bool) or not isinstance(layer, int) or not 0 <= layer <= count:
        raise UserError(f"task '{task.name}': options.layer must be an integer in 0..{count}, got {layer!r}")
    return layer


def _limit(tokenizer, task, key: str, max_length: int) -> int:
    """A task's published sequence length (options) where it has one, capped by what the model takes."""
    limit = int(task.options.get(key, task.options.get("max_length", max_length)))
    model_max = getattr(tokenizer, "model_max_length", None)
    return min(limit, model_max) if isinstance(model_max, int) and model_max < 1_000_000 else limit


@torch.no_grad()
def embed(model, texts: list[str], tokenizer, layer: int, max_length: int, batch_size: int) -> np.ndarray:
    """Masked mean of `hidden_states[layer]` per text, as float32 `(len(texts), hidden_size)`.

    Runs `model.base_model` under the active adapter setup; padding never enters the mean.
    """
    ids = tokenizer([t.strip() for t in texts], truncation=True, max_length=max_length)["input_ids"] if texts else []
    out = np.zeros((len(ids), model.config.hidden_size), dtype=np.float32)
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))  # similar lengths share a batch: little padding
    device = next(model.parameters()).device
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        batch = pad_batch([ids[i] for i in rows], tokenizer.pad_token_id)
        mask = batch["attention_mask"].to(device)
        output = model.base_model(input_ids=batch["input_ids"].to(device), attention_mask=mask,
                                  output_hidden_states=True)  # fmt: skip
        states = output.hidden_states[layer]
        weights = mask.unsqueeze(-1).to(states.dtype)
        out[rows] = ((states * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1)).float().cpu().numpy()
    return out


def _embedder(model, tokenizer, task, max_length: int, batch_size: int):
    layer = _layer(model, task)
    return lambda texts, key="max_length": embed(model, texts, tokenizer, layer,
                                                 _limit(tokenizer, task, key, max_length), batch_size)  # fmt: skip


# Tatoeba: the i-th source sentence against all target sentences.
def _predict_nearest(model, records, tokenizer, task, max_length: int, batch_size: int) -> dict[Any, int]:
    encode = _embedder(model, tokenizer, task, max_length, batch_size)
    source, target = encode([r["text_a"] for r in records]), encode([r["text_b"] for r in records])
    _, nearest = knn(normalize_rows(source), normalize_rows(target), 1)
    return {r["id"]: int(nearest[i, 0]) for i, r in enumerate(records)}


def _gold_nearest(records, task) -> dict[Any, int]:
    return {r["id"]: i for i, r in enumerate(records)}


# BUCC: corpora of sentences with gold pairs.
@dataclass
class Corpus:
    """One BUCC corpus: source and target sentences by id, and the gold pairs."""

    source: dict[str, str] = field(default_factory=dict)
    target: dict[str, str] = field(default_factory=dict)
    gold: list[tuple[str, str]] = field(default_factory=list)
    distractors: bool = False  # sentences outside the gold pairs (False for the Hub's gold-only copy)


def bucc_corpora(records) -> dict[str, Corpus]:
    """Records grouped by role ("eval", and "tune" where a dev corpus came along)."""
    corpora: dict[str, Corpus] = {}
    for r in records:
        corpus = corpora.setdefault(r.get("role") or "eval", Corpus())
        src, tgt = str(r.get("src_id") or ""), str(r.get("tgt_id") or "")
        if src and r.get("text_a"):
            corpus.source.setdefault(src, r["text_a"])
        if tgt and r.get("text_b"):
            corpus.target.setdefault(tgt, r["text_b"])
        if src and tgt:
            corpus.gold.append((src, tgt))
        else:
            corpus.distractors = True
    if "eval" not in corpora or not corpora["eval"].source or not corpora["eval"].target:
        raise UserError("bucc: the records hold no source or no target sentences to mine")
    return corpora


def pair_key(records) -> str:
    """`"<lang>-en"` from the BUCC source ids (`zh-000000001`)."""
    prefixes = {str(r["src_id"]).split("-")[0] for r in records if r.get("src_id")}
    if len(prefixes) != 1 or not next(iter(prefixes)):
        raise UserError(f"bucc: source ids must share one '<lang>-' prefix (found {sorted(prefixes)[:5]})")
    return f"{prefixes.pop()}-en"


def _unique_text_ids(sentences: dict[str, str]) -> set[str]:
    """Ids whose (stripped) text occurs once on its side: XTREME maps candidates back through the text."""
    counts = Counter(text.strip() for text in sentences.values())
    return {sid for sid, text in sentences.items() if counts[text.strip()] == 1}


def _candidates(corpus: Corpus, encode, task) -> list[tuple[str, str, float]]:
    """Every mined pair with a positive margin (XTREME's candidate file), repeated texts dropped."""
    src_ids, tgt_ids = list(corpus.source), list(corpus.target)
    src_emb, tgt_emb = encode([corpus.source[i] for i in src_ids]), encode([corpus.target[i] for i in tgt_ids])
    margin_k, retrieval = int(task.options.get("margin_k", 4)), task.options.get("retrieval", "max")
    found = mine_pairs(src_ids, src_emb, tgt_ids, tgt_emb, threshold=0.0, k=margin_k, retrieval=retrieval)
    keep_src, keep_tgt = _unique_text_ids(corpus.source), _unique_text_ids(corpus.target)
    return [(s, t, score) for s, t, score in found if score > 0 and s in keep_src and t in keep_tgt]


def _predict_mine(model, records, tokenizer, task, max_length: int, batch_size: int) -> dict[str, list[str]]:
    corpora, key = bucc_corpora(records), pair_key(records)
    encode = _embedder(model, tokenizer, task, max_length, batch_size)
    evaluated = _candidates(corpora["eval"], encode, task)
    tune = corpora.get("tune")
    tuning = _candidates(tune, encode, task) if tune else evaluated
    threshold = best_threshold(tuning, (tune or corpora["eval"]).gold)
    log.info("bucc %s: margin threshold %.4f tuned on %s", key, threshold, "dev" if tune else "the evaluated split")
    return {key: [f"{s}\t{t}" for s, t, score in evaluated if score >= threshold]}


def _gold_mine(records, task) -> dict[str, list[str]]:
    return {pair_key(records): [f"{s}\t{t}" for s, t in bucc_corpora(records)["eval"].gold]}


# LAReQA, Mewsli-X: queries ranked against a candidate pool.
def _queries_and_pool(records, task) -> tuple[list[dict], list[dict]]:
    queries, pool, seen = [r for r in records if r.get("kind") == "query"], [], set()
    for r in records:
        if r.get("kind") == "candidate" and r["id"] not in seen:  # one entry per candidate id
            seen.add(r["id"])
            pool.append(r)
    if not pool:
        raise UserError(f"task '{task.name}': the records hold no candidate pool (the Hub copy lacks it); "
                        f"set data_dir to the XTREME-R layout")  # fmt: skip
    languages = sorted({r["lang"] for r in queries if r.get("lang")})
    if len(languages) > 1:
        raise UserError(f"task '{task.name}': queries of several languages ({' '.join(languages)}) in one split; "
                        f"the loader must keep one language (LocalLayout.language_column)")  # fmt: skip
    return queries, pool


def _predict_rank(model, records, tokenizer, task, max_length: int, batch_size: int) -> dict[Any, list]:
    queries, pool = _queries_and_pool(records, task)
    encode = _embedder(model, tokenizer, task, max_length, batch_size)
    query_emb = encode([q["text"] for q in queries], "query_max_length")
    pool_emb = encode([c["text"] for c in pool], "candidate_max_length")
    _, ranked = knn(normalize_rows(query_emb), normalize_rows(pool_emb), int(task.options.get("k", 20)))
    return {q["id"]: [pool[j]["id"] for j in ranked[i]] for i, q in enumerate(queries)}


def _gold_rank(records, task) -> dict[Any, list]:
    return {r["id"]: list(r["gold"]) for r in records if r.get("kind") == "query"}


_MODES = {
    "nearest": (_predict_nearest, _gold_nearest),
    "mine": (_predict_mine, _gold_mine),
    "rank": (_predict_rank, _gold_rank),
}


def _mode(task):
    mode = task.options.get("mode")
    if mode not in _MODES:
        raise UserError(f"task '{task.name}': options.mode must be one of {', '.join(_MODES)}, got {mode!r}")
    return _MODES[mode]


def predict(model, records, tokenizer, task, max_length: int, batch_size: int) -> dict[Any, Any]:
    """Predictions `{id: prediction}` in the contracts' format (see the module table)."""
    return _mode(task)[0](model, records, tokenizer, task, max_length, batch_size)


def gold(records, task) -> dict[Any, Any]:
    """Gold in the form the task's metric expects (`tatoeba`, `bucc`, `map_at_20`)."""
    return _mode(task)[1](records, task)


def notes(records, task) -> list[str]:
    """Caveats worth a line in `results.json` notes (BUCC's threshold source, a gold-only corpus)."""
    if task.options.get("mode") != "mine":
        return []
    corpora, key, found = bucc_corpora(records), pair_key(records), []
    if "tune" not in corpora:
        found.append(f"bucc {key}: margin threshold tuned on the evaluated split itself (no dev corpus given)")
    if not corpora["eval"].distractors:
        found.append(f"bucc {key}: the corpus holds only its gold pairs (no distractors); not comparable")
    return found


def add_head(model, head_name: str, task) -> None:
    """Retrieval has no head: embeddings come from the encoder itself."""


def preprocess(records, tokenizer, task, max_length: int) -> list[dict[str, Any]]:
    """Every text of every record tokenised (`field` says which); retrieval itself goes through `predict`."""
    features = []
    for index, record in enumerate(records):
        for name in ("text_a", "text_b", "text"):
            if record.get(name):
                ids = tokenizer(record[name].strip(), truncation=True, max_length=max_length)["input_ids"]
                features.append({"input_ids": ids, "example_index": index, "field": name})
    return features


def collate(features: list[dict[str, Any]], tokenizer) -> dict[str, torch.Tensor]:
    """Pad to the longest sequence in the batch."""
    return pad_batch([f["input_ids"] for f in features], tokenizer.pad_token_id)


def decode(outputs, features, records, task) -> dict:
    """Not used: retrieval predicts a whole split at once through `predict`."""
    raise UserError("the retrieval format predicts through Format.predict, not through a head")


RETRIEVAL = Format("retrieval", add_head, preprocess, collate, decode, gold, outputs=(), predict=predict,
                   trainable=False, notes=notes)  # fmt: skip
FORMATS = (RETRIEVAL,)
