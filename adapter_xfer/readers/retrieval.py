"""Readers for retrieval files: LASER Tatoeba pairs, BUCC 2018 corpora, XQuAD-R (LAReQA) and Mewsli-X.

A retrieval split is more than one file: the reader is given the file named in the task table and
reads its companions from the same folder (Tatoeba's `.eng` twin; BUCC's other side, gold pairs and,
for a test split, the dev corpus that tunes the mining threshold; LAReQA's other languages, which
form the candidate pool; Mewsli-X's candidate entities). Rows follow the record structures that
`formats/retrieval.py` documents.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from adapter_xfer.errors import UserError

Row = tuple[Any, dict[str, Any]]


def _lines(path: Path) -> list[str]:
    """Lines split on "\\n" only (`str.splitlines` would also split on U+2028 etc. and break alignment)."""
    if not path.is_file():
        raise UserError(f"data file not found: {path}")
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    if text.endswith("\n") or not text:
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def read_tatoeba_pair(path: Path) -> Iterator[Row]:
    """LASER Tatoeba: `tatoeba.deu-eng.deu` and its line-aligned twin `tatoeba.deu-eng.eng`.

    The twin's suffix is the part after the last `-` of the name's stem (`deu-eng` -> `.eng`).
    Rows: `{"src": sentence, "tgt": its English translation}`, one per line.
    """
    stem = path.name.rsplit(".", 1)[0]
    if "-" not in stem:
        raise UserError(f"{path}: expected a name like tatoeba.deu-eng.deu (source-target.source)")
    twin = path.with_name(f"{stem}.{stem.rsplit('-', 1)[1]}")
    sources, targets = _lines(path), _lines(twin)
    if len(sources) != len(targets):
        raise UserError(f"{path}: {len(sources)} lines but {twin.name} has {len(targets)}; they must align")
    for number, (src, tgt) in enumerate(zip(sources, targets, strict=True), 1):
        yield number, {"src": src, "tgt": tgt}


def _bucc_sentences(path: Path) -> list[tuple[int, str, str]]:
    rows = []
    for number, line in enumerate(_lines(path), 1):
        if not line.strip():
            continue
        sid, sep, text = line.partition("\t")
        if not sep:
            raise UserError(f"{path}:{number}: expected 'id<TAB>sentence'")
        rows.append((number, sid, text))
    return rows


def _bucc_corpus(prefix: Path, side: str, role: str) -> Iterator[Row]:
    """One BUCC corpus (`<prefix>.<side>`, `<prefix>.en`, `<prefix>.gold`) as sentence and gold rows."""
    empty = {"src_id": "", "src_text": "", "tgt_id": "", "tgt_text": "", "role": role}
    gold_path = prefix.with_name(f"{prefix.name}.gold")
    if not gold_path.is_file():
        raise UserError(f"gold pairs not found: {gold_path} (XTREME's download removes the BUCC test gold)")
    for number, sid, text in _bucc_sentences(prefix.with_name(f"{prefix.name}.{side}")):
        yield f"{side}:{number}", {**empty, "src_id": sid, "src_text": text}
    for number, sid, text in _bucc_sentences(prefix.with_name(f"{prefix.name}.en")):
        yield f"en:{number}", {**empty, "tgt_id": sid, "tgt_text": text}
    for number, line in enumerate(_lines(gold_path), 1):
        if line.strip():
            src, sep, tgt = line.strip().partition("\t")
            if not sep or not src or not tgt:
                raise UserError(f"{gold_path}:{number}: expected 'source id<TAB>target id'")
            yield f"gold:{number}", {**empty, "src_id": src, "tgt_id": tgt}


def read_bucc(path: Path) -> Iterator[Row]:
    """BUCC 2018 as XTREME lays it out: `zh-en.dev.zh`, `zh-en.dev.en`, `zh-en.dev.gold` (`id<TAB>text`).

    Given `<pair>.<split>.<lang>`, yields the split's sentences and gold pairs with role "eval"; for any
    split but dev, the dev corpus next to it follows with role "tune" (XTREME tunes the margin
    threshold on dev and applies it to test). Rows: `src_id`, `src_text`, `tgt_id`, `tgt_text`, `role`;
    a gold row has both ids and empty texts.
    """
    parts = path.name.split(".")
    if len(parts) != 3 or not parts[0].endswith("-en") or parts[0].split("-")[0] != parts[2]:
        raise UserError(f"{path}: expected a name like zh-en.test.zh (<lang>-en.<split>.<lang>)")
    pair, split, side = parts
    yield from _bucc_corpus(path.with_name(f"{pair}.{split}"), side, "eval")
    dev = path.with_name(f"{pair}.dev")
    if split != "dev" and all(dev.with_name(f"{dev.name}.{s}").is_file() for s in (side, "en", "gold")):
        yield from _bucc_corpus(dev, side, "tune")


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from None


def _xquad_r(path: Path, lang: str) -> tuple[list[dict], list[dict]]:
    """Questions and candidate sentences of one XQuAD-R file, as XTREME-R's `utils_lareqa.load_data`.

    Candidates are the sentences of every paragraph (uid `<lang>_<paragraph number>_<position>`, text
    `sentence + context` as XTREME-R encodes them); a question's answer sentence is the one holding its
    answer start; questions whose answer crosses a sentence break are skipped, as there.
    """
    questions, candidates, paragraph_number = [], [], 0
    for article in _load_json(path).get("data", []):
        for paragraph in article["paragraphs"]:
            paragraph_number += 1
            context, breaks = paragraph["context"], paragraph["sentence_breaks"]
            uids = [f"{lang}_{paragraph_number}_{pos}" for pos in range(len(breaks))]
            for uid, (start, end) in zip(uids, breaks, strict=True):
                candidates.append({"uid": uid, "text": (context[start:end] + context).replace("\n", "")})
            for qa in paragraph["qas"]:
                answer_start = qa["answers"][0]["answer_start"]
                pos = next((i for i, (s, e) in enumerate(breaks) if s <= answer_start < e), None)
                if pos is not None:
                    questions.append({"id": qa["id"], "text": qa["question"], "answer": uids[pos]})
    return questions, candidates


def read_lareqa(path: Path) -> Iterator[Row]:
    """LAReQA on XQuAD-R (`xquad-r/<lang>.json`): the file's questions and the pool of all languages.

    Every `*.json` next to the file joins the candidate pool (XTREME-R loads the whole folder). A
    question's relevant candidates are its answer sentences in every language (same question id).
    Rows: queries `{"kind": "query", "id", "text", "gold": [uids]}`, then candidates
    `{"kind": "candidate", "id": uid, "text", "gold": []}`.
    """
    if not path.is_file():
        raise UserError(f"data file not found: {path}")
    by_lang = {p.stem: _xquad_r(p, p.stem) for p in sorted(path.parent.glob("*.json"))}
    answers: dict[str, list[str]] = {}
    for questions, _ in by_lang.values():
        for question in questions:
            answers.setdefault(question["id"], []).append(question["answer"])
    for question in by_lang[path.stem][0]:
        yield question["id"], {"kind": "query", "id": question["id"], "text": question["text"],
                               "gold": answers[question["id"]]}  # fmt: skip
    for lang, (_, candidates) in by_lang.items():
        for candidate in candidates:
            yield f"{lang}:{candidate['uid']}", {"kind": "candidate", "id": candidate["uid"],
                                                 "text": candidate["text"], "gold": []}  # fmt: skip


_MARKED = re.compile(r"\{(.*?)\}")


def _normalise(text: str) -> str:
    return " ".join(text.splitlines()).replace("  ", " ").strip()


def mention_query(context: dict, mention: dict, where: str) -> str:
    """XTREME-R's baseline query string: the mention's sentence with the mention marked and prepended.

    `"Smith: The verdict came back for { Smith }, who ..."` (`utils_mewslix.preprocess_mention`).
    """
    span, text = mention["mention_span"], context["text"]
    sentence = next((s for s in context["sentence_spans"] if s["start"] <= span["start"] and span["end"] <= s["end"]),
                    None)  # fmt: skip
    if sentence is None:
        raise UserError(f"{where}: mention {mention['example_id']} crosses a sentence break or has no sentence")
    left = _MARKED.sub(r"(\1)", text[sentence["start"] : span["start"]])
    right = _MARKED.sub(r"(\1)", text[span["end"] : sentence["end"]])
    return _normalise(f"{span['text']}: {left} {{ {span['text']} }} {right}")


def read_mewslix(path: Path) -> Iterator[Row]:
    """Mewsli-X as XTREME-R lays it out: `wikinews_mentions-<split>.jsonl` + `candidate_set_entities.jsonl`.

    The mentions file holds every language (`context.language`); each mention becomes a query row
    `{"kind": "query", "id": example_id, "lang", "text": query string, "gold": [entity_id]}`, and each
    entity a candidate row `{"kind": "candidate", "id": entity_id, "lang": "", "text": description}`.
    """
    candidates_path = path.with_name("candidate_set_entities.jsonl")
    for number, line in enumerate(_lines(path), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            context = item["context"]
            for mention in item["mentions"]:
                query = mention_query(context, mention, f"{path}:{number}")
                yield number, {"kind": "query", "id": mention["example_id"], "lang": context["language"],
                               "text": query, "gold": [mention["entity_id"]]}  # fmt: skip
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise UserError(f"{path}:{number}: not a Mewsli-X mentions line ({type(exc).__name__}: {exc})") from None
    for number, line in enumerate(_lines(candidates_path), 1):
        if line.strip():
            try:
                entity = json.loads(line)
                text = " ".join(entity["description"][s["start"] : s["end"]] for s in entity["sentence_spans"])
                yield f"entities:{number}", {"kind": "candidate", "id": entity["entity_id"], "lang": "",
                                             "text": _normalise(text), "gold": []}  # fmt: skip
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise UserError(f"{candidates_path}:{number}: not a Mewsli-X entity ({exc})") from None


READERS = {
    "tatoeba_pair": read_tatoeba_pair,
    "bucc": read_bucc,
    "lareqa": read_lareqa,
    "mewslix": read_mewslix,
}
