"""The PEFT arm: LoRA through `peft.get_peft_model` on a plain `transformers` model with a static head.

A comparison arm, trained and evaluated by the same `fit()`, data, schedule and scorers as every
other method. It differs where peft differs from `adapters`: a static Hugging Face head (kept
trainable through `modules_to_save`) and no language adapters, so nothing is swapped at test time;
`results.json` notes say so.
"""

from __future__ import annotations

from pathlib import Path

from adapter_xfer.config import AdapterConfig
from adapter_xfer.errors import UserError
from adapter_xfer.tasks import Task

NOTE = "peft_lora: LoRA via peft with a static head and no language adapters (no language swap at test)"


def _auto_class(task: Task):
    import transformers

    classes = {
        "pair_classification": transformers.AutoModelForSequenceClassification,
        "classification": transformers.AutoModelForSequenceClassification,
        "tagging": transformers.AutoModelForTokenClassification,
        "span_qa": transformers.AutoModelForQuestionAnswering,
        "multiple_choice": transformers.AutoModelForMultipleChoice,
    }
    if task.format not in classes:
        raise UserError(f"method 'peft_lora' has no static head for format '{task.format}' (task '{task.name}')")
    return classes[task.format]


def _head_modules(model) -> list[str]:
    """Names of the static head's top-level modules (trained in full, as `modules_to_save`)."""
    from torch import nn

    base = model.base_model_prefix
    # Only modules with weights; containers some libraries attach (ModuleDicts) cannot be copied by peft.
    return [
        name
        for name, child in model.named_children()
        if name != base and not isinstance(child, nn.ModuleDict) and any(True for _ in child.parameters())
    ]


def build_peft_model(checkpoint: str, task: Task, settings: AdapterConfig, peft_dir: Path | None = None):
    """A static-head model of `checkpoint` for `task` with a LoRA adapter (fresh, or loaded from `peft_dir`)."""
    import torch
    from peft import LoraConfig, PeftModel, get_peft_model

    kwargs = {"num_labels": len(task.labels)} if task.format in ("pair_classification", "classification",
                                                                  "tagging") else {}  # fmt: skip
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)  # the static head's initial weights: the same for every load
        model = _auto_class(task).from_pretrained(checkpoint, **kwargs)
    if peft_dir is not None:
        return PeftModel.from_pretrained(model, str(peft_dir))
    config = LoraConfig(r=settings.lora_r, lora_alpha=settings.lora_alpha, target_modules=["query", "value"],
                        modules_to_save=_head_modules(model))  # fmt: skip
    return get_peft_model(model, config)


def prepare(model, task_adapter: str, head: str, lang_adapter: str | None, adapter_config,
            below: tuple[str, ...] = ()) -> None:  # fmt: skip
    """peft already marks what trains (LoRA matrices and the head copy); the pooler of a BERT-style
    static head is read by the head, so it trains only if peft says so."""
    if below:
        raise UserError("method 'peft_lora' does not stack task adapters (adapter.chain=stack)")
