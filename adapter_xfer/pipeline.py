"""Inference with composed adapters: one base model, adapters loaded on demand, setups swapped by language.

`load_pipeline(model, setup, adapters=...)` returns a `Pipeline`; `pipe(inputs, lang="sw")` predicts
labels, spans, tags or choice indices with the same preprocessing, batching and decoding as runs
(`zero_shot.predict`), so predictions equal what a run would write. Changing `lang` swaps only the
language adapter of the active setup. The `predict` and `serve` verbs are built on this module.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapter_xfer.adapter_sources import Catalogue, load_entry, resolve_sources
from adapter_xfer.errors import UserError
from adapter_xfer.formats import Format, get_format
from adapter_xfer.modeling import BaseIdentity, base_identity, load_model, load_tokenizer, resolve_checkpoint
from adapter_xfer.setup_spec import SetupSpec, canonical_yaml, parse_setup
from adapter_xfer.tasks import Task, get_task

# Fields a record must carry per format (ids are optional: the 0-based position stands in).
INPUT_FIELDS = {"pair_classification": ("text_a", "text_b"), "classification": ("text_a",),
                "tagging": ("tokens",), "span_qa": ("question", "context"), "multiple_choice": ()}  # fmt: skip
# Text fields a format reads when present (the required ones above are checked as well).
OPTIONAL_TEXT = {"multiple_choice": ("context", "question")}


@dataclass
class Backbone:
    """One base model in memory with the adapters of a catalogue, each loaded on first use."""

    name: str
    model: Any
    tokenizer: Any
    catalogue: Catalogue
    loaded: set[str] = field(default_factory=set)
    _identity: BaseIdentity | None = None
    # `ensure` may run in one thread while `/health` lists `loaded` in another: adds and reads take it.
    _loaded_lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def identity(self) -> BaseIdentity:
        if self._identity is None:  # hashing every weight costs a second on base models: only when needed
            self._identity = base_identity(self.model, self.name)
        return self._identity

    def ensure(self, names: list[str]) -> None:
        """Load every named adapter or fusion layer (and its head) not yet in the model."""
        for name in names:
            if name not in self.loaded:
                entry = self.catalogue.get(name)
                load_entry(self.model, entry, self.identity if entry.identity else None, self.name)
                with self._loaded_lock:
                    self.loaded.add(name)

    def loaded_names(self) -> list[str]:
        """The names loaded so far, sorted (a snapshot, safe while another thread loads more)."""
        with self._loaded_lock:
            return sorted(self.loaded)


def load_backbone(model: str, adapters: list[str] | tuple[str, ...] | Catalogue = ()) -> Backbone:
    """The base model named `model` (Hub id, folder, `tiny`, named offline model) and an adapter catalogue."""
    checkpoint = resolve_checkpoint(model)
    catalogue = adapters if isinstance(adapters, Catalogue) else resolve_sources(list(adapters))
    return Backbone(model, load_model(checkpoint), load_tokenizer(checkpoint), catalogue)


def head_of(spec: SetupSpec, backbone: Backbone) -> str:
    """The setup's head: named, the top adapter's, or the head a run recorded for the same layers."""
    if spec.head is not None:
        return spec.head
    recorded = backbone.catalogue.setups.items()
    candidates = [head for head, setup in recorded if parse_setup(setup).layers == spec.layers]
    if len(candidates) == 1:
        return candidates[0]
    raise UserError(f"setup {spec.describe()}: no adapter on top to take the head from; add head: task_<x>")


def check_recorded(spec: SetupSpec, head: str, catalogue: Catalogue) -> None:
    """Refuse a setup that composes a run's head over other layers than the run did.

    The head was trained on top of the run's layers (e.g. `Stack(lang, task_mnli, task_pawsx)` for
    `adapter.chain=stack`, or a Fuse with no `task_pawsx` adapter at all), so the shorthand's
    `Stack(lang, task_pawsx)` would predict something the run never did. `serve` uses the recorded
    setup itself; `predict` must be given it, and the message spells it out.
    """
    recorded = catalogue.setups.get(head)
    if recorded is None or parse_setup(recorded).layers == spec.layers:
        return
    raise UserError(f"setup {spec.describe()}: the run that trained head '{head}' composed it as "
                    f"{canonical_yaml(recorded, spec.default_lang)}; pass that composition "
                    "(--setup FILE.yaml)")  # fmt: skip


def task_of(head: str, task: str | None) -> Task:
    """The task named, else the one the head is named after (`task_<task>`)."""
    if task:
        return get_task(task)
    if head.startswith("task_"):
        return get_task(head.removeprefix("task_"))
    raise UserError(f"head '{head}' is not named task_<task>; name the task (--task)")


@dataclass
class Pipeline:
    """A task's setup over a shared backbone; call it with inputs and a language."""

    backbone: Backbone
    task: Task
    spec: SetupSpec
    head: str
    max_length: int = 128
    batch_size: int = 32
    merge_lora: bool = True
    _active: str | None = None

    @property
    def format(self) -> Format:
        return get_format(self.task.format)

    def composition(self, lang: str | None = None):
        """The `adapters` block for `lang`, with every adapter it needs loaded."""
        self.backbone.ensure(self.spec.names(lang))
        if self.head not in self.backbone.model.heads:
            self.backbone.ensure([self.head])  # a bare head (a fusion run's `heads/<name>`)
        return self.spec.compose(lang)

    def activate(self, lang: str | None = None) -> None:
        """Activate the setup for `lang` (a no-op when it is already active, so merged LoRA stays merged)."""
        from adapter_xfer.methods import activate

        setup, model = self.composition(lang), self.backbone.model
        if str(setup) == self._active == str(model.active_adapters) and model.active_head == self.head:
            return
        activate(model, setup, self.head)  # also un-merges any merged LoRA (see the notes)
        if self.merge_lora:
            merge_lora(model, setup.flatten())
        self._active = str(setup)

    def predict(self, records: list[dict], lang: str | None = None) -> dict[Any, Any]:
        """`{id: prediction}` for canonical records, in the contracts' predictions format."""
        from adapter_xfer.zero_shot import predict

        records = check_records(records, self.task)
        self.activate(lang)
        return predict(self.backbone.model, self.format, records, self.backbone.tokenizer, self.task,
                       self.max_length, self.batch_size)  # fmt: skip

    def __call__(self, inputs: Any, lang: str | None = None) -> Any:
        """Predictions for one input or a list of inputs (records, strings, pairs or word lists)."""
        single = isinstance(inputs, (str, dict, tuple))
        records = [as_record(x, self.task) for x in ([inputs] if single else list(inputs))]
        records = [{**r, "id": i} for i, r in enumerate(records)]  # the caller's order, whatever ids say
        predictions = self.predict(records, lang)
        out = [predictions[i] for i in range(len(records))]
        return out[0] if single else out


