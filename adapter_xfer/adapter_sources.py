"""Where adapters come from: Hub ids, local export folders and run folders, resolved to one catalogue.

Anywhere an adapter is named (`--adapters`, `load_pipeline(adapters=...)`, `serve`) a source may be
- a run folder (it holds `results.json`): its `artifacts/` (task adapters, fusion layers, heads and
  their order in `setup.json`) and the language adapters its stages trained or named;
- a local folder in `adapters`' own save format (an export), optionally with `adapter_xfer.json`, or a
  folder of such folders (e.g. `hub_exports/`);
- a Hugging Face Hub repository id (`AdapterHub/xlm-roberta-base-sw-wiki_pfeiffer`), fetched through
  the Hub cache, so `HF_HUB_OFFLINE=1` serves what the cache holds.
`NAME=SOURCE` loads a single-adapter source under `NAME` (only when NAME is an adapter name and the
whole string is not an existing path, so `runs/lr=1e-4` is a folder). Every source becomes a folder on
disk and goes through one loader; a recorded base identity that differs from the model's is a
`UserError`. Adapters without one (AdapterHub's) are checked by the `model_name` their config names,
with a warning only, since a local copy of the same model goes by another name.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from adapter_xfer.artifacts import META_FILE, SETUP_FILE
from adapter_xfer.errors import UserError
from adapter_xfer.modeling import BaseIdentity, check_identity

ADAPTER_CONFIG = "adapter_config.json"
FUSION_CONFIG = "adapter_fusion_config.json"
HEAD_CONFIG = "head_config.json"
SETUP_BUNDLE = "adapter_setup.json"  # written by `save_adapter_setup`
# AdapterHub's Wikipedia language adapters: `<model>-<lang>-wiki_pfeiffer` (and similar suffixes).
_HUB_LANG = re.compile(r"-(?P<lang>[a-z]{2,3})-wiki_[a-z_]+$")


class UnknownAdapter(UserError):
    """A name no source offers (`serve` answers 404 for it)."""


@dataclass(frozen=True)
class AdapterEntry:
    """One loadable thing: an adapter (with or without its head), a fusion layer, or a bare head."""

    name: str  # its name inside the model: lang_sw, task_panx, "task_a,task_b" (fusion), or a head name
    kind: str  # "adapter" | "fusion" | "head"
    path: Path  # a folder in `adapters`' save format
    source: str  # what the user named, for messages
    identity: dict | None = None  # the base model recorded in adapter_xfer.json, if any

    @property
    def has_head(self) -> bool:
        return self.kind != "fusion" and (self.path / HEAD_CONFIG).is_file()


@dataclass
class Catalogue:
    """Every adapter the sources offer, by name, plus the setups run folders recorded (by head name)."""

    entries: dict[str, AdapterEntry] = field(default_factory=dict)
    setups: dict[str, dict] = field(default_factory=dict)  # head -> canonical setup of a run
    max_length: int | None = None  # the first run's `train.max_seq_length`: predict as it evaluated

    def add(self, entry: AdapterEntry) -> None:
        previous = self.entries.get(entry.name)
        if previous is not None and previous.path.resolve() != entry.path.resolve():
            raise UserError(f"adapter '{entry.name}' is offered by both {previous.source} and {entry.source}; "
                            f"pick one, or load one as NAME=SOURCE")  # fmt: skip
        self.entries[entry.name] = entry

    def get(self, name: str) -> AdapterEntry:
        if name not in self.entries:
            known = ", ".join(sorted(self.entries)) or "none"
            raise UnknownAdapter(f"unknown adapter '{name}' (the sources offer: {known})")
        return self.entries[name]


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise UserError(f"{path}: cannot read ({exc})") from None


def _entry(folder: Path, source: str, name: str | None = None) -> AdapterEntry:
    """An entry for a folder in `adapters`' format; its name from `name`, adapter_xfer.json, or the config."""
    meta = _read_json(folder / META_FILE) if (folder / META_FILE).is_file() else {}
    kind = "fusion" if (folder / FUSION_CONFIG).is_file() else "head"
    kind = "adapter" if (folder / ADAPTER_CONFIG).is_file() else kind
    if name is None:
        name = meta.get("name") or _hub_name(source) or _config_name(folder, kind)
    if not name:
        raise UserError(f"cannot tell which adapter {source} is; load it as NAME=SOURCE (e.g. lang_sw={source})")
    return AdapterEntry(name=name, kind=kind, path=folder, source=source, identity=meta.get("base_model"))


