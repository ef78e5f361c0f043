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


def _file(root: Path, layout: LocalLayout, split: str, lang: str) -> Path:
    return root / layout.folder / layout.files[split].format(lang=layout.codes.get(lang, lang))


def find_layout(task: Task, split: str, data_dir: str | Path, lang: str | None = None) -> tuple[LocalLayout, Path]:
    """The local layout of `task` serving `split` (in `lang`) under `data_dir`, and its folder.

    With a language, the first declared layout whose file exists wins (so a second layout, e.g. UD
    treebanks in CoNLL-U, serves the languages the first lacks); otherwise, or when no file exists,
    the first layout whose folder exists (its missing file is then named in the error).
    """
    root = Path(data_dir)
    candidates = [lay for lay in task.local if split in lay.files and (root / lay.folder).is_dir()]
    if lang is not None:
        for layout in candidates:
            if _file(root, layout, split, lang).is_file():
                return layout, root / layout.folder
    if candidates:
        return candidates[0], root / candidates[0].folder
    declared = ", ".join(f"{lay.folder}/{lay.files.get(split, '-')}" for lay in task.local)
    raise UserError(f"{root}: no local data for task '{task.name}' split '{split}' (expected {declared})")


def local_path(task: Task, lang: str, split: str, data_dir: str | Path) -> Path:
    """The local file holding `task`'s `split` in `lang` (it may not exist)."""
    layout, _ = find_layout(task, split, data_dir, lang)
    return _file(Path(data_dir), layout, split, lang)


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


def _class_names(features, column: str) -> list[str] | None:
    """Names of a class-label column, or of a sequence of class labels (tags); None otherwise."""
    feature = features.get(column.split(".")[0]) if "." not in column else None
    return getattr(feature, "names", None) or getattr(getattr(feature, "feature", None), "names", None)


def _to_names(value: Any, labels: list[str]) -> Any:
    if isinstance(value, list):
        return [_to_names(v, labels) for v in value]
    return labels[value] if isinstance(value, int) and value >= 0 else ("-1" if isinstance(value, int) else value)


def _hub_rows(source: HubSource, lang: str, split: str, task_name: str) -> tuple[list[tuple[int, dict]], str]:
    """Rows of a Hub split with class-label ids turned into their names."""
    import datasets

    if not source.path:
        raise UserError(f"task '{task_name}' has no Hugging Face Hub source (local files only); set data_dir")
    if split not in source.splits:
        raise UserError(f"task '{task_name}' has no '{split}' split on the Hub (has: {', '.join(source.splits)})")
    code = source.codes.get(lang, lang)
    config = source.config.format(lang=code)
    where = f"{source.path}[{config}]/{source.splits[split]}"
    try:
        extra = {"revision": source.revision} if source.revision else {}
        dataset = datasets.load_dataset(source.path, config, split=source.splits[split], **extra)
    except Exception as exc:  # network, missing config, ...: one line for the user
        raise UserError(f"cannot load {where} from the Hub ({type(exc).__name__}); set data_dir") from None
    names = {column: _class_names(dataset.features, column) for column in source.columns.values()}
    names = {column: found for column, found in names.items() if found}
    rows = []
    prefix = source.filter_prefix.format(code=code)
    for index, row in enumerate(dataset):
        if source.filter_column and not str(row[source.filter_column]).startswith(prefix):
            continue
        if names:
            row = dict(row)
            for column, labels in names.items():
                row[column] = _to_names(row[column], labels)
        if source.skip_labels and str(row.get(source.columns.get("label", ""), "")) in source.skip_labels:
            continue
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
        layout, _ = find_layout(task, split, data_dir, lang)
        path = local_path(task, lang, split, data_dir)
        if not path.is_file():
            raise UserError(f"data file not found: {path}")
        try:
            rows = list(READERS[layout.reader](path))
        except UnicodeDecodeError as exc:
            raise UserError(f"{path}: not UTF-8 text (byte {exc.start})") from None
        if layout.language_column:  # one file for every language: keep this language (and shared rows)
            code = layout.codes.get(lang, lang)
            rows = [(n, r) for n, r in rows if r.get(layout.language_column) in (code, "", None)]
        records = canonical_records(rows, layout.columns, layout.label_map, task.labels, str(path))
    if not records:
        raise UserError(f"task '{task.name}' split '{split}' in '{lang}' is empty")
    return records[:max_examples] if max_examples > 0 else records


def default_eval_split(task: Task, data_dir: str | Path | None, lang: str | None = None) -> str:
    """`test` where the source has a labelled test split (for `lang`, when given), otherwise `dev`.

    A task whose only split is `test` (Tatoeba) is evaluated on it.
    """
    if data_dir is None:
        return "test" if task.hub.labelled_test or "dev" not in task.hub.splits else "dev"
    fallback = "dev" if any("dev" in layout.files for layout in task.local) else "test"
    try:
        layout, _ = find_layout(task, "test", data_dir, lang)
    except UserError:
        return fallback
    if not layout.labelled_test or (lang is not None and not _file(Path(data_dir), layout, "test", lang).is_file()):
        return fallback
    return "test"


def raw_text_path(lang: str, data_dir: str | Path) -> Path:
    """Where the local raw text for `lang` lives under `data_dir`."""
    return Path(data_dir) / RAW_TEXT.local_file.format(lang=lang)


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
        path = raw_text_path(lang, data_dir)
        if not path.is_file():
            raise UserError(f"raw text for language '{lang}' not found: {path}")
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not lines:
        raise UserError(f"raw text for language '{lang}' is empty")
    return lines[:max_lines] if max_lines > 0 else lines
