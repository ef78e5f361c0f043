"""Language adapters (MAD-X): a bottleneck + invertible adapter trained with masked language modelling.

The base model and, where the checkpoint has one, its pretrained MLM head stay frozen; only the
language adapter trains. An encoder without an MLM head (the offline e5 encoder) gets a fresh head
whose transform and bias train with the adapter, and the stage records that. The output layer is
computed at the masked positions only: with a 250k vocabulary, logits for every position would
dominate the step.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from adapter_xfer.config import LangAdapterConfig, TrainConfig
from adapter_xfer.methods import activate, set_trainable
from adapter_xfer.train import FitResult, fit

MLM_HEAD = "mlm"


def add_language_adapter(model, name: str, config: LangAdapterConfig) -> None:
    """Add a MAD-X language adapter (`seq_bn_inv`: bottleneck + invertible adapter)."""
    from adapter_xfer.adapter_configs import lang_adapter_config

    model.add_adapter(name, config=lang_adapter_config(model, config))


def mlm_head(model) -> tuple[str, bool]:
    """The MLM head to train against: the checkpoint's (`default`, frozen) or a fresh one (trained)."""
    if "default" in model.heads:
        return "default", False
    if MLM_HEAD not in model.heads:
        model.add_masked_lm_head(MLM_HEAD)
    return MLM_HEAD, True


def mlm_features(lines: list[str], tokenizer, max_length: int) -> list[dict[str, Any]]:
    """Tokenise raw-text lines (one training example each, truncated)."""
    encoded = tokenizer(lines, truncation=True, max_length=max_length, return_special_tokens_mask=True)
    return [
        {"input_ids": ids, "special_tokens_mask": special}
        for ids, special in zip(encoded["input_ids"], encoded["special_tokens_mask"], strict=True)
        if len(ids) > 2
    ]


def mlm_collator(tokenizer, probability: float):
    """Pads and masks a batch (80/10/10) with the global torch RNG, which `fit` seeds per step."""
    from transformers import DataCollatorForLanguageModeling

    inner = DataCollatorForLanguageModeling(tokenizer, mlm_probability=probability, return_tensors="pt")

    def collate(features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        batch = inner([dict(f) for f in features])
        return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"],
                "labels": batch["labels"]}  # fmt: skip

    return collate


def masked_lm_loss(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Cross-entropy at masked positions only, through the active MLM head and invertible adapter."""
    labels = batch["labels"]
    hidden = model.base_model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])[0]
    selected = hidden[labels != -100]
    head = model.heads[model.active_head]
    for index in range(len(head) - 1):
        selected = head[index](selected)
    inverse = model.base_model.get_invertible_adapter()
    if inverse is not None:
        selected = inverse(selected.unsqueeze(0), rev=True).squeeze(0)  # it expects (batch, seq, h)
    logits = head[len(head) - 1](selected)
    return F.cross_entropy(logits.float(), labels[labels != -100])


@torch.no_grad()
def heldout_loss(model, features, collate, seed: int, batch_size: int = 32) -> float:
    """Mean masked-LM loss on held-out lines with fixed masks (same masks before and after)."""
    model.eval()
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    total, count = 0.0, 0
    device = next(model.parameters()).device
    for start in range(0, len(features), batch_size):
        batch = {k: v.to(device) for k, v in collate(features[start : start + batch_size]).items()}
        n = int((batch["labels"] != -100).sum())
        if n:
            total += float(masked_lm_loss(model, batch)) * n
            count += n
    torch.random.set_rng_state(state)
    return total / max(count, 1)


def train_language_adapter(
    model, tokenizer, name: str, lines: list[str], config: LangAdapterConfig, seed: int,
    checkpoint_dir=None, bf16: bool = False, fingerprint: str = "",
) -> tuple[FitResult, dict[str, Any]]:  # fmt: skip
    """Add and train language adapter `name` on `lines`; returns the fit result and stage metrics.

    The last `config.heldout_lines` lines are held out; the metrics record held-out MLM loss before
    and after training (it must drop) and whether the MLM head was pretrained or fresh.
    """
    heldout_n = min(config.heldout_lines, len(lines) // 5)
    train_lines, heldout_lines = lines[: len(lines) - heldout_n], lines[len(lines) - heldout_n :]
    add_language_adapter(model, name, config)
    head, fresh = mlm_head(model)
    model.train_adapter(name)  # unfreezes the invertible part too; resets the active setup
    activate(model, name, head)
    set_trainable(model, {name, head} if fresh else {name})
    collate = mlm_collator(tokenizer, config.mlm_probability)
    train_features = mlm_features(train_lines, tokenizer, config.max_seq_length)
    heldout_features = mlm_features(heldout_lines, tokenizer, config.max_seq_length)
    before = heldout_loss(model, heldout_features, collate, seed) if heldout_features else None
    schedule = TrainConfig(
        max_steps=config.max_steps, batch_size=config.batch_size, learning_rate=config.learning_rate,
        max_seq_length=config.max_seq_length, warmup_ratio=0.05, bf16=bf16,
    )  # fmt: skip
    result = fit(model, train_features, collate, schedule, seed, loss_fn=masked_lm_loss,
                 checkpoint_dir=checkpoint_dir, desc=f"{name} (MLM)", fingerprint=fingerprint)  # fmt: skip
    after = heldout_loss(model, heldout_features, collate, seed) if heldout_features else None
    metrics = {
        "mlm_loss_before": before,
        "mlm_loss_after": after,
        "mlm_head": "fresh (trained with the adapter)" if fresh else "pretrained (frozen)",
        "train_lines": len(train_lines),
        "heldout_lines": len(heldout_lines),
    }
    return result, metrics
