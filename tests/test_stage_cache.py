"""Runs that share a cache build a stage they both need once (a file lock), and both use it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from adapter_xfer.results import read_results

ROOT = Path(__file__).resolve().parent.parent


def test_two_runs_started_together_train_a_shared_stage_once(demo_data, tmp_path):
    config = tmp_path / "exp.yaml"
    config.write_text("task: pawsx\n")
    # Enough language-adapter steps that, without the lock, both runs would find the stage missing.
    command = [sys.executable, "-m", "adapter_xfer", "train", str(config), "model=tiny", f"data_dir={demo_data}",
               f"cache_dir={tmp_path / 'cache'}", "train.max_steps=2", "train.max_seq_length=32",
               "lang_adapters.max_steps=200", "lang_adapters.max_seq_length=32", "eval.languages=en",
               "eval.split=test", "eval.max_examples=8", "threads=1"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    runs = [subprocess.Popen([*command, f"output_dir={tmp_path / f'run{i}'}"], cwd=ROOT, env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE) for i in (0, 1)]  # fmt: skip
    outputs = [run.communicate(timeout=300) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs[0][1][-2000:] + outputs[1][1][-2000:]
    trained = [err for _, err in outputs if "lang_en (MLM)" in err]
    assert len(trained) == 1  # one run trained the language adapter, the other waited and reused it
    keys = [{s["key"] for s in read_results(tmp_path / f"run{i}")["stages"]} for i in (0, 1)]
    assert keys[0] == keys[1] and len(keys[0]) == 1
