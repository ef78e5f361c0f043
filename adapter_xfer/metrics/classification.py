"""Accuracy, and the id bookkeeping every metric family shares.

Every metric in `adapter_xfer.metrics` takes predictions and golds keyed by example id. The rules are
the same everywhere and live here: a prediction for an id that has no gold is a caller bug
(`ValueError` naming the id); a gold id without a prediction is scored as wrong, counted in the
denominator, logged, and reported as `missing` in the result, so a truncated predictions file lowers
the score visibly instead of silently shrinking the test set.

Accuracy follows XTREME's `evaluate.py` (`correct / total * 100`), which is the scorer for XNLI, PAWS-X,
XCOPA-style multiple choice (and, through `retrieval.tatoeba_accuracy`, Tatoeba).
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Mapping
from typing import Any

logger = logging.getLogger(__name__)


def check_ids(predictions: Mapping[Hashable, Any], golds: Mapping[Hashable, Any], metric: str) -> list[Hashable]:
    """Validate prediction ids against gold ids; return the gold ids that have no prediction.

    Args:
        predictions: Predictions keyed by example id.
        golds: Gold values keyed by example id.
        metric: The metric's name, for messages.

    Returns:
        Gold ids without a prediction, in gold order (each will be scored as wrong).

    Raises:
        ValueError: A prediction's id is not among the gold ids, or there is no gold at all.
    """
    if not golds:
        raise ValueError(f"{metric}: no gold examples to score")
    for key in predictions:
        if key not in golds:
            raise ValueError(f"{metric}: prediction for unknown id {key!r}")
    missing = [key for key in golds if key not in predictions]
    if missing:
        logger.warning("%s: %d of %d gold ids have no prediction (scored as wrong), e.g. %r",
                       metric, len(missing), len(golds), missing[0])  # fmt: skip
    return missing


def _check_same_kind(key: Hashable, prediction: Any, gold: Any, metric: str) -> None:
    """Refuse comparing a string with a number: `"1" != 1` would silently score a correct answer as wrong."""
    if isinstance(prediction, str) != isinstance(gold, str):
        raise ValueError(f"{metric}: id {key!r}: prediction {prediction!r} and gold {gold!r} differ in type "
                         f"({type(prediction).__name__} vs {type(gold).__name__})")  # fmt: skip


def accuracy(predictions: Mapping[Hashable, str | int], golds: Mapping[Hashable, str | int]) -> dict[str, float]:
    """Percentage of gold examples whose prediction equals the gold label.

    Scores as XTREME's `evaluate.py` `accuracy` does (exact equality of labels, `correct / total * 100`).

    Args:
        predictions: Predicted label (string) or choice index (int) per id.
        golds: Gold label or index per id.

    Returns:
        `{"accuracy": 0-100, "n": number of gold examples, "missing": ids without a prediction}`.

    Raises:
        ValueError: Unknown prediction id, or a string compared with a number.
    """
    missing = check_ids(predictions, golds, "accuracy")
    correct = 0
    for key, gold in golds.items():
        if key not in predictions:
            continue
        _check_same_kind(key, predictions[key], gold, "accuracy")
        correct += int(predictions[key] == gold)
    # Same operation order as XTREME (fraction first, then * 100) so floats match to the last bit.
    return {"accuracy": float(correct) / len(golds) * 100, "n": len(golds), "missing": len(missing)}
