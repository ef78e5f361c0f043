"""Tatoeba accuracy, BUCC F1, ratio-margin mining and threshold search (XTREME's utils_retrieve.py)."""

from __future__ import annotations

import numpy as np
import pytest

from adapter_xfer.metrics import (
    METRICS,
    best_threshold,
    bucc_f1,
    knn,
    margin_scores,
    mine_pairs,
    normalize_rows,
    tatoeba_accuracy,
)


def test_tatoeba_accuracy_and_missing():
    golds = {0: 0, 1: 1, 2: 2, 3: 3}
    assert tatoeba_accuracy({0: 0, 1: 1, 2: 0, 3: np.int64(3)}, golds) == {"accuracy": 75.0, "n": 4, "missing": 0}
    assert tatoeba_accuracy({0: 0}, golds)["missing"] == 3


@pytest.mark.parametrize("bad", [True, "1", 1.0])
def test_tatoeba_rejects_non_integer_indices(bad):
    with pytest.raises(ValueError, match="id 0"):
        tatoeba_accuracy({0: bad}, {0: 1})


def test_bucc_f1_counts_duplicates_once():
    gold = [("zh-1", "en-1"), ("zh-2", "en-2"), ("zh-2", "en-2"), ("zh-3", "en-3")]
    predicted = ["zh-1\ten-1", "zh-1\ten-1", ("zh-2", "en-2"), ("zh-4", "en-9")]
    result = bucc_f1(predicted, gold)
    # 2 distinct correct of 3 distinct predicted, 3 distinct gold.
    assert result["precision"] == 2 / 3 * 100 and result["recall"] == 2 / 3 * 100
    assert result["f1"] == pytest.approx(200 / 3) and result["n"] == 3


def test_bucc_f1_nothing_correct_is_zero():
    assert bucc_f1([("a", "b")], [("a", "c")]) == {"f1": 0.0, "precision": 0.0, "recall": 0.0, "n": 1}
    assert bucc_f1([], [("a", "c")])["f1"] == 0.0


def test_bucc_score_reads_the_predictions_format():
    golds = {"zh-en": ["zh-1\ten-1", "zh-2\ten-2"], "de-en": ["de-1\ten-1"]}
    result = METRICS["bucc"]({"zh-en": ["zh-1\ten-1", "zh-1\ten-1"]}, golds)
    assert (result["precision"], result["recall"], result["n"], result["missing"]) == (100.0, 1 / 3 * 100, 3, 1)
    with pytest.raises(ValueError, match="'fr-en'"):
        METRICS["bucc"]({"fr-en": []}, golds)
    with pytest.raises(ValueError, match="pair"):
        METRICS["bucc"]({"zh-en": ["zh-1 en-1"]}, golds)


def _brute_margins(x: np.ndarray, y: np.ndarray, k: int) -> np.ndarray:
    """The full ratio-margin matrix, written from the formula (Artetxe & Schwenk 2019)."""
    x, y = normalize_rows(x).astype(np.float64), normalize_rows(y).astype(np.float64)
    cos = x @ y.T
    fwd_mean = -np.sort(-cos, axis=1)[:, : min(k, len(y))].mean(axis=1)
    bwd_mean = -np.sort(-cos.T, axis=1)[:, : min(k, len(x))].mean(axis=1)
    return cos / ((fwd_mean[:, None] + bwd_mean[None, :]) / 2)


def test_knn_is_exact_and_sorted():
    rng = np.random.default_rng(0)
    x, y = normalize_rows(rng.normal(size=(50, 8))), normalize_rows(rng.normal(size=(70, 8)))
    sims, inds = knn(x, y, 5)
    full = x @ y.T
    assert np.array_equal(inds, np.argsort(-full, axis=1, kind="stable")[:, :5])
    assert np.allclose(sims, np.take_along_axis(full, inds, axis=1))
    assert knn(x, y[:3], 5)[1].shape == (50, 3)  # k capped by the database size


def test_margin_scores_match_the_formula():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(40, 16)) * 3, rng.normal(size=(30, 16))
    scores, inds = margin_scores(x, y, k=4)
    assert scores.shape == inds.shape == (40, 4)
    assert np.allclose(scores, np.take_along_axis(_brute_margins(x, y, 4), inds, axis=1), atol=1e-5)


