"""The offline e5 encoder (a BERT, not XLM-R) works with every format and method the project has.

Converted once per test session (conftest `e5_converted`); a few optimisation steps per case keep
this file near half a minute.
"""

from __future__ import annotations

import pytest
import torch

from adapter_xfer.config import AdapterConfig, LangAdapterConfig, TrainConfig
from adapter_xfer.data import load_split
from adapter_xfer.formats import FORMATS, get_format
from adapter_xfer.lang_adapters import add_language_adapter, train_language_adapter
from adapter_xfer.methods import METHODS, activate
from adapter_xfer.modeling import has_mlm_head, load_model, load_tokenizer
from adapter_xfer.tasks import TASKS, training_task
from adapter_xfer.tiny import ASSETS
from adapter_xfer.train import fit
from adapter_xfer.zero_shot import predict, score
from tests.test_task_matrix import FIXTURES, eval_language

# One representative task per format; a new format must add one here.
FORMAT_TASKS = {"pair_classification": "pawsx", "classification": None, "span_qa": "squad",
                "tagging": "panx", "multiple_choice": "copa", "retrieval": "tatoeba"}  # fmt: skip


@pytest.fixture(scope="module")
def e5_tokenizer(e5_checkpoint):
    return load_tokenizer(e5_checkpoint)


def test_every_format_has_a_representative():
    assert set(FORMATS) <= set(FORMAT_TASKS)


def test_language_adapter_with_a_fresh_mlm_head(e5_checkpoint, e5_tokenizer):
    assert not has_mlm_head(e5_checkpoint)  # e5 was trained contrastively: no MLM head ships
    model = load_model(e5_checkpoint, keep_mlm_head=True)
    embeddings = model.base_model.embeddings.word_embeddings.weight.detach().clone()
    lines = (ASSETS / "raw_de.txt").read_text(encoding="utf-8").splitlines()[:60]
    config = LangAdapterConfig(max_steps=6, batch_size=8, learning_rate=2e-3, max_seq_length=32, heldout_lines=12)
    result, metrics = train_language_adapter(model, e5_tokenizer, "lang_de", lines, config, seed=0)
    assert result.completed and metrics["mlm_head"].startswith("fresh")
    assert metrics["mlm_loss_after"] < metrics["mlm_loss_before"]
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert any(n.startswith("heads.mlm.") for n in trainable) and any(".lang_de." in n for n in trainable)
    assert torch.equal(embeddings, model.base_model.embeddings.word_embeddings.weight)  # tied decoder frozen


@pytest.mark.parametrize("fmt_name", [f for f, t in FORMAT_TASKS.items() if t])
def test_every_format_with_the_adapter_method(fmt_name, e5_checkpoint, e5_tokenizer):
    task = TASKS[FORMAT_TASKS[fmt_name]]
    torch.manual_seed(0)
    model = load_model(e5_checkpoint)
    add_language_adapter(model, "lang_en", LangAdapterConfig())
    fmt = get_format(fmt_name)
    if fmt.trainable:
        data = training_task(task)
        fmt.add_head(model, "task_x", data)
        METHODS["adapter"].prepare(model, "task_x", "task_x", "lang_en", AdapterConfig())
        base = {n: p.detach().clone() for n, p in model.base_model.named_parameters() if "adapter" not in n}
        records = load_split(data, "en", "train", FIXTURES)[:8]
        features = fmt.preprocess(records, e5_tokenizer, data, 64)
        schedule = TrainConfig(max_steps=2, batch_size=4, learning_rate=1e-3, warmup_ratio=0.0)
        result = fit(model, features, lambda b: fmt.collate(b, e5_tokenizer), schedule, seed=0, desc=fmt_name)
        assert result.completed and result.trainable_params < 0.02 * sum(p.numel() for p in model.parameters())
        after = dict(model.base_model.named_parameters())
        assert all(torch.equal(v, after[n]) for n, v in base.items())
    activate(model, METHODS["adapter"].setup_for("lang_en", "task_x" if fmt.trainable else None),
             "task_x" if fmt.trainable else None)  # fmt: skip
    lang, split = eval_language(task)
    records = load_split(task, lang, split, FIXTURES)
    metrics = score(task, fmt, predict(model, fmt, records, e5_tokenizer, task, 64, 8), records, lang)
    assert metrics["n"] > 0


def test_full_fine_tuning_changes_the_encoder(e5_checkpoint, e5_tokenizer):
    task = TASKS["pawsx"]
    torch.manual_seed(0)
    model = load_model(e5_checkpoint)
    fmt = get_format(task.format)
    fmt.add_head(model, "task_pawsx", task)
    METHODS["full_ft"].prepare(model, "task_pawsx", "task_pawsx", None, AdapterConfig())
    layer = model.base_model.encoder.layer[0].attention.self.query.weight.detach().clone()
    features = fmt.preprocess(load_split(task, "en", "train", FIXTURES)[:8], e5_tokenizer, task, 64)
    fit(model, features, lambda b: fmt.collate(b, e5_tokenizer), TrainConfig(max_steps=2, batch_size=4,
        learning_rate=1e-4), seed=0)  # fmt: skip
    assert not torch.equal(layer, model.base_model.encoder.layer[0].attention.self.query.weight)
