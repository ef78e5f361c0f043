"""Matrix over the task table: every entry trains (or, for retrieval, evaluates) offline on tiny.

Fixtures live in `tests/fixtures/data/` in each task's real local layout. For a trainable task the
English train split is overfitted for a few steps and the training loss must fall; then the target
task is predicted and scored in a non-English language through the same path runs use.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from adapter_xfer.config import AdapterConfig, TrainConfig
from adapter_xfer.data import default_eval_split, load_split, local_path
from adapter_xfer.formats import get_format
from adapter_xfer.methods import METHODS
from adapter_xfer.modeling import load_model
from adapter_xfer.tasks import TASKS, training_task
from adapter_xfer.train import fit
from adapter_xfer.zero_shot import predict, score

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "data"


def eval_language(task) -> tuple[str, str]:
    """A non-English language (English for English-only tasks) and split of `task` with fixture gold."""
    fmt = get_format(task.format)
    for lang in sorted(task.languages, key=lambda x: x == "en"):
        split = default_eval_split(task, FIXTURES, lang)
        path = local_path(task, lang, split, FIXTURES)
        if path.is_file() and fmt.gold(load_split(task, lang, split, FIXTURES), task):
            return lang, split
    pytest.fail(f"no fixture with gold for task '{task.name}' under {FIXTURES}")


def mean_loss(model, features, collate) -> float:
    model.eval()
    with torch.no_grad():
        return float(model(**collate(features)).loss)


@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_task_runs_on_tiny(name, tiny_checkpoint, tiny_tokenizer):
    task = TASKS[name]
    fmt = get_format(task.format)
    torch.manual_seed(0)
    model = load_model(tiny_checkpoint)
    if fmt.trainable:
        data = training_task(task)
        train_fmt = get_format(data.format)
        records = load_split(data, "en", "train", FIXTURES)[:16]
        train_fmt.add_head(model, "task_x", data)
        METHODS["full_ft"].prepare(model, "task_x", "task_x", None, AdapterConfig())
        features = train_fmt.preprocess(records, tiny_tokenizer, data, 64)

        def collate(batch):
            return train_fmt.collate(batch, tiny_tokenizer)

        before = mean_loss(model, features, collate)
        schedule = TrainConfig(max_steps=60, batch_size=8, learning_rate=3e-3, warmup_ratio=0.0, max_grad_norm=1.0)
        result = fit(model, features, collate, schedule, seed=0, desc=name)
        after = mean_loss(model, features, collate)
        assert result.completed and after < before * 0.9, (before, after)
    lang, split = eval_language(task)
    records = load_split(task, lang, split, FIXTURES)
    predictions = predict(model, fmt, records, tiny_tokenizer, task, 64, 16)
    metrics = score(task, fmt, predictions, records, lang)
    assert metrics["n"] > 0
    assert all(0.0 <= v <= 100.0 for k, v in metrics.items() if k not in ("n", "missing") and isinstance(v, float))
