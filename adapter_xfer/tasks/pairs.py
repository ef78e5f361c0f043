"""Sentence-pair classification tasks: MNLI (English intermediate), XNLI and PAWS-X (XTREME)."""

from adapter_xfer.tasks import HubSource, LocalLayout, Task

_NLI_LABELS = ("entailment", "neutral", "contradiction")
_PAIR = {"text_a": "sentence1", "text_b": "sentence2", "label": "label"}

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
)
