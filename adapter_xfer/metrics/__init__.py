"""Offline re-implementations of the official XTREME / XTREME-R scorers, as plain functions.

`evaluate` fetches its metric scripts from the Hub, so the project scores with these instead; each one
reproduces an official script (credited in its module) and is checked against an independent
implementation in `tests/metrics`.

Shared conventions: predictions and golds are dicts keyed by example id; results are dicts of floats on
a 0-100 scale plus `"n"` (units scored: examples, questions, sentences or gold pairs) and `"missing"`
(gold ids without a prediction, scored as wrong). A prediction for an id with no gold is a `ValueError`.

`METRICS` maps the metric name a task declares (`Task.metric`) to its function. All take
`(predictions, golds)`; `mlqa` also takes `lang`.

| name       | function           | tasks                                        |
|------------|--------------------|----------------------------------------------|
| accuracy   | `accuracy`         | XNLI, PAWS-X, MNLI, multiple choice          |
| squad_v1   | `squad_v1`         | SQuAD v1.1, XQuAD, TyDiQA-GoldP              |
| squad_v2   | `squad_v2`         | SQuAD v2.0                                   |
| mlqa       | `mlqa`             | MLQA (per-language normalisation)            |
| seqeval    | `seqeval_f1`       | PAN-X / WikiANN NER, UD-POS                  |
| tatoeba    | `tatoeba_accuracy` | Tatoeba                                      |
| bucc       | `bucc_score`       | BUCC 2018 (predictions format; see `bucc_f1`)|
| map_at_20  | `map_at_20`        | LAReQA, Mewsli-X (XTREME-R's mAP@20)         |
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from adapter_xfer.metrics.classification import accuracy, check_ids
from adapter_xfer.metrics.qa import mixed_segmentation, mlqa, normalize_mlqa, normalize_squad, squad_v1, squad_v2
from adapter_xfer.metrics.retrieval import (
    average_precision_at_k,
    best_threshold,
    bucc_f1,
    bucc_score,
    knn,
    map_at_20,
    map_at_k,
    margin_scores,
    mine_pairs,
    normalize_rows,
    tatoeba_accuracy,
)
from adapter_xfer.metrics.tagging import get_chunks, seqeval_f1, split_tag

METRICS: dict[str, Callable[..., dict[str, Any]]] = {
    "accuracy": accuracy,
    "squad_v1": squad_v1,
    "squad_v2": squad_v2,
    "mlqa": mlqa,
    "seqeval": seqeval_f1,
    "tatoeba": tatoeba_accuracy,
    "bucc": bucc_score,
    "map_at_20": map_at_20,
}

__all__ = [
    "METRICS",
    "accuracy",
    "average_precision_at_k",
    "best_threshold",
    "bucc_f1",
    "bucc_score",
    "check_ids",
    "get_chunks",
    "knn",
    "map_at_20",
    "map_at_k",
    "margin_scores",
    "mine_pairs",
    "mixed_segmentation",
    "mlqa",
    "normalize_mlqa",
    "normalize_rows",
    "normalize_squad",
    "seqeval_f1",
    "split_tag",
    "squad_v1",
    "squad_v2",
    "tatoeba_accuracy",
]
