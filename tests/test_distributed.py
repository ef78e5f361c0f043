"""A 2-process CPU run (gloo) leaves both ranks with identical parameters, for every method and for a
multi-task mixture (a different head per step)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from adapter_xfer.methods import METHODS

ROOT = Path(__file__).resolve().parent.parent

# Methods built on an `adapters` model (the peft arm has its own tests in test_regimes.py).
ADAPTERS_METHODS = sorted(m for m, entry in METHODS.items() if not entry.uses_peft)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("method", [*ADAPTERS_METHODS, "mixture", "adapter-one-batch"])
def test_two_processes_end_with_identical_parameters(method, tiny_checkpoint, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
               "--master_addr", "127.0.0.1", "--master_port", str(free_port()),
               str(ROOT / "tests" / "distributed_worker.py"), method, str(tmp_path)]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert all(r["world"] == 2 and r["backend"] == "gloo" and r["steps"] == 4 for r in ranks)
    assert ranks[0]["hash"] == ranks[1]["hash"]
