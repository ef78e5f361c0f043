"""The task table: every fact about every task lives in its `Task` entry and nowhere else.

A task names its format, languages, labels, metric, the English task that trains it for zero-shot
transfer, its Hub source (a `datasets` id, a config pattern, split names, column names) and one or
more local layouts under `data_dir/<folder>/`. Both sources go through the same field mapping in
`data.py`, so local files and the Hub give identical records.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from adapter_xfer.errors import UserError

SPLITS = ("train", "dev", "test")


@dataclass(frozen=True)
class HubSource:
    """A parquet-backed Hugging Face dataset (current `datasets` runs no loading scripts)."""

    path: str
    config: str  # may contain {lang}
    splits: dict[str, str]  # our split name -> the Hub's
    columns: dict[str, str]  # format field -> Hub column
    labelled_test: bool = True


@dataclass(frozen=True)
class LocalLayout:
    """One published file layout of a task under `data_dir/<folder>/`.

    `files` maps our split name to a file pattern with `{lang}`; `reader` names a reader in
    `data.READERS`; `columns` maps format fields to the reader's column names; `label_map` turns
    stored label codes into the task's label strings.
    """

    folder: str
    files: dict[str, str]
    reader: str
    columns: dict[str, str]
    label_map: dict[str, str] = field(default_factory=dict)
    labelled_test: bool = False


@dataclass(frozen=True)
class Task:
    """One benchmark task: everything the pipeline needs to know about it."""

    name: str
    format: str
    summary: str
    languages: tuple[str, ...]
    labels: tuple[str, ...]
    metric: str
    hub: HubSource
    local: tuple[LocalLayout, ...]
    train_task: str | None = None  # the English task it is trained on; None: its own English train
    id_scheme: str = "position"  # "position" in the split file, or "field" (the dataset's own id)
    license: str = ""

    @property
    def source_language(self) -> str:
        return "en"


_NLI_LABELS = ("entailment", "neutral", "contradiction")
_PAIR = {"text_a": "sentence1", "text_b": "sentence2", "label": "label"}

TASKS: dict[str, Task] = {
    t.name: t
    for t in (
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
}


def get_task(name: str) -> Task:
    """Look a task up by name, with a one-line error listing the known ones."""
    try:
        return TASKS[name]
    except KeyError:
        raise UserError(f"unknown task '{name}' (known: {', '.join(sorted(TASKS))})") from None


def training_task(task: Task) -> Task:
    """The English task a target is trained on (XNLI <- MNLI; PAWS-X <- itself)."""
    return get_task(task.train_task) if task.train_task else task


@dataclass(frozen=True)
class TextSource:
    """Raw text per language for masked language modelling (language adapters)."""

    hub_path: str = "wikimedia/wikipedia"
    hub_config: str = "20231101.{lang}"
    hub_column: str = "text"
    local_file: str = "raw_text/{lang}.txt"  # one sentence or paragraph per line, under data_dir


RAW_TEXT = TextSource()
