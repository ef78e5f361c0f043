"""PEFT export on tiny: adapters LoRA + flex head give the same logits as the exported PEFT model, and back."""

from __future__ import annotations

import json

import pytest
import torch
from adapters import LoRAConfig, SeqBnConfig

from adapter_xfer.errors import UserError
from adapter_xfer.formats import get_format
from adapter_xfer.methods import activate
from adapter_xfer.modeling import load_model
from adapter_xfer.peft_export import from_peft, to_peft
from tests.test_methods import TASK, logits, perturb

CONFIGS = {
    "qv": LoRAConfig(r=4, alpha=8),  # the project's `lora` placement: ["query", "value"]
    # every layer type PEFT needs a regex for (output.dense vs attention.output.dense), last layer left out
    "all": LoRAConfig(
        r=2, alpha=6, attn_matrices=["q", "k", "v"], intermediate_lora=True, output_lora=True, leave_out=[1]
    ),
}


def trained(checkpoint, config):
    """tiny + LoRA `task_x` + head `task_x`, both moved away from init (lora_B starts at zero)."""
    model = load_model(checkpoint)
    model.add_adapter("task_x", config=config)
    get_format(TASK.format).add_head(model, "task_x", TASK)
    perturb(model, ".task_x.")
    perturb(model, "heads.task_x.")
    activate(model, "task_x", "task_x")
    return model


def peft_logits(checkpoint, folder, tokenizer):
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification

    base = AutoModelForSequenceClassification.from_pretrained(checkpoint, num_labels=len(TASK.labels))
    return logits(PeftModel.from_pretrained(base, str(folder)), tokenizer)


@pytest.mark.parametrize("placement", sorted(CONFIGS))
def test_peft_model_reproduces_adapter_logits(placement, tiny_checkpoint, tiny_tokenizer, tmp_path):
    model = trained(tiny_checkpoint, CONFIGS[placement])
    expected = logits(model, tiny_tokenizer)
    to_peft(model, "task_x", tmp_path / "peft", head_name="task_x")
    got = peft_logits(tiny_checkpoint, tmp_path / "peft", tiny_tokenizer)
    print(f"max |adapters - peft| ({placement}): {(expected - got).abs().max().item():.3g}")
    assert torch.allclose(expected, got, atol=1e-6)


def test_lora_matters(tiny_checkpoint, tiny_tokenizer, tmp_path):
    """Guard against a vacuous pass: the exported LoRA changes the PEFT model's logits."""
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification

    model = trained(tiny_checkpoint, CONFIGS["qv"])
    to_peft(model, "task_x", tmp_path / "peft", head_name="task_x")
    base = AutoModelForSequenceClassification.from_pretrained(tiny_checkpoint, num_labels=len(TASK.labels))
    peft_model = PeftModel.from_pretrained(base, str(tmp_path / "peft"))
    with_lora = logits(peft_model, tiny_tokenizer)
    with peft_model.disable_adapter():  # base + random classifier: must differ
        assert not torch.allclose(with_lora, logits(peft_model, tiny_tokenizer), atol=1e-3)
    model.set_active_adapters(None)  # the adapters side: head alone differs from head + LoRA
    assert not torch.allclose(with_lora, logits(model, tiny_tokenizer), atol=1e-3)


@pytest.mark.parametrize("placement", sorted(CONFIGS))
def test_round_trip_is_exact(placement, tiny_checkpoint, tiny_tokenizer, tmp_path):
    model = trained(tiny_checkpoint, CONFIGS[placement])
    expected = logits(model, tiny_tokenizer)
    to_peft(model, "task_x", tmp_path / "peft", head_name="task_x")
    fresh = load_model(tiny_checkpoint)
    from_peft(tmp_path / "peft", fresh, "task_x", head_name="task_x", id2label=dict(enumerate(TASK.labels)))
    config = fresh.adapters_config.get("task_x")
    assert (config["r"], config["alpha"]) == (CONFIGS[placement].r, CONFIGS[placement].alpha)
    activate(fresh, "task_x", "task_x")
    got = logits(fresh, tiny_tokenizer)
    print(f"max |round trip| ({placement}): {(expected - got).abs().max().item():.3g}")
    assert torch.equal(expected, got)


def test_lora_only_export_has_no_classifier(tiny_checkpoint, tmp_path):
    from safetensors.torch import load_file

    to_peft(trained(tiny_checkpoint, CONFIGS["qv"]), "task_x", tmp_path / "peft")
    keys = load_file(str(tmp_path / "peft" / "adapter_model.safetensors"))
    assert keys and all(".lora_" in k for k in keys)


def test_non_lora_adapters_are_refused(tiny_checkpoint, tmp_path):
    model = load_model(tiny_checkpoint)
    model.add_adapter("bottleneck", config=SeqBnConfig())
    model.add_adapter("gated", config=LoRAConfig(use_gating=True))
    with pytest.raises(UserError, match="not a LoRA adapter"):
        to_peft(model, "bottleneck", tmp_path / "a")
    with pytest.raises(UserError, match="gated LoRA"):
        to_peft(model, "gated", tmp_path / "b")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_export_holds_no_local_path(tiny_checkpoint, tmp_path):
    to_peft(trained(tiny_checkpoint, CONFIGS["qv"]), "task_x", tmp_path / "peft", head_name="task_x")
    text = (tmp_path / "peft" / "adapter_config.json").read_text()
    config = json.loads(text)
    assert config["base_model_name_or_path"] == "tiny-v1"
    assert "classifier" in config["modules_to_save"]  # PEFT's SEQ_CLS adds "score" (absent in XLM-R)
    for file in (tmp_path / "peft").iterdir():
        if file.suffix in (".json", ".md"):
            content = file.read_text()
            assert str(tmp_path) not in content and tiny_checkpoint not in content and '"/' not in content, file
