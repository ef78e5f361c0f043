"""Exact conversion of LoRA task adapters (and their classification head) to PEFT's format and back.

`adapters`' LoRA and PEFT's LoRA compute the same thing when the adapter is a plain additive LoRA: both
store `lora_A` as (r, in) and `lora_B` as (out, r) and scale by `alpha / r` (project notes, section 5:
max logit difference 0.0). The export therefore only renames tensors; PEFT itself writes the folder
(`get_peft_model` + `set_peft_model_state_dict` + `save_pretrained`) so that the result is whatever the
installed PEFT expects. Anything that would make the two computations differ is refused with a
`UserError` instead of being exported approximately. Only the named adapter is exported: a language
adapter stacked under it at training time is not part of the PEFT checkpoint.

The flex classification head (dropout, dense, tanh, dropout, out over the first token) is the HF
`RobertaClassificationHead` (`classifier.dense`, `classifier.out_proj`); it travels in `modules_to_save`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch

from adapter_xfer.errors import UserError

_PEFT_PREFIX = "base_model.model."
_LORA_KEY = re.compile(r"(?P<module>.+)\.loras\.(?P<name>[^.]+)\.lora_(?P<ab>[AB])")
_PEFT_LORA_KEY = re.compile(rf"{re.escape(_PEFT_PREFIX)}(?P<module>.+)\.lora_(?P<ab>[AB])\.weight")
_LAYER = re.compile(r"(?P<stem>.+)\.layer\.(?P<layer>\d+)\.(?P<sub>.+)")
_ATTENTION = {"attention.self.query": "q", "attention.self.key": "k", "attention.self.value": "v"}
# flex ClassificationHead (layers=2): 0 dropout, 1 dense, 2 tanh, 3 dropout, 4 out
_HEAD_TO_HF = {"1": "dense", "4": "out_proj"}


def _lora_config(model, adapter_name: str):
    """The adapter's LoRAConfig, or a UserError naming why it cannot be exported exactly."""
    config = model.adapters_config.get(adapter_name)
    if config is None:
        raise UserError(f"model has no adapter '{adapter_name}'")
    if config.get("architecture") != "lora":  # bottleneck, prefix tuning, ConfigUnion (MAM, UniPELT), ...
        raise UserError(f"adapter '{adapter_name}' is not a LoRA adapter; only LoRA adapters can be exported to PEFT")
    if config.get("composition_mode") != "add":  # "scale" is IA3, PEFT's IA3 stores it differently
        raise UserError(f"adapter '{adapter_name}': composition_mode '{config['composition_mode']}' has no exact PEFT "
                        "LoRA equivalent (only 'add')")  # fmt: skip
    for key, what in (("use_gating", "gated LoRA"), ("use_dora", "DoRA"), ("vera_d", "VeRA"), ("vera_b", "VeRA")):
        if config.get(key):  # extra tensors (gate, magnitude, shared VeRA matrices) that PEFT's LoRA lacks
            raise UserError(f"adapter '{adapter_name}' is {what}, which has no exact PEFT LoRA equivalent")
    return config


