"""Retrieval scores and BUCC mining: Tatoeba accuracy, BUCC F1, ratio-margin mining, threshold search, mAP@k.

Follows XTREME (`evaluate.py` for the scores, `third_party/utils_retrieve.py` for mining, itself
adapted from LASER): cosine similarity on L2-normalised embeddings, k-nearest neighbours in both
directions, the ratio margin of Artetxe & Schwenk (2019),

    margin(x, y) = cos(x, y) / ((mean_k cos(x, NN_k(x)) + mean_k cos(y, NN_k(y))) / 2),

"max" retrieval (forward and backward best candidates pooled, greedily kept one-to-one by decreasing
score), and the threshold that maximises F1 on dev (`bucc_optimize`). Neighbour search is exact and in
numpy, in row blocks (no faiss); ties between equal similarities may be broken differently from faiss.
XTREME also merges identical sentence texts before mining and drops ids whose text repeats; that needs
the texts and is left to the caller.

Mean average precision at k (LAReQA, Mewsli-X) follows XTREME-R's `average_precision_at_k`
(`third_party/utils_lareqa.py`): precision summed at each relevant hit in the top k, divided by
`min(k, number of relevant items)`. With one relevant item (Mewsli-X) it is the reciprocal rank at k,
which is what XTREME-R's Mewsli-X scorer (`utils_mewslix.evaluate`, "MRR/MAP@20") reports.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from adapter_xfer.metrics.classification import accuracy

Pair = tuple[str, str]
PairLists = Mapping[Hashable, Sequence[Any]]  # {"<lang>-en": ["src\ttgt", ...]}: the predictions format
Scored = tuple[np.ndarray, np.ndarray]  # (scores, indices), one row per query
_BLOCK_ELEMENTS = 1 << 25  # similarity entries per block (128 MiB of float32): bounded memory on BUCC sizes


def tatoeba_accuracy(predictions: Mapping[Hashable, int], golds: Mapping[Hashable, int]) -> dict[str, float]:
    """Tatoeba accuracy: the retrieved English sentence index equals the gold index (XTREME `accuracy`).

    Args:
        predictions: 0-based index of the retrieved English sentence per id.
        golds: 0-based index of the correct English sentence per id.

    Returns:
        `{"accuracy": 0-100, "n": ..., "missing": ...}`.

    Raises:
        ValueError: Unknown prediction id, or an index that is not an integer.
    """
    for key, value in [*predictions.items(), *golds.items()]:
        # bool is an int subclass; a True/False index is a bug upstream, not an index.
        if isinstance(value, bool) or not hasattr(value, "__index__"):
            raise ValueError(f"tatoeba_accuracy: id {key!r}: index {value!r} is not an integer")
    return accuracy({k: int(v) for k, v in predictions.items()}, {k: int(v) for k, v in golds.items()})


def as_pair(item: str | Sequence[str]) -> Pair:
    """A `(src_id, tgt_id)` pair from a BUCC line `"src\\ttgt"` or a 2-sequence."""
    parts = item.split("\t") if isinstance(item, str) else list(item)
    if len(parts) != 2:
        raise ValueError(f"bucc: {item!r} is not a (source id, target id) pair")
    return str(parts[0]), str(parts[1])


def _pair_scores(predicted: set[tuple[str, ...]], gold: set[tuple[str, ...]]) -> dict[str, float]:
    """XTREME's `bucc_f1` arithmetic on two sets (so duplicates count once)."""
    correct = len(gold & predicted)
    precision = recall = f1 = 0.0
    if correct > 0:
        precision = correct / len(predicted)
        recall = correct / len(gold)
        f1 = 2 * precision * recall / (precision + recall)
    return {"f1": f1 * 100, "precision": precision * 100, "recall": recall * 100, "n": len(gold)}


def bucc_f1(predicted_pairs: Iterable[Pair | str], gold_pairs: Iterable[Pair | str]) -> dict[str, float]:
    """BUCC precision, recall and F1 of mined pairs, as XTREME's `bucc_f1` (duplicates counted once).

    Args:
        predicted_pairs: Mined `(src_id, tgt_id)` pairs (or `"src\\ttgt"` lines).
        gold_pairs: Gold pairs, same forms.

    Returns:
        `{"f1", "precision", "recall"}` on 0-100 and `"n"`: the number of distinct gold pairs.
    """
    return _pair_scores({as_pair(p) for p in predicted_pairs}, {as_pair(p) for p in gold_pairs})


