"""Readers for tabular files: header-less TSV (XTREME's preprocessed files) and TSV with a header (GLUE).

A reader takes a path and yields `(line number, row)` pairs, `row` mapping column names to values;
header-less files name their columns "0", "1", ...
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator
from pathlib import Path

csv.field_size_limit(sys.maxsize)


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


READERS = {"tsv": read_tsv, "tsv_header": read_tsv_header}