def _xtreme_max_mining(x: np.ndarray, y: np.ndarray, k: int) -> list[tuple[int, int, float]]:
    """XTREME's mine_bitext(retrieval="max") written over the full margin matrix, for comparison."""
    margins, cos = _brute_margins(x, y, k), normalize_rows(x) @ normalize_rows(y).T
    fwd_cand = np.argsort(-cos, axis=1)[:, :k]
    bwd_cand = np.argsort(-cos.T, axis=1)[:, :k]
    fwd = [(i, int(c[np.argmax(margins[i, c])]), margins[i, c].max()) for i, c in enumerate(fwd_cand)]
    bwd = [(int(c[np.argmax(margins[c, j])]), j, margins[c, j].max()) for j, c in enumerate(bwd_cand)]
    kept, seen_x, seen_y = [], set(), set()
    for i, j, s in sorted(fwd + bwd, key=lambda t: -t[2]):
        if i not in seen_x and j not in seen_y:
            seen_x.add(i)
            seen_y.add(j)
            kept.append((i, j, s))
    return kept


def test_mine_pairs_max_retrieval_matches_xtreme_logic():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(25, 6)), rng.normal(size=(35, 6))
    src, tgt = [f"s{i}" for i in range(25)], [f"t{j}" for j in range(35)]
    mined = mine_pairs(src, x, tgt, y, threshold=0.0)
    expected = _xtreme_max_mining(x, y, 4)
    assert [(a, b) for a, b, _ in mined] == [(src[i], tgt[j]) for i, j, s in expected if s >= 0]
    assert np.allclose([s for *_, s in mined], [s for *_, s in expected if s >= 0], atol=1e-5)
    # One-to-one: no source or target twice.
    assert len({a for a, *_ in mined}) == len(mined) == len({b for _, b, _ in mined})


def test_mine_pairs_finds_noisy_translations_and_applies_the_threshold():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(60, 32))
    perm = rng.permutation(60)
    y = x[perm] + 0.05 * rng.normal(size=(60, 32))  # y[j] translates x[perm[j]]
    src, tgt = [f"de-{i}" for i in range(60)], [f"en-{j}" for j in range(60)]
    gold = {(src[perm[j]], tgt[j]) for j in range(60)}
    for retrieval in ("max", "fwd", "bwd", "intersect"):
        mined = mine_pairs(src, x, tgt, y, threshold=0.0, retrieval=retrieval)
        assert {(a, b) for a, b, _ in mined} == gold, retrieval
    cut = float(np.median([s for *_, s in mined]))
    high = mine_pairs(src, x, tgt, y, threshold=cut)
    assert [p for p in mined if p[2] >= cut] == high and 0 < len(high) < 60
    with pytest.raises(ValueError, match="retrieval"):
        mine_pairs(src, x, tgt, y, threshold=0.0, retrieval="both")


def test_best_threshold_is_the_midpoint_after_the_best_f1_cut():
    gold = {("a", "1"), ("b", "2"), ("c", "3")}
    candidates = [("a", "1", 1.5), ("b", "2", 1.4), ("x", "9", 1.3), ("c", "3", 1.2), ("y", "8", 1.0)]
    # Cuts: after 2 -> F1 0.8; after 4 -> F1 6/7 (best); so midpoint of 1.2 and 1.0.
    assert best_threshold(candidates, gold) == pytest.approx(1.1)
    kept = [(s, t) for s, t, score in candidates if score >= best_threshold(candidates, gold)]
    assert bucc_f1(kept, gold)["f1"] == pytest.approx(600 / 7)


def test_best_threshold_edge_cases():
    # Best cut at the very last candidate: its own score (XTREME would index past the list).
    assert best_threshold([("a", "1", 2.0), ("b", "2", 1.0)], ["a\t1", "b\t2"]) == 1.0
    # Nothing correct: XTREME's initial 0.
    assert best_threshold([("a", "9", 2.0)], [("a", "1")]) == 0.0
    # A pair listed twice keeps its best score.
    assert best_threshold([("a", "1", 1.0), ("z", "9", 1.5), ("a", "1", 3.0)], [("a", "1")]) == 2.25
