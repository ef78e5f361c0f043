"""Composition specs at inference: the canonical YAML, the CLI shorthand, and `adapters` blocks.

A spec is the contracts' canonical composition, `{stack: [lang_{lang}, task_pawsx]}` or
`{stack: [lang_{lang}, {fuse: [task_mnli, task_squad]}, task_pawsx], head: task_pawsx}`, given as a
dict, a YAML file, or the shorthand `"lang=sw task=panx"`. Specs are normalised to a template whose
language slot is `lang_{lang}` (a literal `lang_sw` at the bottom becomes the slot, with `sw` as the
default language), so swapping languages never touches the rest of the setup.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.composition import AdapterCompositionBlock, Fuse, Stack

from adapter_xfer.errors import UserError

LANG_SLOT = "lang_{lang}"


@dataclass(frozen=True)
class SetupSpec:
    """A normalised composition: its layers (strings and fuse lists), head, and default language."""

    layers: tuple  # bottom to top; a str is an adapter (LANG_SLOT for the language), a tuple is a Fuse
    head: str | None
    default_lang: str | None

    def compose(self, lang: str | None = None) -> AdapterCompositionBlock:
        """The `adapters` block for one language (the default one when `lang` is None)."""
        lang = lang or self.default_lang
        blocks: list[Any] = []
        for layer in self.layers:
            if layer == LANG_SLOT:
                if lang is None:
                    raise UserError("this setup has a language slot; name the language (lang=...)")
                blocks.append(f"lang_{lang}")
            else:
                blocks.append(Fuse(*layer) if isinstance(layer, tuple) else layer)
        return Stack(*blocks)

    def names(self, lang: str | None = None) -> list[str]:
        """Every adapter and fusion layer the composition for `lang` needs, bottom to top."""
        out: list[str] = []
        for block in self.compose(lang):
            out += [*block, ",".join(block)] if isinstance(block, Fuse) else [block]
        return out

    @property
    def uses_lang(self) -> bool:
        return LANG_SLOT in self.layers

    def describe(self, lang: str | None = None) -> str:
        return str(self.compose(lang)) if (lang or self.default_lang or not self.uses_lang) else str(self.layers)


def canonical_yaml(setup: dict, lang: str | None = None) -> str:
    """A canonical composition as one line of flow YAML that `--setup FILE.yaml` reads back.

    With `lang`, the language slot is filled (`lang_de`); without, it is quoted, since a bare
    `lang_{lang}` inside `[...]` is not valid YAML.
    """

    def item(x: Any) -> str:
        if isinstance(x, dict):
            return "{fuse: [" + ", ".join(map(str, x["fuse"])) + "]}"
        if x == LANG_SLOT:
            return f"lang_{lang}" if lang else f'"{LANG_SLOT}"'
        return str(x)

    head = f", head: {setup['head']}" if setup.get("head") else ""
    return "{stack: [" + ", ".join(item(x) for x in setup["stack"]) + "]" + head + "}"


def parse_shorthand(text: str) -> dict:
    """`"lang=sw task=panx"` -> `{stack: [lang_sw, task_panx]}` (`lang` optional, `task` required)."""
    pairs = {}
    for token in text.split():
        key, sep, value = token.partition("=")
        if not sep or key not in ("lang", "task") or not value:
            raise UserError(f"--setup '{text}': expected 'lang=<code> task=<task>' (or a YAML file)")
        pairs[key] = value
    if "task" not in pairs:
        raise UserError(f"--setup '{text}': names no task (task=<task>)")
    stack = [f"lang_{pairs['lang']}"] if "lang" in pairs else [LANG_SLOT]
    return {"stack": [*stack, f"task_{pairs['task']}"]}


def load_spec(spec: str | Path | dict) -> dict:
    """A canonical composition dict from a dict, a YAML file path, or the shorthand."""
    if isinstance(spec, dict):
        return spec
    path = Path(spec).expanduser()
    if path.suffix in (".yaml", ".yml", ".json") or path.is_file():
        if not path.is_file():
            raise UserError(f"setup file not found: {spec}")
        import yaml

        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise UserError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
        if not isinstance(loaded, dict):
            raise UserError(f"{path}: expected a mapping such as {{stack: [lang_{{lang}}, task_pawsx]}}")
        return loaded
    return parse_shorthand(str(spec))


def parse_setup(spec: str | Path | dict, where: str = "setup") -> SetupSpec:
    """Normalise a spec (see the module docstring); errors name the part at fault."""
    data = load_spec(spec)
    unknown = set(data) - {"stack", "head"}
    if unknown or not isinstance(data.get("stack"), list) or not data["stack"]:
        raise UserError(f"{where}: expected {{stack: [lang_{{lang}}, task_x, ...], head: ...}}, got {data}")
    layers: list = []
    default_lang = None
    for position, item in enumerate(data["stack"]):
        if isinstance(item, dict) and set(item) == {"fuse"} and isinstance(item["fuse"], list) and item["fuse"]:
            layers.append(tuple(str(x) for x in item["fuse"]))
        elif isinstance(item, str) and item.startswith("lang_"):
            if position != 0:  # invertible adapters belong to the first adapter only (see the notes)
                raise UserError(f"{where}: the language adapter '{item}' must come first in the stack")
            if item != LANG_SLOT:
                default_lang = item.removeprefix("lang_")
            layers.append(LANG_SLOT)
        elif isinstance(item, str) and item and "{" not in item:
            layers.append(item)
        else:
            raise UserError(f"{where}: stack entry {item!r} is neither an adapter name nor {{fuse: [...]}}")
    head = data.get("head")
    if head is None:
        strings = [x for x in layers if isinstance(x, str) and x != LANG_SLOT]
        head = strings[-1] if strings and layers[-1] == strings[-1] else None
    return SetupSpec(tuple(layers), head, default_lang)
