"""Every example config runs offline on the bundled demo data with `model=tiny train.max_steps=2`."""

from __future__ import annotations

from pathlib import Path

import pytest

from adapter_xfer.cli import main
from adapter_xfer.results import read_results

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "configs" / "examples").glob("*.yaml"))
TINY = ["model=tiny", "train.max_steps=2", "train.max_seq_length=32", "lang_adapters.max_steps=2",
        "lang_adapters.max_seq_length=32", "eval.max_examples=8"]  # fmt: skip


@pytest.fixture(scope="module")
def bundled(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--data-only", "--out", str(out)]) == 0
    return out


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_config_runs(example, bundled, tmp_path):
    args = [*TINY, f"data_dir={bundled / 'data'}", f"output_dir={tmp_path / 'run'}", f"cache_dir={bundled / 'cache'}"]
    assert main(["train", str(example), *args]) == 0
    results = read_results(tmp_path / "run")
    assert results["per_language"] and results["trainable_params"] > 0
