#!/usr/bin/env python3
"""Sanity checks for the offline demo corpus in adapter_xfer/assets/demo/.

Stdlib only. Prints a one-line summary; exits non-zero on any failure.
Usage: python3 scripts/check_demo_corpus.py [DEMO_DIR]
"""

import json
import sys
from collections import Counter
from pathlib import Path

DEFAULT_DIR = Path(__file__).resolve().parent.parent / "adapter_xfer" / "assets" / "demo"
RAW_LANGS = ("en", "de", "es", "zh")
RAW_MIN = 160
NLI_MIN = 300
NLI_LABELS = {"entailment", "neutral", "contradiction"}
PARA_COUNTS = {
    ("en", "train"): 320,
    ("en", "dev"): 60,
    ("en", "test"): 60,
    ("de", "test"): 60,
    ("es", "test"): 60,
    ("zh", "test"): 60,
}


def read_lines(path, errors):
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        errors.append(f"{path.name}: not UTF-8 ({e})")
        return []
    if not text.endswith("\n") or text.endswith("\n\n"):
        errors.append(f"{path.name}: must end with exactly one newline")
    lines = text.split("\n")[:-1] if text.endswith("\n") else text.split("\n")
    for i, line in enumerate(lines, 1):
        if not line.strip():
            errors.append(f"{path.name}:{i}: blank line")
        elif line != line.strip():
            errors.append(f"{path.name}:{i}: leading/trailing whitespace")
    return [text for text in lines if text.strip()]


def read_jsonl(path, keys, errors):
    rows = []
    for i, line in enumerate(read_lines(path, errors), 1):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            errors.append(f"{path.name}:{i}: invalid JSON ({e})")
            continue
        if not isinstance(obj, dict) or set(obj) != set(keys):
            errors.append(f"{path.name}:{i}: keys must be exactly {sorted(keys)}")
            continue
        rows.append(obj)
    return rows


def main(argv):
    root = Path(argv[1]) if len(argv) > 1 else DEFAULT_DIR
    errors = []

    # raw text
    raw = {}
    for lang in RAW_LANGS:
        lines = read_lines(root / f"raw_{lang}.txt", errors)
        raw[lang] = lines
        if len(set(lines)) < RAW_MIN:
            errors.append(f"raw_{lang}: {len(set(lines))} distinct lines < {RAW_MIN}")
        if len(set(lines)) != len(lines):
            errors.append(f"raw_{lang}: duplicate lines")
        for line in lines:
            n = len(line) if lang == "zh" else len(line.split())
            lo, hi = (10, 40) if lang == "zh" else (6, 25)
            if not lo <= n <= hi:
                errors.append(f"raw_{lang}: length {n} out of [{lo},{hi}]: {line[:40]!r}")
    raw_all = {s for lines in raw.values() for s in lines}

    # NLI
    nli = read_jsonl(root / "nli_en.jsonl", {"premise", "hypothesis", "label"}, errors)
    if len(nli) < NLI_MIN:
        errors.append(f"nli_en: {len(nli)} rows < {NLI_MIN}")
    nli_labels = Counter(r["label"] for r in nli)
    if set(nli_labels) - NLI_LABELS:
        errors.append(f"nli_en: bad labels {sorted(set(nli_labels) - NLI_LABELS)}")
    if len(set(nli_labels.values())) > 1:
        errors.append(f"nli_en: unbalanced labels {dict(nli_labels)}")
    by_premise = {}
    for r in nli:
        by_premise.setdefault(r["premise"], []).append(r["label"])
    for p, labs in by_premise.items():
        if sorted(labs) != sorted(NLI_LABELS):
            errors.append(f"nli_en: premise needs one hypothesis per label: {p[:50]!r}")
    if len({(r["premise"], r["hypothesis"]) for r in nli}) != len(nli):
        errors.append("nli_en: duplicate (premise, hypothesis) rows")

    # paraphrase
    para = read_jsonl(root / "paraphrase.jsonl", {"lang", "split", "sentence1", "sentence2", "label"}, errors)
    groups = {}
    for r in para:
        if r["label"] not in (0, 1) or isinstance(r["label"], bool):
            errors.append(f"paraphrase: bad label {r['label']!r}")
        groups.setdefault((r["lang"], r["split"]), []).append(r)
    if set(groups) != set(PARA_COUNTS):
        errors.append(f"paraphrase: unexpected (lang, split) groups {sorted(groups)}")
    for key, want in PARA_COUNTS.items():
        rows = groups.get(key, [])
        if len(rows) != want:
            errors.append(f"paraphrase {key}: {len(rows)} rows != {want}")
        pos = sum(1 for r in rows if r["label"] == 1)
        if pos * 2 != len(rows):
            errors.append(f"paraphrase {key}: {pos} positives of {len(rows)} (unbalanced)")
    s1_counts = Counter(r["sentence1"] for r in para)
    dups = [s for s, c in s1_counts.items() if c > 1]
    if dups:
        errors.append(f"paraphrase: {len(dups)} duplicate sentence1, e.g. {dups[0][:50]!r}")
    for r in para:
        if r["sentence1"] == r["sentence2"]:
            errors.append(f"paraphrase: sentence1 == sentence2: {r['sentence1'][:50]!r}")
    train_sents = {r[k] for r in para if r["split"] == "train" for k in ("sentence1", "sentence2")}
    leaked = [
        r["sentence1"]
        for r in para
        if r["split"] != "train" and (r["sentence1"] in train_sents or r["sentence2"] in train_sents)
    ]
    if leaked:
        errors.append(f"paraphrase: {len(leaked)} dev/test items share a sentence with train, e.g. {leaked[0][:50]!r}")

    # raw text must not occur in the task files
    task_sents = {r[k] for r in nli for k in ("premise", "hypothesis")}
    task_sents |= {r[k] for r in para for k in ("sentence1", "sentence2")}
    overlap = raw_all & task_sents
    if overlap:
        errors.append(f"raw text reused in task files: {len(overlap)}, e.g. {next(iter(overlap))[:50]!r}")

    raw_summary = " ".join(f"raw_{lang}={len(raw[lang])}" for lang in RAW_LANGS)
    para_summary = " ".join(f"{lang}/{s}={len(groups.get((lang, s), []))}" for lang, s in PARA_COUNTS)
    if errors:
        for e in errors[:50]:
            print("ERROR:", e, file=sys.stderr)
        print(f"FAIL: {len(errors)} problem(s); {raw_summary} nli={len(nli)} paraphrase[{para_summary}]")
        return 1
    print(f"OK: {raw_summary} nli={len(nli)} ({len(by_premise)} premises) paraphrase[{para_summary}]")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
