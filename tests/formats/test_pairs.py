"""The English sentence-pair tasks added to the pair family (ANLI, SNLI, QQP): table entries, readers,
round concatenation, Hub/local parity, prediction on tiny, and full-file loads of ../shared/data."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from adapter_xfer.data import default_eval_split, load_split
from adapter_xfer.errors import UserError
from adapter_xfer.formats import get_format
from adapter_xfer.readers import READERS
from adapter_xfer.tasks import TASKS
from adapter_xfer.zero_shot import predict, score

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "data"
NLI = ("entailment", "neutral", "contradiction")


def test_entries():
    for name in ("anli", "snli", "qqp"):
        task = TASKS[name]
        assert (task.format, task.metric, task.languages) == ("pair_classification", "accuracy", ("en",))
    anli = TASKS["anli"]
    assert anli.labels == TASKS["snli"].labels == NLI and anli.id_scheme == "field"
    assert anli.hub.splits["dev"] == "dev_r1+dev_r2+dev_r3"
    assert all(TASKS[p].format == "pair_classification" for p in anli.options["mixture"])
    assert anli.options["mixture"] == ("mnli", "snli")
    assert TASKS["qqp"].labels == ("not_duplicate", "duplicate")


def test_anli_concatenates_the_three_rounds():
    train = load_split(TASKS["anli"], "en", "train", FIXTURES)
    assert [r["id"] for r in train] == [f"r{r}-train-{i}" for r in (1, 2, 3) for i in range(6)]
    assert {r["label"] for r in train} == set(NLI)
    assert [len(load_split(TASKS["anli"], "en", s, FIXTURES)) for s in ("dev", "test")] == [6, 6]
    assert default_eval_split(TASKS["anli"], FIXTURES) == "test"


def test_anli_analysis_csv_layout_and_errors(tmp_path):
    shutil.copytree(FIXTURES / "anli_dev", tmp_path / "anli_dev")
    dev = load_split(TASKS["anli"], "en", "dev", tmp_path)
    official = load_split(TASKS["anli"], "en", "dev", FIXTURES)
    assert [(r["id"], r["text_a"], r["text_b"], r["label"]) for r in dev] == [
        (r["id"], r["text_a"], r["text_b"], r["label"]) for r in official]  # fmt: skip
    (tmp_path / "anli_dev/ANLI_analysis_r3_dev.csv").unlink()
    with pytest.raises(UserError, match=r"ANLI round file not found: .*_r3_dev\.csv"):
        load_split(TASKS["anli"], "en", "dev", tmp_path)
    with pytest.raises(UserError, match="not an ANLI round-1 file"):
        list(READERS["anli_csv"](tmp_path / "anli_dev/ANLI_analysis_r2_dev.csv"))


def test_snli_drops_pairs_without_gold():
    raw = [row for _, row in READERS["jsonl"](FIXTURES / "snli_1.0/snli_1.0_train.jsonl")]
    train = load_split(TASKS["snli"], "en", "train", FIXTURES)
    assert len(raw) == 19 and len(train) == 18 and [r["id"] for r in train] == list(range(18))
    assert [r["text_b"] for r in train] == [row["sentence2"] for row in raw if row["gold_label"] != "-"]
    assert len(load_split(TASKS["snli"], "en", "dev", FIXTURES)) == 6
    assert default_eval_split(TASKS["snli"], FIXTURES) == "test"


def test_qqp_glue_layout():
    train = load_split(TASKS["qqp"], "en", "train", FIXTURES)
    assert len(train) == 16 and [r["label"] for r in train[:2]] == ["duplicate", "not_duplicate"]
    assert train[0]["text_a"] == "How do I learn to cook rice?" and train[0]["id"] == 0
    assert default_eval_split(TASKS["qqp"], FIXTURES) == "dev"


def test_hub_and_local_give_identical_records(monkeypatch):
    import datasets

    features = datasets.Features({"uid": datasets.Value("string"), "premise": datasets.Value("string"),
                                  "hypothesis": datasets.Value("string"),
                                  "label": datasets.ClassLabel(names=list(NLI))})  # fmt: skip
    anli = load_split(TASKS["anli"], "en", "dev", FIXTURES)
    qqp = load_split(TASKS["qqp"], "en", "dev", FIXTURES)
    calls = []

    def fake_load_dataset(path, config, split):
        calls.append((path, config, split))
        if path == "facebook/anli":
            rows = [{"uid": r["id"], "premise": r["text_a"], "hypothesis": r["text_b"], "label": NLI.index(r["label"])}
                    for r in anli]  # fmt: skip
            return datasets.Dataset.from_list(rows, features=features)
        rows = [{"question1": r["text_a"], "question2": r["text_b"], "label": int(r["label"] == "duplicate"),
                 "idx": 7 * r["id"]} for r in qqp]  # fmt: skip
        qqp_features = datasets.Features({"question1": datasets.Value("string"), "question2": datasets.Value("string"),
                                          "label": datasets.ClassLabel(names=["not_duplicate", "duplicate"]),
                                          "idx": datasets.Value("int32")})  # fmt: skip
        return datasets.Dataset.from_list(rows, features=qqp_features)

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    assert load_split(TASKS["anli"], "en", "dev", None) == anli
    assert load_split(TASKS["qqp"], "en", "dev", None) == qqp
    assert calls == [("facebook/anli", "plain_text", "dev_r1+dev_r2+dev_r3"), ("nyu-mll/glue", "qqp", "validation")]


def test_predict_and_score_end_to_end(tiny_model, tiny_tokenizer):
    fmt = get_format("pair_classification")
    task = TASKS["anli"]
    fmt.add_head(tiny_model, "task_anli", task)
    records = load_split(task, "en", "test", FIXTURES)
    predictions = predict(tiny_model, fmt, records, tiny_tokenizer, task, 64, 4)
    assert set(predictions) == {r["id"] for r in records} and set(predictions.values()) <= set(NLI)
    assert score(task, fmt, predictions, records, "en")["n"] == 6


# ------------------------------------------------------------------ ../shared/data, full files
def test_shared_anli_rounds(shared_data):
    counts = [sum(1 for _ in READERS["csv_header"](shared_data / f"anli_dev/ANLI_analysis_r{r}_dev.csv"))
              for r in (1, 2, 3)]  # fmt: skip
    assert counts == [1000, 1000, 1198]
    dev = load_split(TASKS["anli"], "en", "dev", shared_data)
    assert len(dev) == 3198 == len({r["id"] for r in dev}) and {r["label"] for r in dev} == set(NLI)


def test_shared_snli_subset(shared_data):
    records = load_split(TASKS["snli"], "en", "dev", shared_data)
    assert len(records) == 1000 and {r["label"] for r in records} == set(NLI)
