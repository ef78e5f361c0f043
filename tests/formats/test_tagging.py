"""The `tagging` format and the tagging task family: first-sub-word labels, windows for long sentences,
decoding one tag per word, seqeval, readers in every layout, training and evaluation on tiny, and
full-file loads of ../shared/data with the exact counts of its README."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from adapter_xfer.config import AdapterConfig, TrainConfig
from adapter_xfer.data import default_eval_split, load_split
from adapter_xfer.errors import UserError
from adapter_xfer.formats import get_format
from adapter_xfer.formats.tagging import IGNORE
from adapter_xfer.methods import METHODS
from adapter_xfer.readers import READERS
from adapter_xfer.tasks import TASKS, training_task
from adapter_xfer.train import fit
from adapter_xfer.zero_shot import predict, score

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "data"
FMT = get_format("tagging")
TAGGING_TASKS = ("udpos", "panx", "ccg", "masakhaner")
# (task, language, split, sentences) of every fixture file; zh, ru, ar and am (Ge'ez) among them.
FIXTURE_SPLITS = [("udpos", "en", "train", 12), ("udpos", "en", "dev", 3), ("udpos", "en", "test", 2),
                  ("udpos", "zh", "test", 3), ("udpos", "ru", "test", 2), ("panx", "en", "train", 10),
                  ("panx", "en", "dev", 3), ("panx", "de", "dev", 2), ("panx", "ar", "dev", 2),
                  ("panx", "en", "test", 3), ("panx", "ru", "test", 3), ("ccg", "en", "train", 8),
                  ("ccg", "en", "dev", 2), ("ccg", "en", "test", 2), ("masakhaner", "am", "test", 2),
                  ("masakhaner", "sw", "dev", 2), ("masakhaner", "sw", "test", 1)]  # fmt: skip
MIXED = [["Das", "Wetter", "ist", "heute", "schön", "."], ["我们", "明天", "去", "北京", "。"],
         ["Москва", "—", "столица", "России", "."]]  # fmt: skip


def records_of(sentences, task):
    labels = task.labels
    return [{"id": i, "tokens": words, "tags": [labels[(i + j) % 5] for j in range(len(words))]}
            for i, words in enumerate(sentences)]  # fmt: skip


def first_piece_labels(word_ids, tag_ids):
    """The labels the format must produce, from `word_ids()` alone."""
    labels, previous = [], None
    for word in word_ids:
        labels.append(tag_ids[word] if word is not None and word != previous else IGNORE)
        previous = word
    return labels


def logits_choosing(features, choose, n_labels):
    """One batch of logits whose arg-max at each word's first piece is `choose(example, word)`."""
    width = max(len(f["input_ids"]) for f in features)
    logits = torch.zeros(len(features), width, n_labels)
    for row, feature in enumerate(features):
        for offset, position in enumerate(feature["word_starts"]):
            logits[row, position, choose(feature["example_index"], feature["first_word"] + offset)] = 5.0
    return [{"logits": logits}]


# ------------------------------------------------------------------ preprocessing


def test_first_subword_carries_the_label_and_matches_word_ids(tiny_tokenizer):
    task = TASKS["udpos"]
    records = records_of(MIXED, task)
    features = FMT.preprocess(records, tiny_tokenizer, task, 128)
    assert [f["example_index"] for f in features] == [0, 1, 2]  # short sentences: one window each
    for record, feature in zip(records, features, strict=True):
        encoded = tiny_tokenizer(record["tokens"], is_split_into_words=True)
        word_ids = encoded.word_ids()
        assert len(word_ids) > len(record["tokens"]) + 2  # some words really split into several pieces
        tag_ids = [task.labels.index(t) for t in record["tags"]]
        assert feature["input_ids"] == encoded["input_ids"]
        assert feature["labels"] == first_piece_labels(word_ids, tag_ids)
        assert feature["labels"][0] == feature["labels"][-1] == IGNORE  # special tokens
        assert [word_ids[p] for p in feature["word_starts"]] == list(range(len(record["tokens"])))


