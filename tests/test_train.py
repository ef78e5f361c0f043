"""The one training loop: deterministic batches, same seed same result, exact resume after a kill."""

from __future__ import annotations

import torch

from adapter_xfer.config import TrainConfig
from adapter_xfer.formats import get_format
from adapter_xfer.train import batch_order, fit
from tests.test_methods import TASK, prepared, records


def test_batch_order_is_a_length_grouped_permutation():
    lengths = [5, 50, 6, 49, 7, 48, 8, 47, 9, 46] * 3
    batches = batch_order(lengths, 5, seed=1, epoch=0)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(len(lengths)))
    assert batches == batch_order(lengths, 5, seed=1, epoch=0)
    assert batches != batch_order(lengths, 5, seed=1, epoch=1)
    spread = max(max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches)
    assert spread <= 4  # short and long examples are not mixed


def _run(model, tokenizer, checkpoint_dir=None, stop_after=0, eval_fn=None):
    fmt = get_format("pair_classification")
    features = fmt.preprocess(records(), tokenizer, TASK, 32)
    schedule = TrainConfig(max_steps=10, batch_size=4, learning_rate=5e-3, eval_steps=3,
                           stop_after_steps=stop_after)  # fmt: skip
    return fit(model, features, lambda f: fmt.collate(f, tokenizer), schedule, seed=11,
               evaluate=eval_fn, checkpoint_dir=checkpoint_dir)  # fmt: skip


def _dev_score(model):
    """A deterministic dev 'score' from the weights, so selection is exercised."""
    return float(sum(p.detach().double().sum() for p in model.parameters() if p.requires_grad))


def _fresh(tiny_checkpoint, method):
    from adapter_xfer.modeling import load_model

    torch.manual_seed(0)  # new adapters and heads draw their initial weights from the global RNG
    return prepared(load_model(tiny_checkpoint), method)


def test_same_seed_same_weights(tiny_checkpoint, tiny_tokenizer):
    first, second = _fresh(tiny_checkpoint, "adapter"), _fresh(tiny_checkpoint, "adapter")
    _run(first, tiny_tokenizer)
    _run(second, tiny_tokenizer)
    for (name, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


def test_resume_after_kill_equals_uninterrupted(tiny_checkpoint, tiny_tokenizer, tmp_path):
    for method in ("adapter", "full_ft"):
        straight = _fresh(tiny_checkpoint, method)
        full = _run(straight, tiny_tokenizer, eval_fn=_dev_score)
        interrupted = _fresh(tiny_checkpoint, method)
        stopped = _run(interrupted, tiny_tokenizer, tmp_path / method, stop_after=4, eval_fn=_dev_score)
        assert not stopped.completed and stopped.steps == 4
        resumed_model = _fresh(tiny_checkpoint, method)  # a new process: nothing kept in memory
        resumed = _run(resumed_model, tiny_tokenizer, tmp_path / method, eval_fn=_dev_score)
        assert resumed.completed and resumed.steps == full.steps == 10
        assert resumed.history == full.history
        assert resumed.best_metric == full.best_metric
        for (name, a), (_, b) in zip(straight.state_dict().items(), resumed_model.state_dict().items(), strict=True):
            assert torch.equal(a, b), f"{method}: {name}"
