"""What a run consists of, and whether it can run: the plan of stages read from an experiment config.

`validate` checks names, languages, combinations and local files without loading any model; the other
functions say which language adapters a run needs, how its intermediate tasks are grouped into stages
(one per task, or one joint stage), how those stages train, and what they mix in.
"""

from __future__ import annotations

from pathlib import Path

from adapter_xfer.config import ExperimentConfig
from adapter_xfer.data import default_eval_split, local_path, raw_text_path
from adapter_xfer.errors import UserError
from adapter_xfer.formats import get_format
from adapter_xfer.methods import Method, get_method
from adapter_xfer.mixtures import MixturePlan
from adapter_xfer.tasks import Task, get_task, training_task


def validate(config: ExperimentConfig) -> list[str]:
    """Check names, languages and local files; load no model. Returns the stages the run would run."""
    task, method = get_task(config.task), get_method(config.method)
    chain = [get_task(name) for name in chain_of(config, task)]
    train_data = training_task(task)
    for step in [*chain, train_data, task]:
        get_format(step.format)
    for step in chain:
        if not get_format(step.format).trainable:
            raise UserError(f"intermediate: '{step.name}' is evaluated only ({step.format}); "
                            "intermediate tasks are trained")  # fmt: skip
    trainable = get_format(task.format).trainable
    train_steps = [*chain, train_data] if trainable else chain
    for lang in config.eval.languages:
        if lang not in task.languages:
            raise UserError(f"eval.languages: task '{task.name}' has no language '{lang}' "
                            f"(languages: {' '.join(task.languages)})")  # fmt: skip
    if method.fuses:
        _validate_fusion(config, chain, trainable)
    _validate_mixture(config, task, chain)
    if method.uses_peft and (chain or not trainable):
        raise UserError("method 'peft_lora' trains a target task without intermediate stages (a comparison arm)")
    if config.translate_train and config.adapter.train_languages:
        raise UserError("translate_train and adapter.train_languages are alternatives; set one of them")
    for lang in config.translate_train:
        if lang not in train_data.languages or lang == "en":
            raise UserError(f"translate_train: '{lang}' is not a language of '{train_data.name}'")
        path = local_path(train_data, lang, "train", config.data_dir) if config.data_dir else None
        if path is not None and not path.is_file():
            raise UserError(f"translate_train: no translated train file {path}")
    for lang in config.adapter.train_languages:
        if not method.uses_lang_adapters:
            raise UserError(f"adapter.train_languages: method '{method.name}' has no language adapters")
        if lang not in task.languages and lang != "en":
            raise UserError(f"adapter.train_languages: '{lang}' is not a language of '{task.name}'")
    for lang in config.lang_adapters.pretrained:
        if lang not in task.languages and lang != "en":
            raise UserError(f"lang_adapters.pretrained: '{lang}' is not a language of '{task.name}'")
    if config.data_dir is not None:
        if not Path(config.data_dir).is_dir():
            raise UserError(f"data_dir not found: {config.data_dir}")
        for step in train_steps:
            for split in ("train", "dev"):
                if not (path := local_path(step, "en", split, config.data_dir)).is_file():
                    raise UserError(f"data file not found: {path}")
        english = raw_text_path("en", config.data_dir)
        if method.uses_lang_adapters and "en" not in config.lang_adapters.pretrained and not english.is_file():
            raise UserError(f"no English raw text for the English language adapter: {english}")
        for lang in config.eval.languages or task.languages:
            split = config.eval.split or default_eval_split(task, config.data_dir, lang)
            if not (path := local_path(task, lang, split, config.data_dir)).is_file():
                raise UserError(f"data file not found: {path}")
    from adapter_xfer.adapter_configs import TASK_ADAPTERS

    if config.adapter.config not in {*TASK_ADAPTERS, "pfeiffer", "houlsby"}:
        raise UserError(f"adapter.config: unknown adapter method '{config.adapter.config}' "
                        f"(known: {', '.join(sorted(TASK_ADAPTERS))})")  # fmt: skip
    resolve_model_name_only(config.model)
    stages = [f"lang adapter: {lang}" for lang in adapter_languages(config, task, method)]
    mlm = f", masked LM on {'/'.join(mlm_languages(config, task))}" if config.mixture.mlm_rate > 0 else ""
    stages += [f"intermediate: {' + '.join(step)} ({stage_method(method).name}{mlm})"
               for step in intermediate_steps(config, task)]  # fmt: skip
    if trainable:
        fused = f", fusing {', '.join(t.name for t in chain)}" if method.fuses else ""
        stages.append(f"target: {task.name} trained on {train_data.name} ({method.name}{fused})")
    stages.append("zero-shot evaluation")
    return stages


