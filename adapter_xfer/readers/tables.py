"""Readers for row-per-record files: TSV (XTREME's header-less files, GLUE's with a header), CSV with a
header (Cosmos QA, SWAG, ANLI's analysis files) and JSON lines (XCOPA, COPA, SNLI, ANLI, ...).

A reader takes a path and yields `(line number, row)` pairs, `row` mapping column names to values;
header-less files name their columns "0", "1", ...
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from adapter_xfer.errors import UserError

csv.field_size_limit(sys.maxsize)

Rows = Iterator[tuple[Any, dict[str, Any]]]


def read_tsv(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """Header-less TSV: columns are named "0", "1", ... (quotes are literal, as in XTREME's files)."""
    with open(path, encoding="utf-8", newline="") as handle:
        for number, row in enumerate(csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE), 1):
            if row:
                yield number, {str(i): value for i, value in enumerate(row)}


def read_tsv_header(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """TSV with a header line (GLUE's layout)."""
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        for number, row in enumerate(reader, 2):
            yield number, {k: v for k, v in row.items() if k is not None}


def read_csv_header(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """Standard (RFC 4180) CSV with a header line; quoted fields may span lines.

    Rows are numbered by the line they start on, so messages point at the record even when an
    earlier field held a newline.
    """
    with open(path, encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        start = reader.line_num + 1
        for row in reader:
            if None in row:  # more fields than the header names: a broken record, not data
                raise UserError(f"{path}:{start}: {len(row) - 1 + len(row[None])} fields, header has {len(row) - 1}")
            yield start, row
            start = reader.line_num + 1


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """JSON lines: one object per non-blank line."""
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise UserError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise UserError(f"{path}:{number}: expected a JSON object, got {type(row).__name__}")
            yield number, row


def read_snli_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """SNLI's official JSON lines without the pairs whose `gold_label` is "-" (no annotator majority).

    Every published SNLI result drops them; positions (ids) count the pairs that remain.
    """
    for number, row in read_jsonl(path):
        if row.get("gold_label") != "-":
            yield number, row


def _anli_rounds(path: Path) -> list[Path]:
    """The three round files of an ANLI split, given round 1's (`R1/<split>.jsonl` or `*_r1_*`)."""
    if path.parent.name == "R1":
        paths = [path.parent.parent / f"R{r}" / path.name for r in (1, 2, 3)]
    elif "_r1_" in path.name:
        paths = [path.with_name(path.name.replace("_r1_", f"_r{r}_")) for r in (1, 2, 3)]
    else:
        raise UserError(f"{path}: not an ANLI round-1 file (expected R1/<split>.jsonl or a name with _r1_)")
    for round_path in paths:
        if not round_path.is_file():
            raise UserError(f"ANLI round file not found: {round_path}")
    return paths


def _rounds(read: Callable[[Path], Rows]) -> Callable[[Path], Rows]:
    def read_rounds(path: Path) -> Rows:
        for number, round_path in enumerate(_anli_rounds(path), 1):
            for line, row in read(round_path):
                yield f"round {number} line {line}", row

    read_rounds.__doc__ = (f"ANLI rounds 1-3 of one split, in order, from round 1's file ({read.__name__} "
                           "files). ANLI is one task over its three rounds, as ANLI+ trains it.")  # fmt: skip
    return read_rounds


read_anli_jsonl = _rounds(read_jsonl)
read_anli_csv = _rounds(read_csv_header)

READERS = {
    "tsv": read_tsv,
    "tsv_header": read_tsv_header,
    "csv_header": read_csv_header,
    "jsonl": read_jsonl,
    "snli_jsonl": read_snli_jsonl,
    "anli_jsonl": read_anli_jsonl,
    "anli_csv": read_anli_csv,
}
