"""Experiment configuration: frozen dataclasses, YAML layering and typed `key=value` overrides.

Only the CLI and the top-level run function see an `ExperimentConfig`; library functions take plain
arguments. A config is `configs/defaults.yaml`, then the experiment file, then overrides. Unknown keys
and values that cannot be converted to the declared type are `UserError`s naming the key and source.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from adapter_xfer.errors import UserError

DEFAULTS_FILE = Path(__file__).resolve().parent.parent / "configs" / "defaults.yaml"


@dataclass(frozen=True)
class TrainConfig:
    """How one training stage runs (shared by every method, so comparisons are fair)."""

    max_steps: int = -1  # > 0 overrides epochs
    epochs: float = 3.0
    batch_size: int = 16
    learning_rate: float = 1e-4
    max_seq_length: int = 128
    bf16: bool = False
    warmup_ratio: float = 0.1
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    eval_steps: int = 0  # 0: select on English dev once per epoch
    save_steps: int = 0  # 0: checkpoint whenever we evaluate
    max_train_examples: int = 0  # 0: all
    max_dev_examples: int = 0  # 0: all
    stop_after_steps: int = 0  # > 0: stop after this many steps of this invocation, as if killed


@dataclass(frozen=True)
class EvalConfig:
    """Zero-shot evaluation over the target task's languages."""

    languages: tuple[str, ...] = ()  # empty: every language of the target task
    split: str = ""  # empty: test where the source has a labelled test split, else dev
    max_examples: int = 0  # 0: all
    batch_size: int = 64


@dataclass(frozen=True)
class AdapterConfig:
    """Task adapters: the method (`seq_bn` as in MAD-X, `double_seq_bn`, `lora`, `ia3`, `prefix_tuning`)."""

    config: str = "seq_bn"
    reduction_factor: int = 16  # bottleneck methods
    non_linearity: str = "relu"
    lora_r: int = 8  # lora
    lora_alpha: int = 8
    prefix_length: int = 30  # prefix_tuning
    prefix_bottleneck: int = 512
    leave_out_last: bool = False  # MAD-X 2.0: no adapter in the last layer
    chain: str = "continue"  # after an intermediate stage: continue its adapter, or stack a new one on it
    train_languages: tuple[str, ...] = ()  # language adapters sampled under the task adapter in training


@dataclass(frozen=True)
class LangAdapterConfig:
    """Language adapters: trained here with MLM on raw text, or loaded by Hub id / path."""

    pretrained: dict[str, str] = field(default_factory=dict)  # lang -> Hub id or folder
    config: str = "seq_bn_inv"
    reduction_factor: int = 2
    max_steps: int = 200
    batch_size: int = 16
    learning_rate: float = 1e-4
    max_seq_length: int = 128
    mlm_probability: float = 0.15
    max_lines: int = 0  # 0: all raw-text lines
    heldout_lines: int = 64  # lines kept out of training to measure MLM loss before and after
    leave_out_last: bool = False  # MAD-X 2.0: no adapter in the last layer


@dataclass(frozen=True)
class FusionConfig:
    """AdapterFusion (method `fusion`) over the intermediate tasks' adapters."""

    config: str = "dynamic"  # adapters' fusion config: dynamic (value matrix, regularised) | static
    target_adapter: bool = False  # also train a new target task adapter above the fusion layer


@dataclass(frozen=True)
class MixtureConfig:
    """What intermediate training mixes: the intermediate tasks jointly, and/or masked LM."""

    joint: bool = False  # train every intermediate task at once: one shared adapter (or encoder), a head per task
    sampling: str = "proportional"  # proportional | uniform | temperature (over the tasks)
    temperature: float = 2.0  # temperature sampling: p(task) proportional to size ** (1 / temperature)
    mlm_rate: float = 0.0  # share of intermediate-training steps that are masked LM on raw text
    mlm_languages: tuple[str, ...] = ()  # raw-text languages for those steps; empty: English and every eval language


@dataclass(frozen=True)
class ExperimentConfig:
    """One run: a target task, a method, an optional chain of English intermediate tasks."""

    task: str = ""
    method: str = "adapter"
    intermediate: tuple[str, ...] = ()
    model: str = "tiny"
    output_dir: str = ""
    cache_dir: str = "runs/cache"
    seed: int = 42
    data_dir: str | None = None
    threads: int = 0  # 0: all cores
    translate_train: tuple[str, ...] = ()  # also train on these languages' (translated) train files
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    adapter: AdapterConfig = field(default_factory=AdapterConfig)
    lang_adapters: LangAdapterConfig = field(default_factory=LangAdapterConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)
    mixture: MixtureConfig = field(default_factory=MixtureConfig)


