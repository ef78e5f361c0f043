"""Methods on tiny: exactly the intended parameters train, the language swap matters, save/load is exact."""

from __future__ import annotations

import pytest
import torch

from adapter_xfer.artifacts import load_adapter_into, write_meta
from adapter_xfer.config import AdapterConfig, LangAdapterConfig, TrainConfig
from adapter_xfer.errors import UserError
from adapter_xfer.formats import get_format
from adapter_xfer.fusion import add_fusion
from adapter_xfer.lang_adapters import add_language_adapter
from adapter_xfer.methods import METHODS, activate, add_task_adapter
from adapter_xfer.modeling import base_identity, is_adapter_param
from adapter_xfer.tasks import TASKS
from adapter_xfer.train import fit

TASK = TASKS["pawsx"]  # labels "0"/"1"
LABELS = TASK.labels
SENTENCES = [
    ("The museum opens at nine.", "At nine the museum opens."), ("Das Wetter ist heute schön.", "Es regnet."),
    ("我们明天去北京。", "明天我们去北京。"), ("She bought three apples.", "She sold three apples."),
    ("El tren llega tarde.", "El tren no llega."), ("He reads every evening.", "Every evening he reads."),
]  # fmt: skip

# Methods built on an `adapters` model (the peft arm has its own tests in test_regimes.py).
ADAPTERS_METHODS = sorted(m for m, entry in METHODS.items() if not entry.uses_peft)


def records():
    return [{"id": i, "text_a": a, "text_b": b, "label": LABELS[i % 2]} for i, (a, b) in enumerate(SENTENCES * 4)]


def perturb(model, name_part: str) -> None:
    """Move adapter weights away from their identity-like init so no test passes by accident."""
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name_part in name:
                param.add_(torch.randn(param.shape, generator=gen) * 0.05)


FUSED = ("task_a", "task_b")  # intermediate adapters a `fusion` model fuses


def prepared(tiny_model, method_name: str, target_adapter: bool = False):
    """Tiny with perturbed en/de/zh language adapters and a PAWS-X head `task_demo`, prepared for
    `method_name` (fusion: over two perturbed adapters, optionally with a target adapter on top)."""
    model = tiny_model
    for lang in ("en", "de", "zh"):
        add_language_adapter(model, f"lang_{lang}", LangAdapterConfig())
        perturb(model, f".lang_{lang}.")
    get_format("pair_classification").add_head(model, "task_demo", TASK)
    if not METHODS[method_name].fuses:
        METHODS[method_name].prepare(model, "task_demo", "task_demo", "lang_en", AdapterConfig())
        return model
    for name in FUSED:
        add_task_adapter(model, name, AdapterConfig())
        perturb(model, f".{name}.")
    add_fusion(model, FUSED, "dynamic")
    top = "task_demo" if target_adapter else None
    METHODS[method_name].prepare(model, top, "task_demo", "lang_en", AdapterConfig(), below=(FUSED,))
    return model


def train_a_little(model, tokenizer, steps=4):
    fmt = get_format("pair_classification")
    features = fmt.preprocess(records(), tokenizer, TASK, 32)
    schedule = TrainConfig(max_steps=steps, batch_size=4, learning_rate=1e-2, warmup_ratio=0.0)
    return fit(model, features, lambda f: fmt.collate(f, tokenizer), schedule, seed=3)


def base_state(model):
    """The encoder's own weights (no adapter, no head)."""
    state = model.state_dict().items()
    return {k: v.clone() for k, v in state if not is_adapter_param(k) and not k.startswith("heads.")}


def logits(model, tokenizer):
    fmt = get_format("pair_classification")
    batch = fmt.collate(fmt.preprocess(records()[:6], tokenizer, TASK, 32), tokenizer)
    batch.pop("labels")
    model.eval()
    with torch.no_grad():
        return model(**batch).logits