def merge_lora(model, names: list[str]) -> list[str]:
    """Merge the setup's LoRA adapter into the base weights when exactly one is active; returns those merged.

    Two LoRA adapters in one setup cannot both be merged into the same layers, so they stay unmerged.
    """
    from adapters import LoRAConfig
    from adapters.methods.lora import LoRALayer

    loras = [n for n in names if "," not in n and model.adapters_config.match(n, LoRAConfig) is not None]
    if len(loras) != 1:
        return []
    model.merge_adapter(loras[0])
    layers = [m for m in model.modules() if isinstance(m, LoRALayer) and loras[0] in m.loras]
    if not layers or any(m.merged != loras[0] for m in layers):
        raise RuntimeError(f"LoRA adapter {loras[0]} did not merge into every layer it adapts")
    return loras


def as_record(item: Any, task: Task) -> dict:
    """A canonical record from a record, a sentence, a (sentence, sentence) pair or a list of words."""
    fmt = task.format
    if isinstance(item, dict):
        return item
    if isinstance(item, str) and fmt == "classification":
        return {"text_a": item}
    if isinstance(item, (tuple, list)) and fmt == "pair_classification" and len(item) == 2:
        return {"text_a": item[0], "text_b": item[1]}
    if fmt == "tagging" and isinstance(item, (str, list, tuple)):
        return {"tokens": item.split() if isinstance(item, str) else list(item)}
    raise UserError(f"task '{task.name}' ({fmt}): cannot read input {item!r}; pass records with "
                    f"{', '.join(INPUT_FIELDS.get(fmt, ())) or 'the task fields'}")  # fmt: skip


