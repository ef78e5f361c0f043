"""The `multiple_choice` format and its task family: segment pairs, (batch, choices, tokens) batches,
arg-max decoding, id schemes, readers, Hub/local parity, training and evaluation on tiny, and
full-file loads of ../shared/data."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import torch

from adapter_xfer.config import AdapterConfig, TrainConfig
from adapter_xfer.data import default_eval_split, load_split
from adapter_xfer.errors import UserError
from adapter_xfer.formats import get_format
from adapter_xfer.formats.multiple_choice import label_index, num_choices, segments
from adapter_xfer.methods import METHODS
from adapter_xfer.readers import READERS
from adapter_xfer.tasks import TASKS, training_task
from adapter_xfer.train import fit
from adapter_xfer.zero_shot import predict, score

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "data"
FMT = get_format("multiple_choice")
MC_TASKS = ("xcopa", "copa", "siqa", "piqa", "csqa", "cosmosqa", "hellaswag", "swag")
CHOICES = {"xcopa": 2, "copa": 2, "siqa": 3, "piqa": 2, "csqa": 5, "cosmosqa": 4, "hellaswag": 4, "swag": 4}
# (task, language, split, examples) of every fixture file; zh is the non-Latin script.
FIXTURE_SPLITS = [("xcopa", "zh", "dev", 3), ("xcopa", "zh", "test", 5), ("xcopa", "sw", "test", 3),
                  ("copa", "en", "train", 16), ("copa", "en", "dev", 6), ("copa", "en", "test", 4),
                  ("siqa", "en", "train", 16), ("siqa", "en", "dev", 6), ("siqa", "en", "test", 4),
                  ("piqa", "en", "train", 16), ("piqa", "en", "dev", 6), ("csqa", "en", "train", 16),
                  ("csqa", "en", "dev", 6), ("cosmosqa", "en", "train", 16), ("cosmosqa", "en", "dev", 6),
                  ("hellaswag", "en", "train", 16), ("hellaswag", "en", "dev", 6), ("swag", "en", "train", 16),
                  ("swag", "en", "dev", 6)]  # fmt: skip
RECORDS = [  # the format's own record shape: a `choices` list and an int label
    {"id": "a", "context": "The glass fell.", "question": "What happened?", "choices": ["It broke.", "It sang."],
     "label": 0},
    {"id": "b", "context": "The road was wet and very slippery after a long night of rain.", "question": "Why?",
     "choices": ["It rained.", "The sun shone all day long without a single cloud."], "label": 1},
    {"id": "c", "context": "灯灭了。", "choices": ["灯泡坏了。", "猫睡着了。"], "label": None},
]  # fmt: skip


def with_options(name: str, **options):
    task = TASKS[name]
    return dataclasses.replace(task, options={**task.options, **options})


TWO = dataclasses.replace(TASKS["piqa"], name="two")  # two choices, labels "0"/"1"


# ------------------------------------------------------------------ table entries
def test_entries():
    for name in MC_TASKS:
        task = TASKS[name]
        assert task.format == "multiple_choice" and task.metric == "accuracy"
        assert num_choices(task) == CHOICES[name] == len(task.labels) == task.options["num_choices"]
        for columns in [task.hub.columns] + [layout.columns for layout in task.local]:
            assert set(columns) - {"id"} == set(task.hub.columns) - {"id"}, name  # one field set per task
    assert TASKS["xcopa"].languages == ("et", "ht", "id", "it", "qu", "sw", "ta", "th", "tr", "vi", "zh")
    assert (TASKS["xcopa"].train_task, TASKS["xcopa"].recipe) == ("copa", ("siqa",))
    assert training_task(TASKS["xcopa"]).name == "copa"
    assert {n for n in MC_TASKS if TASKS[n].id_scheme == "field"} == {"xcopa", "copa", "csqa", "cosmosqa", "hellaswag"}


@pytest.mark.parametrize("name,lang,split,count", FIXTURE_SPLITS)
def test_fixture_records(name, lang, split, count):
    task = TASKS[name]
    records = load_split(task, lang, split, FIXTURES)
    assert len(records) == count
    for record in records:
        assert record["label"] in task.labels
        assert len(segments(record, task)) == CHOICES[name]
    assert len({r["id"] for r in records}) == count


def test_default_eval_splits():
    assert default_eval_split(TASKS["xcopa"], FIXTURES) == "test"
    assert default_eval_split(TASKS["copa"], FIXTURES) == "dev"  # placeholder test labels
    assert default_eval_split(TASKS["siqa"], FIXTURES) == "test"  # v1.4 ships a labelled test
    assert [default_eval_split(TASKS[n], None) for n in ("xcopa", "copa", "siqa", "hellaswag")] == [
        "test", "dev", "dev", "dev"]  # fmt: skip


# ------------------------------------------------------------------ segments, labels, ids
def test_copa_question_made_explicit():
    record = load_split(TASKS["xcopa"], "zh", "test", FIXTURES)[0]
    pairs = segments(record, TASKS["xcopa"])
    question = {"cause": "What was the cause of this?", "effect": "What happened as a result?"}[record["question"]]
    assert pairs == [(f"{record['context']} {question}", record["choice0"]), (f"{record['context']} {question}",
                     record["choice1"])]  # fmt: skip
    with pytest.raises(UserError, match="'why' is not one of cause, effect"):
        segments({**record, "question": "why"}, TASKS["xcopa"])


def test_question_goes_with_the_context_or_with_each_choice():
    swag = load_split(TASKS["swag"], "en", "train", FIXTURES)[0]
    assert segments(swag, TASKS["swag"])[2] == (swag["context"], f"{swag['question']} {swag['choice2']}")
    siqa = load_split(TASKS["siqa"], "en", "train", FIXTURES)[0]
    assert segments(siqa, TASKS["siqa"])[1] == (f"{siqa['context']} {siqa['question']}", siqa["choice1"])
    csqa = load_split(TASKS["csqa"], "en", "dev", FIXTURES)[0]  # no context: the question alone
    assert segments(csqa, TASKS["csqa"])[4] == (csqa["question"], csqa["choices"][4])
    with pytest.raises(UserError, match="3 choices, the task has 4"):
        segments({"id": 1, "choices": ["a", "b", "c"]}, TASKS["swag"])
    with pytest.raises(UserError, match="no field choice2"):
        segments({"id": 1, "choice0": "a", "choice1": "b"}, TASKS["siqa"])


def test_label_codes_become_choice_indices():
    assert [label_index(code, TASKS["siqa"]) for code in ("1", "2", "3")] == [0, 1, 2]
    assert label_index("E", TASKS["csqa"]) == 4 and label_index("choice2", TASKS["copa"]) == 1
    assert label_index(3, TASKS["hellaswag"]) == 3
    for bad in ("F", 5, -1):
        with pytest.raises(UserError):
            label_index(bad, TASKS["csqa"])
    siqa = load_split(TASKS["siqa"], "en", "dev", FIXTURES)
    raw = [json.loads(line) for line in (FIXTURES / "socialiqa/socialIQa_v1.4_dev.jsonl").open(encoding="utf-8")]
    assert FMT.gold(siqa, TASKS["siqa"]) == {i: "ABC".index(row["correct"]) for i, row in enumerate(raw)}


def test_ids_follow_the_contract(tmp_path):
    source = FIXTURES / "xcopa/data/zh/test.zh.jsonl"
    rows = [json.loads(line) for line in source.open(encoding="utf-8")]
    target = tmp_path / "xcopa/data/zh/test.zh.jsonl"
    target.parent.mkdir(parents=True)
    target.write_text("".join(json.dumps({**r, "idx": 40 + 7 * i}) + "\n" for i, r in enumerate(rows)), "utf-8")
    assert [r["id"] for r in load_split(TASKS["xcopa"], "zh", "test", tmp_path)] == [40 + 7 * i for i in range(5)]
    csqa = load_split(TASKS["csqa"], "en", "dev", FIXTURES)
    assert [r["id"] for r in csqa][:2] == ["csqa0100", "csqa0101"]
    assert [r["id"] for r in load_split(TASKS["hellaswag"], "en", "dev", FIXTURES)][:2] == [5000, 5001]
    for name in ("siqa", "piqa", "swag"):  # no id in every source: the position in the file
        assert [r["id"] for r in load_split(TASKS[name], "en", "dev", FIXTURES)] == list(range(6))


# ------------------------------------------------------------------ readers
def test_labels_lst_reader_joins_and_checks(tmp_path):
    piqa = load_split(TASKS["piqa"], "en", "dev", FIXTURES)
    labels = (FIXTURES / "piqa/valid-labels.lst").read_text().split()
    assert [r["label"] for r in piqa] == labels
    shutil.copytree(FIXTURES / "socialiqa-train-dev", tmp_path / "socialiqa-train-dev")  # the original SIQA layout
    original = load_split(TASKS["siqa"], "en", "train", tmp_path)
    assert [r["label"] for r in original] == (tmp_path / "socialiqa-train-dev/train-labels.lst").read_text().split()
    (tmp_path / "socialiqa-train-dev/dev-labels.lst").write_text("1\n2\n")
    with pytest.raises(UserError, match="2 labels for 3 examples"):
        load_split(TASKS["siqa"], "en", "dev", tmp_path)
    (tmp_path / "socialiqa-train-dev/dev-labels.lst").unlink()
    with pytest.raises(UserError, match="labels file not found"):
        load_split(TASKS["siqa"], "en", "dev", tmp_path)


def test_csqa_reader_takes_both_published_shapes(tmp_path):
    nested = [row for _, row in READERS["csqa_jsonl"](FIXTURES / "commonsenseqa/train_rand_split.jsonl")]
    exported = [row for _, row in READERS["csqa_jsonl"](FIXTURES / "commonsenseqa/dev_rand_split.jsonl")]
    assert set(nested[0]) == set(exported[0]) == {"id", "question", "question_concept", "choices", "answerKey"}
    assert nested[0]["choices"]["label"] == list("ABCDE") and len(nested[0]["choices"]["text"]) == 5
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "question": 3}\n')
    with pytest.raises(UserError, match=r"bad\.jsonl:1: not a CommonsenseQA record"):
        list(READERS["csqa_jsonl"](bad))


def test_csv_reader_keeps_multiline_fields_and_numbers_records(tmp_path):
    rows = list(READERS["csv_header"](FIXTURES / "cosmosqa/train.csv"))
    assert "\n" in rows[3][1]["context"] and rows[4][0] == rows[3][0] + 2  # record 4 spans two lines
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n3,4,5\n")
    with pytest.raises(UserError, match=r"bad\.csv:3: 3 fields, header has 2"):
        list(READERS["csv_header"](bad))


def test_hub_and_local_give_identical_records(monkeypatch):
    import datasets

    local = load_split(TASKS["csqa"], "en", "dev", FIXTURES)
    hub_rows = [row for _, row in READERS["csqa_jsonl"](FIXTURES / "commonsenseqa/dev_rand_split.jsonl")]
    siqa_local = load_split(TASKS["siqa"], "en", "dev", FIXTURES)
    siqa_rows = [{"context": r["context"], "question": r["question"], "answerA": r["choice0"], "answerB": r["choice1"],
                  "answerC": r["choice2"], "label": r["label"]} for r in siqa_local]  # fmt: skip
    calls = []

    def fake_load_dataset(path, config, split, **kwargs):
        calls.append((path, config, split))
        return datasets.Dataset.from_list(hub_rows if path == "tau/commonsense_qa" else siqa_rows)

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    assert load_split(TASKS["csqa"], "en", "dev", None) == local
    assert load_split(TASKS["siqa"], "en", "dev", None) == siqa_local  # Hub "1".."3" == local A..C
    assert calls == [("tau/commonsense_qa", "default", "validation"), ("allenai/social_i_qa", "default", "validation")]


# ------------------------------------------------------------------ encode, collate, decode
def test_encoding_gives_batch_by_choices_by_tokens(tiny_tokenizer):
    features = FMT.preprocess(RECORDS, tiny_tokenizer, TWO, 64)
    assert [len(f["input_ids"]) for f in features] == [2, 2, 2]
    assert [f.get("labels") for f in features] == [0, 1, None] and "labels" not in features[2]
    batch = FMT.collate(features[:2], tiny_tokenizer)
    assert set(batch) == {"input_ids", "attention_mask", "labels"}
    longest = max(len(ids) for f in features[:2] for ids in f["input_ids"])
    assert batch["input_ids"].shape == batch["attention_mask"].shape == (2, 2, longest)
    assert batch["labels"].tolist() == [0, 1]
    for row, feature in enumerate(features[:2]):
        for choice, ids in enumerate(feature["input_ids"]):
            assert batch["input_ids"][row, choice, : len(ids)].tolist() == ids
            assert batch["attention_mask"][row, choice].sum() == len(ids)
            text = tiny_tokenizer.decode(ids, skip_special_tokens=True).replace(" ", "")
            assert RECORDS[row]["choices"][choice].replace(" ", "") in text
            assert RECORDS[row]["context"].replace(" ", "") in text
    truncated = FMT.preprocess(RECORDS[1:2], tiny_tokenizer, TWO, 12)
    assert max(len(ids) for ids in truncated[0]["input_ids"]) == 12


def test_head_scores_each_choice(tiny_model, tiny_tokenizer):
    FMT.add_head(tiny_model, "task_mc", TASKS["csqa"])
    records = load_split(TASKS["csqa"], "en", "dev", FIXTURES)[:3]
    batch = FMT.collate(FMT.preprocess(records, tiny_tokenizer, TASKS["csqa"], 64), tiny_tokenizer)
    tiny_model.eval()
    with torch.no_grad():
        output = tiny_model(**batch)
    assert output.logits.shape == (3, 5) and output.loss.ndim == 0


def test_decode_takes_the_argmax_choice(tiny_tokenizer):
    features = FMT.preprocess(RECORDS, tiny_tokenizer, TWO, 64)
    ordered = [features[2], features[0], features[1]]  # predict() feeds features length-sorted
    logits = [{"logits": torch.tensor([[0.1, 0.9], [2.0, -1.0]])}, {"logits": torch.tensor([[-3.0, -2.5]])}]
    predictions = FMT.decode(logits, ordered, RECORDS, TWO)
    assert predictions == {"c": 1, "a": 0, "b": 1} and all(type(p) is int for p in predictions.values())
    assert FMT.gold(RECORDS, TWO) == {"a": 0, "b": 1}
    assert score(TWO, FMT, {"a": 0, "b": 0}, RECORDS[:2], "en")["accuracy"] == 50.0


# ------------------------------------------------------------------ training and evaluation on tiny
def test_tiny_fit_lowers_the_loss_then_predicts_xcopa(tiny_model, tiny_tokenizer):
    torch.manual_seed(0)
    copa = TASKS["copa"]
    FMT.add_head(tiny_model, "task_copa", copa)
    METHODS["full_ft"].prepare(tiny_model, "task_copa", "task_copa", None, AdapterConfig())
    features = FMT.preprocess(load_split(copa, "en", "train", FIXTURES), tiny_tokenizer, copa, 64)

    def collate(batch):
        return FMT.collate(batch, tiny_tokenizer)

    def mean_loss() -> float:
        tiny_model.eval()
        with torch.no_grad():
            return float(tiny_model(**collate(features)).loss)

    before = mean_loss()
    schedule = TrainConfig(max_steps=20, batch_size=8, learning_rate=3e-3, warmup_ratio=0.0)
    assert fit(tiny_model, features, collate, schedule, seed=0, desc="copa").completed
    after = mean_loss()
    assert after < before * 0.9, (before, after)
    xcopa = TASKS["xcopa"]
    records = load_split(xcopa, "zh", "test", FIXTURES)
    predictions = predict(tiny_model, FMT, records, tiny_tokenizer, xcopa, 64, 2)
    raw = [json.loads(line) for line in (FIXTURES / "xcopa/data/zh/test.zh.jsonl").open(encoding="utf-8")]
    assert sorted(predictions) == sorted(row["idx"] for row in raw)
    assert set(predictions.values()) <= {0, 1}
    metrics = score(xcopa, FMT, predictions, records, "zh")
    assert metrics["n"] == 5 and metrics["missing"] == 0 and 0.0 <= metrics["accuracy"] <= 100.0


# ------------------------------------------------------------------ ../shared/data, full files
SHARED_COUNTS = [("copa", "en", "train", 400), ("copa", "en", "dev", 100), ("siqa", "en", "dev", 1954),
                 ("siqa", "en", "test", 2224), ("piqa", "en", "dev", 1838), ("csqa", "en", "dev", 1221),
                 ("cosmosqa", "en", "dev", 2985)]  # fmt: skip


@pytest.mark.parametrize("name,lang,split,count", SHARED_COUNTS)
def test_shared_data_full_files(shared_data, name, lang, split, count):
    records = load_split(TASKS[name], lang, split, shared_data)
    assert len(records) == count == len({r["id"] for r in records})
    assert all(len(segments(r, TASKS[name])) == CHOICES[name] for r in records)


def test_shared_xcopa_every_language(shared_data):
    task = TASKS["xcopa"]
    for lang in task.languages:
        for split, count in (("dev", 100), ("test", 500)):
            records = load_split(task, lang, split, shared_data)
            assert len(records) == count and [r["id"] for r in records] == list(range(count))
            assert {r["question"] for r in records} <= {"cause", "effect"}
            assert {r["label"] for r in records} <= {"0", "1"}
