"""The `span_qa` format and the QA task family: reader, windows, targets, span decoding, no-answer,
training and evaluation on tiny, and full-file loads of ../shared/data."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from adapter_xfer.config import AdapterConfig, TrainConfig
from adapter_xfer.data import default_eval_split, load_split
from adapter_xfer.errors import UserError
from adapter_xfer.formats import get_format
from adapter_xfer.formats.span_qa import window_settings
from adapter_xfer.methods import METHODS
from adapter_xfer.metrics import METRICS
from adapter_xfer.tasks import TASKS, training_task
from adapter_xfer.train import fit
from adapter_xfer.zero_shot import predict, score

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "data"
FMT = get_format("span_qa")
QA_TASKS = ("squad", "squad_v2", "xquad", "mlqa", "tydiqa")
# (task, language, split) of every fixture file, non-Latin scripts among them.
FIXTURE_SPLITS = [("squad", "en", "train"), ("squad", "en", "dev"), ("squad_v2", "en", "train"),
                  ("squad_v2", "en", "dev"), ("xquad", "en", "test"), ("xquad", "de", "test"),
                  ("xquad", "zh", "test"), ("xquad", "ar", "test"), ("mlqa", "zh", "dev"), ("mlqa", "ar", "test"),
                  ("mlqa", "en", "test"), ("tydiqa", "en", "train"), ("tydiqa", "en", "dev"),
                  ("tydiqa", "ar", "dev"), ("tydiqa", "sw", "dev")]  # fmt: skip
FILLER = ("The village lies in a quiet valley. Farmers grow wheat and barley there. A small river runs past "
          "the church. Every summer there is a market in the square. ")  # fmt: skip
LONG = {"id": "long-1", "question": "Where is the key?", "answers": ["under the red stone"],
        "context": FILLER * 3 + "The key is under the red stone near the gate."}  # fmt: skip
LONG["answer_starts"] = [LONG["context"].index("under the red stone")]


def with_options(name: str, **options):
    task = TASKS[name]
    return dataclasses.replace(task, options={**task.options, **options})


def span_text(record, feature, start, end) -> str:
    return record["context"][feature["offsets"][start][0] : feature["offsets"][end][1]]


def logits_for(features, marks):
    """One batch of zero logits with `marks[(window, "start"|"end", token)] = value`."""
    width = max(len(f["input_ids"]) for f in features)
    start, end = torch.zeros(len(features), width), torch.zeros(len(features), width)
    for (window, side, token), value in marks.items():
        (start if side == "start" else end)[window, token] = value
    return [{"start_logits": start, "end_logits": end}]


def context_tokens(feature):
    return [i for i, span in enumerate(feature["offsets"]) if span is not None]


# ------------------------------------------------------------------ task table and reader
def test_qa_entries():
    assert {name: len(TASKS[name].languages) for name in QA_TASKS} == {
        "squad": 1, "squad_v2": 1, "xquad": 12, "mlqa": 7, "tydiqa": 9}  # fmt: skip
    assert training_task(TASKS["xquad"]).name == training_task(TASKS["mlqa"]).name == "squad"
    assert training_task(TASKS["tydiqa"]).name == "tydiqa"
    for name in QA_TASKS:
        task = TASKS[name]
        assert task.format == "span_qa" and task.metric in METRICS and task.id_scheme == "field"
        assert set(task.hub.columns) == set(task.local[0].columns)
    assert TASKS["mlqa"].metric == "mlqa" and TASKS["squad_v2"].metric == "squad_v2"
    assert TASKS["mlqa"].hub.config.format(lang="de") == "MLQA.de.de"
    assert "ro" in TASKS["xquad"].languages and TASKS["xquad"].hub.config.format(lang="ro") == "xquad.ro"


@pytest.mark.parametrize(("name", "lang", "split"), FIXTURE_SPLITS)
def test_fixture_records(name, lang, split):
    records = load_split(TASKS[name], lang, split, FIXTURES)
    assert records and len({r["id"] for r in records}) == len(records)
    assert all(isinstance(r["id"], str) and r["question"] for r in records)
    for record in records:
        for text, start in zip(record["answers"], record["answer_starts"], strict=True):
            assert record["context"][start : start + len(text)] == text
    assert any(r["answers"] for r in records)
    assert any(not r["answers"] for r in records) == (name == "squad_v2")


def test_default_eval_splits():
    assert default_eval_split(TASKS["xquad"], FIXTURES) == "test"
    assert default_eval_split(TASKS["mlqa"], FIXTURES) == "test"
    assert default_eval_split(TASKS["tydiqa"], FIXTURES) == "dev"


def test_reader_errors_and_blank_answers(tmp_path):
    path = tmp_path / "xquad" / "xquad.de.json"
    path.parent.mkdir()
    path.write_text('{"data": [', encoding="utf-8")
    with pytest.raises(UserError, match=r"xquad\.de\.json:1: not valid JSON"):
        load_split(TASKS["xquad"], "de", "test", tmp_path)
    qa = {"id": "q1", "question": "Wer?", "answers": [{"text": "Anna", "answer_start": 40}]}
    path.write_text(json.dumps({"data": [{"paragraphs": [{"context": "Anna kam.", "qas": [qa]}]}]}), encoding="utf-8")
    with pytest.raises(UserError, match=r"qas\[0\]\.answers\[0\]: answer_start 40 lies outside"):
        load_split(TASKS["xquad"], "de", "test", tmp_path)
    qa["answers"] = [{"text": "", "answer_start": 0}]  # a blanked gold answer reads as no answer
    path.write_text(json.dumps({"data": [{"paragraphs": [{"context": "Anna kam.", "qas": [qa]}]}]}), encoding="utf-8")
    records = load_split(TASKS["xquad"], "de", "test", tmp_path)
    assert records == [{"id": "q1", "context": "Anna kam.", "question": "Wer?", "answers": [], "answer_starts": []}]
    with pytest.raises(UserError, match="no gold answer"):
        FMT.gold(records, TASKS["xquad"])
    del qa["id"]
    path.write_text(json.dumps({"data": [{"paragraphs": [{"context": "Anna kam.", "qas": [qa]}]}]}), encoding="utf-8")
    with pytest.raises(UserError, match=r"data\[0\]\.paragraphs\[0\]\.qas\[0\]: missing column 'id'"):
        load_split(TASKS["xquad"], "de", "test", tmp_path)


def test_hub_and_local_give_identical_records(monkeypatch):
    import datasets

    local = load_split(TASKS["xquad"], "zh", "test", FIXTURES)
    rows = [{"id": r["id"], "title": "", "context": r["context"], "question": r["question"],
             "answers": {"text": r["answers"], "answer_start": r["answer_starts"]}} for r in local]  # fmt: skip
    calls = []

    def fake_load_dataset(path, config, split):
        calls.append((path, config, split))
        return datasets.Dataset.from_list(rows)

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    assert load_split(TASKS["xquad"], "zh", "test", None) == local
    assert calls == [("google/xquad", "xquad.zh", "validation")]


# ------------------------------------------------------------------ windows and targets
def test_window_settings_scale_with_length():
    assert window_settings(TASKS["squad"], 384) == (128, 64)
    assert window_settings(TASKS["squad"], 48) == (16, 16)
    assert window_settings(with_options("squad", doc_stride=64), 512) == (64, 64)
    with pytest.raises(UserError, match="too short"):
        window_settings(TASKS["squad"], 8)


@pytest.mark.parametrize(("name", "lang", "split"), FIXTURE_SPLITS)
def test_gold_positions_recover_the_answer(tiny_tokenizer, name, lang, split):
    records = load_split(TASKS[name], lang, split, FIXTURES)
    features = FMT.preprocess(records, tiny_tokenizer, TASKS[name], 32)
    assert all(len(f["input_ids"]) <= 32 for f in features)
    found = set()
    for feature in features:
        record = records[feature["example_index"]]
        start, end = feature["start_positions"], feature["end_positions"]
        if (start, end) == (0, 0):
            continue
        assert span_text(record, feature, start, end) == record["answers"][0]
        found.add(feature["example_index"])
    assert found == {i for i, r in enumerate(records) if r["answers"]}  # every answer fits some window
    assert all((f["start_positions"], f["end_positions"]) == (0, 0)
               for f in features if not records[f["example_index"]]["answers"])  # fmt: skip


def test_answer_only_in_a_later_window(tiny_tokenizer):
    task = TASKS["squad"]
    features = FMT.preprocess([LONG], tiny_tokenizer, task, 32)
    assert len(features) > 3
    targets = [(f["start_positions"], f["end_positions"]) for f in features]
    assert targets[0] == (0, 0)
    window = next(i for i, t in enumerate(targets) if t != (0, 0))
    assert window > 0
    assert span_text(LONG, features[window], *targets[window]) == "under the red stone"
    # Consecutive windows overlap by the stride.
    first, second = (context_tokens(f) for f in features[:2])
    stride, _ = window_settings(task, 32)
    shared = [features[0]["input_ids"][i] for i in first[-stride:]]
    assert shared == [features[1]["input_ids"][i] for i in second[:stride]]
    # Decoding the gold positions as logits gives the answer text back.
    marks = {(window, "start", targets[window][0]): 10.0, (window, "end", targets[window][1]): 10.0}
    assert FMT.decode(logits_for(features, marks), features, [LONG], task) == {"long-1": "under the red stone"}


def test_collate_holds_only_model_inputs(tiny_tokenizer):
    records = load_split(TASKS["squad"], "en", "train", FIXTURES)
    features = FMT.preprocess(records[:3], tiny_tokenizer, TASKS["squad"], 64)
    batch = FMT.collate(features, tiny_tokenizer)
    assert set(batch) == {"input_ids", "attention_mask", "start_positions", "end_positions"}
    assert batch["start_positions"].tolist() == [f["start_positions"] for f in features]


# ------------------------------------------------------------------ decoding
def test_decode_best_valid_span_across_windows(tiny_tokenizer):
    task = with_options("squad", max_answer_length=2)
    features = FMT.preprocess([LONG], tiny_tokenizer, task, 32)
    a, b = context_tokens(features[0]), context_tokens(features[2])
    question_token = 1
    marks = {
        (0, "start", question_token): 100.0, (0, "end", question_token): 100.0,  # outside the context
        (0, "start", a[2]): 5.0, (0, "end", a[3]): 5.0,  # valid, score 10
        (2, "start", b[4]): 9.0, (2, "end", b[8]): 9.0,  # too long (5 tokens > 2)
        (2, "end", b[3]): 8.5,  # ends before it starts
        (2, "end", b[5]): 6.0,  # valid, score 15: the best
    }  # fmt: skip
    predictions = FMT.decode(logits_for(features, marks), features, [LONG], task)
    assert predictions == {"long-1": span_text(LONG, features[2], b[4], b[5])}
    wide = with_options("squad", max_answer_length=30)
    assert FMT.decode(logits_for(features, marks), features, [LONG], wide) == {
        "long-1": span_text(LONG, features[2], b[4], b[8])}  # fmt: skip


@pytest.mark.parametrize(("null", "expected_empty"), [(30.0, True), (5.0, False)])
def test_no_answer_both_ways(tiny_tokenizer, null, expected_empty):
    task = TASKS["squad_v2"]
    features = FMT.preprocess([LONG], tiny_tokenizer, task, 32)
    tokens = context_tokens(features[1])
    marks = {(1, "start", tokens[0]): 6.0, (1, "end", tokens[1]): 6.0}  # best span scores 12
    marks.update({(w, side, 0): null / 2 for w in range(len(features)) for side in ("start", "end")})
    prediction = FMT.decode(logits_for(features, marks), features, [LONG], task)["long-1"]
    assert (prediction == "") == expected_empty
    # Without no-answer support (SQuAD v1.1) the span is always predicted.
    assert FMT.decode(logits_for(features, marks), features, [LONG], TASKS["squad"])["long-1"] != ""
    # The threshold moves the decision: null must beat the span by more than it.
    lenient = with_options("squad_v2", null_score_diff_threshold=100.0)
    assert FMT.decode(logits_for(features, marks), features, [LONG], lenient)["long-1"] != ""


def test_gold_keeps_all_answers_and_unanswerable():
    records = load_split(TASKS["squad_v2"], "en", "dev", FIXTURES)
    golds = FMT.gold(records, TASKS["squad_v2"])
    assert list(golds) == [r["id"] for r in records]
    assert any(len(g) == 2 for g in golds.values()) and any(g == [] for g in golds.values())
    with pytest.raises(UserError, match="occurs twice"):
        FMT.gold(records + records[:1], TASKS["squad_v2"])


# ------------------------------------------------------------------ tiny model end to end
def qa_model(model, head="task_qa"):
    FMT.add_head(model, head, TASKS["squad"])
    METHODS["full_ft"].prepare(model, head, head, None, AdapterConfig())
    return model


def mean_loss(model, features, tokenizer) -> float:
    model.eval()
    with torch.no_grad():
        return float(model(**FMT.collate(features, tokenizer)).loss)


def test_training_lowers_the_loss(tiny_model, tiny_tokenizer):
    model = qa_model(tiny_model)
    records = load_split(TASKS["squad"], "en", "train", FIXTURES)
    features = FMT.preprocess(records, tiny_tokenizer, TASKS["squad"], 64)
    before = mean_loss(model, features, tiny_tokenizer)
    schedule = TrainConfig(max_steps=30, batch_size=8, learning_rate=3e-3, warmup_ratio=0.0)
    fit(model, features, lambda f: FMT.collate(f, tiny_tokenizer), schedule, seed=0)
    after = mean_loss(model, features, tiny_tokenizer)
    assert after < 0.7 * before


@pytest.mark.parametrize(("name", "lang", "split"),
                         [("xquad", "zh", "test"), ("mlqa", "ar", "test"), ("squad_v2", "en", "dev"),
                          ("tydiqa", "sw", "dev")])  # fmt: skip
def test_predict_and_score_end_to_end(tiny_model, tiny_tokenizer, name, lang, split):
    task = TASKS[name]
    model = qa_model(tiny_model)
    records = load_split(task, lang, split, FIXTURES)
    predictions = predict(model, FMT, records, tiny_tokenizer, task, max_length=32, batch_size=4)
    assert list(predictions) == [r["id"] for r in records]  # the dataset's own ids, in file order
    assert all(isinstance(p, str) for p in predictions.values())
    for record in records:  # predicted spans come from the context
        assert predictions[record["id"]] in record["context"]
    metrics = score(task, FMT, predictions, records, lang)
    assert metrics["n"] == len(records) and metrics["missing"] == 0
    assert all(0.0 <= metrics[key] <= 100.0 for key in ("exact_match", "f1"))
    perfect = score(task, FMT, {r["id"]: (r["answers"] or [""])[0] for r in records}, records, lang)
    assert perfect["exact_match"] == 100.0


# ------------------------------------------------------------------ ../shared/data, full files
XQUAD_LANGS = "ar de el en es hi ro ru th tr vi zh".split()
MLQA_DEV = {"ar": 517, "de": 512, "en": 1148, "es": 500, "hi": 507, "vi": 511, "zh": 504}
TYDIQA_DEV = {"ar": 921, "bn": 113, "en": 440, "fi": 782, "id": 565, "ko": 276, "ru": 812, "sw": 499, "te": 669}


def check_spans(records) -> None:
    for record in records:
        for text, start in zip(record["answers"], record["answer_starts"], strict=True):
            assert record["context"][start : start + len(text)] == text


def test_shared_xquad(shared_data):
    ids = None
    for lang in XQUAD_LANGS:
        records = load_split(TASKS["xquad"], lang, "test", shared_data)
        assert len(records) == 1190 and all(r["answers"] for r in records)
        check_spans(records)
        assert ids is None or {r["id"] for r in records} == ids  # parallel: the same ids in every language
        ids = {r["id"] for r in records}
    assert default_eval_split(TASKS["xquad"], shared_data) == "test"


@pytest.mark.parametrize("lang", sorted(MLQA_DEV))
def test_shared_mlqa_dev(shared_data, lang):
    records = load_split(TASKS["mlqa"], lang, "dev", shared_data)
    assert len(records) == MLQA_DEV[lang] and len({r["id"] for r in records}) == len(records)
    check_spans(records)
    assert len(FMT.gold(records, TASKS["mlqa"])) == MLQA_DEV[lang]


def test_shared_mlqa_has_dev_only(shared_data):
    assert default_eval_split(TASKS["mlqa"], shared_data) == "dev"


def test_shared_tydiqa(shared_data):
    for lang, count in TYDIQA_DEV.items():
        records = load_split(TASKS["tydiqa"], lang, "dev", shared_data)
        assert len(records) == count
        check_spans(records)
    train = load_split(TASKS["tydiqa"], "en", "train", shared_data)
    assert len(train) == 3696 and all(r["answers"] for r in train)
    check_spans(train)