def bucc_score(predictions: PairLists, golds: PairLists) -> dict[str, Any]:
    """`bucc_f1` over the predictions format: `{"<lang>-en": ["src\\ttgt", ...]}` per language pair.

    Pairs of all ids are pooled, each kept apart by its id. An id without predictions mines nothing,
    so all its gold pairs are missed (and it is counted in `missing`).

    Raises:
        ValueError: A prediction for an id that has no gold.
    """
    for key in predictions:
        if key not in golds:
            raise ValueError(f"bucc: prediction for unknown id {key!r}")
    predicted = {(str(k), *as_pair(p)) for k, pairs in predictions.items() for p in pairs}
    gold = {(str(k), *as_pair(p)) for k, pairs in golds.items() for p in pairs}
    return {**_pair_scores(predicted, gold), "missing": sum(key not in predictions for key in golds)}


def normalize_rows(a: np.ndarray) -> np.ndarray:
    """float32 copy with unit L2 rows (zero rows stay zero, as `faiss.normalize_L2` leaves them)."""
    a = np.array(a, dtype=np.float32, copy=True)
    norms = np.linalg.norm(a, axis=1, keepdims=True)
    return a / np.where(norms > 0, norms, 1)


def knn(x: np.ndarray, y: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest rows of `y` for each row of `x` by inner product (cosine on normalised rows).

    Returns:
        `(similarities, indices)`, both `(len(x), min(k, len(y)))`, best first.
    """
    k = min(k, len(y))
    sims = np.empty((len(x), k), dtype=np.float32)
    inds = np.empty((len(x), k), dtype=np.int64)
    block = max(1, _BLOCK_ELEMENTS // max(1, len(y)))
    for start in range(0, len(x), block):
        scores = x[start : start + block] @ y.T
        top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        top_scores = np.take_along_axis(scores, top, axis=1)
        order = np.argsort(-top_scores, axis=1, kind="stable")
        sims[start : start + block] = np.take_along_axis(top_scores, order, axis=1)
        inds[start : start + block] = np.take_along_axis(top, order, axis=1)
    return sims, inds


def _margins(x: np.ndarray, y: np.ndarray, k: int) -> tuple[Scored, Scored]:
    """Ratio-margin scores of each side's k candidates: `((fwd_scores, fwd_inds), (bwd_scores, bwd_inds))`."""
    if k < 1 or len(x) == 0 or len(y) == 0:
        raise ValueError(f"margin scoring needs k >= 1 and two non-empty sides (k={k}, {len(x)} x {len(y)})")
    x, y = normalize_rows(x), normalize_rows(y)
    fwd_sims, fwd_inds = knn(x, y, k)
    bwd_sims, bwd_inds = knn(y, x, k)
    fwd_mean, bwd_mean = fwd_sims.mean(axis=1), bwd_sims.mean(axis=1)
    # A candidate's cosine is its kNN similarity: XTREME recomputes x.dot(y), the same number.
    fwd = fwd_sims / ((fwd_mean[:, None] + bwd_mean[fwd_inds]) / 2)
    bwd = bwd_sims / ((bwd_mean[:, None] + fwd_mean[bwd_inds]) / 2)
    return (fwd, fwd_inds), (bwd, bwd_inds)


def margin_scores(x: np.ndarray, y: np.ndarray, k: int = 4) -> Scored:
    """Ratio-margin scores of each row of `x` against its k nearest rows of `y` (XTREME's `score_candidates`).

    Args:
        x: Source embeddings `(n, d)`; rows are L2-normalised here.
        y: Target embeddings `(m, d)`.
        k: Neighbourhood size of the margin's means (XTREME: 4), capped at each side's size.

    Returns:
        `(scores, indices)`, both `(n, min(k, m))`: margin of `x[i]` with `y[indices[i, j]]`, in the
        order of decreasing cosine.
    """
    return _margins(x, y, k)[0]


def mine_pairs(src_ids: Sequence[str], src_emb: np.ndarray, tgt_ids: Sequence[str], tgt_emb: np.ndarray,
               threshold: float, k: int = 4, retrieval: str = "max") -> list[tuple[str, str, float]]:  # fmt: skip
    """Mine candidate pairs by ratio margin, as XTREME's `mine_bitext` (mode "mine").

    Args:
        src_ids, tgt_ids: Ids of the embedding rows.
        src_emb, tgt_emb: Sentence embeddings `(len(ids), d)`.
        threshold: Keep candidates with margin `>= threshold` (XTREME mines with `> 0` and later keeps
            `>= best_threshold`; pass 0 to get the full candidate list for `best_threshold`).
        k: Margin neighbourhood size.
        retrieval: "max" (XTREME's default: forward and backward best pooled, one-to-one by decreasing
            score), "fwd" (best target per source), "bwd", or "intersect" (mutual best).

    Returns:
        `(src_id, tgt_id, score)` triples by decreasing score.
    """
    if len(src_ids) != len(src_emb) or len(tgt_ids) != len(tgt_emb):
        raise ValueError("mine_pairs: ids and embedding rows differ in number")
    (fwd, fwd_inds), (bwd, bwd_inds) = _margins(src_emb, tgt_emb, k)
    fwd_best = fwd_inds[np.arange(len(fwd)), fwd.argmax(axis=1)]
    bwd_best = bwd_inds[np.arange(len(bwd)), bwd.argmax(axis=1)]
    forward = [(i, int(j), float(s)) for i, (j, s) in enumerate(zip(fwd_best, fwd.max(axis=1), strict=True))]
    backward = [(int(i), j, float(s)) for j, (i, s) in enumerate(zip(bwd_best, bwd.max(axis=1), strict=True))]
    if retrieval == "fwd":
        found = forward
    elif retrieval == "bwd":
        found = backward
    elif retrieval == "intersect":
        found = [(i, j, s) for i, j, s in forward if bwd_best[j] == i]
    elif retrieval == "max":
        found, seen_src, seen_tgt = [], set(), set()
        # Stable sort: equal scores keep forward-before-backward order (XTREME's argsort leaves it open).
        for i, j, s in sorted(forward + backward, key=lambda c: -c[2]):
            if i not in seen_src and j not in seen_tgt:
                seen_src.add(i)
                seen_tgt.add(j)
                found.append((i, j, s))
    else:
        raise ValueError(f"mine_pairs: unknown retrieval {retrieval!r} (max, fwd, bwd, intersect)")
    found = sorted(found, key=lambda c: -c[2])
    return [(src_ids[i], tgt_ids[j], s) for i, j, s in found if s >= threshold]


def best_threshold(candidates: Iterable[tuple[str, str, float]], gold_pairs: Iterable[Pair | str]) -> float:
    """The margin threshold that maximises F1 against gold pairs (XTREME's `bucc_optimize`).

    Candidates are ranked by decreasing score (a pair listed twice keeps its best score); walking down
    the ranking, each new F1 maximum sets the threshold to the midpoint between that candidate's score
    and the next one's. If the best cut is the very last candidate, XTREME would index past the list;
    here its own score is used, which keeps the same candidates under `score >= threshold`.

    Returns:
        The threshold; 0.0 when no candidate is correct (XTREME's initial value).
    """
    scores: dict[Pair, float] = {}
    for src, tgt, score in candidates:
        scores[(src, tgt)] = max(score, scores.get((src, tgt), score))
    ranked = sorted(scores.items(), key=lambda item: -item[1])
    gold = {as_pair(p) for p in gold_pairs}
    correct = 0
    threshold, best_f1 = 0.0, 0.0
    for i, (pair, score) in enumerate(ranked):
        correct += pair in gold
        if correct > 0:
            precision, recall = correct / (i + 1), correct / len(gold)
            f1 = 2 * precision * recall / (precision + recall)
            if f1 > best_f1:
                best_f1 = f1
                threshold = (score + ranked[i + 1][1]) / 2 if i + 1 < len(ranked) else score
    return float(threshold)


def average_precision_at_k(relevant: Iterable[Hashable], ranked: Sequence[Hashable], k: int) -> float:
    """AP@k of one ranked list (XTREME-R): a repeated prediction counts once; 0 with no relevant item."""
    relevant = set(relevant)
    if not relevant:
        return 0.0
    hits, score = 0, 0.0
    for i, item in enumerate(ranked[:k]):
        if item in relevant and item not in ranked[:i]:
            hits += 1
            score += hits / (i + 1)
    return score / min(len(relevant), k)


def map_at_k(predictions: Mapping[Hashable, Sequence[Hashable]], golds: Mapping[Hashable, Iterable[Hashable]],
             k: int = 20) -> dict[str, float]:  # fmt: skip
    """Mean AP@k over the gold queries (a query without predictions scores 0).

    Args:
        predictions: Ranked candidate ids per query id (only the first k are read).
        golds: Relevant candidate ids per query id.
        k: Cut-off (XTREME-R: 20).

    Returns:
        `{"map_at_<k>": 0-100, "n": queries, "missing": queries without predictions}`.

    Raises:
        ValueError: A prediction for an unknown query id, or a prediction that is not a list of ids.
    """
    for key, ranked in predictions.items():
        if key not in golds:
            raise ValueError(f"map_at_k: prediction for unknown id {key!r}")
        if isinstance(ranked, str | bytes) or not isinstance(ranked, Sequence):
            raise ValueError(f"map_at_k: id {key!r}: prediction {ranked!r} is not a ranked list of ids")
    scores = [average_precision_at_k(gold, list(predictions.get(key, [])), k) for key, gold in golds.items()]
    value = 100 * sum(scores) / len(scores) if scores else 0.0
    return {f"map_at_{k}": value, "n": len(scores), "missing": sum(key not in predictions for key in golds)}


def map_at_20(predictions: Mapping[Hashable, Sequence[Hashable]],
              golds: Mapping[Hashable, Iterable[Hashable]]) -> dict[str, float]:  # fmt: skip
    """`map_at_k` with XTREME-R's cut-off of 20 (LAReQA, Mewsli-X)."""
    return map_at_k(predictions, golds, 20)
