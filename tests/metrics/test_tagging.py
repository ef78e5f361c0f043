"""seqeval-style chunk F1 and token accuracy, checked against the `seqeval` package itself."""

from __future__ import annotations

import random
import warnings

import pytest
from seqeval.metrics import accuracy_score, f1_score, precision_score, recall_score
from seqeval.metrics.sequence_labeling import get_entities

from adapter_xfer.metrics import get_chunks, seqeval_f1, split_tag

NER = ["O", "O", "O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "I-MISC"]
IOBES = ["O", "B-PER", "I-PER", "E-PER", "S-PER", "S-LOC", "E-LOC", "B-LOC"]
UPOS = ["NOUN", "VERB", "ADJ", "ADP", "DET", "PROPN", "PRON", "PUNCT", "AUX", "ADV", "NUM", "PART",
        "CCONJ", "SCONJ", "INTJ", "SYM", "X", "_", "."]  # fmt: skip
ODD = ["B", "I", "O", "E", "S", "B-", "I-A-B", "-X", "B-PER", "X"]


def _seqeval(golds: list[list[str]], preds: list[list[str]]) -> dict[str, float]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # seqeval warns on non-NE tags and on zero divisions
        return {
            "f1": f1_score(golds, preds) * 100,
            "precision": precision_score(golds, preds) * 100,
            "recall": recall_score(golds, preds) * 100,
            "accuracy": accuracy_score(golds, preds) * 100,
        }


def _random_corpus(rng: random.Random, pool: list[str], noise: float) -> tuple[list[list[str]], list[list[str]]]:
    golds, preds = [], []
    for _ in range(rng.randint(1, 6)):
        gold = [rng.choice(pool) for _ in range(rng.randint(1, 9))]
        golds.append(gold)
        preds.append([rng.choice(pool) if rng.random() < noise else tag for tag in gold])
    return golds, preds


@pytest.mark.parametrize(("name", "pool"), [("ner", NER), ("iobes", IOBES), ("upos", UPOS), ("odd", ODD),
                                            ("mixed", NER + UPOS)])  # fmt: skip
def test_matches_seqeval_on_random_corpora(name, pool):
    rng = random.Random(name)
    for _ in range(300):
        golds, preds = _random_corpus(rng, pool, noise=rng.choice([0.0, 0.2, 0.6, 1.0]))
        ours = seqeval_f1(dict(enumerate(preds)), dict(enumerate(golds)))
        oracle = _seqeval(golds, preds)
        for metric in ("f1", "precision", "recall", "accuracy"):
            assert ours[metric] == oracle[metric], (metric, golds, preds)  # exact, not approximate


def test_get_chunks_matches_get_entities():
    rng = random.Random(7)
    for _ in range(2000):
        seq = [rng.choice(NER + IOBES + UPOS + ODD) for _ in range(rng.randint(0, 12))]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert get_chunks(seq) == [tuple(c) for c in get_entities(seq)], seq


def test_split_tag_reads_like_seqeval():
    assert split_tag("B-PER") == ("B", "PER")
    assert split_tag("I-A-B") == ("I", "A-B")
    assert split_tag("NOUN") == ("N", "OUN")
    assert split_tag("O") == ("O", "_")
    assert split_tag("X") == ("X", "_")


def test_default_chunking_rules():
    # I- after O starts a chunk (conlleval-like, not strict IOB2).
    assert get_chunks(["O", "I-PER", "I-PER"]) == [("PER", 1, 2)]
    # A type change inside a chunk ends it and starts another.
    assert get_chunks(["B-PER", "I-LOC"]) == [("PER", 0, 0), ("LOC", 1, 1)]
    # B- after B- of the same type: two chunks.
    assert get_chunks(["B-PER", "B-PER"]) == [("PER", 0, 0), ("PER", 1, 1)]


def test_upos_tags_are_chunked_the_seqeval_way():
    # A run of equal UPOS tags is one chunk; different tags split.
    assert get_chunks(["NOUN", "NOUN", "VERB"]) == [("OUN", 0, 1), ("ERB", 2, 2)]
    # So one wrong tag inside a run of nouns destroys the whole noun chunk.
    result = seqeval_f1({0: ["NOUN", "VERB", "NOUN"]}, {0: ["NOUN", "NOUN", "NOUN"]})
    assert (result["precision"], result["recall"], result["f1"]) == (0.0, 0.0, 0.0)
    assert result["accuracy"] == pytest.approx(200 / 3)
    # CCONJ and SCONJ both have type "CONJ": same span, different tag, still a true positive.
    assert seqeval_f1({0: ["SCONJ"]}, {0: ["CCONJ"]})["f1"] == 100.0


def test_x_tag_chunk_runs_across_a_sentence_boundary_like_seqeval():
    golds = [["X", "O"], ["X", "B-PER"]]
    preds = [["X", "O"], ["NOUN", "B-PER"]]
    assert seqeval_f1(dict(enumerate(preds)), dict(enumerate(golds))) == {
        **_seqeval(golds, preds), "n": 2, "missing": 0}  # fmt: skip


def test_perfect_and_empty():
    golds = {"s1": ["B-PER", "I-PER", "O"], "s2": ["O", "B-LOC"]}
    result = seqeval_f1(golds, golds)
    assert result == {"f1": 100.0, "precision": 100.0, "recall": 100.0, "accuracy": 100.0, "n": 2, "missing": 0}
    none = seqeval_f1({"s": ["O", "O"]}, {"s": ["O", "O"]})
    assert (none["f1"], none["accuracy"]) == (0.0, 100.0)  # no chunks at all: seqeval's 0


def test_missing_sentence_loses_its_chunks_and_tokens():
    golds = {"a": ["B-PER", "O"], "b": ["B-LOC", "O"]}
    result = seqeval_f1({"a": ["B-PER", "O"]}, golds)
    assert (result["precision"], result["recall"], result["accuracy"], result["missing"]) == (100.0, 50.0, 50.0, 1)


def test_length_mismatch_names_the_id():
    with pytest.raises(ValueError, match="'sent-7'"):
        seqeval_f1({"sent-7": ["O"]}, {"sent-7": ["O", "O"]})


def test_unknown_id_and_bad_tags():
    with pytest.raises(ValueError, match="'x'"):
        seqeval_f1({"x": ["O"]}, {"y": ["O"]})
    with pytest.raises(ValueError, match="non-empty"):
        seqeval_f1({"y": [""]}, {"y": ["O"]})
    with pytest.raises(ValueError, match="list of tags"):
        seqeval_f1({"y": "O"}, {"y": ["O"]})
