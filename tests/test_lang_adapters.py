"""Language adapters: MLM at masked positions equals the head's loss; held-out loss drops."""

from __future__ import annotations

import torch

from adapter_xfer.config import LangAdapterConfig
from adapter_xfer.lang_adapters import masked_lm_loss, mlm_collator, mlm_features, train_language_adapter
from adapter_xfer.modeling import load_model
from adapter_xfer.tiny import ASSETS


def lines(lang: str) -> list[str]:
    return (ASSETS / f"raw_{lang}.txt").read_text(encoding="utf-8").splitlines()


def test_heldout_mlm_loss_drops_and_base_is_frozen(tiny_checkpoint, tiny_tokenizer):
    model = load_model(tiny_checkpoint, keep_mlm_head=True)
    base = {k: v.clone() for k, v in model.state_dict().items() if "adapter" not in k}
    config = LangAdapterConfig(max_steps=40, batch_size=16, learning_rate=3e-3, heldout_lines=24, max_seq_length=48)
    result, metrics = train_language_adapter(model, tiny_tokenizer, "lang_zh", lines("zh"), config, seed=0)
    assert result.completed and metrics["heldout_lines"] == 24
    assert metrics["mlm_loss_after"] < metrics["mlm_loss_before"] - 0.05
    assert metrics["mlm_head"].startswith("pretrained")
    after = model.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in base.items())
    assert model.base_model.get_invertible_adapter() is not None


def test_masked_position_loss_equals_full_head_loss(tiny_checkpoint, tiny_tokenizer):
    model = load_model(tiny_checkpoint, keep_mlm_head=True)
    from adapter_xfer.lang_adapters import add_language_adapter
    from adapter_xfer.methods import activate

    add_language_adapter(model, "lang_de", LangAdapterConfig())
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lang_de" in name:
                param.add_(0.05 * torch.randn_like(param))
    activate(model, "lang_de", "default")
    model.eval()
    torch.manual_seed(0)
    batch = mlm_collator(tiny_tokenizer, 0.15)(mlm_features(lines("de")[:8], tiny_tokenizer, 48))
    with torch.no_grad():
        full = model(**batch).loss
        selective = masked_lm_loss(model, batch)
    assert torch.allclose(full, selective, atol=1e-5)
