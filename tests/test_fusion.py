"""AdapterFusion on tiny: what trains, the regularisation, save/reload, language swap, attention."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from adapter_xfer.artifacts import load_adapter_into, load_stacked, save_task_artifact, write_meta
from adapter_xfer.cli import main
from adapter_xfer.config import load_config
from adapter_xfer.errors import UserError
from adapter_xfer.fusion import AttentionRecorder, fusion_name, recording_attention, with_regularization
from adapter_xfer.methods import METHODS, activate
from adapter_xfer.modeling import base_identity, load_model
from adapter_xfer.plan import validate
from adapter_xfer.results import read_results
from adapter_xfer.train import default_loss
from tests.test_methods import FUSED, TASK, base_state, logits, perturb, prepared, records, train_a_little

FUSION = fusion_name(FUSED)


def snapshot(model, part: str) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items() if part in k}


@pytest.mark.parametrize("target_adapter", [False, True])
def test_fusion_trains_exactly_the_fusion_layer_head_and_target_adapter(tiny_model, tiny_tokenizer, target_adapter):
    model = prepared(tiny_model, "fusion", target_adapter)
    frozen = {**base_state(model), **snapshot(model, ".lang_"), **snapshot(model, ".task_a."),
              **snapshot(model, ".task_b.")}  # fmt: skip
    fusion_before = snapshot(model, f".{FUSION}.")
    train_a_little(model, tiny_tokenizer)
    after = model.state_dict()
    assert all(torch.equal(value, after[key]) for key, value in frozen.items())
    assert any(not torch.equal(value, after[key]) for key, value in fusion_before.items())
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    owners = {"fusion" if f".{FUSION}." in n else "head" if n.startswith("heads.task_demo.") else
              "target" if ".task_demo." in n else n for n in trainable}  # fmt: skip
    assert owners == ({"fusion", "head", "target"} if target_adapter else {"fusion", "head"})
    assert str(model.active_adapters) == str(METHODS["fusion"].setup_for("lang_en", "task_demo" if target_adapter
                                                                         else None, (FUSED,)))  # fmt: skip


def test_regularisation_is_added_to_the_loss(tiny_model, tiny_tokenizer):
    from adapter_xfer.formats import get_format

    model = prepared(tiny_model, "fusion")
    perturb(model, ".value.")  # dynamic fusion starts at the identity, where the penalty is 0
    model.eval()
    fmt = get_format("pair_classification")
    batch = fmt.collate(fmt.preprocess(records()[:4], tiny_tokenizer, TASK, 32), tiny_tokenizer)
    plain, regularised = default_loss(model, batch), with_regularization(default_loss)(model, batch)
    penalty = model.get_fusion_regularization_loss()
    assert float(penalty.detach()) > 0
    assert float(regularised.detach()) == pytest.approx(float(plain.detach()) + float(penalty.detach()), rel=1e-6)


@pytest.mark.parametrize("target_adapter", [False, True])
def test_saved_fusion_reloads_to_identical_outputs(tiny_model, tiny_tokenizer, tiny_checkpoint, tmp_path,
                                                   target_adapter):  # fmt: skip
    model = prepared(tiny_model, "fusion", target_adapter)
    for part in (f".{FUSION}.", "heads.task_demo.", ".task_demo."):
        perturb(model, part)
    identity = base_identity(model, "tiny")
    names = (FUSED, "task_demo") if target_adapter else (FUSED,)
    save_task_artifact(model, METHODS["fusion"], names, tmp_path / "run", identity, "task_demo", task="pawsx")
    model.save_adapter(str(tmp_path / "lang_de"), "lang_de", with_head=False, use_safetensors=True)
    write_meta(tmp_path / "lang_de", identity, kind="lang", name="lang_de")
    top = "task_demo" if target_adapter else None
    activate(model, METHODS["fusion"].setup_for("lang_de", top, (FUSED,)), "task_demo")
    expected = logits(model, tiny_tokenizer)

    fresh = load_model(tiny_checkpoint)
    load_adapter_into(fresh, tmp_path, "lang_de", identity)
    assert load_stacked(fresh, tmp_path / "run", identity) == names
    activate(fresh, METHODS["fusion"].setup_for("lang_de", top, (FUSED,)), "task_demo")
    assert torch.equal(expected, logits(fresh, tiny_tokenizer))


def test_language_swap_changes_fusion_outputs(tiny_model, tiny_tokenizer):
    model = prepared(tiny_model, "fusion")
    perturb(model, f".{FUSION}.")
    outputs = []
    for lang in ("lang_en", "lang_zh"):
        activate(model, METHODS["fusion"].setup_for(lang, None, (FUSED,)), "task_demo")
        outputs.append(logits(model, tiny_tokenizer))
    assert not torch.allclose(outputs[0], outputs[1], atol=1e-4)


def test_attention_is_averaged_per_example_over_real_tokens():
    recorder = AttentionRecorder()
    weights = np.zeros((2, 3, 2), dtype=np.float32)
    weights[0, :, 0] = [1.0, 0.5, 0.9]  # the third token is padding
    weights[1, :, 0] = [0.2, 0.0, 0.0]  # only the first token is real
    weights[..., 1] = 1 - weights[..., 0]
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    recorder.add({"a,b": {0: {"output_adapter": weights}}}, mask)
    recorder.add({"a,b": {0: {"output_adapter": weights[:1]}}}, mask[:1])
    first, second = 0.75, 0.2  # per-example means over real tokens
    expected_a = (first + second + first) / 3
    assert recorder.means()["a,b"]["0"]["a"] == pytest.approx(expected_a, abs=1e-6)
    assert recorder.means()["a,b"]["0"]["b"] == pytest.approx(1 - expected_a, abs=1e-6)


def test_recording_attention_covers_every_forward_and_removes_its_hooks(tiny_model, tiny_tokenizer):
    model = prepared(tiny_model, "fusion")
    activate(model, METHODS["fusion"].setup_for("lang_en", None, (FUSED,)), "task_demo")
    with recording_attention(model) as recorder:
        logits(model, tiny_tokenizer)
    means = recorder.means()[FUSION]
    assert sorted(means) == ["0", "1"]  # one entry per layer of tiny
    assert all(sum(layer.values()) == pytest.approx(1.0, abs=1e-5) for layer in means.values())
    assert not model._forward_hooks and not model._forward_pre_hooks


def test_fusion_run_records_attention_shares_stages_and_rebuilds(tmp_path):
    fixtures = "tests/fixtures/data"
    common = ["model=tiny", "train.max_steps=2", "train.max_seq_length=32", "lang_adapters.max_steps=2",
              "lang_adapters.max_seq_length=32", "eval.max_examples=8", f"data_dir={fixtures}",
              f"cache_dir={tmp_path / 'cache'}"]  # fmt: skip
    assert main(["train", "configs/examples/fusion.yaml", *common, f"output_dir={tmp_path / 'fusion'}",
                 "intermediate=mnli,squad"]) == 0  # fmt: skip
    results = read_results(tmp_path / "fusion")
    assert results["task_adapters"] == [["task_mnli", "task_squad"]]
    attention = results["fusion_attention"]
    assert set(attention) == {"en", "de"}
    for per_layer in (attention[lang]["task_mnli,task_squad"] for lang in attention):
        assert sorted(per_layer) == ["0", "1"]
        assert all(set(v) == {"task_mnli", "task_squad"} and sum(v.values()) == pytest.approx(1, abs=1e-5)
                   for v in per_layer.values())  # fmt: skip
    # The fused adapters are plain adapter-method stages: an adapter chain reuses the MNLI one.
    assert main(["train", "configs/examples/fusion.yaml", *common, f"output_dir={tmp_path / 'chain'}",
                 "method=adapter", "intermediate=mnli"]) == 0  # fmt: skip
    key = {s["key"] for s in read_results(tmp_path / "chain")["stages"] if s["kind"] == "intermediate"}
    assert key <= {s["key"] for s in results["stages"] if s["kind"] == "intermediate"}
    assert main(["eval", str(tmp_path / "fusion")]) == 0
    rebuilt = read_results(tmp_path / "fusion-eval1")
    assert rebuilt["per_language"] == results["per_language"]
    assert rebuilt["fusion_attention"] == attention and rebuilt["task_adapters"] == results["task_adapters"]


@pytest.mark.parametrize("overrides, message", [
    (["intermediate=mnli"], "at least two intermediate tasks"),
    (["intermediate=mnli,mnli"], "distinct tasks"),
    (["adapter.config=lora"], "bottleneck adapters only"),
    (["task=tatoeba", "eval.languages=de"], "evaluated only"),
])  # fmt: skip
def test_fusion_configs_that_cannot_work_are_refused(overrides, message):
    config = load_config("configs/examples/fusion.yaml", overrides)
    with pytest.raises(UserError, match=message):
        validate(config)


def test_fusion_config_must_be_known():
    with pytest.raises(UserError, match=r"fusion\.config"):
        load_config("configs/examples/fusion.yaml", ["fusion.config=wide"])
