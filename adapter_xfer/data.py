"""Loading a task split for a language, from the Hugging Face Hub or from local files, by one path.

Both sources yield raw rows (column name -> value); `canonical_records` maps them to the format's
fields (`id`, `text_a`, `text_b`, `label`, ...) with the task's column mapping and label map, so a
local file and its Hub twin give identical records. Errors name the file and line at fault.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from adapter_xfer.errors import UserError
from adapter_xfer.readers import READERS
from adapter_xfer.tasks import RAW_TEXT, SPLITS, HubSource, LocalLayout, Task


def find_layout(task: Task, split: str, data_dir: str | Path) -> tuple[LocalLayout, Path]:
    """The first declared local layout of `task` that has a file for `split` under `data_dir`."""
    root = Path(data_dir)
    for layout in task.local:
        if split in layout.files and (root / layout.folder).is_dir():
            return layout, root / layout.folder
    declared = ", ".join(f"{lay.folder}/{lay.files.get(split, '-')}" for lay in task.local)
    raise UserError(f"{root}: no local data for task '{task.name}' split '{split}' (expected {declared})")


def local_path(task: Task, lang: str, split: str, data_dir: str | Path) -> Path:
    """The local file holding `task`'s `split` in `lang` (it may not exist)."""
    layout, folder = find_layout(task, split, data_dir)
    return folder / layout.files[split].format(lang=layout.codes.get(lang, lang))


def _lookup(row: dict[str, Any], column: str) -> Any:
    """A column value; dotted names reach into nested Hub features (`answers.text`)."""
    value: Any = row
    for part in column.split("."):
        if not isinstance(value, dict) or part not in value or value[part] is None:
            raise KeyError(column)
        value = value[part]
    return value


def canonical_records(
    rows: Iterable[tuple[Any, dict[str, Any]]],
    columns: dict[str, str],
    label_map: dict[str, str],
    labels: tuple[str, ...],
    where: str,
) -> list[dict[str, Any]]:
    """Map raw rows to format fields; `id` is the 0-based position unless a column provides it.

    Args:
        rows: (line number or row index, raw row) pairs in file order.
        columns: format field -> raw column.
        label_map: stored label code -> label string (empty: stored values are the labels).
        labels: the task's label set; anything else is a data error.
        where: file or Hub split name used in error messages.
    """
    records = []
    for position, (line, row) in enumerate(rows):
        record: dict[str, Any] = {"id": position}
        for name, column in columns.items():
            try:
                record[name] = _lookup(row, column)
            except KeyError:
                raise UserError(f"{where}:{line}: missing column '{column}' (field '{name}')") from None
        if "label" in record:
            label = str(record["label"]).strip()
            label = label_map.get(label, label)
            if label not in labels:
                raise UserError(f"{where}:{line}: label {label!r} is not one of {', '.join(labels)}")
            record["label"] = label
        records.append(record)
    return records


def _hub_rows(source: HubSource, lang: str, split: str, task_name: str) -> tuple[list[tuple[int, dict]], str]:
    """Rows of a Hub split with class-label ids turned into their names."""
    import datasets

    if not source.path:
        raise UserError(f"task '{task_name}' has no Hugging Face Hub source (local files only); set data_dir")
    code = source.codes.get(lang, lang)
    config = source.config.format(lang=code)
    where = f"{source.path}[{config}]/{source.splits[split]}"
    try:
        dataset = datasets.load_dataset(source.path, config, split=source.splits[split])
    except Exception as exc:  # network, missing config, ...: one line for the user
        raise UserError(f"cannot load {where} from the Hub ({type(exc).__name__}); set data_dir") from None
    label_column = source.columns.get("label")
    feature = dataset.features.get(label_column) if label_column else None
    names = getattr(feature, "names", None)
    rows = []
    prefix = source.filter_prefix.format(code=code)
    for index, row in enumerate(dataset):
        if source.filter_column and not str(row[source.filter_column]).startswith(prefix):
            continue
        if names is not None and isinstance(row[label_column], int):
            row = dict(row)
            row[label_column] = names[row[label_column]] if row[label_column] >= 0 else "-1"
        rows.append((index, row))
    return rows, where


def load_split(
    task: Task, lang: str, split: str, data_dir: str | Path | None = None, max_examples: int = 0
) -> list[dict[str, Any]]:
    """Load `task`'s `split` in `lang` as canonical records (Hub when `data_dir` is None).

    Raises:
        UserError: unknown language or split, missing file, or malformed data.
    """
    if split not in SPLITS:
        raise UserError(f"unknown split '{split}' for task '{task.name}' (use one of {', '.join(SPLITS)})")
    if lang not in task.languages:
        known = " ".join(task.languages)
        raise UserError(f"task '{task.name}' has no language '{lang}' (languages: {known})")
    if data_dir is None:
        rows, where = _hub_rows(task.hub, lang, split, task.name)
        records = canonical_records(rows, task.hub.columns, {}, task.labels, where)
    else:
        layout, _ = find_layout(task, split, data_dir)
        path = local_path(task, lang, split, data_dir)
        if not path.is_file():
            raise UserError(f"data file not found: {path}")
        rows = READERS[layout.reader](path)
        records = canonical_records(rows, layout.columns, layout.label_map, task.labels, str(path))
    if not records:
        raise UserError(f"task '{task.name}' split '{split}' in '{lang}' is empty")
    return records[:max_examples] if max_examples > 0 else records


def default_eval_split(task: Task, data_dir: str | Path | None) -> str:
    """`test` where the source has a labelled test split, otherwise `dev` (the contracts' default)."""
    if data_dir is None:
        return "test" if task.hub.labelled_test else "dev"
    try:
        layout, _ = find_layout(task, "test", data_dir)
    except UserError:
        return "dev"
    return "test" if layout.labelled_test else "dev"


def load_raw_text(lang: str, data_dir: str | Path | None, max_lines: int = 0) -> list[str]:
    """Raw text lines for masked language modelling in `lang` (Hub Wikipedia when `data_dir` is None)."""
    if data_dir is None:
        import datasets

        config = RAW_TEXT.hub_config.format(lang=lang)
        split = f"train[:{max_lines}]" if max_lines > 0 else "train"
        try:
            dataset = datasets.load_dataset(RAW_TEXT.hub_path, config, split=split)
        except Exception as exc:
            raise UserError(
                f"cannot load raw text {RAW_TEXT.hub_path}[{config}] ({type(exc).__name__}); set data_dir"
            ) from None
        lines = [t.strip() for t in dataset[RAW_TEXT.hub_column] if t.strip()]
    else:
        path = Path(data_dir) / RAW_TEXT.local_file.format(lang=lang)
        if not path.is_file():
            raise UserError(f"raw text for language '{lang}' not found: {path}")
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not lines:
        raise UserError(f"raw text for language '{lang}' is empty")
    return lines[:max_lines] if max_lines > 0 else lines
