"""SQuAD v1.1 / v2.0 and MLQA scores: the official scripts' edge cases, and `transformers`' squad_metrics
(a faithful port of evaluate-v2.0.py) as an independent oracle."""

from __future__ import annotations

import random
import string
import sys
import unicodedata
from types import SimpleNamespace

import pytest
from transformers.data.metrics import squad_metrics

from adapter_xfer.metrics import mixed_segmentation, mlqa, normalize_mlqa, normalize_squad, squad_v1, squad_v2
from adapter_xfer.metrics.qa import _is_mlqa_punct

WORDS = ["the", "a", "an", "cat", "Cat", "sat", "on", "mat", "mat.", "The", "(1990)", "1990", "an-", "théâtre", ""]


def _random_answer(rng: random.Random) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(0, 4))) + rng.choice(["", " ", "!", "  ,"])


# --- SQuAD v1.1 -------------------------------------------------------------------------------------


def test_v1_takes_the_best_of_several_gold_answers():
    golds = {"q1": ["Denver Broncos", "the Broncos", "Broncos"]}
    assert squad_v1({"q1": "broncos!"}, golds)["exact_match"] == 100.0
    result = squad_v1({"q1": "Denver"}, golds)
    assert result["exact_match"] == 0.0
    assert result["f1"] == pytest.approx(100 * 2 / 3)  # vs "Denver Broncos": p=1, r=1/2


def test_v1_normalisation_case_punctuation_articles_spaces():
    assert normalize_squad("  The  Cat, (an) a-mat!  ") == "cat amat"
    assert normalize_squad("théâtre") == "théâtre"  # only ASCII punctuation is removed in SQuAD


def test_v1_both_sides_empty_after_normalisation_is_em_1_but_f1_0():
    # evaluate-v1.1.py: f1_score returns 0 when no token is shared, even if both are empty.
    result = squad_v1({"q": "the"}, {"q": ["An"]})
    assert (result["exact_match"], result["f1"]) == (100.0, 0.0)


def test_v1_agrees_with_the_v2_oracle_where_both_sides_have_tokens():
    rng = random.Random(1)
    for _ in range(500):
        pred, gold = _random_answer(rng), _random_answer(rng)
        assert normalize_squad(pred) == squad_metrics.normalize_answer(pred)
        got = squad_v1({"q": pred}, {"q": [gold]})
        assert got["exact_match"] == 100.0 * squad_metrics.compute_exact(gold, pred)
        if normalize_squad(pred) and normalize_squad(gold):
            assert got["f1"] == 100.0 * squad_metrics.compute_f1(gold, pred)


def test_v1_missing_prediction_scores_zero_and_unknown_id_raises():
    golds = {"a": ["x"], "b": ["y"]}
    assert squad_v1({"a": "x"}, golds) == {"exact_match": 50.0, "f1": 50.0, "n": 2, "missing": 1}
    with pytest.raises(ValueError, match="'c'"):
        squad_v1({"c": "x"}, golds)


def test_v1_refuses_questions_without_answers_and_non_string_predictions():
    with pytest.raises(ValueError, match="squad_v2"):
        squad_v1({"a": "x"}, {"a": []})
    with pytest.raises(ValueError, match="'a'"):
        squad_v1({"a": None}, {"a": ["x"]})


# --- SQuAD v2.0 -------------------------------------------------------------------------------------


def test_v2_no_answer_both_ways():
    golds = {"has": ["Broncos"], "none": []}
    # Predicting "" for an answerable question, and an answer for an unanswerable one: both wrong.
    wrong = squad_v2({"has": "", "none": "Broncos"}, golds)
    assert (wrong["exact_match"], wrong["f1"], wrong["HasAns_f1"], wrong["NoAns_f1"]) == (0.0, 0.0, 0.0, 0.0)
    right = squad_v2({"has": "the Broncos", "none": ""}, golds)
    assert (right["exact_match"], right["f1"]) == (100.0, 100.0)
    assert (right["HasAns_n"], right["NoAns_n"], right["n"]) == (1, 1, 2)


def test_v2_answer_normalising_to_nothing_counts_as_no_answer_gold_but_stays_hasans():
    result = squad_v2({"q": ""}, {"q": ["The"]})
    assert result["f1"] == 100.0 and result["HasAns_f1"] == 100.0 and "NoAns_f1" not in result


def test_v2_omits_empty_groups():
    assert "NoAns_exact_match" not in squad_v2({"q": "x"}, {"q": ["x"]})
    assert "HasAns_exact_match" not in squad_v2({"q": ""}, {"q": []})


def _oracle_v2(predictions: dict, golds: dict) -> dict:
    examples = [SimpleNamespace(qas_id=k, answers=[{"text": a} for a in v]) for k, v in golds.items()]
    return squad_metrics.squad_evaluate(examples, predictions)


