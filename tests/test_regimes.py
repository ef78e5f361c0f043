"""Training regimes on tiny: target-language-ready task adapters (language adapters sampled in training)."""

from __future__ import annotations

import pytest
import torch

from adapter_xfer.config import AdapterConfig, LangAdapterConfig, TrainConfig
from adapter_xfer.formats import get_format
from adapter_xfer.lang_adapters import add_language_adapter
from adapter_xfer.methods import METHODS
from adapter_xfer.modeling import load_model
from adapter_xfer.regimes import language_sampling_loss
from adapter_xfer.train import fit
from tests.test_methods import TASK, perturb, records


def _train_sampling(checkpoint, tokenizer):
    torch.manual_seed(0)
    model = load_model(checkpoint)
    for lang in ("en", "de", "zh"):
        add_language_adapter(model, f"lang_{lang}", LangAdapterConfig())
        perturb(model, f".lang_{lang}.")
    fmt = get_format(TASK.format)
    fmt.add_head(model, "task_x", TASK)
    METHODS["adapter"].prepare(model, "task_x", "task_x", "lang_en", AdapterConfig())
    active: list[str] = []

    def setup_for(lang):
        active.append(lang)
        return METHODS["adapter"].setup_for(lang, "task_x")

    frozen = {k: v.clone() for k, v in model.state_dict().items() if ".lang_" in k}
    loss = language_sampling_loss(["lang_de", "lang_zh"], setup_for)
    features = fmt.preprocess(records(), tokenizer, TASK, 32)
    fit(model, features, lambda b: fmt.collate(b, tokenizer),
        TrainConfig(max_steps=8, batch_size=4, learning_rate=1e-2, warmup_ratio=0), seed=1, loss_fn=loss)  # fmt: skip
    after = model.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in frozen.items())  # language adapters stay frozen
    trained_under = active[0::2]  # each step activates its sampled language, then restores lang_en
    assert active[1::2] == ["lang_en"] * len(trained_under)
    return trained_under, {k: v.clone() for k, v in after.items() if ".task_x." in k}


def test_at_least_two_language_adapters_are_active_during_training(tiny_checkpoint, tiny_tokenizer):
    trained_under, _ = _train_sampling(tiny_checkpoint, tiny_tokenizer)
    assert len(trained_under) == 8 and set(trained_under) == {"lang_de", "lang_zh"}


def test_language_sampling_is_reproducible(tiny_checkpoint, tiny_tokenizer):
    first, weights = _train_sampling(tiny_checkpoint, tiny_tokenizer)
    second, again = _train_sampling(tiny_checkpoint, tiny_tokenizer)
    assert first == second and all(torch.equal(weights[k], again[k]) for k in weights)


def test_translate_train_keeps_each_batch_in_one_language_under_its_adapter(demo_data, tmp_path):
    """Translated train files join English; every batch is one language, run under that language's adapter."""
    import shutil

    from adapter_xfer.cli import main
    from adapter_xfer.results import read_results
    from adapter_xfer.train import batch_order

    data = tmp_path / "data"
    shutil.copytree(demo_data, data)
    # The project does no translation: a translated train file is given. Here, the German test items
    # stand in for it (machinery only).
    shutil.copy(data / "pawsx" / "test-de.tsv", data / "pawsx" / "train-de.tsv")
    groups = [0] * 10 + [1] * 7
    for batch in batch_order([5] * 17, 4, seed=0, epoch=0, groups=groups):
        assert len({groups[i] for i in batch}) == 1
    config = tmp_path / "tt.yaml"
    config.write_text("task: pawsx\ntranslate_train: [de]\n")
    args = ["method=adapter", f"data_dir={data}", f"output_dir={tmp_path / 'run'}", f"cache_dir={tmp_path / 'cache'}",
            "train.max_steps=6", "train.batch_size=8", "train.max_seq_length=32", "lang_adapters.max_steps=2",
            "eval.languages=en,de", "eval.split=test", "eval.max_examples=8"]  # fmt: skip
    assert main(["train", str(config), *args]) == 0
    results = read_results(tmp_path / "run")
    assert results["config"]["translate_train"] == ["de"] and results["lang_adapters"]["de"].startswith("trained")
    assert main(["validate", str(config), *args, "translate_train=[zh]"]) == 2  # no translated zh file


