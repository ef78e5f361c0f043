"""Every example config runs offline on the bundled demo data with `model=tiny train.max_steps=2`."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from adapter_xfer.cli import main
from adapter_xfer.results import read_results

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "configs" / "examples").glob("*.yaml"))
TINY = ["model=tiny", "train.max_steps=2", "train.max_seq_length=32", "lang_adapters.max_steps=2",
        "lang_adapters.max_seq_length=32", "eval.max_examples=8"]  # fmt: skip


@pytest.fixture(scope="module")
def bundled(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--data-only", "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_config_runs(example, bundled, tmp_path):
    # Examples read the demo data (written by `demo --data-only`) or the fixtures shipped in tests/.
    data_dir = yaml.safe_load(example.read_text())["data_dir"]
    data = bundled / "data" if data_dir == "runs/demo/data" else ROOT / data_dir
    args = [*TINY, f"data_dir={data}", f"output_dir={tmp_path / 'run'}", f"cache_dir={bundled / 'cache'}"]
    assert main(["train", str(example), *args]) == 0
    results = read_results(tmp_path / "run")
    assert results["per_language"] and results["trainable_params"] > 0
