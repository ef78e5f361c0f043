"""The method table: what is trained and which adapters are active, per method.

Every method is trained by the same `fit()` and evaluated by the same zero-shot loop; a method only
decides (a) what the model looks like before training (`prepare`) and (b) which composition is active
when predicting in a language (`setup_for`). The full fine-tuning baseline is just another entry.

`adapters`' own state management has sharp edges (see the project notes): `train_adapter` resets the
active setup and leaves every head trainable. `prepare` therefore sets `requires_grad` explicitly for
every parameter and re-activates the composition afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from adapters.composition import Fuse, Stack

from adapter_xfer.errors import UserError
from adapter_xfer.modeling import is_adapter_param


@dataclass(frozen=True)
class Method:
    """One way of training a task.

    Attributes:
        name: method name (config key `method`).
        summary: one line for `adapter-xfer ls methods`.
        uses_lang_adapters: whether language adapters are trained/loaded and swapped at evaluation.
        trains_base: whether base weights change (full fine-tuning).
        prepare: `(model, task_adapter, head, lang_adapter, adapter_config, below=()) -> None`; `below`
            lists what sits under the trained adapter, bottom to top: frozen task adapters (stacked
            chains) or, as tuples of adapter names, fusion layers (trained by `fusion`).
            `task_adapter` is None when nothing but a fusion layer is trained.
        setup_for: `(lang_adapter | None, task_adapter | None, below=()) -> composition or None`.
    """

    name: str
    summary: str
    uses_lang_adapters: bool
    trains_base: bool
    prepare: Callable[..., None]
    setup_for: Callable[..., object]
    uses_peft: bool = False  # a plain transformers model wrapped by peft, not an `adapters` model
    fuses: bool = False  # the intermediate stages are trained apart and fused under the target


def adapter_name(kind: str, key: str) -> str:
    """`lang_<iso>` / `task_<task>`; validated because `adapters` stores them as module attributes."""
    import torch.nn as nn

    name = f"{kind}_{key}"
    if not name.isidentifier() or hasattr(nn.ModuleDict(), name):
        raise UserError(f"invalid adapter name '{name}'")
    return name


def is_param_of(param_name: str, module_name: str) -> bool:
    """Whether a parameter belongs to the adapter or head called `module_name`."""
    return f".{module_name}." in param_name or param_name.startswith(f"heads.{module_name}.")


def set_trainable(model, names: set[str]) -> int:
    """Make exactly the parameters of adapters/heads in `names` trainable; returns their count."""
    count = 0
    for param_name, param in model.named_parameters():
        param.requires_grad = any(is_param_of(param_name, n) for n in names)
        count += param.numel() if param.requires_grad else 0
    return count


def add_task_adapter(model, name: str, adapter_config) -> None:
    """Add task adapter `name` (method per `adapter.config`) unless the model already has it."""
    from adapter_xfer.adapter_configs import task_adapter_config

    if name not in model.adapters_config.adapters:
        model.add_adapter(name, config=task_adapter_config(model, adapter_config))


def _prepare_adapter(model, task_adapter: str, head: str, lang_adapter: str | None, adapter_config,
                     below: tuple[str, ...] = ()) -> None:  # fmt: skip
    if lang_adapter is None:
        raise UserError("method 'adapter' needs an English language adapter (lang_en)")
    add_task_adapter(model, task_adapter, adapter_config)
    model.train_adapter(task_adapter)  # freezes the base; also resets the active setup (re-set below)
    model.set_active_adapters(Stack(lang_adapter, *below, task_adapter))
    model.active_head = head
    set_trainable(model, {task_adapter, head})


def _prepare_fusion(model, task_adapter: str | None, head: str, lang_adapter: str | None, adapter_config,
                    below: tuple = ()) -> None:  # fmt: skip
    from adapter_xfer.fusion import fusion_name

    fusions = [entry for entry in below if isinstance(entry, tuple)]
    if lang_adapter is None or not fusions:
        raise UserError("method 'fusion' needs an English language adapter and a fusion layer to train")
    model.train_adapter_fusion(Fuse(*fusions[-1]))  # freezes the base and the fused adapters
    if task_adapter is not None:  # an optional new target adapter above the fusion
        add_task_adapter(model, task_adapter, adapter_config)
    activate(model, _adapter_setup(lang_adapter, task_adapter, below), head)
    set_trainable(model, {*(fusion_name(f) for f in fusions), head} | ({task_adapter} if task_adapter else set()))


def _prepare_full_ft(model, task_adapter: str, head: str, lang_adapter: str | None, adapter_config,
                     below: tuple[str, ...] = ()) -> None:  # fmt: skip
    model.set_active_adapters(None)
    model.active_head = head
    for param_name, param in model.named_parameters():
        if param_name.startswith("heads."):
            param.requires_grad = is_param_of(param_name, head)
        else:  # the encoder trains; adapters and the pooler (no flex head reads it) get no gradient
            param.requires_grad = not (is_adapter_param(param_name) or ".pooler." in param_name)


def _prepare_peft(*args, **kwargs) -> None:
    from adapter_xfer.peft_arm import prepare

    prepare(*args, **kwargs)


def _adapter_setup(lang_adapter: str | None, task_adapter: str | None, below: tuple = ()):
    from adapter_xfer.fusion import to_block

    names = [to_block(n) for n in (lang_adapter, *below, task_adapter) if n]
    return Stack(*names) if names else None


def _no_setup(lang_adapter: str | None, task_adapter: str | None, below: tuple[str, ...] = ()):
    return None


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method(
            "adapter",
            "task adapter trained under Stack(lang_en, task) on a frozen encoder; language swapped at test",
            uses_lang_adapters=True,
            trains_base=False,
            prepare=_prepare_adapter,
            setup_for=_adapter_setup,
        ),
        Method(
            "fusion",
            "AdapterFusion over the intermediate task adapters under Stack(lang, Fuse(...)); fusion and head train",
            uses_lang_adapters=True,
            trains_base=False,
            prepare=_prepare_fusion,
            setup_for=_adapter_setup,
            fuses=True,
        ),
        Method(
            "full_ft",
            "full fine-tuning baseline: every encoder weight and the head train; no adapters",
            uses_lang_adapters=False,
            trains_base=True,
            prepare=_prepare_full_ft,
            setup_for=_no_setup,
        ),
        Method(
            "peft_lora",
            "PEFT arm: LoRA (q, v) via peft.get_peft_model with a static head; no language adapters",
            uses_lang_adapters=False,
            trains_base=False,
            prepare=_prepare_peft,
            setup_for=_no_setup,
            uses_peft=True,
        ),
    )
}


def get_method(name: str) -> Method:
    """Look a method up by name."""
    try:
        return METHODS[name]
    except KeyError:
        raise UserError(f"unknown method '{name}' (known: {', '.join(sorted(METHODS))})") from None


def split_top(names: tuple) -> tuple[str | None, tuple]:
    """A stage's adapter list (bottom to top) as (the top task adapter or None, what sits below it);
    a fusion layer on top (a tuple) has no adapter above it."""
    if names and isinstance(names[-1], str):
        return names[-1], tuple(names[:-1])
    return None, tuple(names)


def activate(model, setup, head: str | None) -> None:
    """Activate a composition and its head together (never one without the other)."""
    if not hasattr(model, "set_active_adapters"):  # a peft model: nothing to activate
        return
    model.set_active_adapters(setup)
    if head is not None:
        model.active_head = head