def test_translate_train_loss_activates_the_batch_language(tiny_checkpoint, tiny_tokenizer):
    from adapter_xfer.regimes import translate_train_loss

    torch.manual_seed(0)
    model = load_model(tiny_checkpoint)
    for lang in ("en", "de"):
        add_language_adapter(model, f"lang_{lang}", LangAdapterConfig())
    fmt = get_format(TASK.format)
    fmt.add_head(model, "task_x", TASK)
    METHODS["adapter"].prepare(model, "task_x", "task_x", "lang_en", AdapterConfig())
    seen = []

    def setup_for(lang):
        seen.append(lang)
        return METHODS["adapter"].setup_for(lang, "task_x")

    loss = translate_train_loss(["lang_en", "lang_de"], setup_for)
    batch = fmt.collate(fmt.preprocess(records()[:4], tiny_tokenizer, TASK, 32), tiny_tokenizer)
    assert torch.isfinite(loss(model, {**batch, "lang_group": torch.tensor(1)}))
    assert seen == ["lang_de", "lang_en"]  # the German batch ran under lang_de; English is restored after


def test_peft_arm_trains_under_the_same_protocol(demo_data, tmp_path):
    """`method=peft_lora`: peft LoRA with a static head; same fit, evaluation and scorer; notes say so."""
    from adapter_xfer.cli import main
    from adapter_xfer.results import read_results

    config = tmp_path / "peft.yaml"
    config.write_text("task: pawsx\nmethod: peft_lora\n")
    args = [f"data_dir={demo_data}", f"output_dir={tmp_path / 'run'}", f"cache_dir={tmp_path / 'cache'}",
            "train.max_steps=4", "train.batch_size=8", "train.max_seq_length=32", "train.eval_steps=2",
            "eval.languages=en,de,zh", "eval.split=test", "eval.max_examples=12"]  # fmt: skip
    assert main(["train", str(config), *args]) == 0
    results = read_results(tmp_path / "run")
    assert any("static head" in note for note in results["notes"]) and "lang_adapters" not in str(results["stages"])
    assert 0 < results["trainable_params"] < results["total_params"] / 5
    assert (tmp_path / "run" / "artifacts" / "peft" / "adapter_model.safetensors").is_file()
    assert main(["eval", str(tmp_path / "run")]) == 0  # rebuilt from peft's own files
    assert read_results(tmp_path / "run-eval1")["per_language"] == results["per_language"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("task: pawsx\nmethod: peft_lora\nintermediate: [mnli]\n")
    assert main(["validate", str(bad), f"data_dir={demo_data}"]) == 2


@pytest.mark.parametrize("task_name", ["panx", "squad", "copa"])
def test_peft_arm_has_a_static_head_for_every_trainable_format(task_name, tiny_checkpoint, tiny_tokenizer):
    from adapter_xfer.data import load_split
    from adapter_xfer.peft_arm import build_peft_model
    from adapter_xfer.tasks import TASKS
    from tests.test_task_matrix import FIXTURES

    task = TASKS[task_name]
    model = build_peft_model(tiny_checkpoint, task, AdapterConfig())
    fmt = get_format(task.format)
    features = fmt.preprocess(load_split(task, "en", "train", FIXTURES)[:8], tiny_tokenizer, task, 64)
    result = fit(model, features, lambda b: fmt.collate(b, tiny_tokenizer),
                 TrainConfig(max_steps=2, batch_size=4, learning_rate=1e-3), seed=0)  # fmt: skip
    assert result.completed and 0 < result.trainable_params < sum(p.numel() for p in model.parameters())
