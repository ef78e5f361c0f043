"""Sentence-pair classification tasks: XNLI and PAWS-X (XTREME), and the English intermediate tasks
MNLI, ANLI, SNLI and QQP.

ANLI ("ANLI+" in the X-STILTs study, Phang et al. 2020): the `anli` entry is ANLI's three rounds as one
task (every split concatenates R1, R2, R3: the Hub's `+` split syntax, and the `anli_*` readers
locally); X-STILTs trains ANLI+ on those rounds together with the MNLI and SNLI training sets. That
mixture is recorded in `options["mixture"]` (the partners, each a task entry of its own here) for the
training loop to mix; evaluating `anli` scores the ANLI rounds only.
"""

from adapter_xfer.tasks import HubSource, LocalLayout, Task

_NLI_LABELS = ("entailment", "neutral", "contradiction")
_PAIR = {"text_a": "sentence1", "text_b": "sentence2", "label": "label"}
_ANLI_CODES = {"e": "entailment", "n": "neutral", "c": "contradiction"}
_ANLI_ROUNDS = "{0}_r1+{0}_r2+{0}_r3"

ENTRIES: tuple[Task, ...] = (
    Task(
        name="mnli",
        format="pair_classification",
        summary="MultiNLI, English natural language inference (intermediate task; trains XNLI)",
        languages=("en",),
        labels=_NLI_LABELS,
        metric="accuracy",
        hub=HubSource(
            path="nyu-mll/glue",
            config="mnli",
            splits={"train": "train", "dev": "validation_matched", "test": "test_matched"},
            columns={"text_a": "premise", "text_b": "hypothesis", "label": "label"},
            labelled_test=False,
        ),
        local=(
            LocalLayout(  # GLUE's MNLI folder
                folder="MNLI",
                files={"train": "train.tsv", "dev": "dev_matched.tsv", "test": "test_matched.tsv"},
                reader="tsv_header",
                columns={"text_a": "sentence1", "text_b": "sentence2", "label": "gold_label"},
            ),
            LocalLayout(  # 1,000-example MNLI dev subset (TextFooler); label codes 0/1/2
                folder="nli_en_subsets",
                files={"dev": "mnli.tsv"},
                reader="tsv",
                columns={"label": "0", "text_a": "1", "text_b": "2"},
                label_map={"0": "entailment", "1": "neutral", "2": "contradiction"},
            ),
        ),
        license="OANC / CC BY-SA 3.0",
    ),
    Task(
        name="xnli",
        format="pair_classification",
        summary="XNLI, cross-lingual NLI in 15 languages (XTREME); trained on MNLI",
        languages=tuple(["ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh"]),
        labels=_NLI_LABELS,
        metric="accuracy",
        hub=HubSource(
            path="facebook/xnli",
            config="{lang}",
            splits={"train": "train", "dev": "validation", "test": "test"},
            columns={"text_a": "premise", "text_b": "hypothesis", "label": "label"},
        ),
        local=(
            LocalLayout(  # XTREME's preprocessed files: premise, hypothesis, label; no header
                folder="xnli",
                files={"dev": "dev-{lang}.tsv", "test": "test-{lang}.tsv"},
                reader="tsv",
                columns={"text_a": "0", "text_b": "1", "label": "2"},
            ),
        ),
        train_task="mnli",
        license="CC BY-NC 4.0",
    ),
    Task(
        name="pawsx",
        format="pair_classification",
        summary="PAWS-X, adversarial paraphrase identification in 7 languages (XTREME)",
        languages=tuple(["de", "en", "es", "fr", "ja", "ko", "zh"]),
        labels=("0", "1"),
        metric="accuracy",
        hub=HubSource(
            path="google-research-datasets/paws-x",
            config="{lang}",
            splits={"train": "train", "dev": "validation", "test": "test"},
            columns=_PAIR,
        ),
        local=(
            LocalLayout(  # XTREME's preprocessed files: sentence1, sentence2, label; no header
                folder="pawsx",
                files={"train": "train-{lang}.tsv", "dev": "dev-{lang}.tsv", "test": "test-{lang}.tsv"},
                reader="tsv",
                columns={"text_a": "0", "text_b": "1", "label": "2"},
            ),
        ),
        license="PAWS-X terms (free use, attribution to Google appreciated)",
    ),
    Task(
        name="anli",
        format="pair_classification",
        summary="Adversarial NLI rounds 1-3, English (intermediate task; ANLI+ adds MNLI and SNLI)",
        languages=("en",),
        labels=_NLI_LABELS,
        metric="accuracy",
        hub=HubSource(
            path="facebook/anli",
            config="plain_text",
            splits={split: _ANLI_ROUNDS.format(split) for split in ("train", "dev", "test")},
            columns={"id": "uid", "text_a": "premise", "text_b": "hypothesis", "label": "label"},
        ),
        local=(
            LocalLayout(  # the official release: anli_v1.0/R{1,2,3}/{train,dev,test}.jsonl, labels e/n/c
                folder="anli_v1.0",
                files={"train": "R1/train.jsonl", "dev": "R1/dev.jsonl", "test": "R1/test.jsonl"},
                reader="anli_jsonl",
                columns={"id": "uid", "text_a": "context", "text_b": "hypothesis", "label": "label"},
                label_map=_ANLI_CODES,
                labelled_test=True,
            ),
            LocalLayout(  # the dev rounds with annotations (anlizinganli); hypothesis = `statement`
                folder="anli_dev",
                files={"dev": "ANLI_analysis_r1_dev.csv"},
                reader="anli_csv",
                columns={"id": "uid", "text_a": "context", "text_b": "statement", "label": "gold_label"},
                label_map=_ANLI_CODES,
            ),
        ),
        id_scheme="field",
        license="CC BY-NC 4.0",
        options={"mixture": ("mnli", "snli")},
    ),
    Task(
        name="snli",
        format="pair_classification",
        summary="SNLI, English natural language inference (intermediate task; part of ANLI+)",
        languages=("en",),
        labels=_NLI_LABELS,
        metric="accuracy",
        hub=HubSource(
            path="stanfordnlp/snli",
            config="plain_text",
            splits={"train": "train", "dev": "validation", "test": "test"},
            columns={"text_a": "premise", "text_b": "hypothesis", "label": "label"},
            skip_labels=("-1",),  # pairs without a gold label
        ),
        local=(
            LocalLayout(  # the official release; pairs without a gold label ("-") are dropped by the reader
                folder="snli_1.0",
                files={"train": "snli_1.0_train.jsonl", "dev": "snli_1.0_dev.jsonl", "test": "snli_1.0_test.jsonl"},
                reader="snli_jsonl",
                columns={"text_a": "sentence1", "text_b": "sentence2", "label": "gold_label"},
                labelled_test=True,
            ),
            LocalLayout(  # 1,000-example SNLI subset (TextFooler): label, premise, hypothesis
                folder="nli_en_subsets",
                files={"dev": "snli.tsv"},
                reader="tsv",
                columns={"label": "0", "text_a": "1", "text_b": "2"},
            ),
        ),
        license="CC BY-SA 4.0",
    ),
    Task(
        name="qqp",
        format="pair_classification",
        summary="Quora Question Pairs (GLUE), English paraphrase identification (intermediate task)",
        languages=("en",),
        labels=("not_duplicate", "duplicate"),
        metric="accuracy",
        hub=HubSource(
            path="nyu-mll/glue",
            config="qqp",
            splits={"train": "train", "dev": "validation", "test": "test"},
            columns={"text_a": "question1", "text_b": "question2", "label": "label"},
            labelled_test=False,
        ),
        local=(
            LocalLayout(  # GLUE's QQP folder: id qid1 qid2 question1 question2 is_duplicate
                folder="QQP",
                files={"train": "train.tsv", "dev": "dev.tsv", "test": "test.tsv"},
                reader="tsv_header",
                columns={"text_a": "question1", "text_b": "question2", "label": "is_duplicate"},
                label_map={"0": "not_duplicate", "1": "duplicate"},
            ),
        ),
        license="Quora Question Pairs terms (non-commercial research use)",
    ),
)