def _hf_classifier_model(model, head_name: str | None):
    """A plain `AutoModelForSequenceClassification` with the adapter model's base weights (nothing downloaded)."""
    from transformers import AutoConfig, AutoModelForSequenceClassification

    skip = {"_name_or_path", "architectures", "prediction_heads", "id2label", "label2id", "num_labels", "adapters"}
    settings = {k: v for k, v in model.config.to_dict().items() if k not in skip}
    config = AutoConfig.for_model(**settings)
    if head_name is not None:
        head = model.heads[head_name].config
        config.id2label = {i: label for label, i in (head.get("label2id") or {}).items()} or {
            i: f"LABEL_{i}" for i in range(head["num_labels"])
        }
        config.label2id = {label: i for i, label in config.id2label.items()}
    with torch.random.fork_rng(devices=[]):  # the random classifier init must not move the caller's RNG
        hf = AutoModelForSequenceClassification.from_config(config)
    target = hf.base_model.state_dict()
    source = model.base_model.state_dict()
    missing = [k for k in target if k not in source]
    if missing:
        raise UserError(f"base model of type '{config.model_type}' does not map onto its HF classifier "
                        f"(missing {missing[:3]})")  # fmt: skip
    hf.base_model.load_state_dict({k: source[k] for k in target})
    # BERT's HF head is pooler (dense + tanh) -> classifier; that dense is a base weight, not a head weight, so a
    # flex head cannot travel in modules_to_save without changing the base: refused.
    if head_name is not None and not all(hasattr(getattr(hf, "classifier", None), n) for n in ("dense", "out_proj")):
        raise UserError(f"{type(hf).__name__} has no RobertaClassificationHead (classifier.dense/out_proj), so the "
                        "flex head cannot be exported exactly; export the LoRA adapter without head_name")  # fmt: skip
    return hf.to(next(model.parameters()).dtype).eval()


def _head_state(model, head_name: str) -> dict[str, torch.Tensor]:
    """The flex head's weights under HF `classifier.*` names, or a UserError when the layouts differ."""
    if head_name not in model.heads:
        raise UserError(f"model has no head '{head_name}'")
    head = model.heads[head_name]
    config = head.config
    layout = (config.get("head_type"), config.get("layers"), config.get("activation_function"),
              config.get("use_pooler"), config.get("bias"))  # fmt: skip
    if layout != ("classification", 2, "tanh", False, True):
        raise UserError(f"head '{head_name}' {layout} has no exact HF counterpart; only a 2-layer tanh classification "
                        "head over the first token (no pooler) maps to RobertaClassificationHead")  # fmt: skip
    return {f"classifier.{_HEAD_TO_HF[k.split('.')[0]]}.{k.split('.')[1]}": v for k, v in head.state_dict().items()}


def _target_modules(modules: set[str], num_layers: int) -> list[str] | str:
    """PEFT `target_modules` selecting exactly `modules` (checked after injection)."""
    parsed = [_LAYER.fullmatch(m) for m in modules]
    if all(parsed):
        stems = {p["stem"] for p in parsed}
        layers = sorted({int(p["layer"]) for p in parsed})
        subs = sorted({p["sub"] for p in parsed})
        if len(stems) == 1 and len(modules) == len(layers) * len(subs):
            if layers == list(range(num_layers)) and set(subs) <= set(_ATTENTION):
                return [s.rsplit(".", 1)[1] for s in subs]  # the usual ["query", "value"]
            # a regex, because a plain "output.dense" would also catch attention.output.dense
            stem, subs_re = re.escape(stems.pop()), "|".join(map(re.escape, subs))
            return rf"{stem}\.layer\.({'|'.join(map(str, layers))})\.({subs_re})"
    return "|".join(map(re.escape, sorted(modules)))


def _base_name(model, base_model_name: str | None) -> str:
    # PEFT records the base model in adapter_config.json: a local cache path would leak and not resolve elsewhere
    name = base_model_name or str(getattr(model, "name_or_path", "") or model.config._name_or_path)
    return Path(name).name if name.startswith(("/", ".", "~")) or Path(name).exists() else name