@pytest.mark.parametrize("seed", range(5))
def test_v2_matches_transformers_squad_evaluate(seed):
    rng = random.Random(seed)
    golds = {f"q{i}": [_random_answer(rng) for _ in range(rng.choice([0, 0, 1, 2, 3]))] for i in range(60)}
    predictions = {k: rng.choice(["", _random_answer(rng), *golds[k]]) for k in golds}
    ours, oracle = squad_v2(predictions, golds), _oracle_v2(predictions, golds)
    assert ours["exact_match"] == oracle["exact"] and ours["f1"] == oracle["f1"] and ours["n"] == oracle["total"]
    for group in ("HasAns", "NoAns"):
        if f"{group}_total" in oracle:
            assert ours[f"{group}_exact_match"] == oracle[f"{group}_exact"]
            assert ours[f"{group}_f1"] == oracle[f"{group}_f1"]
            assert ours[f"{group}_n"] == oracle[f"{group}_total"]


def test_v2_missing_prediction_is_wrong_in_its_group():
    result = squad_v2({"a": ""}, {"a": [], "b": []})
    assert (result["exact_match"], result["NoAns_exact_match"], result["missing"]) == (50.0, 50.0, 1)


# --- MLQA -------------------------------------------------------------------------------------------


def test_mlqa_punctuation_is_every_unicode_p_category_plus_ascii_punctuation():
    mlqa_punct = {chr(i) for i in range(sys.maxunicode) if unicodedata.category(chr(i)).startswith("P")}
    mlqa_punct |= set(string.punctuation)
    assert all(_is_mlqa_punct(chr(i)) == (chr(i) in mlqa_punct) for i in range(sys.maxunicode))


@pytest.mark.parametrize(
    ("lang", "text", "normalised"),
    [
        ("en", "The «cat»!", "cat"),
        ("es", "El gato y la casa de los Reyes", "gato y casa de reyes"),
        ("de", "Der Hund, die Katze und das Haus eines Mannes", "hund katze und haus mannes"),
        ("vi", "Cái nhà của tôi", "nhà tôi"),
        ("ar", "الكتاب", "كتاب"),
        ("ar", "مالك", "م ك"),  # MLQA's pattern removes "ال" inside words too
        ("hi", "the भारत", "the भारत"),  # no articles in Hindi, English ones are kept
        ("zh", "北京大学", "北 京 大 学"),
        ("zh", "iPhone 12手机，很好。", "iphone 12 手 机 很 好"),
        ("zh", "the 猫", "the 猫"),  # no articles in Chinese
        ("en", "$5 ¿qué? €", "5 qué €"),  # $ is ASCII punctuation; € (Sc) is not punctuation
    ],
)
def test_mlqa_per_language_normalisation(lang, text, normalised):
    assert normalize_mlqa(text, lang) == normalised


def test_mlqa_mixed_segmentation_keeps_non_cjk_runs():
    assert mixed_segmentation("abc 北京de f") == ["abc", "北", "京", "de", "f"]
    # U+9FA6 is outside MLQA's CJK range [\u4e00-\u9fa5] and stays in its run.
    assert mixed_segmentation("\u9fa6x北") == ["\u9fa6x", "北"]


def test_mlqa_chinese_f1_is_per_character():
    result = mlqa({"q": "北京大学"}, {"q": ["北京"]}, lang="zh")
    assert result["exact_match"] == 0.0
    assert result["f1"] == pytest.approx(100 * 2 * (0.5 * 1.0) / 1.5)  # p = 2/4, r = 2/2
    # The same strings under whitespace tokenisation share no token.
    assert mlqa({"q": "北京大学"}, {"q": ["北京"]}, lang="en")["f1"] == 0.0


def test_mlqa_articles_depend_on_language():
    golds = {"q": ["la casa"]}
    assert mlqa({"q": "casa"}, golds, lang="es")["exact_match"] == 100.0
    assert mlqa({"q": "casa"}, golds, lang="en")["exact_match"] == 0.0


def test_mlqa_several_gold_answers_missing_and_empty():
    golds = {"a": ["der Hund", "ein großer Hund"], "b": ["Katze"]}
    result = mlqa({"a": "großer Hund"}, golds, lang="de")
    assert result["exact_match"] == 50.0 * 1  # "a" matches "ein großer Hund"; "b" missing
    assert (result["n"], result["missing"]) == (2, 1)
    # Like v1.1: both sides empty after normalisation -> EM 1, F1 0.
    empty = mlqa({"q": "¡!"}, {"q": ["die"]}, lang="de")
    assert (empty["exact_match"], empty["f1"]) == (100.0, 0.0)


def test_mlqa_unknown_language_raises():
    with pytest.raises(ValueError, match="'fr'"):
        mlqa({"q": "x"}, {"q": ["x"]}, lang="fr")
