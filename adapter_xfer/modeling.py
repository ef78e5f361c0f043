"""Building the encoder: Hub ids, local checkpoint folders, `tiny`, and named offline models.

Every model loads through `adapters.AutoAdapterModel` (flex heads; no code assumes XLM-R: the
offline encoder is a BERT). `base_identity` fingerprints the base model (name, config hash, weights
hash); every saved adapter, head and stage records it, and loading onto another base is a user error.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from adapter_xfer.errors import UserError

HUB_MODELS = ("xlm-roberta-base", "xlm-roberta-large", "FacebookAI/xlm-roberta-base", "FacebookAI/xlm-roberta-large")
_VOLATILE_CONFIG_KEYS = {
    "_name_or_path", "architectures", "adapters", "transformers_version", "torch_dtype", "dtype",
    "id2label", "label2id", "prediction_heads", "custom_heads",
}  # fmt: skip


@dataclass(frozen=True)
class BaseIdentity:
    """What a saved adapter must match to be loaded onto a model."""

    name: str
    config_hash: str
    weights_hash: str

    def to_dict(self) -> dict:
        return asdict(self)


def cache_root() -> Path:
    """Where prepared models live: `$ADAPTER_XFER_CACHE` or `~/.cache/adapter_xfer`."""
    return Path(os.environ.get("ADAPTER_XFER_CACHE") or Path.home() / ".cache" / "adapter_xfer")


def known_models() -> list[tuple[str, str]]:
    """(name, description) of every model name the project resolves itself."""
    from adapter_xfer.offline_models import OFFLINE_MODELS

    rows = [("tiny", "2-layer XLM-R from a config + project-trained tokenizer (tests, offline)")]
    rows += [(name, entry.summary) for name, entry in OFFLINE_MODELS.items()]
    rows += [(name, "Hugging Face Hub checkpoint (needs the Hub)") for name in HUB_MODELS[:2]]
    return rows


def resolve_checkpoint(name: str, progress: bool = True) -> str:
    """Turn a model name into something `from_pretrained` accepts: a folder or a Hub id."""
    from adapter_xfer.tiny import TINY_NAME, prepare_tiny

    if name == TINY_NAME:
        return str(prepare_tiny(cache_root()))
    if name.startswith(RANDOM_PREFIX):
        return str(prepare_random_init(name[len(RANDOM_PREFIX) :], progress))
    from adapter_xfer.offline_models import is_offline_model, prepare_offline_model

    if is_offline_model(name):
        return str(prepare_offline_model(name, cache_root(), progress=progress))
    if Path(name).expanduser().is_dir():
        folder = Path(name).expanduser()
        if not (folder / "config.json").is_file():
            raise UserError(f"model folder {folder} has no config.json")
        return str(folder.resolve())
    if name.startswith((".", "/", "~")):
        raise UserError(f"model folder not found: {name}")
    return name  # a Hub id


RANDOM_PREFIX = "random:"


def is_named_model(name: str) -> bool:
    """Whether the project itself provides `name` (`tiny`, a named offline model, or `random:` of one)."""
    from adapter_xfer.offline_models import is_offline_model
    from adapter_xfer.tiny import TINY_NAME

    base = name.removeprefix(RANDOM_PREFIX)
    return base == TINY_NAME or is_offline_model(base)


RANDOM_INIT_SEED = 4321


def prepare_random_init(name: str, progress: bool = True) -> Path:
    """`random:<model>`: the same architecture and tokenizer with randomly initialised weights.

    The control for transfer experiments: the same pipeline on an encoder that learned nothing.
    Built once from a fixed seed into the cache; it has no MLM head.
    """
    from transformers import AutoConfig, AutoModel

    from adapter_xfer.io_utils import atomic_dir, stable_hash

    source = resolve_checkpoint(name, progress)
    folder = cache_root() / "models" / f"random-{Path(name).name}-{stable_hash(source, 8)}"
    if (folder / "config.json").is_file() and (folder / "model.safetensors").is_file():
        return folder
    config = AutoConfig.from_pretrained(source)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_INIT_SEED)
        model = AutoModel.from_config(config, add_pooling_layer=False)
    model.config._name_or_path = f"{RANDOM_PREFIX}{name}"
    with atomic_dir(folder) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        load_tokenizer(source).save_pretrained(tmp)
    return folder


def load_tokenizer(checkpoint: str):
    """The fast tokenizer of a resolved checkpoint (QA and tagging need offsets and word ids)."""
    from transformers import AutoTokenizer

    try:
        # fix_mistral_regex=False: silences a transformers 4.57 false alarm for large local vocabularies.
        return AutoTokenizer.from_pretrained(checkpoint, use_fast=True, fix_mistral_regex=False)
    except OSError as exc:
        raise UserError(f"cannot load a tokenizer for '{checkpoint}': {str(exc).splitlines()[0]}") from None


def _save_without_shared_memory(state_dict: dict, path: str) -> None:
    """`safetensors.save_file` for adapter weights that may share memory.

    Prefix tuning registers one tensor under several names (its pool and every layer), which
    `safetensors` refuses; `adapters` 1.3.0 passes such state dicts straight through when saving with
    `use_safetensors=True`. Adapter weights are small, so storing each name's own copy is cheap, and on
    loading every name writes the same values into the one shared parameter.
    """
    from safetensors.torch import save_file

    save_file({key: value.detach().clone().contiguous() for key, value in state_dict.items()}, path)


def _patch_adapters_saving() -> None:
    import adapters.loading

    adapters.loading.save_file = _save_without_shared_memory


def load_model(checkpoint: str, keep_mlm_head: bool = False):
    """Load `checkpoint` as an `AutoAdapterModel`.

    The checkpoint's MLM head (converted to the flex head `default`) is kept only when asked for,
    with its bias restored (adapters drops `lm_head.bias` on conversion); otherwise it is deleted so
    that no stray head is trainable.
    """
    from adapters import AutoAdapterModel

    _patch_adapters_saving()
    previous = logging.getLogger("transformers.modeling_utils").level
    logging.getLogger("transformers.modeling_utils").setLevel(logging.ERROR)
    try:
        # Weights missing from the checkpoint (an MLM checkpoint has no pooler) are initialised from
        # the global RNG: fix it, so that every load of a checkpoint gives the same model.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model = AutoAdapterModel.from_pretrained(checkpoint)
    except OSError as exc:
        raise UserError(f"cannot load model '{checkpoint}': {str(exc).splitlines()[0]}") from None
    finally:
        logging.getLogger("transformers.modeling_utils").setLevel(previous)
    if "default" in model.heads:
        if keep_mlm_head:
            _restore_mlm_bias(model, checkpoint)
        else:
            model.delete_head("default")
    return model


def _restore_mlm_bias(model, checkpoint: str) -> None:
    """Copy `lm_head.bias` from the checkpoint into the flex MLM head (lost on conversion)."""
    path = Path(checkpoint) / "model.safetensors"
    if not path.is_file():
        return
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        if "lm_head.bias" in handle.keys():  # noqa: SIM118 (safe_open has no __contains__)
            head = model.heads["default"]
            head[len(head) - 1].bias.data.copy_(handle.get_tensor("lm_head.bias"))


def has_mlm_head(checkpoint: str) -> bool:
    """Whether the checkpoint ships a pretrained masked-LM head (the offline e5 encoder does not)."""
    path = Path(checkpoint) / "model.safetensors"
    if path.is_file():
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            return any(k.startswith(("lm_head.", "cls.predictions.")) for k in handle.keys())  # noqa: SIM118
    return True  # Hub XLM-R checkpoints do


# Parameter-name markers of everything `adapters` adds to an encoder (bottleneck, invertible, fusion,
# LoRA/IA3 and prefix-tuning modules): none of it belongs to the base model.
_ADAPTER_MARKERS = (".adapters.", "invertible_adapters", "adapter_fusion", ".loras.", "prefix_tuning", "prefix_tunings")


def is_adapter_param(name: str) -> bool:
    """Whether a parameter (or state-dict key) belongs to an adapter module rather than the encoder."""
    return any(marker in name for marker in _ADAPTER_MARKERS)


def base_identity(model, name: str) -> BaseIdentity:
    """Fingerprint the base encoder: its config (minus volatile keys) and its weights.

    Adapters are left out, and so is the pooler: no flex head reads it, and MLM checkpoints lack it.
    """
    config = {k: v for k, v in model.config.to_dict().items() if k not in _VOLATILE_CONFIG_KEYS}
    config_hash = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]
    digest = hashlib.sha256()
    for key, tensor in sorted(model.base_model.state_dict().items()):
        if is_adapter_param(key) or "pooler." in key:
            continue
        digest.update(key.encode())
        digest.update(tensor.detach().to(torch.float32).contiguous().cpu().numpy().tobytes())
    return BaseIdentity(name=name, config_hash=config_hash, weights_hash=digest.hexdigest()[:16])


def check_identity(saved: dict, current: BaseIdentity, what: str) -> None:
    """A user error when an artifact was trained on another base model."""
    if saved.get("config_hash") != current.config_hash or saved.get("weights_hash") != current.weights_hash:
        raise UserError(
            f"{what} was trained on base model '{saved.get('name')}' "
            f"({saved.get('weights_hash')}), not on '{current.name}' ({current.weights_hash})"
        )