def _config_name(folder: Path, kind: str) -> str | None:
    """The name `adapters` recorded when saving, when it already follows the project's naming."""
    config = folder / {"fusion": FUSION_CONFIG, "adapter": ADAPTER_CONFIG, "head": HEAD_CONFIG}[kind]
    name = _read_json(config).get("name") if config.is_file() else None
    if kind == "fusion" and name:
        return name
    return name if isinstance(name, str) and name.startswith(("lang_", "task_")) else None


def _hub_name(source: str) -> str | None:
    match = _HUB_LANG.search(source)
    return f"lang_{match['lang']}" if match else None


def _is_loadable(folder: Path) -> bool:
    return any((folder / f).is_file() for f in (ADAPTER_CONFIG, FUSION_CONFIG, HEAD_CONFIG))


def _adapter_folders(root: Path) -> list[Path]:
    """Adapter folders below `root`, leaving out `save_adapter_setup` bundles inside it: an export
    holds each of their adapters on its own as well, and one name must mean one folder."""
    bundles = [p.parent for p in root.rglob(SETUP_BUNDLE) if p.parent != root]
    return sorted(p for p in root.rglob("*")
                  if p.is_dir() and _is_loadable(p) and not any(b in p.parents for b in bundles))  # fmt: skip


def hub_snapshot(repo_id: str) -> Path:
    """The local folder of a Hub repository, through the Hub cache (offline: the cache only)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    # The hub library reads these variables once, at import; honour their current values.
    cache = os.environ.get("HF_HUB_CACHE") or (Path(os.environ["HF_HOME"]) / "hub" if "HF_HOME" in os.environ else None)
    try:
        return Path(snapshot_download(repo_id, cache_dir=cache))
    except LocalEntryNotFoundError:
        raise UserError(f"adapter '{repo_id}': not in the local Hub cache and the Hub is unreachable") from None
    except (HfHubHTTPError, ValueError, OSError) as exc:
        raise UserError(f"adapter '{repo_id}': {type(exc).__name__}: {str(exc).splitlines()[0]}") from None


def _add_run(catalogue: Catalogue, run: Path) -> None:
    """A run folder: its artifacts in their recorded order, and every language adapter it used."""
    results = _read_json(run / "results.json")
    catalogue.max_length = catalogue.max_length or results.get("config", {}).get("train", {}).get("max_seq_length")
    artifacts = run / "artifacts"
    if (artifacts / SETUP_FILE).is_file():
        setup = _read_json(artifacts / SETUP_FILE)
        layers = setup["adapters"]
        strings = [x for x in layers if isinstance(x, str)]
        head = setup.get("head") or (strings[-1] if strings else None)
        for layer in layers:  # a list is a Fuse: its adapters and the fusion layer, each in its own folder
            for name in [layer] if isinstance(layer, str) else [*layer, ",".join(layer)]:
                catalogue.add(_entry(artifacts / name, str(run), name))
        if head and (artifacts / "heads" / head).is_dir():
            catalogue.add(_entry(artifacts / "heads" / head, str(run), head))
        if head:
            stack = ["lang_{lang}", *[x if isinstance(x, str) else {"fuse": list(x)} for x in layers]]
            catalogue.setups[head] = {"stack": stack, "head": head}
    for stage in results.get("stages", []):
        if stage.get("kind") == "lang" and (Path(stage["path"]) / f"lang_{stage['language']}").is_dir():
            catalogue.add(_entry(Path(stage["path"]) / f"lang_{stage['language']}", str(run)))
    for lang, origin in results.get("lang_adapters", {}).items():
        if str(origin).startswith("pretrained: "):
            _add_source(catalogue, origin.removeprefix("pretrained: "), f"lang_{lang}")


def _add_source(catalogue: Catalogue, source: str, name: str | None = None) -> None:
    """Add what `source` offers; with `name`, a single adapter as `name`, or the one so named in a
    source of many (a run folder, a folder of exports)."""
    folder = Path(source).expanduser()
    if folder.is_dir() and not _is_loadable(folder):
        many = Catalogue()
        if (folder / "results.json").is_file():
            _add_run(many, folder)
        else:
            for sub in _adapter_folders(folder):
                many.add(_entry(sub, str(sub)))
        if not many.entries:
            raise UserError(f"{source}: no adapter here (no {ADAPTER_CONFIG}, results.json or adapter folders)")
        for entry in [many.get(name)] if name is not None else many.entries.values():
            catalogue.add(entry)
        catalogue.setups.update(many.setups if name is None else {})
        catalogue.max_length = catalogue.max_length or many.max_length
    elif folder.is_dir():
        catalogue.add(_entry(folder, source, name))
    elif source.startswith((".", "/", "~")) or source.count("/") != 1 or not _valid_repo_id(source):
        raise UserError(f"adapter source not found: {source} (a run folder, an export folder or a Hub id)")
    else:
        catalogue.add(_entry(hub_snapshot(source), source, name))


def _valid_repo_id(source: str) -> bool:
    """Whether `source` could name a Hub repository (`runs/lr=1e-4` cannot: it is a missing folder)."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(source)
    except HFValidationError:
        return False
    return True


