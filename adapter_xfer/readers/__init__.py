"""File readers by layout name (`LocalLayout.reader`): one module per family of file formats.

A reader is `(path) -> iterator of (line number or position, row dict)`, in file order; the task
table maps row columns to format fields. Each module lists its readers in `READERS`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

Reader = Callable[[Path], Iterator[tuple[Any, dict[str, Any]]]]
READER_MODULES = ("tables", "squad", "tagging", "choice", "retrieval")


def _build() -> dict[str, Reader]:
    table: dict[str, Reader] = {}
    for module in READER_MODULES:
        for name, reader in importlib.import_module(f"adapter_xfer.readers.{module}").READERS.items():
            if name in table:
                raise ValueError(f"reader '{name}' is declared twice")
            table[name] = reader
    return table


READERS: dict[str, Reader] = _build()