def to_peft(
    model, adapter_name: str, out_dir, head_name: str | None = None, base_model_name: str | None = None
) -> Path:
    """Write LoRA adapter `adapter_name` (and optionally flex head `head_name`) as a PEFT LoRA checkpoint.

    Args:
        model: an `AutoAdapterModel` holding the adapter (and head).
        adapter_name: the LoRA adapter to export.
        out_dir: folder for `adapter_config.json` + `adapter_model.safetensors`.
        head_name: a flex classification head to export as the HF `classifier` (`modules_to_save`).
        base_model_name: recorded as `base_model_name_or_path`; default: the model's name, a local folder
            reduced to its last component.

    Returns:
        The output folder. Load it with `PeftModel.from_pretrained(AutoModelForSequenceClassification...)`.

    Raises:
        UserError: the adapter or head cannot be expressed exactly in PEFT's LoRA.
    """
    from peft import LoraConfig, get_peft_model, set_peft_model_state_dict

    config = _lora_config(model, adapter_name)
    state, modules = {}, set()
    for key, value in model.state_dict().items():
        if (match := _LORA_KEY.fullmatch(key)) and match["name"] == adapter_name:
            modules.add(match["module"])
            state[f"{_PEFT_PREFIX}{match['module']}.lora_{match['ab']}.weight"] = value
    for module_name, module in model.named_modules():
        if adapter_name in getattr(module, "loras", {}) and getattr(module, "merged", False):
            raise UserError(f"LoRA in {module_name} is merged into the base weights; reset_adapter() before export")
    if not modules:
        raise UserError(f"adapter '{adapter_name}' has no LoRA weights")
    if head_name is not None:  # validated before building the HF model, which reads the head's labels
        state |= {_PEFT_PREFIX + k: v for k, v in _head_state(model, head_name).items()}
    hf = _hf_classifier_model(model, head_name)
    peft_config = LoraConfig(
        r=config["r"], lora_alpha=config["alpha"], lora_dropout=config["dropout"],
        target_modules=_target_modules(modules, model.config.num_hidden_layers),
        task_type="SEQ_CLS" if head_name else None,  # SEQ_CLS puts `classifier` into modules_to_save
    )  # fmt: skip
    # get_peft_model records this in adapter_config.json, save_pretrained in the README's model card
    hf.name_or_path = hf.config._name_or_path = _base_name(model, base_model_name)
    peft_model = get_peft_model(hf, peft_config)
    wrapped = {n for n, m in peft_model.base_model.model.named_modules() if hasattr(m, "lora_A")}
    if wrapped != modules:  # the target_modules must select exactly the adapters-LoRA modules
        raise UserError(f"PEFT target_modules selected {sorted(wrapped ^ modules)[:3]} differently from the adapter")
    result = set_peft_model_state_dict(peft_model, state)
    if result.unexpected_keys or any("lora_" in k or "modules_to_save" in k for k in result.missing_keys):
        raise UserError(f"PEFT did not take every tensor (unexpected {result.unexpected_keys[:3]})")
    out = Path(out_dir)
    peft_model.save_pretrained(str(out), save_embedding_layers=False)  # no embeddings are targeted; no Hub lookup
    return out


def _lora_settings(modules: set[str], num_layers: int) -> dict:
    """LoRAConfig placement arguments reproducing `modules` (verified after `add_adapter`)."""
    subs, layers = set(), set()
    for module in modules:
        match = _LAYER.fullmatch(module)
        if not match or match["sub"] not in {*_ATTENTION, "intermediate.dense", "output.dense"}:
            raise UserError(f"PEFT LoRA on '{module}' has no adapters LoRA counterpart")
        subs.add(match["sub"])
        layers.add(int(match["layer"]))
    attn = sorted(_ATTENTION[s] for s in subs if s in _ATTENTION)
    return {"selfattn_lora": bool(attn), "attn_matrices": attn or ["q", "v"],
            "intermediate_lora": "intermediate.dense" in subs, "output_lora": "output.dense" in subs,
            "leave_out": [i for i in range(num_layers) if i not in layers]}  # fmt: skip


