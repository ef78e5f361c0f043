"""Composing adapters at inference: sources (Hub cache, exports, run folders), `predict`, `load_pipeline`.

Adapters are perturbed before saving (see `compose_helpers`), so a swapped or ignored adapter shows.
"""

from __future__ import annotations

import io
import json
import re
import shutil
from pathlib import Path

import pytest
import torch
from adapters.composition import Fuse, Stack

from adapter_xfer.adapter_sources import base_model_warning, load_entry, resolve_sources
from adapter_xfer.artifacts import write_meta
from adapter_xfer.cli import main
from adapter_xfer.data import load_split
from adapter_xfer.errors import UserError
from adapter_xfer.formats import get_format
from adapter_xfer.io_utils import atomic_write_json, atomic_write_jsonl, read_jsonl
from adapter_xfer.modeling import base_identity, load_model
from adapter_xfer.pipeline import check_records, load_backbone, load_pipeline
from adapter_xfer.results import read_results
from adapter_xfer.serving import Server
from adapter_xfer.setup_spec import parse_setup
from adapter_xfer.tasks import get_task
from adapter_xfer.zero_shot import predict
from tests.compose_helpers import build_exports, perturb
from tests.test_task_matrix import FIXTURES, eval_language

FAST = ["train.max_steps=4", "train.batch_size=8", "train.eval_steps=2", "train.max_seq_length=48",
        "lang_adapters.max_steps=6", "lang_adapters.max_seq_length=48", "lang_adapters.heldout_lines=8",
        "eval.languages=en,de", "eval.split=test", "eval.max_examples=24"]  # fmt: skip


def train(root: Path, name: str, experiment: str, data_dir) -> Path:
    """Train `experiment` (YAML text) on tiny into `root/name`, with the cache shared by this module."""
    (root / f"{name}.yaml").write_text(experiment)
    args = ["method=adapter", f"data_dir={data_dir}", f"output_dir={root / name}", f"cache_dir={root / 'cache'}"]
    assert main(["train", str(root / f"{name}.yaml"), *args, *FAST]) == 0
    return root / name


@pytest.fixture(scope="module")
def run_dir(demo_data, tmp_path_factory):
    """A tiny PAWS-X adapter run (language adapters en, de) evaluated on 24 test pairs per language."""
    return train(tmp_path_factory.mktemp("compose_run"), "run", "task: pawsx\n", demo_data)


@pytest.fixture(scope="module")
def stack_run(run_dir, demo_data):
    """A tiny `adapter.chain=stack` run, Stack(lang, task_mnli, task_pawsx), reusing run_dir's language adapters."""
    return train(run_dir.parent, "stack", "task: pawsx\nintermediate: [mnli]\nadapter:\n  chain: stack\n", demo_data)


@pytest.fixture(scope="module")
def panx(tiny_checkpoint, tmp_path_factory):
    root = tmp_path_factory.mktemp("panx_exports")
    return root, build_exports(tiny_checkpoint, root, "panx")


def test_predict_then_score_reproduces_the_run(run_dir, demo_data, tmp_path, capsys, monkeypatch):
    records = load_split(get_task("pawsx"), "de", "test", demo_data, 24)
    atomic_write_jsonl(tmp_path / "in.jsonl", [{"text_a": r["text_a"], "text_b": r["text_b"]} for r in records])
    out = tmp_path / "pred.jsonl"
    assert main(["predict", "--model", "tiny", "--setup", "lang=de task=pawsx", "--adapters", str(run_dir),
                 "--input", str(tmp_path / "in.jsonl"), "--output", str(out), "--batch-size", "5"]) == 0  # fmt: skip
    assert read_jsonl(out) == read_jsonl(run_dir / "predictions" / "pawsx.de.test.jsonl")
    capsys.readouterr()
    monkeypatch.setattr("sys.stdin", io.StringIO(out.read_text()))  # predict | score
    assert main(["score", "pawsx", "--lang", "de", "--split", "test", "--data-dir", str(demo_data),
                 "--predictions", "-", "--max-examples", "24"]) == 0  # fmt: skip
    scored = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert scored["accuracy"] == read_results(run_dir)["per_language"]["de"]["accuracy"]