def test_adapter_training_leaves_base_bit_identical(tiny_model, tiny_tokenizer):
    model = prepared(tiny_model, "adapter")
    before = base_state(model)
    lang_before = {k: v.clone() for k, v in model.state_dict().items() if ".lang_" in k}
    adapter_before = {k: v.clone() for k, v in model.state_dict().items() if ".task_demo." in k}
    result = train_a_little(model, tiny_tokenizer)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(torch.equal(lang_before[k], after[k]) for k in lang_before)  # language adapters frozen
    assert any(not torch.equal(adapter_before[k], after[k]) for k in adapter_before)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(".task_demo." in n or n.startswith("heads.task_demo.") for n in trainable)
    assert result.trainable_params == sum(p.numel() for p in model.parameters() if p.requires_grad)


def test_full_ft_changes_base_weights(tiny_model, tiny_tokenizer):
    model = prepared(tiny_model, "full_ft")
    before = base_state(model)
    train_a_little(model, tiny_tokenizer)
    after = model.state_dict()
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert any("encoder.layer.0" in k for k in changed) and any("word_embeddings" in k for k in changed)
    assert model.active_adapters is None


@pytest.mark.parametrize("method", ADAPTERS_METHODS)
def test_parameters_with_gradient_equal_trainable(tiny_model, tiny_tokenizer, method):
    model = prepared(tiny_model, method)
    fmt = get_format("pair_classification")
    batch = fmt.collate(fmt.preprocess(records()[:4], tiny_tokenizer, TASK, 32), tiny_tokenizer)
    model.train()
    model(**batch).loss.backward()
    with_grad = sum(p.numel() for p in model.parameters() if p.grad is not None)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert with_grad == trainable > 0


def test_swapping_language_adapter_changes_outputs(tiny_model, tiny_tokenizer):
    model = prepared(tiny_model, "adapter")
    perturb(model, ".task_demo.")
    setup = METHODS["adapter"].setup_for
    activate(model, setup("lang_en", "task_demo"), "task_demo")
    english = logits(model, tiny_tokenizer)
    activate(model, setup("lang_zh", "task_demo"), "task_demo")
    chinese = logits(model, tiny_tokenizer)
    assert not torch.allclose(english, chinese, atol=1e-4)


def test_save_load_perturbed_adapters_reproduces_logits(tiny_model, tiny_tokenizer, tiny_checkpoint, tmp_path):
    from adapter_xfer.modeling import load_model

    model = prepared(tiny_model, "adapter")
    perturb(model, ".task_demo.")
    perturb(model, "heads.task_demo.")
    identity = base_identity(model, "tiny")
    for name in ("lang_de", "task_demo"):
        model.save_adapter(str(tmp_path / name), name, with_head=name.startswith("task"), use_safetensors=True)
        write_meta(tmp_path / name, identity, kind="x", name=name)
    activate(model, METHODS["adapter"].setup_for("lang_de", "task_demo"), "task_demo")
    expected = logits(model, tiny_tokenizer)

    fresh = load_model(tiny_checkpoint)
    load_adapter_into(fresh, tmp_path, "lang_de", identity)
    load_adapter_into(fresh, tmp_path, "task_demo", identity, with_head=True)
    activate(fresh, METHODS["adapter"].setup_for("lang_de", "task_demo"), "task_demo")
    assert torch.equal(expected, logits(fresh, tiny_tokenizer))


def test_adapter_from_another_base_is_refused(tiny_model, tmp_path):
    model = prepared(tiny_model, "adapter")
    identity = base_identity(model, "tiny")
    model.save_adapter(str(tmp_path / "task_demo"), "task_demo", with_head=True, use_safetensors=True)
    other = identity.to_dict() | {"weights_hash": "0" * 16, "name": "other-model"}
    (tmp_path / "task_demo" / "adapter_xfer.json").write_text(f'{{"base_model": {__import__("json").dumps(other)}}}')
    with pytest.raises(UserError, match="other-model"):
        load_adapter_into(model, tmp_path, "task_demo", identity)


def test_predictions_come_back_in_input_order(tiny_model, tiny_tokenizer):
    """Batches run sorted by length; the predictions (files, pipes) keep the records' order."""
    from adapter_xfer.zero_shot import predict

    model = prepared(tiny_model, "adapter")
    rows = list(reversed(records()))  # ids descending, lengths mixed
    predictions = predict(model, get_format("pair_classification"), rows, tiny_tokenizer, TASK, 32, 4)
    assert list(predictions) == [r["id"] for r in rows]
