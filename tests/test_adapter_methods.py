"""Every task-adapter method of the table under `Stack(lang_en, task)`: what trains, save/load, MAD-X 2.0."""

from __future__ import annotations

import pytest
import torch

from adapter_xfer.adapter_configs import TASK_ADAPTERS
from adapter_xfer.config import AdapterConfig, LangAdapterConfig, TrainConfig
from adapter_xfer.errors import UserError
from adapter_xfer.formats import get_format
from adapter_xfer.lang_adapters import add_language_adapter
from adapter_xfer.methods import METHODS, activate
from adapter_xfer.modeling import load_model
from adapter_xfer.train import fit
from tests.test_methods import TASK, base_state, logits, perturb, records

SETTINGS = {name: AdapterConfig(config=name, prefix_bottleneck=32, prefix_length=4) for name in TASK_ADAPTERS}


def prepared(checkpoint, settings: AdapterConfig, lang: LangAdapterConfig | None = None):
    torch.manual_seed(0)
    model = load_model(checkpoint)
    add_language_adapter(model, "lang_en", lang or LangAdapterConfig())
    perturb(model, ".lang_en.")
    get_format(TASK.format).add_head(model, "task_x", TASK)
    METHODS["adapter"].prepare(model, "task_x", "task_x", "lang_en", settings)
    return model


@pytest.mark.parametrize("name", sorted(TASK_ADAPTERS))
def test_only_the_task_adapter_and_head_train(name, tiny_checkpoint, tiny_tokenizer):
    model = prepared(tiny_checkpoint, SETTINGS[name])
    before = base_state(model)
    lang_before = {k: v.clone() for k, v in model.state_dict().items() if ".lang_en." in k}
    fmt = get_format(TASK.format)
    features = fmt.preprocess(records(), tiny_tokenizer, TASK, 32)
    result = fit(model, features, lambda b: fmt.collate(b, tiny_tokenizer),
                 TrainConfig(max_steps=3, batch_size=4, learning_rate=1e-2, warmup_ratio=0), seed=0)  # fmt: skip
    after = model.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in before.items())
    assert all(torch.equal(v, after[k]) for k, v in lang_before.items())
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(".task_x." in n or n.startswith("heads.task_x.") for n in trainable)
    assert any(".task_x." in n for n in trainable)  # the adapter itself, not only the head
    assert result.trainable_params == sum(p.numel() for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("name", sorted(TASK_ADAPTERS))
def test_save_and_load_reproduce_outputs(name, tiny_checkpoint, tiny_tokenizer, tmp_path):
    model = prepared(tiny_checkpoint, SETTINGS[name])
    perturb(model, ".task_x.")
    perturb(model, "heads.task_x.")
    activate(model, METHODS["adapter"].setup_for("lang_en", "task_x"), "task_x")
    expected = logits(model, tiny_tokenizer)
    for adapter in ("lang_en", "task_x"):
        model.save_adapter(str(tmp_path / adapter), adapter, with_head=adapter == "task_x", use_safetensors=True)
    fresh = load_model(tiny_checkpoint)
    for adapter in ("lang_en", "task_x"):
        fresh.load_adapter(str(tmp_path / adapter), load_as=adapter, with_head=adapter == "task_x",
                           use_safetensors=True)  # fmt: skip
    activate(fresh, METHODS["adapter"].setup_for("lang_en", "task_x"), "task_x")
    assert torch.allclose(expected, logits(fresh, tiny_tokenizer), atol=1e-6)


def test_madx2_leaves_the_last_layer_without_adapters(tiny_checkpoint):
    last = f"layer.{load_model(tiny_checkpoint).config.num_hidden_layers - 1}."
    model = prepared(tiny_checkpoint, AdapterConfig(leave_out_last=True), LangAdapterConfig(leave_out_last=True))
    names = [n for n, _ in model.named_parameters()]
    assert not any(last in n and (".task_x." in n or ".lang_en." in n) for n in names)
    assert any("layer.0." in n and ".task_x." in n for n in names)
    assert any("layer.0." in n and ".lang_en." in n for n in names)


def test_unknown_adapter_method_is_a_user_error(tiny_checkpoint):
    with pytest.raises(UserError, match="unknown adapter method 'adapterfusion'"):
        prepared(tiny_checkpoint, AdapterConfig(config="adapterfusion"))
