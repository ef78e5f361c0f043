"""The adapter-method table: which `adapters` configuration a task or language adapter is built from.

`adapter.config` names an entry (bottleneck `seq_bn`, Houlsby's `double_seq_bn`, `lora`, `ia3`,
`prefix_tuning`); `leave_out_last` drops the adapter from the last layer (MAD-X 2.0). Composition
limits come from `adapters`: only bottleneck adapters can be fused, and LoRA-family adapters under
`Stack` apply one after the other (see the project notes), so a bottleneck language adapter below a
LoRA task adapter is the MAD-X-like combination.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from adapter_xfer.config import AdapterConfig, LangAdapterConfig
from adapter_xfer.errors import UserError


def _leave_out(model, leave_out_last: bool) -> list[int]:
    return [model.config.num_hidden_layers - 1] if leave_out_last else []


def _seq_bn(settings: AdapterConfig, leave_out: list[int]):
    from adapters import SeqBnConfig

    return SeqBnConfig(reduction_factor=settings.reduction_factor, non_linearity=settings.non_linearity,
                       leave_out=leave_out)  # fmt: skip


def _double_seq_bn(settings: AdapterConfig, leave_out: list[int]):
    from adapters import DoubleSeqBnConfig

    return DoubleSeqBnConfig(reduction_factor=settings.reduction_factor, non_linearity=settings.non_linearity,
                             leave_out=leave_out)  # fmt: skip


def _lora(settings: AdapterConfig, leave_out: list[int]):
    from adapters import LoRAConfig

    return LoRAConfig(r=settings.lora_r, alpha=settings.lora_alpha, leave_out=leave_out)


def _ia3(settings: AdapterConfig, leave_out: list[int]):
    from adapters import IA3Config

    return IA3Config(leave_out=leave_out)


def _prefix_tuning(settings: AdapterConfig, leave_out: list[int]):
    from adapters import PrefixTuningConfig

    return PrefixTuningConfig(prefix_length=settings.prefix_length, bottleneck_size=settings.prefix_bottleneck,
                              leave_out=leave_out)  # fmt: skip


# name -> (builder, can be fused)
TASK_ADAPTERS: dict[str, tuple[Callable[[AdapterConfig, list[int]], Any], bool]] = {
    "seq_bn": (_seq_bn, True),
    "double_seq_bn": (_double_seq_bn, True),
    "lora": (_lora, False),
    "ia3": (_ia3, False),
    "prefix_tuning": (_prefix_tuning, False),
}
_ALIASES = {"pfeiffer": "seq_bn", "houlsby": "double_seq_bn"}


def task_adapter_config(model, settings: AdapterConfig):
    """The `adapters` config object for a task adapter described by `settings`."""
    name = _ALIASES.get(settings.config, settings.config)
    if name not in TASK_ADAPTERS:
        known = ", ".join(sorted(TASK_ADAPTERS))
        raise UserError(f"adapter.config: unknown adapter method '{settings.config}' (known: {known})")
    return TASK_ADAPTERS[name][0](settings, _leave_out(model, settings.leave_out_last))


def lang_adapter_config(model, settings: LangAdapterConfig):
    """MAD-X language adapter: bottleneck + invertible adapter (`seq_bn_inv`)."""
    from adapters import SeqBnInvConfig

    if settings.config not in ("seq_bn_inv", "pfeiffer+inv"):
        raise UserError(f"lang_adapters.config '{settings.config}' is not supported (use seq_bn_inv)")
    return SeqBnInvConfig(reduction_factor=settings.reduction_factor,
                          leave_out=_leave_out(model, settings.leave_out_last))  # fmt: skip
