"""The task table: every fact about every task lives in its `Task` entry and nowhere else.

Entries are grouped by family in this package's modules (`pairs`, `qa`, `tagging`, `choice`,
`retrieval`); `TASKS` is their union.

A task names its format, languages, labels, metric, the English task that trains it for zero-shot
transfer, its Hub source (a `datasets` id, a config pattern, split names, column names) and one or
more local layouts under `data_dir/<folder>/`. Both sources go through the same field mapping in
`data.py`, so local files and the Hub give identical records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from adapter_xfer.errors import UserError

SPLITS = ("train", "dev", "test")


@dataclass(frozen=True)
class HubSource:
    """A parquet-backed Hugging Face dataset (current `datasets` runs no loading scripts)."""

    path: str
    config: str  # may contain {lang}
    splits: dict[str, str]  # our split name -> the Hub's
    columns: dict[str, str]  # format field -> Hub column (dotted for nested: "answers.text")
    labelled_test: bool = True
    codes: dict[str, str] = field(default_factory=dict)  # language -> code in `config` (default: itself)
    filter_column: str = ""  # when one config holds every language: keep rows whose column value
    filter_prefix: str = "{code}-"  # starts with this prefix ({code}: the language's code)
    revision: str | None = None  # e.g. "refs/convert/parquet" for repos whose main branch has a script
    skip_labels: tuple[str, ...] = ()  # label values that mean "no gold" (SNLI's -1): rows are dropped


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
    codes: dict[str, str] = field(default_factory=dict)  # language -> file code (Tatoeba's deu, cmn)
    language_column: str = ""  # one file for every language: keep rows whose column is the file code


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
    recipe: tuple[str, ...] = ()  # English tasks trained before `train_task` (XCOPA: SocialIQA, then COPA)
    id_scheme: str = "position"  # "position" in the split file, or "field" (the dataset's own id)
    license: str = ""
    options: dict[str, Any] = field(default_factory=dict)  # format settings (stride, layer, choices...)

    @property
    def source_language(self) -> str:
        return "en"


# Each family module lists its entries in `ENTRIES`; the table is their union, in this order.
TASK_MODULES = ("pairs", "qa", "tagging", "choice", "retrieval")


def _build_table() -> dict[str, Task]:
    import importlib

    table: dict[str, Task] = {}
    for module in TASK_MODULES:
        for task in importlib.import_module(f"adapter_xfer.tasks.{module}").ENTRIES:
            if task.name in table:
                raise ValueError(f"task '{task.name}' is declared twice")
            table[task.name] = task
    return table


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
TASKS: dict[str, Task] = _build_table()
