"""`results.json`: one file per run, written atomically; every table is regenerated from these files.

A run records its resolved config, seed, package versions, git commit, parameter counts, wall time,
per-language metrics, averages and notes. `report` reads any number of runs (or folders holding
runs) and prints a Markdown table: a row per run, a column per language, the average and the
zero-shot average (without the source language).
"""

from __future__ import annotations

import json
import platform
import subprocess
from pathlib import Path
from typing import Any

from adapter_xfer.errors import UserError
from adapter_xfer.io_utils import atomic_write_json, atomic_write_text

RESULTS_FILE = "results.json"
_PACKAGES = ("torch", "transformers", "adapters", "datasets", "accelerate", "peft", "tokenizers")


def versions() -> dict[str, str]:
    """Versions of Python and every package that shapes a result."""
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for name in ("adapter_xfer", *_PACKAGES):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


def git_commit() -> str | None:
    """The project's git commit (suffixed `-dirty` when the tree has changes), or None outside git."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()  # fmt: skip
        status = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=10, check=True).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}-dirty" if head and status.strip() else (head or None)


def averages(per_language: dict[str, dict[str, Any]], metric: str, source: str = "en") -> tuple[Any, Any]:
    """(mean over all languages, mean without the source language) of `metric`; None where undefined."""
    values = {lang: m[metric] for lang, m in per_language.items() if metric in m}
    if not values:
        return None, None
    zero_shot = [v for lang, v in values.items() if lang != source]
    mean = sum(values.values()) / len(values)
    return mean, (sum(zero_shot) / len(zero_shot) if zero_shot else None)


def write_results(run_dir: str | Path, results: dict[str, Any]) -> Path:
    """Write `results.json` atomically into `run_dir`."""
    return atomic_write_json(Path(run_dir) / RESULTS_FILE, results)


def read_results(path: str | Path) -> dict[str, Any]:
    """Read a run's `results.json` (given the file or its folder)."""
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS_FILE
    if not path.is_file():
        raise UserError(f"no {RESULTS_FILE} at {path}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}:{exc.lineno}: not valid JSON") from None


def find_runs(paths: list[str | Path]) -> list[Path]:
    """Every `results.json` at or below the given paths, in sorted order."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_file() and path.name == RESULTS_FILE:
            found.append(path)
        elif (path / RESULTS_FILE).is_file():
            found.append(path / RESULTS_FILE)
        elif path.is_dir():
            found += sorted(p for p in path.rglob(RESULTS_FILE) if "cache" not in p.relative_to(path).parts)
        else:
            raise UserError(f"not a run folder or results file: {path}")
    if not found:
        raise UserError(f"no {RESULTS_FILE} found under {', '.join(map(str, paths))}")
    return found


def _fmt(value: Any) -> str:
    return f"{value:.1f}" if isinstance(value, int | float) and value == value else "-"  # None, NaN: "-"


def chain_text(run: dict[str, Any]) -> str:
    """How a run reached its target: `mnli > pawsx` (sequential), `mnli + squad > pawsx` (joint),
    `fuse(mnli, squad) > pawsx` (AdapterFusion); `(+mlm)` marks stages with masked LM mixed in."""
    steps, mixture = list(run.get("intermediate", [])), run.get("config", {}).get("mixture", {})
    if steps and run.get("method") == "fusion":
        steps = [f"fuse({', '.join(steps)})"]
    elif steps and mixture.get("joint"):
        steps = [" + ".join(steps)]
    if mixture.get("mlm_rate"):
        steps = [f"{step} (+mlm)" for step in steps]
    return " > ".join([*steps, run["task"]])


def markdown_table(runs: list[dict[str, Any]]) -> str:
    """A Markdown table of runs: one row per run, one column per language, then the averages."""
    languages = sorted({lang for run in runs for lang in run["per_language"]}, key=lambda x: (x != "en", x))
    header = ["run", "task", "method", "chain", "metric", *languages, "avg", "avg 0-shot"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for run in runs:
        metric = run.get("metric", "accuracy")
        cells = [run["per_language"].get(lang, {}).get(metric) for lang in languages]
        chain = chain_text(run)
        row = [run["run_id"], run["task"], run["method"], chain, metric, *map(_fmt, cells),
               _fmt(run["average"]), _fmt(run["average_zero_shot"])]  # fmt: skip
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def report(paths: list[str | Path], out_dir: str | Path | None = None) -> str:
    """Regenerate the comparison table from `results.json` files; optionally write it to `out_dir`."""
    runs = [read_results(p) for p in find_runs(paths)]
    table = markdown_table(runs)
    if out_dir is not None:
        atomic_write_text(Path(out_dir) / "report.md", table)
    return table