def check_records(records: list[Any], task: Task, where: str = "input") -> list[dict]:
    """Records with ids (the 0-based position where absent); each must carry its format's input fields."""
    if not get_format(task.format).trainable:
        raise UserError(f"task '{task.name}' ({task.format}) ranks a whole candidate set; it is evaluated by "
                        "`adapter-xfer train`/`eval`, not predicted per example")  # fmt: skip
    out, seen = [], set()
    for position, record in enumerate(records):
        if not isinstance(record, dict):
            raise UserError(f"{where}: example {position} is not a JSON object")
        missing = [f for f in INPUT_FIELDS.get(task.format, ()) if record.get(f) in (None, "")]
        if missing:
            raise UserError(f"{where}: example {position} has no '{missing[0]}' (task '{task.name}' needs "
                            f"{', '.join(INPUT_FIELDS[task.format])})")  # fmt: skip
        fault = _field_fault(record, task)
        if fault:
            raise UserError(f"{where}: example {position}: {fault}")
        record = {**record, "id": record.get("id", position)}
        if record["id"] in seen:
            raise UserError(f"{where}: id {record['id']!r} occurs twice")
        seen.add(record["id"])
        out.append(record)
    return out


def _field_fault(record: dict, task: Task) -> str | None:
    """What is wrong with the types of a record's input fields, or None.

    Formats index into these fields without checking (a string `tokens` would be tagged per
    character), so the types are checked here, where the message can name the field.
    """
    fmt = task.format
    texts = [f for f in INPUT_FIELDS.get(fmt, ()) if f != "tokens"]
    texts += [f for f in OPTIONAL_TEXT.get(fmt, ()) if record.get(f) is not None]
    for name in texts:
        if not isinstance(record[name], str):
            return f"'{name}' must be a string, not {type(record[name]).__name__}"
    if fmt == "tagging" and not _strings(record["tokens"]):
        return "'tokens' must be a non-empty list of strings (the words)"
    if fmt == "multiple_choice":
        from adapter_xfer.formats.multiple_choice import num_choices

        if "choices" in record:
            return None if _strings(record["choices"]) else "'choices' must be a non-empty list of strings"
        for name in (f"choice{i}" for i in range(num_choices(task))):
            if not isinstance(record.get(name), str):
                return f"'{name}' must be a string (or give 'choices', a list of strings)"
    return None


def _strings(value: Any) -> bool:
    """A non-empty list of strings."""
    return isinstance(value, list) and bool(value) and all(isinstance(x, str) for x in value)


def load_pipeline(model: str, setup: str | Path | dict, adapters: list[str] | tuple[str, ...] | Catalogue = (),
                  task: str | None = None, max_length: int | None = None, batch_size: int = 32,
                  merge_lora: bool = True, backbone: Backbone | None = None) -> Pipeline:  # fmt: skip
    """A ready pipeline: `load_pipeline("tiny", "lang=de task=pawsx", adapters=["runs/x"])`.

    Args:
        model: a Hub id, a checkpoint folder, `tiny` or a named offline model.
        setup: the canonical composition (dict or YAML file) or the shorthand `"lang=sw task=panx"`.
        adapters: sources (run folders, export folders, Hub ids; `NAME=SOURCE` to name one).
        task: the task; by default the one the head is named after.
        max_length: tokens per sequence (default: the run's `train.max_seq_length`, else 128).
        merge_lora: merge a single LoRA adapter of the active setup into the base weights.
        backbone: an already loaded backbone to share (then `model` and `adapters` are not read).
    """
    backbone = backbone or load_backbone(model, adapters)
    spec = parse_setup(setup)
    head = head_of(spec, backbone)
    check_recorded(spec, head, backbone.catalogue)
    resolved = task_of(head, task)
    length = max_length or backbone.catalogue.max_length or 128
    pipe = Pipeline(backbone, resolved, spec, head, length, batch_size, merge_lora)
    check_records([], resolved)  # refuses retrieval tasks up front
    if not spec.uses_lang or spec.default_lang:
        pipe.composition()  # load now: a wrong adapter or base model fails here, not on first use
    return pipe


def read_inputs(path: str) -> list[dict]:
    """Records from a JSONL file, or from stdin for `-`."""
    import json
    import sys

    from adapter_xfer.io_utils import read_jsonl

    if path != "-":
        if not Path(path).is_file():
            raise UserError(f"input file not found: {path}")
        return read_jsonl(path)
    rows = []
    for number, line in enumerate(sys.stdin, start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise UserError(f"<stdin>:{number}: not valid JSON ({exc.msg})") from None
    return rows


def write_predictions(predictions: dict[Any, Any], path: str) -> None:
    """Predictions in the contracts' JSONL format, to a file (atomically) or stdout for `-`."""
    import json
    import sys

    from adapter_xfer.io_utils import atomic_write_jsonl

    rows = [{"id": key, "prediction": value} for key, value in predictions.items()]
    if path == "-":
        sys.stdout.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    else:
        atomic_write_jsonl(path, rows)