def _convert(value: Any, hint: Any, key: str, source: str) -> Any:
    """Convert a YAML value to the declared type, or raise a `UserError` naming key and source."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    bad = UserError(f"{source}: key '{key}': cannot read {value!r} as {getattr(hint, '__name__', hint)}")
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _convert(value, inner[0], key, source)
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise UserError(f"{source}: key '{key}' must be a mapping, got {value!r}")
        return _build(hint, value, source, prefix=f"{key}.")
    if origin is tuple:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if value is None:
            value = []
        if not isinstance(value, list | tuple):
            raise bad
        return tuple(_convert(v, args[0], key, source) for v in value)
    if origin is dict:
        if not isinstance(value, dict):
            raise bad
        return {str(k): _convert(v, args[1], f"{key}.{k}", source) for k, v in value.items()}
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise bad
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            # YAML 1.1 reads "1e-4" as a string; accept any float literal.
            try:
                return float(value)
            except (TypeError, ValueError):
                raise bad from None
        return float(value)
    if hint is str:
        if isinstance(value, dict | list | bool) or value is None:
            raise bad
        return str(value)
    raise bad


def _build(cls: type, data: dict, source: str, prefix: str = "") -> Any:
    """Instantiate dataclass `cls` from a (possibly partial) mapping, validating every key."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in names:
            raise UserError(f"{source}: unknown key '{prefix}{key}' (known: {', '.join(sorted(names))})")
    kwargs = {k: _convert(v, hints[k], f"{prefix}{k}", source) for k, v in data.items()}
    return cls(**kwargs)


def _merge(base: dict, delta: dict) -> dict:
    """Deep-merge `delta` into a copy of `base` (mappings merge, everything else replaces)."""
    out = dict(base)
    for key, value in delta.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and key != "pretrained":
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _read_yaml(path: Path) -> dict:
    if not path.is_file():
        raise UserError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise UserError(f"{path}{where}: not valid YAML") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: top level must be a mapping of config keys")
    return data


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split `a.b=value` into its dotted key path and the value read as YAML."""
    if "=" not in text:
        raise UserError(f"override '{text}' must look like key=value")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.strip().split("."), value


def load_config(path: str | Path | None, overrides: list[str] | tuple[str, ...] = ()) -> ExperimentConfig:
    """Resolve `defaults.yaml` + experiment file + `key=value` overrides into an `ExperimentConfig`.

    Raises:
        UserError: missing file, invalid YAML, unknown key, or a value of the wrong type.
    """
    data = _read_yaml(DEFAULTS_FILE) if DEFAULTS_FILE.is_file() else {}
    _build(ExperimentConfig, data, str(DEFAULTS_FILE))
    if path is not None:
        data = _merge(data, _read_yaml(Path(path)))
        _build(ExperimentConfig, data, str(path))  # errors name the file that introduced them
    config = config_from_dict(data, overrides, str(path or DEFAULTS_FILE))
    if not config.task:
        raise UserError(f"{path or DEFAULTS_FILE}: key 'task' is required (see `adapter-xfer ls tasks`)")
    return config


def config_from_dict(data: dict, overrides: list[str] | tuple[str, ...] = (), source: str = "config",
                     ) -> ExperimentConfig:  # fmt: skip
    """An `ExperimentConfig` from a resolved mapping (e.g. a run's recorded config) plus overrides."""
    for item in overrides:
        keys, value = parse_override(item)
        nested: Any = value
        for key in reversed(keys):
            nested = {key: nested}
        data = _merge(data, nested)
        _build(ExperimentConfig, data, f"override '{item}'")
    config = _build(ExperimentConfig, data, source)
    check_ranges(config)
    return config


def check_ranges(config: ExperimentConfig) -> None:
    """Values of the right type that still make no sense (a batch of 0, a negative learning rate)."""
    checks = {
        "train.batch_size": config.train.batch_size >= 1,
        "train.learning_rate": config.train.learning_rate > 0,
        "train.max_seq_length": config.train.max_seq_length >= 8,
        "train.epochs": config.train.max_steps > 0 or config.train.epochs > 0,
        "train.warmup_ratio": 0 <= config.train.warmup_ratio < 1,
        "eval.batch_size": config.eval.batch_size >= 1,
        "eval.max_examples": config.eval.max_examples >= 0,
        "lang_adapters.batch_size": config.lang_adapters.batch_size >= 1,
        "lang_adapters.max_steps": config.lang_adapters.max_steps >= 1,
        "lang_adapters.mlm_probability": 0 < config.lang_adapters.mlm_probability < 1,
        "adapter.reduction_factor": config.adapter.reduction_factor >= 1,
        "adapter.chain": config.adapter.chain in ("continue", "stack"),
        "fusion.config": config.fusion.config in ("dynamic", "static"),
        "mixture.sampling": config.mixture.sampling in ("proportional", "uniform", "temperature"),
        "mixture.temperature": config.mixture.temperature > 0,
        "mixture.mlm_rate": 0 <= config.mixture.mlm_rate < 1,
        "threads": config.threads >= 0,
    }
    for key, ok in checks.items():
        if not ok:
            section, _, field_name = key.rpartition(".")
            value = getattr(getattr(config, section) if section else config, field_name)
            raise UserError(f"key '{key}': value {value!r} is out of range")


def config_to_dict(config: Any) -> dict:
    """A JSON-ready dict of a config dataclass (tuples become lists)."""
    return json_ready(dataclasses.asdict(config))


def json_ready(obj: Any) -> Any:
    """Tuples to lists, recursively, so configs round-trip through JSON and YAML."""
    if isinstance(obj, dict):
        return {k: json_ready(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_ready(v) for v in obj]
    return obj


def replace(config: ExperimentConfig, **changes: Any) -> ExperimentConfig:
    """A copy of `config` with top-level fields changed (nested: pass a new sub-config)."""
    return dataclasses.replace(config, **changes)