def _predict_run(run, setup: str, records, out) -> int:
    return main(["predict", "--model", "tiny", "--setup", setup, "--adapters", str(run), "--input", str(records),
                 "--output", str(out), "--batch-size", "5"])  # fmt: skip


def test_a_stacked_chain_run_predicts_only_with_its_own_composition(stack_run, demo_data, tmp_path, capsys):
    """The shorthand would drop task_mnli from under the head; predict refuses it and names the setup to use."""
    records = load_split(get_task("pawsx"), "de", "test", demo_data, 24)
    atomic_write_jsonl(tmp_path / "in.jsonl", [{"text_a": r["text_a"], "text_b": r["text_b"]} for r in records])
    capsys.readouterr()
    assert _predict_run(stack_run, "lang=de task=pawsx", tmp_path / "in.jsonl", tmp_path / "x.jsonl") == 2
    err = capsys.readouterr().err
    recorded = "{stack: [lang_de, task_mnli, task_pawsx], head: task_pawsx}"
    assert err.count("\n") == 1 and recorded in err and not (tmp_path / "x.jsonl").exists()
    (tmp_path / "setup.yaml").write_text(recorded + "\n")  # what the message says to pass
    assert _predict_run(stack_run, str(tmp_path / "setup.yaml"), tmp_path / "in.jsonl", tmp_path / "pred.jsonl") == 0
    expected = read_jsonl(stack_run / "predictions" / "pawsx.de.test.jsonl")
    assert read_jsonl(tmp_path / "pred.jsonl") == expected
    app = Server(load_backbone("tiny", [str(stack_run)]))  # serve composes the head as the run did, unasked
    try:
        answer = app.submit({"task": "pawsx", "lang": "de", "inputs": read_jsonl(tmp_path / "in.jsonl")})
        assert answer.result(timeout=60) == {row["id"]: row["prediction"] for row in expected}
    finally:
        app.close()


def test_pretrained_language_adapter_from_a_run_folder(run_dir, tiny_checkpoint):
    """`lang_adapters.pretrained` resolves like every source: a run folder offers its language adapters."""
    from safetensors.torch import load_file

    from adapter_xfer.artifacts import load_pretrained_lang_adapter

    model = load_model(tiny_checkpoint)
    load_pretrained_lang_adapter(model, str(run_dir), "lang_de", base_identity(model, "tiny"))
    stage = next(s for s in read_results(run_dir)["stages"] if s["kind"] == "lang" and s["language"] == "de")
    saved = load_file(f"{stage['path']}/lang_de/adapter.safetensors")
    state = model.state_dict()
    assert saved and all(state[k].equal(v) for k, v in saved.items())
    with pytest.raises(UserError, match="unknown adapter 'lang_sw'"):
        load_pretrained_lang_adapter(model, str(run_dir), "lang_sw", base_identity(model, "tiny"))


def _reference(checkpoint, folders, lang, task, records):
    """Predictions from adapters loaded by hand (the path `predict` must agree with)."""
    model = load_model(checkpoint)
    for name in (f"lang_{lang}", f"task_{task.name}"):
        model.load_adapter(str(folders[name]), load_as=name, with_head=name.startswith("task_"), use_safetensors=True)
    model.set_active_adapters(Stack(f"lang_{lang}", f"task_{task.name}"))
    model.active_head = f"task_{task.name}"
    return predict(model, get_format(task.format), records, _tokenizer(checkpoint), task, 64, 8)


def _tokenizer(checkpoint):
    from adapter_xfer.modeling import load_tokenizer

    return load_tokenizer(checkpoint)