def test_long_sentences_become_windows_of_whole_words(tiny_tokenizer):
    task = TASKS["panx"]
    words = ("Angela Merkel besuchte gestern das neue Museum in München und sprach mit Studenten "
             "über Europa , Wissenschaft und die Zukunft der Städte 北京 Москва").split() * 3  # fmt: skip
    records = [{"id": 7, "tokens": words, "tags": [task.labels[i % 7] for i in range(len(words))]}]
    features = FMT.preprocess(records, tiny_tokenizer, task, 16)
    assert len(features) > 3 and all(len(f["input_ids"]) <= 16 for f in features)
    covered = [f["first_word"] + k for f in features for k in range(len(f["word_starts"]))]
    assert covered == list(range(len(words)))  # each word in exactly one window, in order
    for feature in features:  # each window labels its words' first pieces with their own tags
        labelled = [label for label in feature["labels"] if label != IGNORE]
        first = feature["first_word"]
        expected = [i % 7 for i in range(first, first + len(feature["word_starts"]))]
        assert labelled == expected


def test_words_without_pieces_become_the_unknown_token(tiny_tokenizer):
    task = TASKS["udpos"]
    record = {"id": 0, "tokens": ["a", "", "b", " "], "tags": ["DET", "X", "NOUN", "PUNCT"]}
    assert tiny_tokenizer(record["tokens"], is_split_into_words=True).word_ids().count(1) == 0  # premise
    (feature,) = FMT.preprocess([record], tiny_tokenizer, task, 32)
    assert len(feature["word_starts"]) == 4
    assert [feature["input_ids"][p] for p in feature["word_starts"][1::2]] == [tiny_tokenizer.unk_token_id] * 2


def test_unknown_tags_are_errors_or_go_to_the_bucket(tiny_tokenizer):
    record = {"id": 3, "tokens": ["Birds", "sing"], "tags": ["NOUN", "FOO"]}
    with pytest.raises(UserError, match="example 3: tag 'FOO'"):
        FMT.preprocess([record], tiny_tokenizer, TASKS["udpos"], 32)
    with pytest.raises(UserError, match="1 tags for 2 words"):
        FMT.preprocess([{**record, "tags": ["NOUN"]}], tiny_tokenizer, TASKS["udpos"], 32)
    ccg = TASKS["ccg"]
    (feature,) = FMT.preprocess([{**record, "tags": ["N", "(N/N)/(S[q]/PP)"]}], tiny_tokenizer, ccg, 32)
    labelled = [label for label in feature["labels"] if label != IGNORE]
    assert labelled == [ccg.labels.index("N"), ccg.labels.index("<unk>")]


def test_collate_pads_labels_and_returns_only_model_inputs(tiny_tokenizer):
    task = TASKS["udpos"]
    features = FMT.preprocess(records_of(MIXED, task), tiny_tokenizer, task, 128)
    batch = FMT.collate(features, tiny_tokenizer)
    assert set(batch) == {"input_ids", "attention_mask", "labels"}
    short = min(range(3), key=lambda i: len(features[i]["input_ids"]))
    length = len(features[short]["input_ids"])
    assert (batch["labels"][short, length:] == IGNORE).all() and (batch["attention_mask"][short, length:] == 0).all()
    assert batch["labels"][short, :length].tolist() == features[short]["labels"]


# ------------------------------------------------------------------ decoding and scoring


def test_decode_gives_one_tag_per_word_including_split_sentences(tiny_tokenizer):
    task = TASKS["udpos"]
    long = ("the museum opens at nine and the old train arrives late again " * 6).split()
    records = [*records_of(MIXED, task), {"id": "long", "tokens": long, "tags": ["X"] * len(long)}]
    features = FMT.preprocess(records, tiny_tokenizer, task, 12)
    assert sum(f["example_index"] == 3 for f in features) > 2

    def choose(example, word):
        return (example + 3 * word) % len(task.labels)

    predictions = FMT.decode(logits_choosing(features, choose, len(task.labels)), features, records, task)
    assert list(predictions) == [0, 1, 2, "long"]
    for index, record in enumerate(records):
        expected = [task.labels[choose(index, w)] for w in range(len(record["tokens"]))]
        assert predictions[record["id"]] == expected


def test_seqeval_round_trip_and_a_wrong_entity(tiny_tokenizer):
    task = TASKS["panx"]
    records = load_split(task, "en", "dev", FIXTURES)
    gold = FMT.gold(records, task)
    assert score(task, FMT, gold, records, "en")["f1"] == 100.0
    wrong = {**gold, 0: ["O"] * len(gold[0])}  # misses the two entities of sentence 0 (Berlin, Germany)
    metrics = score(task, FMT, wrong, records, "en")
    assert metrics["f1"] < 100.0 and metrics["recall"] == pytest.approx(100 * 3 / 5)
    assert metrics["accuracy"] == pytest.approx(100 * (16 - 2) / 16)


