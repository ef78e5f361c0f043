"""Extractive question answering tasks (`span_qa`): SQuAD v1.1 and v2.0 (English), XQuAD, MLQA, TyDiQA-GoldP.

Every source is SQuAD-style JSON read by the `squad_json` reader, so all entries share one column
mapping; ids are the dataset's own `id` (`id_scheme="field"`). Local layouts, first match wins:

- SQuAD: the official files in `squad/` (`train-v1.1.json`, `dev-v1.1.json`) and `squad_v2/`
  (`train-v2.0.json`, `dev-v2.0.json`), as XTREME's scripts expect them.
- XQuAD: `xquad/xquad.{lang}.json` (deepmind/xquad; one labelled split, used as `test`).
- MLQA: XTREME's download (`mlqa/MLQA_V1/{dev,test}/...`), then ../shared/data's dev-only `mlqa/dev/`.
- TyDiQA-GoldP: XTREME's download (`tydiqa/tydiqa-goldp-v1.1-{train,dev}/`), then ../shared/data's
  `tydiqa_goldp/{train,dev}/`. XTREME evaluates on the dev set (there is no public test).

Format options (`span_qa` defaults apply otherwise): `no_answer` marks SQuAD v2.0's unanswerable
questions; `doc_stride`, `max_answer_length`, `max_query_length`, `n_best_size`,
`null_score_diff_threshold` can be set per task.
"""

from adapter_xfer.tasks import HubSource, LocalLayout, Task

# Canonical field -> column, for the `squad_json` reader and for the Hub's nested `answers` feature.
_LOCAL = {
    "id": "id",
    "context": "context",
    "question": "question",
    "answers": "answers",
    "answer_starts": "answer_starts",
}
_HUB = {
    "id": "id",
    "context": "context",
    "question": "question",
    "answers": "answers.text",
    "answer_starts": "answers.answer_start",
}

_XQUAD_LANGS = ("ar", "de", "el", "en", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh")  # XTREME's 11 + XTREME-R's ro
_MLQA_LANGS = ("ar", "de", "en", "es", "hi", "vi", "zh")
# TyDiQA language names: the prefix of every TyDiQA id ("english-...") in the mixed-language Hub config.
_TYDIQA_NAMES = {
    "ar": "arabic",
    "bn": "bengali",
    "en": "english",
    "fi": "finnish",
    "id": "indonesian",
    "ko": "korean",
    "ru": "russian",
    "sw": "swahili",
    "te": "telugu",
}

ENTRIES: tuple[Task, ...] = (
    Task(
        name="squad",
        format="span_qa",
        summary="SQuAD v1.1, English extractive QA (intermediate task; trains XQuAD and MLQA)",
        languages=("en",),
        labels=(),
        metric="squad_v1",
        hub=HubSource(
            path="rajpurkar/squad",
            config="plain_text",
            splits={"train": "train", "dev": "validation"},
            columns=_HUB,
            labelled_test=False,
        ),
        local=(
            LocalLayout(
                folder="squad",
                files={"train": "train-v1.1.json", "dev": "dev-v1.1.json"},
                reader="squad_json",
                columns=_LOCAL,
            ),
        ),
        id_scheme="field",
        license="CC BY-SA 4.0",
    ),
    Task(
        name="squad_v2",
        format="span_qa",
        summary="SQuAD v2.0, English extractive QA with unanswerable questions",
        languages=("en",),
        labels=(),
        metric="squad_v2",
        hub=HubSource(
            path="rajpurkar/squad_v2",
            config="squad_v2",
            splits={"train": "train", "dev": "validation"},
            columns=_HUB,
            labelled_test=False,
        ),
        local=(
            LocalLayout(
                folder="squad_v2",
                files={"train": "train-v2.0.json", "dev": "dev-v2.0.json"},
                reader="squad_json",
                columns=_LOCAL,
            ),
        ),
        id_scheme="field",
        license="CC BY-SA 4.0",
        options={"no_answer": True},
    ),
    Task(
        name="xquad",
        format="span_qa",
        summary="XQuAD, SQuAD v1.1 dev translated into 11 languages + Romanian (XTREME/XTREME-R); trained on SQuAD",
        languages=_XQUAD_LANGS,
        labels=(),
        metric="squad_v1",
        # google/xtreme's XQuAD.<lang> configs lack Romanian; google/xquad has all 12 (one split).
        hub=HubSource(path="google/xquad", config="xquad.{lang}", splits={"test": "validation"}, columns=_HUB),
        local=(
            LocalLayout(
                folder="xquad",
                files={"test": "xquad.{lang}.json"},
                reader="squad_json",
                columns=_LOCAL,
                labelled_test=True,
            ),
        ),
        train_task="squad",
        id_scheme="field",
        license="CC BY-SA 4.0",
    ),
    Task(
        name="mlqa",
        format="span_qa",
        summary="MLQA, extractive QA in 7 languages, context language = question language (XTREME); trained on SQuAD",
        languages=_MLQA_LANGS,
        labels=(),
        metric="mlqa",
        hub=HubSource(
            path="google/xtreme",
            config="MLQA.{lang}.{lang}",
            splits={"dev": "validation", "test": "test"},
            columns=_HUB,
        ),
        local=(
            LocalLayout(  # MLQA_V1.zip unpacked in mlqa/ (XTREME's download script)
                folder="mlqa/MLQA_V1",
                files={
                    "dev": "dev/dev-context-{lang}-question-{lang}.json",
                    "test": "test/test-context-{lang}-question-{lang}.json",
                },
                reader="squad_json",
                columns=_LOCAL,
                labelled_test=True,
            ),
            LocalLayout(  # ../shared/data: dev only (the test files were not collected)
                folder="mlqa",
                files={"dev": "dev/dev-context-{lang}-question-{lang}.json"},
                reader="squad_json",
                columns=_LOCAL,
            ),
        ),
        train_task="squad",
        id_scheme="field",
        license="CC BY-SA 3.0",
    ),
    Task(
        name="tydiqa",
        format="span_qa",
        summary="TyDiQA-GoldP, extractive QA in 9 typologically diverse languages (XTREME); own English train",
        languages=tuple(sorted(_TYDIQA_NAMES)),
        labels=(),
        metric="squad_v1",  # as XTREME scores it
        # One config for all languages; rows belong to a language by their id prefix `<codes[lang]>-`.
        hub=HubSource(
            path="google/xtreme",
            config="tydiqa",
            splits={"train": "train", "dev": "validation"},
            columns=_HUB,
            labelled_test=False,
            codes=_TYDIQA_NAMES,
            filter_column="id",  # one config for all languages; ids start with the language name
            filter_prefix="{code}-",
        ),
        local=(
            LocalLayout(  # XTREME's download script
                folder="tydiqa",
                files={
                    "train": "tydiqa-goldp-v1.1-train/tydiqa.{lang}.train.json",
                    "dev": "tydiqa-goldp-v1.1-dev/tydiqa.goldp.{lang}.dev.json",
                },
                reader="squad_json",
                columns=_LOCAL,
            ),
            LocalLayout(  # ../shared/data
                folder="tydiqa_goldp",
                files={"train": "train/tydiqa.goldp.{lang}.train.json", "dev": "dev/tydiqa.goldp.{lang}.dev.json"},
                reader="squad_json",
                columns=_LOCAL,
            ),
        ),
        id_scheme="field",
        license="Apache-2.0",
    ),
)