@pytest.mark.parametrize("task_name", ["xnli", "udpos", "xquad", "xcopa"])
def test_predict_every_format_from_exports(task_name, tiny_checkpoint, tmp_path, capsys):
    task = get_task(task_name)
    lang, split = eval_language(task)
    folders = build_exports(tiny_checkpoint, tmp_path / "exports", task.name, langs=(lang,))
    records = load_split(task, lang, split, FIXTURES)
    atomic_write_jsonl(tmp_path / "in.jsonl", records)
    out = tmp_path / "pred.jsonl"
    assert main(["predict", "--model", "tiny", "--setup", f"lang={lang} task={task.name}", "--adapters",
                 str(tmp_path / "exports"), "--input", str(tmp_path / "in.jsonl"), "--output", str(out),
                 "--max-length", "64", "--batch-size", "3"]) == 0  # fmt: skip
    predicted = {row["id"]: row["prediction"] for row in read_jsonl(out)}
    assert predicted == _reference(tiny_checkpoint, folders, lang, task, records)
    capsys.readouterr()
    assert main(["score", task.name, "--lang", lang, "--split", split, "--data-dir", str(FIXTURES),
                 "--predictions", str(out)]) == 0  # fmt: skip


def _hub_cache(root, repo_id: str, folder) -> None:
    """`folder` placed in huggingface_hub's cache layout as the `main` revision of `repo_id`."""
    revision = "0123456789abcdef0123456789abcdef01234567"
    repo = root / f"models--{repo_id.replace('/', '--')}"
    shutil.copytree(folder, repo / "snapshots" / revision)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)


def test_hub_language_adapter_from_the_cache_equals_the_folder(panx, tiny_checkpoint, tmp_path, monkeypatch):
    root, folders = panx
    hub_like = tmp_path / "hub_like"  # AdapterHub repositories carry no adapter_xfer.json
    shutil.copytree(folders["lang_de"], hub_like)
    (hub_like / "adapter_xfer.json").unlink()
    repo_id = "AdapterHub/xlm-roberta-base-de-wiki_pfeiffer"
    _hub_cache(tmp_path / "hf" / "hub", repo_id, hub_like)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    assert resolve_sources([repo_id]).get("lang_de").path.name == "0123456789abcdef0123456789abcdef01234567"
    sentences = ["Das Wetter ist heute schön .", "Москва — столица России ."]
    from_hub = load_pipeline("tiny", "lang=de task=panx", adapters=[repo_id, str(folders["task_panx"])])
    from_folder = load_pipeline("tiny", "lang=de task=panx", adapters=[f"lang_de={hub_like}", str(root / "task")])
    assert from_hub(sentences) == from_folder(sentences)
    assert from_hub(sentences) != load_pipeline("tiny", "lang=zh task=panx", adapters=[str(root)])(sentences)
    with pytest.raises(UserError, match="not in the local Hub cache"):
        resolve_sources(["AdapterHub/xlm-roberta-base-xx-wiki_pfeiffer"])