# ------------------------------------------------------------------ readers and layouts


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("name", "lang", "split", "count"), FIXTURE_SPLITS)
def test_fixture_files_load_with_valid_tags(name, lang, split, count):
    task = TASKS[name]
    records = load_split(task, lang, split, FIXTURES)
    assert len(records) == count and [r["id"] for r in records] == list(range(count))
    for record in records:
        assert len(record["tokens"]) == len(record["tags"]) > 0
        assert set(record["tags"]) <= set(task.labels) or task.options.get("unknown_tag")


def test_every_task_has_english_training_data_and_a_non_english_evaluation():
    for name in TAGGING_TASKS:
        trainer = training_task(TASKS[name])
        assert load_split(trainer, "en", "train", FIXTURES) and load_split(trainer, "en", "dev", FIXTURES)
    for name in ("udpos", "panx", "masakhaner"):
        assert any(lang != "en" for task, lang, _, _ in FIXTURE_SPLITS if task == name)


def test_conllu_reader_skips_multiword_ranges_and_empty_nodes(tmp_path):
    (tmp_path / "ud_conllu").symlink_to(FIXTURES / "ud_conllu")  # a data_dir with only the CoNLL-U layout
    german = load_split(TASKS["udpos"], "de", "test", tmp_path)
    assert german[0] == {"id": 0, "tokens": ["Wir", "gehen", "zu", "dem", "Bahnhof", "."],
                         "tags": ["PRON", "VERB", "ADP", "DET", "NOUN", "PUNCT"]}  # fmt: skip
    english = load_split(TASKS["udpos"], "en", "dev", tmp_path)
    assert english[0]["tokens"] == ["I", "like", "tea", "and", "you", "coffee", "."]  # no empty node 5.1
    assert load_split(TASKS["udpos"], "zh", "test", tmp_path)[0]["tokens"] == ["我们", "去", "北京", "。"]


def test_wikiann_and_masakhaner_layouts():
    russian = load_split(TASKS["panx"], "ru", "test", FIXTURES)
    assert russian[0] == {"id": 0, "tokens": ["Лев", "Толстой"], "tags": ["B-PER", "I-PER"]}
    amharic = load_split(TASKS["masakhaner"], "am", "test", FIXTURES)
    assert amharic[1]["tags"] == ["B-LOC", "B-DATE", "O", "O"]
    assert default_eval_split(TASKS["panx"], FIXTURES) == "test"  # the labelled WikiANN test
    assert default_eval_split(TASKS["udpos"], FIXTURES) == "test"  # ../shared/data's labelled copy


def test_xtreme_published_layout_has_unlabelled_test(tmp_path):
    write(tmp_path / "panx" / "test-de.tsv", "Angela\nMerkel\n\nBerlin\n")
    write(tmp_path / "panx" / "dev-de.tsv", "Angela\tB-PER\nMerkel\tI-PER\n\nBerlin\tB-LOC\n")
    assert default_eval_split(TASKS["panx"], tmp_path) == "dev"
    rows = [row for _, row in READERS["tagged_tsv"](tmp_path / "panx" / "test-de.tsv")]
    assert rows == [{"tokens": ["Angela", "Merkel"]}, {"tokens": ["Berlin"]}]
    assert load_split(TASKS["panx"], "de", "dev", tmp_path)[1] == {"id": 1, "tokens": ["Berlin"], "tags": ["B-LOC"]}


@pytest.mark.parametrize(
    ("reader", "content", "fragment"),
    [("tagged_tsv", "a\tDET\nb\tNOUN\tX\n", "bad.txt:2: expected 'word<TAB>tag'"),
     ("tagged_tsv", "a\tDET\nb\n", "bad.txt:1: sentence has tagged and untagged words"),
     ("indexed_tsv", "0\ta\tO\nx\tb\tO\n", "bad.txt:2: expected 'index<TAB>word<TAB>tag'"),
     ("tagged_space", "a O\nb\n", "bad.txt:2: expected 'word tag'"),
     ("conllu", "1\ta\ta\tDET\n", "bad.txt:1: expected 10 tab-separated CoNLL-U fields")],
)  # fmt: skip
def test_malformed_lines_name_file_and_line(tmp_path, reader, content, fragment):
    path = write(tmp_path / "bad.txt", content)
    with pytest.raises(UserError, match=fragment):
        list(READERS[reader](path))


