"""Accuracy and the shared id rules (unknown ids refused, missing ids scored as wrong and reported)."""

from __future__ import annotations

import logging
import random

import pytest

from adapter_xfer.metrics import METRICS, accuracy, check_ids


def test_accuracy_counts_exact_label_matches():
    golds = {0: "entailment", 1: "neutral", 2: "contradiction", 3: "neutral"}
    predictions = {0: "entailment", 1: "neutral", 2: "neutral", 3: "neutral"}
    assert accuracy(predictions, golds) == {"accuracy": 75.0, "n": 4, "missing": 0}


def test_accuracy_matches_xtreme_arithmetic_bit_for_bit():
    rng = random.Random(0)
    for _ in range(200):
        n = rng.randint(1, 50)
        golds = {i: rng.choice("01") for i in range(n)}
        predictions = {i: rng.choice("01") for i in range(n)}
        correct = sum(int(predictions[i] == golds[i]) for i in range(n))
        # XTREME evaluate.py: float(correct) / len(predictions), then * 100.
        assert accuracy(predictions, golds)["accuracy"] == float(correct) / n * 100


def test_accuracy_with_integer_choices():
    assert accuracy({"a": 0, "b": 1}, {"a": 0, "b": 0})["accuracy"] == 50.0


def test_missing_prediction_counts_as_wrong_and_is_reported(caplog):
    golds = {"x": "0", "y": "1", "z": "1"}
    with caplog.at_level(logging.WARNING):
        result = accuracy({"x": "0", "y": "1"}, golds)
    assert result["accuracy"] == pytest.approx(200 / 3)
    assert result["n"] == 3
    assert result["missing"] == 1
    assert "'z'" in caplog.text


def test_unknown_prediction_id_is_an_error_naming_it():
    with pytest.raises(ValueError, match="'ghost'"):
        accuracy({"a": "0", "ghost": "1"}, {"a": "0"})


def test_string_and_number_are_not_silently_compared():
    with pytest.raises(ValueError, match="id 'a'"):
        accuracy({"a": 1}, {"a": "1"})


def test_no_gold_is_an_error():
    with pytest.raises(ValueError, match="no gold"):
        accuracy({}, {})


def test_check_ids_returns_missing_in_gold_order():
    assert check_ids({2: "a"}, {3: "a", 2: "b", 1: "c"}, "m") == [3, 1]


def test_metrics_table_names():
    assert set(METRICS) == {"accuracy", "squad_v1", "squad_v2", "mlqa", "seqeval", "tatoeba", "bucc", "map_at_20"}
    assert METRICS["accuracy"] is accuracy