def _validate_fusion(config: ExperimentConfig, chain: list[Task], trainable: bool) -> None:
    if len(chain) < 2:
        raise UserError("method 'fusion' fuses the adapters of at least two intermediate tasks "
                        f"(intermediate: {list(config.intermediate)})")  # fmt: skip
    if len({t.name for t in chain}) < len(chain):
        raise UserError(f"intermediate: method 'fusion' needs distinct tasks, got {[t.name for t in chain]}")
    if config.adapter.config not in ("seq_bn", "double_seq_bn", "pfeiffer", "houlsby"):
        raise UserError(f"adapter.config: AdapterFusion fuses bottleneck adapters only (seq_bn, double_seq_bn), "
                        f"not '{config.adapter.config}'")  # fmt: skip
    if not trainable:
        raise UserError(f"method 'fusion' learns the fusion on the target task; '{config.task}' is evaluated only")


def _validate_mixture(config: ExperimentConfig, task: Task, chain: list[Task]) -> None:
    mixture = config.mixture
    if mixture.joint and len(chain) < 2:
        raise UserError(f"mixture.joint trains at least two intermediate tasks together "
                        f"(intermediate: {list(config.intermediate)})")  # fmt: skip
    if mixture.joint and get_method(config.method).fuses:
        raise UserError("mixture.joint and method 'fusion' are alternatives (fusion needs one adapter per task)")
    if mixture.mlm_rate > 0 and not chain:
        raise UserError("mixture.mlm_rate mixes masked LM into intermediate training; there is no intermediate task")
    if (mixture.joint or mixture.mlm_rate > 0) and config.adapter.train_languages:
        raise UserError("adapter.train_languages and a mixture (mixture.joint, mixture.mlm_rate) are alternatives: "
                        "a mixture's task steps run under lang_en, its MLM steps under their own language")  # fmt: skip
    if mixture.mlm_rate > 0 and config.data_dir is not None:
        for lang in mlm_languages(config, task):
            if not (path := raw_text_path(lang, config.data_dir)).is_file():
                raise UserError(f"mixture.mlm_languages: no raw text for '{lang}' ({path})")


def resolve_model_name_only(name: str) -> None:
    """Reject model names that are clearly wrong (a missing folder) without loading anything."""
    from adapter_xfer.modeling import is_named_model

    if is_named_model(name):
        return
    name = name.removeprefix("random:")  # random:<folder> must name an existing folder
    if name.startswith((".", "/", "~")) and not Path(name).expanduser().is_dir():
        raise UserError(f"model folder not found: {name}")


def adapter_languages(config: ExperimentConfig, task: Task, method: Method) -> list[str]:
    if not method.uses_lang_adapters:
        return []
    needed = {
        "en",
        *(config.eval.languages or task.languages),
        *config.adapter.train_languages,
        *config.translate_train,
    }
    return sorted(needed, key=lambda x: (x != "en", x))


def stage_method(method: Method) -> Method:
    """How intermediate stages train: fusion fuses adapters that were trained as plain task adapters
    (so fusion runs and adapter runs share those cached stages)."""
    return get_method("adapter") if method.fuses else method


def intermediate_steps(config: ExperimentConfig, task: Task) -> list[tuple[str, ...]]:
    """The intermediate stages in order: one per task, or all of them in one joint stage."""
    chain = chain_of(config, task)
    return [tuple(chain)] if config.mixture.joint and chain else [(name,) for name in chain]


def mlm_languages(config: ExperimentConfig, task: Task) -> tuple[str, ...]:
    """Raw-text languages of continued MLM: the configured ones, else English and every eval language."""
    if config.mixture.mlm_rate == 0:
        return ()
    return config.mixture.mlm_languages or tuple(dict.fromkeys(["en", *(config.eval.languages or task.languages)]))


def mixture_plan(config: ExperimentConfig, task: Task) -> MixturePlan:
    """What the intermediate stages mix, resolved from the `mixture` section (MLM languages filled in)."""
    mixture = config.mixture
    return MixturePlan(mixture.sampling, mixture.temperature, mixture.mlm_rate, mlm_languages(config, task),
                       config.lang_adapters.mlm_probability)  # fmt: skip


def chain_of(config: ExperimentConfig, task: Task) -> list[str]:
    """English tasks trained before the target: the config's chain, then the task's own recipe."""
    return [*config.intermediate, *[t for t in task.recipe if t not in config.intermediate]]
