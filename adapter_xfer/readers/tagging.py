"""Readers for sequence-labelling files: one row per sentence, `{"tokens": [...], "tags": [...]}`.

Every layout here separates sentences by blank lines and puts one word per line:

- `tagged_tsv`: `word<TAB>tag` (XTREME's preprocessed UD-POS and PAN-X files, CCGbank supertags). A
  file whose lines hold only the word (XTREME's test files after label removal) gives rows without
  `tags`.
- `indexed_tsv`: `index<TAB>word<TAB>tag` (the WikiANN files of Babelscape/wikineural).
- `tagged_space`: `word tag`, split on whitespace (MasakhaNER, CoNLL-2003 style; `-DOCSTART-` lines
  are document markers, not words).
- `conllu`: CoNLL-U; the word is FORM and the tag UPOS. Multi-word token ranges (`4-5`) and empty
  nodes (`8.1`) are skipped, so the words are UD's syntactic words, one UPOS each.

A reader yields `(line number of the sentence's first word, row)`; the position of a row among the
rows is the sentence id. Malformed lines are user errors naming the file and line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from adapter_xfer.errors import UserError

Row = dict[str, list[str]]
# Splits one non-blank line into (word, tag or None); raises ValueError with a reason.
LineParser = Callable[[str], tuple[str, str | None] | None]


def _sentences(path: Path, parse: LineParser) -> Iterator[tuple[int, Row]]:
    """Group parsed lines into sentences at blank lines; a parser returning None skips the line."""
    words: list[str] = []
    tags: list[str | None] = []
    first = 0
    with open(path, encoding="utf-8", newline="") as handle:
        for number, raw in enumerate(handle, 1):
            line = raw.rstrip("\r\n")
            if not line.strip():
                if words:
                    yield first, _row(words, tags, path, first)
                    words, tags = [], []
                continue
            try:
                parsed = parse(line)
            except ValueError as exc:
                raise UserError(f"{path}:{number}: {exc}: {line[:80]!r}") from None
            if parsed is None:
                continue
            if not words:
                first = number
            words.append(parsed[0])
            tags.append(parsed[1])
    if words:
        yield first, _row(words, tags, path, first)


def _row(words: list[str], tags: list[str | None], path: Path, line: int) -> Row:
    """A sentence row; tags are all present or all absent (an unlabelled file)."""
    present = [t is not None for t in tags]
    if all(present):
        return {"tokens": words, "tags": [t for t in tags if t is not None]}
    if not any(present):
        return {"tokens": words}
    raise UserError(f"{path}:{line}: sentence has tagged and untagged words")


def _tab_word_tag(line: str) -> tuple[str, str | None]:
    fields = line.split("\t")
    if len(fields) == 1:
        return fields[0], None
    if len(fields) != 2 or not fields[1].strip():
        raise ValueError("expected 'word<TAB>tag'")
    return fields[0], fields[1].strip()


def _indexed(line: str) -> tuple[str, str | None]:
    fields = line.split("\t")
    if len(fields) != 3 or not fields[0].strip().isdigit() or not fields[2].strip():
        raise ValueError("expected 'index<TAB>word<TAB>tag'")
    return fields[1], fields[2].strip()


def _space(line: str) -> tuple[str, str | None] | None:
    fields = line.split()
    if fields[0] == "-DOCSTART-":
        return None
    if len(fields) < 2:
        raise ValueError("expected 'word tag'")
    return fields[0], fields[-1]


def _conllu(line: str) -> tuple[str, str | None] | None:
    if line.startswith("#"):
        return None
    fields = line.split("\t")
    if len(fields) != 10:
        raise ValueError(f"expected 10 tab-separated CoNLL-U fields, got {len(fields)}")
    if "-" in fields[0] or "." in fields[0]:  # multi-word token range or empty node
        return None
    if not fields[0].isdigit():
        raise ValueError(f"bad word id {fields[0]!r}")
    return fields[1], fields[3]


def read_tagged_tsv(path: Path) -> Iterator[tuple[int, Row]]:
    """`word<TAB>tag` lines (or bare `word` lines in unlabelled test files), blank line between sentences."""
    return _sentences(path, _tab_word_tag)


def read_indexed_tsv(path: Path) -> Iterator[tuple[int, Row]]:
    """`index<TAB>word<TAB>tag` lines, blank line between sentences (WikiANN test files)."""
    return _sentences(path, _indexed)


def read_tagged_space(path: Path) -> Iterator[tuple[int, Row]]:
    """`word tag` lines split on whitespace, blank line between sentences (MasakhaNER)."""
    return _sentences(path, _space)


def read_conllu(path: Path) -> Iterator[tuple[int, Row]]:
    """CoNLL-U sentences as (FORM, UPOS) of their syntactic words."""
    return _sentences(path, _conllu)


READERS = {
    "tagged_tsv": read_tagged_tsv,
    "indexed_tsv": read_indexed_tsv,
    "tagged_space": read_tagged_space,
    "conllu": read_conllu,
}