def from_peft(peft_dir, model, adapter_name: str, head_name: str | None = None,
              id2label: dict[int, str] | None = None) -> None:  # fmt: skip
    """Load a PEFT LoRA checkpoint into `model` as adapters LoRA adapter `adapter_name` (same r/alpha).

    Args:
        peft_dir: folder with `adapter_config.json` and `adapter_model.safetensors`.
        model: an `AutoAdapterModel` of the same base.
        adapter_name: name of the new LoRA adapter.
        head_name: if given, the checkpoint's `classifier` becomes this flex classification head.
        id2label: labels for that head (PEFT does not store them); default `LABEL_<i>`.

    Raises:
        UserError: a missing file, or a PEFT setting or placement adapters' LoRA cannot reproduce.
    """
    from adapters import LoRAConfig
    from safetensors.torch import load_file

    folder = Path(peft_dir)
    if not (folder / "adapter_config.json").is_file() or not (folder / "adapter_model.safetensors").is_file():
        raise UserError(f"{folder} is not a PEFT checkpoint (adapter_config.json + adapter_model.safetensors)")
    cfg = json.loads((folder / "adapter_config.json").read_text())
    unsupported = {"peft_type": cfg.get("peft_type") != "LORA", "use_rslora": cfg.get("use_rslora"),
                   "use_dora": cfg.get("use_dora"), "bias": cfg.get("bias", "none") != "none",
                   "rank_pattern": cfg.get("rank_pattern"), "alpha_pattern": cfg.get("alpha_pattern"),
                   "fan_in_fan_out": cfg.get("fan_in_fan_out"), "lora_bias": cfg.get("lora_bias")}  # fmt: skip
    if bad := [k for k, v in unsupported.items() if v]:
        raise UserError(f"{folder}: PEFT setting(s) {bad} have no exact adapters LoRA equivalent")
    if adapter_name in model.adapters_config.adapters:
        raise UserError(f"model already has an adapter '{adapter_name}'")
    tensors = load_file(str(folder / "adapter_model.safetensors"))
    state, modules, head = {}, set(), {}
    prefix = model.base_model_prefix
    for key, value in tensors.items():
        if match := _PEFT_LORA_KEY.fullmatch(key):
            # exported from a bare encoder (AutoModel) the module paths lack the `roberta.` prefix
            module = match["module"] if match["module"].startswith(f"{prefix}.") else f"{prefix}.{match['module']}"
            modules.add(module)
            state[f"{module}.loras.{adapter_name}.lora_{match['ab']}"] = value
        elif key.startswith(f"{_PEFT_PREFIX}classifier."):
            head[key[len(_PEFT_PREFIX + "classifier.") :]] = value
        else:
            raise UserError(f"{folder}: tensor '{key}' has no adapters counterpart")
    placement = _lora_settings(modules, model.config.num_hidden_layers)
    dropout = cfg.get("lora_dropout", 0.0)
    model.add_adapter(adapter_name, LoRAConfig(r=cfg["r"], alpha=cfg["lora_alpha"], dropout=dropout, **placement))
    placed = {m["module"] for k in model.state_dict() if (m := _LORA_KEY.fullmatch(k)) and m["name"] == adapter_name}
    if placed != modules:  # e.g. q in one layer and v in another: not one LoRAConfig
        model.delete_adapter(adapter_name)
        differs = sorted(placed ^ modules)[:3]
        raise UserError(f"{folder}: LoRA placement differs from what adapters can build ({differs})")
    if head_name is not None:
        if set(head) != {"dense.weight", "dense.bias", "out_proj.weight", "out_proj.bias"}:
            raise UserError(f"{folder}: no RobertaClassificationHead (classifier.dense/out_proj) to load as a head")
        num_labels = head["out_proj.weight"].shape[0]
        model.add_classification_head(head_name, num_labels=num_labels, layers=2, activation_function="tanh",
                                      id2label=id2label or {i: f"LABEL_{i}" for i in range(num_labels)},
                                      overwrite_ok=True)  # fmt: skip
        hf_to_flex = {v: k for k, v in _HEAD_TO_HF.items()}
        state |= {f"heads.{head_name}.{hf_to_flex[k.split('.')[0]]}.{k.split('.')[1]}": v for k, v in head.items()}
    result = model.load_state_dict(state, strict=False)
    ours = [k for k in result.missing_keys if f".loras.{adapter_name}." in k or k.startswith(f"heads.{head_name}.")]
    if result.unexpected_keys or ours:
        raise UserError(f"{folder}: tensors did not load ({(result.unexpected_keys + ours)[:3]})")
