"""Mixtures in intermediate training: sampling, every head learns, continued MLM under each language."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

import adapter_xfer.lang_adapters
import adapter_xfer.train
from adapter_xfer.cli import main
from adapter_xfer.config import load_config
from adapter_xfer.errors import UserError
from adapter_xfer.mixtures import MixturePlan, mixture_weights, task_weights
from adapter_xfer.plan import validate
from adapter_xfer.results import read_results
from adapter_xfer.train import batch_order

TINY = ["model=tiny", "train.max_seq_length=32", "train.batch_size=4", "lang_adapters.max_steps=2",
        "lang_adapters.max_seq_length=32", "eval.max_examples=4", "data_dir=tests/fixtures/data"]  # fmt: skip


def test_task_weights_follow_the_sampling_strategy():
    assert task_weights([100, 300], "proportional", 2.0) == pytest.approx([0.25, 0.75])
    assert task_weights([100, 300], "uniform", 2.0) == pytest.approx([0.5, 0.5])
    assert task_weights([100, 400], "temperature", 2.0) == pytest.approx([1 / 3, 2 / 3])  # sqrt sizes
    plan = MixturePlan(sampling="uniform", mlm_rate=0.2, mlm_languages=("en", "sw"))
    assert mixture_weights([10, 90], plan) == pytest.approx([0.4, 0.4, 0.1, 0.1])
    assert mixture_weights([10, 90], MixturePlan(mlm_rate=0.0, mlm_languages=("en",))) == pytest.approx([0.1, 0.9])


def test_weighted_batch_order_keeps_groups_per_step_and_follows_the_weights():
    groups = [0] * 400 + [1] * 100 + [2] * 100
    lengths = [5 + i % 7 for i in range(len(groups))]
    order = batch_order(lengths, 4, seed=3, epoch=0, groups=groups, weights=[0.2, 0.3, 0.5], world=2)
    assert order == batch_order(lengths, 4, seed=3, epoch=0, groups=groups, weights=[0.2, 0.3, 0.5], world=2)
    assert len(order) == 150  # as many batches as an epoch holds
    per_step = [{groups[i] for batch in order[s : s + 2] for i in batch} for s in range(0, len(order), 2)]
    assert all(len(step) == 1 for step in per_step)  # both processes train the same part in a step
    drawn = Counter(step.pop() for step in per_step)
    assert drawn[0] / 75 == pytest.approx(0.2, abs=0.1) and drawn[2] / 75 == pytest.approx(0.5, abs=0.12)
    # The small groups are drawn more often than they have batches: they cycle.
    assert drawn[2] * 2 > 25


def two_task_mixture(model, tokenizer, extra_head: bool = False):
    """A prepared adapter model (tests.test_methods.prepared) with a second pair-classification head:
    features in two groups, one per head, and the mixture's collate and objective. With
    `extra_head`, a third trainable head that no group uses (a wrongly trainable parameter)."""
    from adapters.composition import Stack

    from adapter_xfer.formats import get_format
    from adapter_xfer.methods import is_param_of
    from adapter_xfer.mixtures import _objective
    from tests.test_methods import TASK, records

    fmt = get_format("pair_classification")
    heads = ["task_demo", "task_other", *(["task_unused"] if extra_head else [])]
    for head in heads[1:]:
        fmt.add_head(model, head, TASK)
    for name, param in model.named_parameters():
        param.requires_grad |= any(is_param_of(name, head) for head in heads[1:])
    part = fmt.preprocess(records(), tokenizer, TASK, 32)
    features = [{**f, "group": group} for group in (0, 1) for f in part]

    def collate(batch):
        return {**fmt.collate(batch, tokenizer), "mix_group": torch.tensor(batch[0]["group"])}

    setup = Stack("lang_en", "task_demo")
    return features, collate, _objective([(setup, "task_demo"), (setup, "task_other")], 2)


def _fit_mixture(model, tokenizer, checkpoint_dir=None, stop_after=0, extra_head=False):
    from adapter_xfer.config import TrainConfig
    from adapter_xfer.train import fit

    features, collate, loss = two_task_mixture(model, tokenizer, extra_head)
    schedule = TrainConfig(max_steps=10, batch_size=4, learning_rate=5e-3, eval_steps=3,
                           stop_after_steps=stop_after)  # fmt: skip
    return fit(model, features, collate, schedule, seed=11, loss_fn=loss, checkpoint_dir=checkpoint_dir,
               group_weights=[0.3, 0.7])  # fmt: skip


def test_mixture_resume_after_kill_equals_uninterrupted(tiny_checkpoint, tiny_tokenizer, tmp_path):
    from tests.test_train import _fresh

    straight = _fresh(tiny_checkpoint, "adapter")
    _fit_mixture(straight, tiny_tokenizer)
    stopped = _fit_mixture(_fresh(tiny_checkpoint, "adapter"), tiny_tokenizer, tmp_path, stop_after=4)
    assert not stopped.completed and stopped.steps == 4
    resumed = _fresh(tiny_checkpoint, "adapter")  # a new process: nothing kept in memory
    assert _fit_mixture(resumed, tiny_tokenizer, tmp_path).completed
    for (name, a), (_, b) in zip(straight.state_dict().items(), resumed.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


def test_a_trainable_parameter_no_part_uses_is_refused(tiny_checkpoint, tiny_tokenizer):
    from tests.test_train import _fresh

    with pytest.raises(RuntimeError, match=r"received no gradient.*task_unused"):
        _fit_mixture(_fresh(tiny_checkpoint, "adapter"), tiny_tokenizer, extra_head=True)


def spy_on_fit(monkeypatch) -> dict:
    """Snapshot every head and adapter parameter around the mixture's `fit` (stages' own binding of
    `fit` is left alone, so only the mixture is observed)."""
    seen: dict = {}
    real_fit = adapter_xfer.train.fit

    def fit(model, *args, **kwargs):
        seen["before"] = {n: p.detach().clone() for n, p in model.named_parameters()}
        result = real_fit(model, *args, **kwargs)
        seen["after"] = {n: p.detach().clone() for n, p in model.named_parameters()}
        seen["weights"] = kwargs["group_weights"]
        return result

    monkeypatch.setattr(adapter_xfer.train, "fit", fit)
    return seen


def changed(seen: dict, part: str) -> bool:
    return any(part in n and not torch.equal(v, seen["after"][n]) for n, v in seen["before"].items())


@pytest.mark.parametrize("method", ["adapter", "full_ft"])
def test_every_head_receives_gradients_during_the_joint_mixture(method, monkeypatch, tmp_path):
    seen = spy_on_fit(monkeypatch)
    args = [*TINY, f"method={method}", "train.max_steps=10", "mixture.sampling=uniform",
            f"output_dir={tmp_path / 'run'}", f"cache_dir={tmp_path / 'cache'}"]  # fmt: skip
    assert main(["train", "configs/examples/joint_multitask.yaml", *args]) == 0
    for head in ("task_mnli", "task_squad", "task_hellaswag"):  # AdamW moves only what got a gradient
        assert changed(seen, f"heads.{head}."), head
    if method == "adapter":
        assert changed(seen, ".task_mnli_squad_hellaswag.")
        assert not changed(seen, ".lang_en.") and not changed(seen, "encoder.layer.0.attention.self.query.weight")
    results = read_results(tmp_path / "run")
    stage = next(s for s in results["stages"] if s["kind"] == "intermediate")
    assert stage["tasks"] == ["mnli", "squad", "hellaswag"] and stage["heads"][0] == "task_mnli"
    assert stage["weights"] == pytest.approx({"mnli": 1 / 3, "squad": 1 / 3, "hellaswag": 1 / 3}, abs=1e-5)
    assert main(["eval", str(tmp_path / "run")]) == 0  # the target continued the shared adapter; rebuilt
    assert read_results(tmp_path / "run-eval1")["per_language"] == results["per_language"]


def test_continued_mlm_runs_under_each_languages_adapter(monkeypatch, tmp_path):
    seen = spy_on_fit(monkeypatch)
    languages: list[str] = []
    real_loss = adapter_xfer.lang_adapters.masked_lm_loss

    def masked_lm_loss(model, batch):
        if "before" in seen and "after" not in seen:  # inside the mixture (not language-adapter training)
            languages.append(model.active_adapters.first())
        return real_loss(model, batch)

    monkeypatch.setattr(adapter_xfer.lang_adapters, "masked_lm_loss", masked_lm_loss)
    task_steps = []
    real_default = adapter_xfer.train.default_loss

    def default_loss(model, batch):
        task_steps.append(1)
        return real_default(model, batch)

    monkeypatch.setattr(adapter_xfer.train, "default_loss", default_loss)  # the mixture binds it at build
    args = [*TINY, "train.max_steps=12", "mixture.mlm_rate=0.6", f"output_dir={tmp_path / 'run'}",
            f"cache_dir={tmp_path / 'cache'}"]  # fmt: skip
    assert main(["train", "configs/examples/mlm_mixing.yaml", *args]) == 0
    assert set(languages) == {"lang_en", "lang_de"}
    assert len(languages) + len(task_steps) == 12 and 0.3 <= len(languages) / 12 <= 0.9  # rate 0.6
    assert seen["weights"] == pytest.approx([0.4, 0.3, 0.3])
    assert changed(seen, ".task_mnli.") and changed(seen, "heads.task_mnli.")
    assert not changed(seen, "heads.default.")  # the checkpoint's MLM head stays frozen
    assert not changed(seen, ".lang_de.")


@pytest.mark.parametrize("overrides, message", [
    (["intermediate=mnli"], "at least two intermediate tasks"),
    (["method=fusion"], "alternatives"),
    (["intermediate=[]", "mixture.joint=false", "mixture.mlm_rate=0.2"], "no intermediate task"),
    (["mixture.mlm_rate=0.2", "mixture.mlm_languages=[zh]"], "no raw text for 'zh'"),
    (["adapter.train_languages=[de]"], "are alternatives: a mixture"),
    (["intermediate=mnli,tatoeba"], "'tatoeba' is evaluated only"),
])  # fmt: skip
def test_mixtures_that_cannot_work_are_refused(overrides, message):
    with pytest.raises(UserError, match=message):
        validate(load_config("configs/examples/joint_multitask.yaml", overrides))


@pytest.mark.parametrize("override", ["mixture.sampling=random", "mixture.mlm_rate=1.0", "mixture.temperature=0"])
def test_mixture_values_out_of_range_are_refused(override):
    with pytest.raises(UserError, match=override.split("=")[0].replace(".", r"\.")):
        load_config("configs/examples/joint_multitask.yaml", [override])


@pytest.mark.parametrize("method, mixture, expected", [
    ("adapter", {}, "mnli > squad > pawsx"),
    ("fusion", {}, "fuse(mnli, squad) > pawsx"),
    ("adapter", {"joint": True}, "mnli + squad > pawsx"),
    ("full_ft", {"joint": True, "mlm_rate": 0.2}, "mnli + squad (+mlm) > pawsx"),
])  # fmt: skip
def test_reports_name_how_the_target_was_reached(method, mixture, expected):
    from adapter_xfer.results import chain_text

    run = {"task": "pawsx", "method": method, "intermediate": ["mnli", "squad"], "config": {"mixture": mixture}}
    assert chain_text(run) == expected
