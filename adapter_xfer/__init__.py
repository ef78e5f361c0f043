"""adapter_xfer: parameter-efficient cross-lingual transfer with English intermediate-task adapters.

The Python API mirrors the command line:

    from adapter_xfer import load_config, validate, train, evaluate, score, report
    config = load_config("configs/xstilts/pawsx_mnli_adapter.yaml", ["data_dir=../shared/data"])
    outcome = train(config)              # adapter-xfer train
    evaluate(outcome.run_dir, ["eval.languages=de,zh"])   # adapter-xfer eval
    score("pawsx", "de", "runs/.../predictions/pawsx.de.dev.jsonl", data_dir="../shared/data")
    print(report(["runs/"]))             # adapter-xfer report
    pipe = load_pipeline("tiny", "lang=de task=pawsx", adapters=["runs/..."])   # adapter-xfer predict
    pipe([("Ein Satz.", "Ein anderer Satz.")], lang="zh")
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

# Imported lazily: `adapter-xfer ls` and `--help` should not pay for torch and transformers.
_API = {
    "load_config": ("adapter_xfer.config", "load_config"),
    "validate": ("adapter_xfer.plan", "validate"),
    "train": ("adapter_xfer.run", "train_run"),
    "evaluate": ("adapter_xfer.run", "eval_run"),
    "score": ("adapter_xfer.scoring", "score_file"),
    "report": ("adapter_xfer.results", "report"),
    "export": ("adapter_xfer.export", "export_run"),
    "push": ("adapter_xfer.hub", "push_export"),
    "prepare_model": ("adapter_xfer.modeling", "resolve_checkpoint"),
    "load_pipeline": ("adapter_xfer.pipeline", "load_pipeline"),
    "UserError": ("adapter_xfer.errors", "UserError"),
}
__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'adapter_xfer' has no attribute '{name}'")
    import importlib

    module, attribute = _API[name]
    return getattr(importlib.import_module(module), attribute)
