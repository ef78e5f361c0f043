"""Extractive QA scores: SQuAD v1.1, SQuAD v2.0 and MLQA exact match and token F1.

Re-implements, without their file handling, the official scorers:
- SQuAD v1.1 `evaluate-v1.1.py` (Rajpurkar et al. 2016), used by XTREME for XQuAD and TyDiQA-GoldP;
- SQuAD v2.0 `evaluate-v2.0.py` (Rajpurkar et al. 2018; same as `transformers`' `squad_metrics`);
- MLQA `mlqa_evaluation_v1.py` (Lewis et al. 2020, facebookresearch/MLQA), with its per-language
  normalisation, used by XTREME for MLQA.

Each example scores the maximum over its gold answers. The scripts differ in details kept here on
purpose: v1.1 and MLQA give F1 0 when prediction and gold both normalise to nothing (while their EM is
1), v2.0 gives F1 1 there; v2.0 drops gold answers that normalise to nothing and treats a question
without usable answers as "no answer" (gold `""`).
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from collections.abc import Callable, Hashable, Mapping, Sequence

from adapter_xfer.metrics.classification import check_ids

_SQUAD_PUNCT = frozenset(string.punctuation)
_EN_ARTICLES = re.compile(r"\b(a|an|the)\b")

# MLQA's article lists, verbatim. The Arabic pattern is MLQA's own: its first branch (`\sال^`) can never
# match, so every "ال" is replaced by a space, also inside words. Reproduced as is, since that is the
# scorer everyone reports. Hindi and Chinese have no articles.
_MLQA_ARTICLES: dict[str, re.Pattern[str] | None] = {
    "en": _EN_ARTICLES,
    "es": re.compile(r"\b(un|una|unos|unas|el|la|los|las)\b"),
    "hi": None,
    "vi": re.compile(r"\b(của|là|cái|chiếc|những)\b"),
    "de": re.compile(r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b"),
    "ar": re.compile("\\sال^|ال"),
    "zh": None,
}
_MIXED_SEGMENTATION_LANGS = frozenset({"zh"})
# MLQA's CJK test is this exact range (not the full U+4E00-U+9FFF block).
_CJK = re.compile("[\u4e00-\u9fa5]")


def _is_mlqa_punct(char: str) -> bool:
    """MLQA's PUNCT set: every Unicode `P*` category character plus ASCII `string.punctuation`.

    Tested per character rather than by building MLQA's 1.1M-entry set at import; same membership.
    """
    return char in _SQUAD_PUNCT or unicodedata.category(char).startswith("P")


def normalize_squad(text: str) -> str:
    """SQuAD normalisation: lower case, drop ASCII punctuation, drop English articles, squeeze spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _SQUAD_PUNCT)
    return " ".join(_EN_ARTICLES.sub(" ", text).split())


def mixed_segmentation(text: str) -> list[str]:
    """MLQA's Chinese tokenisation: each CJK character (or punctuation mark) alone, other runs split on spaces."""
    tokens: list[str] = []
    run = ""
    for char in text:
        if _CJK.search(char) or _is_mlqa_punct(char):
            tokens.extend(run.split())
            run = ""
            tokens.append(char)
        else:
            run += char
    tokens.extend(run.split())
    return tokens


def normalize_mlqa(text: str, lang: str) -> str:
    """MLQA normalisation for answer language `lang`: lower, drop punctuation, drop articles, re-tokenise.

    Raises:
        ValueError: `lang` is not one of MLQA's languages (en, es, de, ar, hi, vi, zh).
    """
    if lang not in _MLQA_ARTICLES:
        raise ValueError(f"mlqa: unknown answer language {lang!r}; expected one of {sorted(_MLQA_ARTICLES)}")
    text = "".join(ch for ch in text.lower() if not _is_mlqa_punct(ch))
    articles = _MLQA_ARTICLES[lang]
    if articles is not None:
        text = articles.sub(" ", text)
    tokens = mixed_segmentation(text) if lang in _MIXED_SEGMENTATION_LANGS else text.split()
    return " ".join(t for t in tokens if t.strip() != "")


def _token_f1(pred_tokens: list[str], gold_tokens: list[str]) -> float:
    """Bag-of-tokens F1 as all three scripts compute it when both sides have tokens (0 when none shared)."""
    num_same = sum((Counter(pred_tokens) & Counter(gold_tokens)).values())
    if num_same == 0:
        return 0
    precision = 1.0 * num_same / len(pred_tokens)
    recall = 1.0 * num_same / len(gold_tokens)
    return (2 * precision * recall) / (precision + recall)


def _check_texts(key: Hashable, prediction: object, answers: object, metric: str, allow_empty: bool) -> None:
    if not isinstance(prediction, str):
        raise ValueError(f"{metric}: id {key!r}: prediction must be a string, got {prediction!r}")
    if isinstance(answers, str) or not isinstance(answers, Sequence) or not all(isinstance(a, str) for a in answers):
        raise ValueError(f"{metric}: id {key!r}: gold must be a list of answer strings, got {answers!r}")
    if not answers and not allow_empty:
        raise ValueError(f"{metric}: id {key!r} has no gold answer (unanswerable questions need squad_v2)")