def test_base_model_mismatch_is_a_one_line_user_error(panx, tmp_path, capsys):
    _, folders = panx
    foreign = tmp_path / "task_panx"
    shutil.copytree(folders["task_panx"], foreign)
    meta = json.loads((foreign / "adapter_xfer.json").read_text())
    meta["base_model"]["weights_hash"] = "0" * 16
    atomic_write_json(foreign / "adapter_xfer.json", meta)
    atomic_write_jsonl(tmp_path / "in.jsonl", [{"tokens": ["Hallo", "Welt"]}])
    code = main(["predict", "--model", "tiny", "--setup", "lang=de task=panx", "--adapters", str(folders["lang_de"]),
                 str(foreign), "--input", str(tmp_path / "in.jsonl")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "was trained on base model" in err


def test_changing_lang_swaps_only_the_language_adapter(panx):
    root, _ = panx
    pipe = load_pipeline("tiny", {"stack": ["lang_{lang}", "task_panx"]}, adapters=[str(root)])
    model = pipe.backbone.model
    task_weights = {k: v.clone() for k, v in model.state_dict().items() if "task_panx" in k}
    sentences = [["Das", "Wetter", "ist", "schön", "."], ["我们", "明天", "去", "北京", "。"]]
    batch = pipe.backbone.tokenizer(sentences, is_split_into_words=True, padding=True, return_tensors="pt")
    logits = {}
    for lang in ("de", "zh"):
        tags = pipe(sentences, lang=lang)
        assert model.active_adapters == Stack(f"lang_{lang}", "task_panx") and model.active_head == "task_panx"
        assert all(len(t) == 5 for t in tags)
        with torch.no_grad():
            logits[lang] = model(**batch).logits
    assert not torch.allclose(logits["de"], logits["zh"], atol=1e-2)  # the language adapter matters
    assert all(model.state_dict()[k].equal(v) for k, v in task_weights.items())
    assert pipe(tuple(sentences[0]), lang="de") == pipe(sentences, lang="de")[0]  # a tuple is one sentence


def test_lora_task_adapter_is_merged_and_matches_unmerged(tiny_checkpoint, tmp_path):
    from adapters.methods.lora import LoRALayer

    build_exports(tiny_checkpoint, tmp_path, "xnli", langs=("de",), task_config="lora")
    merged = load_pipeline("tiny", "lang=de task=xnli", adapters=[str(tmp_path)], merge_lora=True)
    plain = load_pipeline("tiny", "lang=de task=xnli", adapters=[str(tmp_path)], merge_lora=False)
    batch = merged.backbone.tokenizer(["Ein Satz.", "Noch ein Satz hier."], ["Zwei.", "Drei vier."],
                                      padding=True, return_tensors="pt")  # fmt: skip
    logits = []
    for pipe in (merged, plain):
        pipe.activate()
        pipe.backbone.model.eval()
        with torch.no_grad():
            logits.append(pipe.backbone.model(**batch).logits)
    layers = [m for m in merged.backbone.model.modules() if isinstance(m, LoRALayer) and "task_xnli" in m.loras]
    assert layers and all(m.merged == "task_xnli" for m in layers)
    assert not any(m.merged for m in plain.backbone.model.modules() if isinstance(m, LoRALayer))
    assert torch.allclose(logits[0], logits[1], atol=1e-5)
    plain.backbone.model.set_active_adapters(Stack("lang_de"))
    with torch.no_grad():
        assert not torch.allclose(plain.backbone.model(**batch).logits, logits[1], atol=1e-3)  # LoRA mattered


def test_setup_specs():
    assert parse_setup("lang=sw task=panx").compose() == Stack("lang_sw", "task_panx")
    spec = parse_setup({"stack": ["lang_{lang}", {"fuse": ["task_mnli", "task_qqp"]}, "task_pawsx"]})
    assert spec.compose("de") == Stack("lang_de", Fuse("task_mnli", "task_qqp"), "task_pawsx")
    assert spec.head == "task_pawsx" and spec.names("de")[-2] == "task_mnli,task_qqp"
    with pytest.raises(UserError, match="must come first"):
        parse_setup({"stack": ["task_pawsx", "lang_de"]})
    with pytest.raises(UserError, match="names no task"):
        parse_setup("lang=sw")


def test_fusion_run_folder(tiny_checkpoint, tmp_path):
    """A fusion run's artifacts (setup.json with a Fuse entry, head in heads/) load by run folder."""
    torch.manual_seed(0)
    model, task = load_model(tiny_checkpoint), get_task("pawsx")
    identity, art = base_identity(model, "tiny"), tmp_path / "run" / "artifacts"
    for number, name in enumerate(("lang_de", "task_mnli", "task_qqp")):
        model.add_adapter(name, config="seq_bn_inv" if name == "lang_de" else "seq_bn")
        perturb(model, name, number)
    model.add_adapter_fusion(Fuse("task_mnli", "task_qqp"))
    perturb(model, "task_mnli,task_qqp", 7, scale=0.1)
    get_format(task.format).add_head(model, "task_pawsx", task)
    perturb(model, "task_pawsx", 8)
    model.save_adapter(str(tmp_path / "lang_de"), "lang_de", with_head=False, use_safetensors=True)
    write_meta(tmp_path / "lang_de", identity, name="lang_de")
    (art / "heads").mkdir(parents=True)  # `save_adapter`/`save_head` make one level of folder only
    for name in ("task_mnli", "task_qqp"):
        model.save_adapter(str(art / name), name, with_head=False, use_safetensors=True)
    model.save_adapter_fusion(str(art / "task_mnli,task_qqp"), "task_mnli,task_qqp", use_safetensors=True)
    model.save_head(str(art / "heads" / "task_pawsx"), "task_pawsx", use_safetensors=True)
    atomic_write_json(art / "setup.json", {"adapters": [["task_mnli", "task_qqp"]], "head": "task_pawsx"})
    lang_adapters = {"de": f"pretrained: {tmp_path / 'lang_de'}"}
    atomic_write_json(tmp_path / "run" / "results.json", {"config": {}, "lang_adapters": lang_adapters})
    setup = {"stack": ["lang_{lang}", {"fuse": ["task_mnli", "task_qqp"]}]}
    pipe = load_pipeline("tiny", setup, adapters=[str(tmp_path / "run")], max_length=64)
    records = load_split(task, "de", eval_language(task)[1], FIXTURES)
    model.set_active_adapters(Stack("lang_de", Fuse("task_mnli", "task_qqp")))
    model.active_head = "task_pawsx"
    expected = predict(model, get_format("pair_classification"), records, pipe.backbone.tokenizer, task, 64, 8)
    assert pipe.task.name == "pawsx" and pipe.predict(records, "de") == expected


def test_an_export_tree_offers_each_adapter_once(panx, tmp_path):
    """`hub_exports/` holds adapters on their own and again inside `save_adapter_setup` bundles."""
    root, folders = panx
    tree = tmp_path / "hub_exports"
    shutil.copytree(root, tree)
    bundle = tree / "setup" / "run1"
    shutil.copytree(folders["task_panx"], bundle / "task_panx")
    (bundle / "adapter_setup.json").write_text("{}")
    catalogue = resolve_sources([str(tree)])
    assert sorted(catalogue.entries) == ["lang_de", "lang_zh", "task_panx"]
    assert catalogue.get("task_panx").path == tree / "task" / "task_panx"
    assert resolve_sources([str(bundle)]).get("task_panx").path == bundle / "task_panx"
    assert resolve_sources([f"lang_de={tree}"]).entries.keys() == {"lang_de"}  # NAME picks from many


def test_predict_a_fusion_run_reproduces_its_predictions(tmp_path, capsys):
    """A real fusion run (Fuse of task adapters, head in artifacts/heads/): `predict` from its folder."""
    common = ["model=tiny", "train.max_steps=2", "train.max_seq_length=32", "lang_adapters.max_steps=2",
              "lang_adapters.max_seq_length=32", "eval.max_examples=8", f"data_dir={FIXTURES}",
              f"cache_dir={tmp_path / 'cache'}", "intermediate=mnli,squad",
              f"output_dir={tmp_path / 'run'}"]  # fmt: skip
    assert main(["train", "configs/examples/fusion.yaml", *common]) == 0
    task = get_task("pawsx")
    atomic_write_jsonl(tmp_path / "in.jsonl", load_split(task, "de", "dev", FIXTURES, 8))
    capsys.readouterr()
    assert main(["predict", "--model", "tiny", "--setup", "lang=de task=pawsx", "--adapters", str(tmp_path / "run"),
                 "--input", str(tmp_path / "in.jsonl")]) == 2  # fmt: skip
    err = capsys.readouterr().err  # the run has no task_pawsx adapter: only its head sits on the Fuse
    assert err.count("\n") == 1 and "{stack: [lang_de, {fuse: [task_mnli, task_squad]}], head: task_pawsx}" in err
    (tmp_path / "setup.yaml").write_text("stack: [lang_de, {fuse: [task_mnli, task_squad]}]\n")
    assert main(["predict", "--model", "tiny", "--setup", str(tmp_path / "setup.yaml"), "--adapters",
                 str(tmp_path / "run"), "--input", str(tmp_path / "in.jsonl"),
                 "--output", str(tmp_path / "pred.jsonl")]) == 0  # fmt: skip
    assert read_jsonl(tmp_path / "pred.jsonl") == read_jsonl(tmp_path / "run" / "predictions" / "pawsx.de.dev.jsonl")


@pytest.mark.parametrize(
    ("task", "record", "message"),
    [
        ("panx", {"tokens": "Das Wetter"}, "example 1: 'tokens' must be a non-empty list of strings"),
        ("panx", {"tokens": [1, 2]}, "example 1: 'tokens' must be a non-empty list of strings"),
        ("panx", {"tokens": []}, "example 1: 'tokens' must be a non-empty list of strings"),
        ("pawsx", {"text_a": "Ein Satz.", "text_b": 5}, "example 1: 'text_b' must be a string, not int"),
        ("xnli", {"text_a": ["Ein", "Satz"], "text_b": "x"}, "example 1: 'text_a' must be a string, not list"),
        ("xquad", {"question": "Wer?", "context": {"text": "x"}}, "example 1: 'context' must be a string"),
        ("xcopa", {"context": "c", "question": 3, "choice0": "a", "choice1": "b"}, "'question' must be a string"),
        ("xcopa", {"context": "c", "question": "cause", "choice0": "a"}, "example 1: 'choice1' must be a string"),
        ("xcopa", {"question": "cause", "choices": ["a", None]}, "'choices' must be a non-empty list of strings"),
    ],
)
def test_input_fields_must_have_their_types(task, record, message):
    pair = {"text_a": "a", "text_b": "b"}
    good = {"panx": {"tokens": ["Hallo"]}, "pawsx": pair, "xnli": pair,
            "xquad": {"question": "q", "context": "c"},
            "xcopa": {"question": "cause", "choice0": "a", "choice1": "b"}}[task]  # fmt: skip
    assert check_records([good], get_task(task)) == [{**good, "id": 0}]
    with pytest.raises(UserError, match=re.escape(message)):
        check_records([good, record], get_task(task))


def test_a_folder_with_an_equals_sign_is_a_source(panx, tmp_path):
    """`runs/lr=1e-4` is a path, not NAME=SOURCE; `lang_de=PATH` still names one adapter."""
    _, folders = panx
    folder = tmp_path / "lr=1e-4"
    shutil.copytree(folders["lang_de"], folder)
    assert list(resolve_sources([str(folder)]).entries) == ["lang_de"]
    assert list(resolve_sources([f"lang_sw={folder}"]).entries) == ["lang_sw"]
    with pytest.raises(UserError, match="adapter source not found: runs/lr=1e-4"):
        resolve_sources(["runs/lr=1e-4"])


def test_a_hub_adapter_for_another_base_model_warns(panx, tiny_model, tmp_path, monkeypatch, capsys):
    """AdapterHub adapters carry no adapter_xfer.json: the config's model_name is compared, with a warning."""
    _, folders = panx
    hub_like = tmp_path / "hub_like"
    shutil.copytree(folders["lang_de"], hub_like)
    (hub_like / "adapter_xfer.json").unlink()
    config = json.loads((hub_like / "adapter_config.json").read_text())
    atomic_write_json(hub_like / "adapter_config.json", {**config, "model_name": "xlm-roberta-base"})
    repo_id = "AdapterHub/xlm-roberta-base-de-wiki_pfeiffer"
    _hub_cache(tmp_path / "hf" / "hub", repo_id, hub_like)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    entry = resolve_sources([repo_id]).get("lang_de")
    for same_or_unknown in ("FacebookAI/xlm-roberta-base", "xlm-roberta-base", "tiny", str(tmp_path)):
        assert base_model_warning(entry, same_or_unknown) is None
    capsys.readouterr()
    load_entry(tiny_model, entry, None, "google-bert/bert-base-multilingual-cased")
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("warning: adapter lang_de") and "trained on xlm-roberta-base" in err
    assert "lang_de" in tiny_model.adapters_config  # a warning, not an error