def resolve_sources(sources: list[str] | tuple[str, ...]) -> Catalogue:
    """A catalogue of every adapter the sources offer; `NAME=SOURCE` names a single-adapter source."""
    catalogue = Catalogue()
    for spec in sources:
        name, sep, source = spec.partition("=")
        # `runs/lr=1e-4` is a folder, not NAME=SOURCE: a name is identifiers (a fusion: joined by commas)
        named = sep and all(part.isidentifier() for part in name.split(",")) and not Path(spec).expanduser().exists()
        _add_source(catalogue, source if named else spec, name if named else None)
    return catalogue


def public_model_name(name: str) -> str | None:
    """The Hub id a model name stands for, or None where it has no public identity (`tiny`, `random:...`,
    named offline models, local folders and paths)."""
    from adapter_xfer.offline_models import is_offline_model
    from adapter_xfer.tiny import TINY_NAME

    if not name or name == TINY_NAME or ":" in name or is_offline_model(name) or Path(name).expanduser().exists():
        return None
    return None if name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name else name


def base_model_warning(entry: AdapterEntry, model_name: str) -> str | None:
    """A warning when an adapter without adapter_xfer.json names another base model in its config.

    Compared by the repository name without its owner: AdapterHub configs say `xlm-roberta-base`
    where the Hub now says `FacebookAI/xlm-roberta-base`.
    """
    config = entry.path / ADAPTER_CONFIG
    if entry.identity is not None or not config.is_file():
        return None
    trained_on = _read_json(config).get("model_name")
    ours = public_model_name(model_name)
    theirs = public_model_name(trained_on) if isinstance(trained_on, str) else None
    if ours is None or theirs is None or ours.split("/")[-1].lower() == theirs.split("/")[-1].lower():
        return None
    return (f"warning: adapter {entry.name} ({entry.source}) was trained on {theirs}, not {ours}; "
            "its outputs may be meaningless")  # fmt: skip


def load_entry(model, entry: AdapterEntry, identity: BaseIdentity | None, model_name: str | None = None) -> None:
    """Load one catalogue entry into `model` (checking the recorded base identity, if any).

    `model_name` is the name the user gave the model; it is compared, with a warning on stderr, to the
    base model an adapter without adapter_xfer.json names in its config.
    """
    if identity is not None and entry.identity is not None:
        check_identity(entry.identity, identity, f"adapter {entry.name} ({entry.source})")
    warning = base_model_warning(entry, model_name) if model_name else None
    if warning:
        print(warning, file=sys.stderr)
    safetensors = any(entry.path.glob("*.safetensors"))
    try:
        if entry.kind == "fusion":
            model.load_adapter_fusion(str(entry.path), load_as=entry.name, use_safetensors=safetensors)
        elif entry.kind == "head":
            model.load_head(str(entry.path), load_as=entry.name, use_safetensors=safetensors)
        else:  # a language adapter's stray head would overwrite a task head (see the notes): never load it
            with_head = entry.has_head and not entry.name.startswith("lang_")
            model.load_adapter(str(entry.path), load_as=entry.name, with_head=with_head, use_safetensors=safetensors)
    except UserError:
        raise
    except Exception as exc:  # a corrupt or foreign folder is the user's input, not our bug
        raise UserError(f"cannot load adapter {entry.name} from {entry.source}: {type(exc).__name__}: {exc}") from None