def _em_f1_v1(predictions: Mapping[Hashable, str], golds: Mapping[Hashable, Sequence[str]], metric: str,
              normalize: Callable[[str], str]) -> dict[str, float]:  # fmt: skip
    """The v1.1 / MLQA loop: max EM and F1 over gold answers, missing predictions score 0."""
    missing = check_ids(predictions, golds, metric)
    exact_match = f1 = 0.0
    for key, answers in golds.items():
        if key not in predictions:
            _check_texts(key, "", answers, metric, allow_empty=False)
            continue
        _check_texts(key, predictions[key], answers, metric, allow_empty=False)
        pred_norm = normalize(predictions[key])
        pred_tokens = pred_norm.split()
        gold_norms = [normalize(answer) for answer in answers]
        exact_match += max(pred_norm == gold for gold in gold_norms)
        f1 += max(_token_f1(pred_tokens, gold.split()) for gold in gold_norms)
    total = len(golds)
    return {"exact_match": 100.0 * exact_match / total, "f1": 100.0 * f1 / total, "n": total,
            "missing": len(missing)}  # fmt: skip


def squad_v1(predictions: Mapping[Hashable, str], golds: Mapping[Hashable, Sequence[str]]) -> dict[str, float]:
    """SQuAD v1.1 exact match and F1 (XQuAD, TyDiQA-GoldP, SQuAD v1.1), as `evaluate-v1.1.py`.

    Args:
        predictions: Answer text per question id.
        golds: Non-empty list of gold answer texts per question id.

    Returns:
        `{"exact_match", "f1"}` on 0-100, `"n"` questions, `"missing"` questions without a prediction.

    Raises:
        ValueError: Unknown prediction id, a non-string prediction, or a question without gold answers.
    """
    return _em_f1_v1(predictions, golds, "squad_v1", normalize_squad)


def mlqa(predictions: Mapping[Hashable, str], golds: Mapping[Hashable, Sequence[str]], lang: str) -> dict[str, float]:
    """MLQA exact match and F1 with MLQA's normalisation for answer language `lang`.

    As `mlqa_evaluation_v1.py`: Unicode punctuation removed, per-language articles removed, whitespace
    tokens, except for Chinese where each CJK character is a token (mixed segmentation).

    Args:
        predictions: Answer text per question id.
        golds: Non-empty list of gold answer texts per question id.
        lang: Answer (context) language: en, es, de, ar, hi, vi or zh.

    Returns:
        `{"exact_match", "f1"}` on 0-100, `"n"`, `"missing"`.

    Raises:
        ValueError: Unknown language or id, a non-string prediction, or a question without gold answers.
    """
    normalize_mlqa("", lang)  # fail on an unknown language before scoring anything
    return _em_f1_v1(predictions, golds, "mlqa", lambda text: normalize_mlqa(text, lang))


def _v2_scores(prediction: str, answers: Sequence[str]) -> tuple[int, float]:
    """`evaluate-v2.0.py` for one question: gold answers normalising to nothing are dropped, none left = ""."""
    gold_texts = [answer for answer in answers if normalize_squad(answer)] or [""]
    pred_norm = normalize_squad(prediction)
    pred_tokens = pred_norm.split()
    exact, f1 = 0, 0.0
    for gold in gold_texts:
        gold_norm = normalize_squad(gold)
        gold_tokens = gold_norm.split()
        exact = max(exact, int(gold_norm == pred_norm))
        # v2.0: "no answer" (no tokens) on either side scores 1 only if both are.
        both = gold_tokens and pred_tokens
        f1 = max(f1, _token_f1(pred_tokens, gold_tokens) if both else int(gold_tokens == pred_tokens))
    return exact, f1


def squad_v2(predictions: Mapping[Hashable, str], golds: Mapping[Hashable, Sequence[str]]) -> dict[str, float]:
    """SQuAD v2.0 exact match and F1, overall and split into answerable / unanswerable questions.

    As `evaluate-v2.0.py` (and `transformers.data.metrics.squad_metrics.squad_evaluate`) without a
    no-answer probability file: an empty gold list marks an unanswerable question, a prediction `""`
    means "no answer". One deliberate difference: the official scripts drop questions without a
    prediction from the totals; here they count as wrong, like everywhere in this package.

    Args:
        predictions: Answer text per question id (`""` for no answer).
        golds: Gold answer texts per question id (empty for unanswerable).

    Returns:
        `exact_match`, `f1`, `n`, `missing`, and `HasAns_exact_match`, `HasAns_f1`, `HasAns_n`,
        `NoAns_exact_match`, `NoAns_f1`, `NoAns_n` for whichever of the two groups is non-empty (the
        official script omits an empty group too, its averages being undefined).

    Raises:
        ValueError: Unknown prediction id or a non-string prediction.
    """
    missing = set(check_ids(predictions, golds, "squad_v2"))
    exact: dict[Hashable, float] = {}
    f1: dict[Hashable, float] = {}
    for key, answers in golds.items():
        _check_texts(key, predictions.get(key, ""), answers, "squad_v2", allow_empty=True)
        exact[key], f1[key] = (0, 0.0) if key in missing else _v2_scores(predictions[key], answers)
    result: dict[str, float] = {}
    # The official script keys HasAns by the raw answer list, before dropping empty-normalising answers.
    groups = {"": list(golds), "HasAns_": [k for k, a in golds.items() if a],
              "NoAns_": [k for k, a in golds.items() if not a]}  # fmt: skip
    for prefix, keys in groups.items():
        if keys:
            result[f"{prefix}exact_match"] = 100.0 * sum(exact[k] for k in keys) / len(keys)
            result[f"{prefix}f1"] = 100.0 * sum(f1[k] for k in keys) / len(keys)
            result[f"{prefix}n"] = len(keys)
    result["missing"] = len(missing)
    return result
