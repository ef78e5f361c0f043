"""Loading splits: local layouts and the Hub through one code path; full files in ../shared/data."""

from __future__ import annotations

import pytest

from adapter_xfer.data import default_eval_split, load_raw_text, load_split
from adapter_xfer.errors import UserError
from adapter_xfer.tasks import TASKS


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_xtreme_pair_tsv_positions_and_labels(tmp_path):
    write(tmp_path / "xnli" / "dev-zh.tsv", "他来了。\t有人来了。\tentailment\n她走了。\t他来了。\tneutral\n")
    records = load_split(TASKS["xnli"], "zh", "dev", tmp_path)
    assert records == [
        {"id": 0, "text_a": "他来了。", "text_b": "有人来了。", "label": "entailment"},
        {"id": 1, "text_a": "她走了。", "text_b": "他来了。", "label": "neutral"},
    ]


def test_glue_mnli_header_layout(tmp_path):
    write(tmp_path / "MNLI" / "train.tsv", "index\tsentence1\tsentence2\tgold_label\n0\tA b.\tC d.\tcontradiction\n")
    assert load_split(TASKS["mnli"], "en", "train", tmp_path)[0]["label"] == "contradiction"


def test_label_codes_are_mapped(tmp_path):
    write(tmp_path / "nli_en_subsets" / "mnli.tsv", "2\tA man sleeps .\tA man runs .\n")
    assert load_split(TASKS["mnli"], "en", "dev", tmp_path)[0]["label"] == "contradiction"


@pytest.mark.parametrize(
    ("content", "fragment"),
    [("a\tb\tmaybe\n", "dev-de.tsv:1: label 'maybe'"), ("a\tb\n", "dev-de.tsv:1: missing column '2'")],
)
def test_bad_rows_name_file_and_line(tmp_path, content, fragment):
    write(tmp_path / "pawsx" / "dev-de.tsv", content)
    with pytest.raises(UserError, match=fragment):
        load_split(TASKS["pawsx"], "de", "dev", tmp_path)


def test_missing_file_and_unknown_language(tmp_path):
    (tmp_path / "pawsx").mkdir()
    with pytest.raises(UserError, match="data file not found"):
        load_split(TASKS["pawsx"], "de", "dev", tmp_path)
    with pytest.raises(UserError, match="no language 'sw'"):
        load_split(TASKS["pawsx"], "sw", "dev", tmp_path)


def test_hub_and_local_give_identical_records(tmp_path, monkeypatch):
    """The Hub path maps columns and class labels exactly as the local path does."""
    import datasets

    write(tmp_path / "pawsx" / "dev-de.tsv", "Ein Satz.\tEin anderer Satz.\t1\nZwei.\tDrei.\t0\n")
    hub = datasets.Dataset.from_dict(
        {"id": [7, 8], "sentence1": ["Ein Satz.", "Zwei."], "sentence2": ["Ein anderer Satz.", "Drei."],
         "label": [1, 0]},
        features=datasets.Features({"id": datasets.Value("int32"), "sentence1": datasets.Value("string"),
                                    "sentence2": datasets.Value("string"),
                                    "label": datasets.ClassLabel(names=["0", "1"])}),
    )  # fmt: skip
    calls = []

    def fake_load_dataset(path, config, split):
        calls.append((path, config, split))
        return hub

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    assert load_split(TASKS["pawsx"], "de", "dev", None) == load_split(TASKS["pawsx"], "de", "dev", tmp_path)
    assert calls == [("google-research-datasets/paws-x", "de", "validation")]


def test_hub_unreachable_is_a_user_error():
    with pytest.raises(UserError, match="set data_dir"):
        load_split(TASKS["xnli"], "de", "test", None)


def test_default_eval_split():
    assert default_eval_split(TASKS["xnli"], None) == "test"
    assert default_eval_split(TASKS["mnli"], None) == "dev"


def test_raw_text(tmp_path):
    write(tmp_path / "raw_text" / "de.txt", "Erste Zeile.\n\n  Zweite Zeile. \n")
    assert load_raw_text("de", tmp_path) == ["Erste Zeile.", "Zweite Zeile."]
    with pytest.raises(UserError, match="raw text for language 'fr' not found"):
        load_raw_text("fr", tmp_path)


# Full files from ../shared/data: exact example counts (skips cleanly when absent).
XNLI_LANGS = "ar bg de el en es fr hi ru sw th tr ur vi zh".split()


@pytest.mark.parametrize("lang", XNLI_LANGS)
def test_shared_xnli_dev(shared_data, lang):
    records = load_split(TASKS["xnli"], lang, "dev", shared_data)
    assert len(records) == 2490
    assert {r["label"] for r in records} == set(TASKS["xnli"].labels)


@pytest.mark.parametrize("lang", "de en es fr ja ko zh".split())
def test_shared_pawsx_dev(shared_data, lang):
    records = load_split(TASKS["pawsx"], lang, "dev", shared_data)
    assert len(records) == 2000
    assert {r["label"] for r in records} == {"0", "1"}


def test_shared_mnli_subset(shared_data):
    records = load_split(TASKS["mnli"], "en", "dev", shared_data)
    assert len(records) == 1000
    assert records[0]["text_a"] and set(r["label"] for r in records) == set(TASKS["mnli"].labels)


def test_hub_rows_of_one_language_from_a_shared_config(monkeypatch):
    """TyDiQA on the Hub is one config for all languages: rows are filtered by their id prefix."""
    import datasets

    rows = {"id": ["english-1", "arabic-2", "english-3"], "context": ["c a", "c b", "c c"],
            "question": ["q?", "q?", "q?"],
            "answers": [{"text": ["a"], "answer_start": [2]}, {"text": ["b"], "answer_start": [2]},
                        {"text": ["c"], "answer_start": [2]}]}  # fmt: skip
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: datasets.Dataset.from_dict(rows))
    records = load_split(TASKS["tydiqa"], "en", "dev", None)
    assert [r["id"] for r in records] == ["english-1", "english-3"]
    assert records[1]["answers"] == ["c"]