def test_ccg_has_no_hub_source():
    with pytest.raises(UserError, match=r"task 'ccg' has no Hugging Face Hub source .*local files only"):
        load_split(TASKS["ccg"], "en", "train", None)


def test_hub_configs_and_columns():
    udpos, panx = TASKS["udpos"], TASKS["panx"]
    assert udpos.hub.config.format(lang=udpos.hub.codes["de"]) == "udpos.German"
    assert len(udpos.hub.codes) == 33 and len(udpos.languages) == 38 and len(panx.languages) == 48
    assert {"lt", "pl", "ro", "uk", "wo"} <= set(udpos.languages) and {"az", "gu", "pa", "qu"} <= set(panx.languages)
    assert udpos.hub.columns == {"tokens": "tokens", "tags": "pos_tags"} and panx.hub.columns["tags"] == "ner_tags"
    assert TASKS["masakhaner"].labels[:7] == panx.labels  # a PAN-X head's outputs mean the same tags


def test_hub_class_label_sequences_become_tag_names(monkeypatch):
    import datasets

    names = list(TASKS["panx"].labels)
    hub = datasets.Dataset.from_dict(
        {"tokens": [["Angela", "Merkel"]], "ner_tags": [[1, 2]]},
        features=datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                                    "ner_tags": datasets.Sequence(datasets.ClassLabel(names=names))}),
    )  # fmt: skip
    monkeypatch.setattr(datasets, "load_dataset", lambda path, config, split: hub)
    assert load_split(TASKS["panx"], "de", "dev", None)[0]["tags"] == ["B-PER", "I-PER"]


def test_conllu_layout_serves_languages_missing_from_the_tsv_layout(tmp_path):
    (tmp_path / "udpos_xtreme").symlink_to(FIXTURES / "udpos_xtreme")
    (tmp_path / "ud_conllu").symlink_to(FIXTURES / "ud_conllu")
    assert load_split(TASKS["udpos"], "de", "test", tmp_path)[1]["tokens"][0] == "Das"


# ------------------------------------------------------------------ training and evaluation on tiny


def test_tiny_fit_lowers_the_loss_then_predict_and_score(tiny_model, tiny_tokenizer):
    task = TASKS["panx"]
    train = load_split(task, "en", "train", FIXTURES)
    features = FMT.preprocess(train, tiny_tokenizer, task, 64)
    FMT.add_head(tiny_model, "task_panx", task)
    METHODS["full_ft"].prepare(tiny_model, "task_panx", "task_panx", None, AdapterConfig())

    def loss() -> float:
        tiny_model.eval()
        with torch.no_grad():
            return float(tiny_model(**FMT.collate(features, tiny_tokenizer)).loss)

    before = loss()
    schedule = TrainConfig(max_steps=30, batch_size=4, learning_rate=3e-3, warmup_ratio=0.0)
    fit(tiny_model, features, lambda f: FMT.collate(f, tiny_tokenizer), schedule, seed=0)
    assert loss() < 0.5 * before
    for lang in ("en", "ar"):
        records = load_split(task, lang, "dev", FIXTURES)
        predictions = predict(tiny_model, FMT, records, tiny_tokenizer, task, max_length=12, batch_size=2)
        assert list(predictions) == [r["id"] for r in records]
        assert all(len(predictions[r["id"]]) == len(r["tokens"]) for r in records)  # also for split sentences
        assert all(set(tags) <= set(task.labels) for tags in predictions.values())
        metrics = score(task, FMT, predictions, records, lang)
        assert metrics["n"] == len(records) and metrics["missing"] == 0 and 0 <= metrics["f1"] <= 100
    english = load_split(task, "en", "train", FIXTURES)
    fitted = predict(tiny_model, FMT, english, tiny_tokenizer, task, max_length=64, batch_size=4)
    assert score(task, FMT, fitted, english, "en")["accuracy"] > 80  # it learned its training sentences


def test_masakhaner_is_decoded_with_a_panx_head(tiny_model, tiny_tokenizer):
    target = TASKS["masakhaner"]
    FMT.add_head(tiny_model, "task_panx", training_task(target))
    records = load_split(target, "sw", "dev", FIXTURES)
    predictions = predict(tiny_model, FMT, records, tiny_tokenizer, target, max_length=32, batch_size=4)
    assert all(set(tags) <= set(TASKS["panx"].labels) for tags in predictions.values())
    assert score(target, FMT, predictions, records, "sw")["n"] == 2


# ------------------------------------------------------------------ full files of ../shared/data

UDPOS_COUNTS = {("en", "train"): 21787, ("en", "dev"): 3974, ("en", "test"): 5440, ("ru", "test"): 8973,
                ("mr", "test"): 47, ("tl", "test"): 222, ("yo", "test"): 318}  # fmt: skip
PANX_DEV = {**dict.fromkeys("ar de en es et eu fi fr he id ko ru tr vi zh".split(), 10000),
            **dict.fromkeys("af bn hi kk ml mr sw ta te tl ur".split(), 1000),
            **dict.fromkeys("jv my qu yo".split(), 100)}  # fmt: skip
UD_CONLLU = {("en", "dev"): 2001, ("en", "test"): 2077, ("de", "dev"): 799, ("de", "test"): 977,
             ("zh", "dev"): 500, ("zh", "test"): 500, ("fi", "dev"): 1364, ("fi", "test"): 1555,
             ("tr", "dev"): 1100, ("tr", "test"): 1100}  # fmt: skip
MASAKHANER = {"am": (250, 500), "ha": (276, 552), "ig": (320, 638), "rw": (302, 605), "lg": (200, 407),
              "luo": (92, 186), "pcm": (306, 600), "sw": (300, 604), "wo": (267, 539), "yo": (305, 645)}  # fmt: skip


def assert_valid(records, task, count):
    assert len(records) == count
    for record in records:
        assert len(record["tokens"]) == len(record["tags"]) > 0 and set(record["tags"]) <= set(task.labels)


def test_shared_udpos_xtreme_full_files(shared_data):
    for (lang, split), count in UDPOS_COUNTS.items():
        assert_valid(load_split(TASKS["udpos"], lang, split, shared_data), TASKS["udpos"], count)


def test_shared_panx_and_wikiann_full_files(shared_data):
    panx = TASKS["panx"]
    assert_valid(load_split(panx, "en", "train", shared_data), panx, 20000)
    for lang, count in PANX_DEV.items():
        assert_valid(load_split(panx, lang, "dev", shared_data), panx, count)
    for lang in ("de", "en", "es", "nl", "pl", "ru"):
        assert_valid(load_split(panx, lang, "test", shared_data), panx, 10000)


def test_shared_ud_conllu_full_files(shared_data, tmp_path):
    (tmp_path / "ud_conllu").symlink_to(shared_data / "ud_conllu")
    for (lang, split), count in UD_CONLLU.items():
        assert_valid(load_split(TASKS["udpos"], lang, split, tmp_path), TASKS["udpos"], count)


def test_shared_masakhaner_full_files(shared_data):
    task = TASKS["masakhaner"]
    for lang, (dev, test) in MASAKHANER.items():
        assert_valid(load_split(task, lang, "dev", shared_data), task, dev)
        assert_valid(load_split(task, lang, "test", shared_data), task, test)


def test_udpos_tokens_fit_in_xtreme_windows(shared_data, tiny_tokenizer):
    """A real file through preprocess + decode: every word of every sentence gets exactly one tag."""
    task = TASKS["udpos"]
    records = load_split(task, "ta", "test", shared_data)
    features = FMT.preprocess(records, tiny_tokenizer, task, 32)
    predictions = FMT.decode(logits_choosing(features, lambda e, w: 0, len(task.labels)), features, records, task)
    assert [len(p) for p in predictions.values()] == [len(r["tokens"]) for r in records]
    assert len(features) > len(records)  # some sentences needed several windows


def test_options_are_read_from_the_task_entry(tiny_tokenizer):
    task = dataclasses.replace(TASKS["ccg"], options={"unknown_tag": "NOT-A-LABEL"})
    with pytest.raises(UserError, match="unknown_tag 'NOT-A-LABEL' is not one of its labels"):
        FMT.preprocess([{"id": 0, "tokens": ["a"], "tags": ["zzz"]}], tiny_tokenizer, task, 16)
