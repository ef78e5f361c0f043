"""Export and push: a tiny run's adapters, reloaded by plain `adapters` in a process without adapter_xfer.

One MAD-X chain (MNLI -> PAWS-X, language adapters en/de) and one PEFT run are trained once for the
module; a fusion run folder is built from the chain's adapters in the layout the fusion method
writes (`setup.json` with a list entry, the fusion layer saved by `save_adapter_fusion`, the head in
`artifacts/heads/`). The Hub is a fake at the boundary (`hub.make_api`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import pytest
import torch
import yaml

from adapter_xfer import hub
from adapter_xfer.cli import main
from adapter_xfer.export import export_run
from adapter_xfer.results import read_results
from tests.test_cli_pipeline import FAST

TRAIN = [*FAST[:-3], "eval.languages=en,de", "eval.split=test", "eval.max_examples=8"]
PAIRS = (["The cat sleeps on the sofa.", "Der Hund spielt im Garten.", "我们明天去北京。"],
         ["A cat is sleeping.", "Ein Hund spielt draussen im Garten.", "明天我们去上海。"])  # fmt: skip
TOKEN = "hf_EXPORTTESTtoken0123456789abcdef"


@pytest.fixture(scope="module")
def runs(demo_data, tiny_checkpoint, tmp_path_factory):
    """(root, chain run, fusion run, peft run) trained on tiny; exports go under root/exports."""
    root = tmp_path_factory.mktemp("export_runs")
    (root / "chain.yaml").write_text("task: pawsx\nintermediate: [mnli]\n")
    (root / "target.yaml").write_text("task: pawsx\n")
    common = [f"data_dir={demo_data}", f"cache_dir={root / 'cache'}", "threads=1", *TRAIN]
    assert main(["train", str(root / "chain.yaml"), "method=adapter", f"output_dir={root / 'chain'}", *common]) == 0
    assert main(["train", str(root / "target.yaml"), "method=peft_lora", f"output_dir={root / 'peft'}", *common]) == 0
    fusion = _fusion_run(root / "chain", root / "fusion", tiny_checkpoint)
    return root, root / "chain", fusion, root / "peft"


def _model_with_run_adapters(run: Path, checkpoint: str, artifacts: bool = True):
    """adapter_xfer's own assembly of a run: its language adapters (and the artifacts' task adapters)."""
    from adapter_xfer.artifacts import load_adapter_into, load_stacked
    from adapter_xfer.modeling import base_identity, load_model

    results = read_results(run)
    model = load_model(checkpoint)
    identity = base_identity(model, results["model"])
    for stage in (s for s in results["stages"] if s["kind"] == "lang"):
        load_adapter_into(model, Path(stage["path"]), stage["name"], identity)
    names = load_stacked(model, run / "artifacts", identity) if artifacts else ()
    return model, identity, names


def _fusion_run(chain: Path, run: Path, checkpoint: str) -> Path:
    """A run folder in the fusion method's layout: Stack(lang, Fuse(task_mnli, task_pawsx)) + head."""
    from adapters.composition import Fuse

    from adapter_xfer.artifacts import load_adapter_into, write_meta

    model, identity, _ = _model_with_run_adapters(chain, checkpoint, artifacts=False)
    stage = next(s for s in read_results(chain)["stages"] if s["kind"] == "intermediate")
    load_adapter_into(model, Path(stage["path"]), "task_mnli", identity)
    load_adapter_into(model, chain / "artifacts", "task_pawsx", identity)
    model.load_head(str(chain / "artifacts" / "task_pawsx"), load_as="task_pawsx", use_safetensors=True)
    model.add_adapter_fusion(Fuse("task_mnli", "task_pawsx"))
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)  # away from the fusion's init, so a fusion layer left unloaded would show
        for name, param in model.named_parameters():
            if "adapter_fusion_layer" in name:
                param.add_(torch.randn_like(param) * 0.2)
    shutil.copytree(chain, run, ignore=shutil.ignore_patterns("artifacts"))
    artifacts = run / "artifacts"
    artifacts.mkdir()
    for name in ("task_mnli", "task_pawsx"):
        model.save_adapter(str(artifacts / name), name, with_head=False, use_safetensors=True)
        write_meta(artifacts / name, identity, kind="task", name=name)
    fused = ["task_mnli", "task_pawsx"]
    model.save_adapter_fusion(str(artifacts / ",".join(fused)), fused, use_safetensors=True)
    (artifacts / "heads").mkdir()
    model.save_head(str(artifacts / "heads" / "task_pawsx"), "task_pawsx", use_safetensors=True)
    setup = {"adapters": [["task_mnli", "task_pawsx"]], "head": "task_pawsx"}
    (artifacts / "setup.json").write_text(json.dumps(setup))
    results = read_results(run)
    results.update(task_adapters=[["task_mnli", "task_pawsx"]], run_id="fusion-run")
    (run / "results.json").write_text(json.dumps(results))
    return run


@pytest.fixture(scope="module")
def exported(runs):
    root, chain, fusion, peft = runs
    out = root / "exports"
    return out, {"chain": export_run(chain, "chain", out), "fusion": export_run(fusion, "fusion", out),
                 "peft": export_run(peft, "peft", out)}  # fmt: skip


def _inputs(tokenizer) -> dict[str, torch.Tensor]:
    return dict(tokenizer(*PAIRS, padding=True, return_tensors="pt"))


def _reference_logits(model, setup, head, inputs) -> list:
    from adapter_xfer.methods import activate

    activate(model, setup, head)
    model.eval()
    with torch.no_grad():
        return model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).logits.tolist()


# Runs in a fresh interpreter that never imports adapter_xfer: what a user with `adapters` gets.
USER_SCRIPT = """
import json, sys
import torch
from adapters import AutoAdapterModel
from adapters.composition import Fuse, Stack

spec = json.load(open(sys.argv[1]))
ids, mask = torch.tensor(spec["input_ids"]), torch.tensor(spec["attention_mask"])
out = {}

def block(entry):
    return Fuse(*entry) if isinstance(entry, list) else entry

def logits(model):
    with torch.no_grad():
        return model(input_ids=ids, attention_mask=mask).logits.tolist()

for case in spec["cases"]:
    model = AutoAdapterModel.from_pretrained(spec["base"]).eval()
    for path in case["adapters"]:
        model.load_adapter(path, use_safetensors=True)
    for path in case["fusions"]:
        model.load_adapter_fusion(path, use_safetensors=True)
    for lang in ("en", "de"):
        model.set_active_adapters(Stack("lang_" + lang, *[block(e) for e in case["top"]]))
        model.active_head = case["head"]
        out[case["name"] + "/folders/" + lang] = logits(model)
    model = AutoAdapterModel.from_pretrained(spec["base"]).eval()
    setup, head = model.load_adapter_setup(case["setup"], set_active=True, use_safetensors=True)
    out[case["name"] + "/setup/en"] = logits(model)
    model.load_adapter(case["lang_de"], use_safetensors=True)
    model.set_active_adapters(Stack("lang_de", *setup.children[1:]))
    model.active_head = head
    out[case["name"] + "/setup/de"] = logits(model)

assert "adapter_xfer" not in sys.modules, "the user script imported adapter_xfer"
json.dump(out, open(spec["out"], "w"))
"""


def test_exports_give_adapter_xfer_logits_in_plain_adapters(runs, exported, tiny_checkpoint, tiny_tokenizer, tmp_path):
    """lang + task folders, the fusion folder and the setup folder reproduce adapter_xfer's logits exactly."""
    from adapters.composition import Fuse, Stack

    _, chain, fusion, _ = runs
    out, _ = exported
    inputs = _inputs(tiny_tokenizer)
    expected = {}
    model, _, names = _model_with_run_adapters(chain, tiny_checkpoint)
    for lang in ("en", "de"):
        expected[f"chain/{lang}"] = _reference_logits(model, Stack(f"lang_{lang}", *names), names[-1], inputs)
    model, identity, _ = _model_with_run_adapters(fusion, tiny_checkpoint, artifacts=False)
    from adapter_xfer.artifacts import load_adapter_into

    for name in ("task_mnli", "task_pawsx"):
        load_adapter_into(model, fusion / "artifacts", name, identity)
    model.load_adapter_fusion(str(fusion / "artifacts" / "task_mnli,task_pawsx"), use_safetensors=True)
    model.load_head(str(fusion / "artifacts" / "heads" / "task_pawsx"), use_safetensors=True)
    for lang in ("en", "de"):
        setup = Stack(f"lang_{lang}", Fuse("task_mnli", "task_pawsx"))
        expected[f"fusion/{lang}"] = _reference_logits(model, setup, "task_pawsx", inputs)
    assert expected["chain/en"] != expected["chain/de"]  # the language adapter matters, so the check can fail
    assert expected["fusion/de"] != expected["chain/de"]

    lang = [str(out / "lang" / n / f"lang_{x}") for n in ("chain",) for x in ("en", "de")]
    cases = [
        {"name": "chain", "adapters": [*lang, str(out / "task/chain/task_pawsx")], "fusions": [],
         "top": ["task_pawsx"], "head": "task_pawsx", "setup": str(out / "setup/chain"), "lang_de": lang[1]},
        {"name": "fusion", "adapters": [str(out / "lang/fusion/lang_en"), str(out / "lang/fusion/lang_de"),
                                        str(out / "task/fusion/task_mnli"), str(out / "task/fusion/task_pawsx")],
         "fusions": [str(out / "fusion/fusion/task_mnli-task_pawsx")], "top": [["task_mnli", "task_pawsx"]],
         "head": "task_pawsx", "setup": str(out / "setup/fusion"), "lang_de": str(out / "lang/fusion/lang_de")},
    ]  # fmt: skip
    spec = {"base": tiny_checkpoint, "input_ids": inputs["input_ids"].tolist(), "cases": cases,
            "attention_mask": inputs["attention_mask"].tolist(), "out": str(tmp_path / "logits.json")}  # fmt: skip
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    (tmp_path / "user.py").write_text(USER_SCRIPT)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, str(tmp_path / "user.py"), str(tmp_path / "spec.json")], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads((tmp_path / "logits.json").read_text())
    for case in ("chain", "fusion"):
        for lang in ("en", "de"):
            want = torch.tensor(expected[f"{case}/{lang}"])
            for route in ("folders", "setup"):
                diff = (torch.tensor(got[f"{case}/{route}/{lang}"]) - want).abs().max().item()
                assert diff < 1e-6, (case, route, lang, diff)


def test_stacked_chain_exports_every_adapter_with_a_head(runs, demo_data, tiny_checkpoint, tiny_tokenizer):
    """`adapter.chain=stack`: Stack(lang, task_mnli, task_pawsx); the intermediate export keeps its stage's head."""
    from adapters import AutoAdapterModel
    from adapters.composition import Stack

    root = runs[0]
    args = ["method=adapter", "adapter.chain=stack", f"data_dir={demo_data}", f"cache_dir={root / 'cache'}",
            f"output_dir={root / 'stack'}", "threads=1", *TRAIN]  # fmt: skip
    assert main(["train", str(root / "chain.yaml"), *args]) == 0  # the cached stages are reused
    out = root / "exports_stack"
    folders = export_run(root / "stack", "stack", out)
    assert [p.relative_to(out).as_posix() for p in folders][2:] == ["task/stack/task_mnli", "task/stack/task_pawsx",
                                                                    "setup/stack"]  # fmt: skip
    assert (out / "task/stack/task_mnli/head_config.json").is_file()
    inputs = _inputs(tiny_tokenizer)
    model, _, names = _model_with_run_adapters(root / "stack", tiny_checkpoint)
    assert names == ("task_mnli", "task_pawsx")
    want = _reference_logits(model, Stack("lang_de", *names), "task_pawsx", inputs)
    plain = AutoAdapterModel.from_pretrained(tiny_checkpoint).eval()
    setup, head = plain.load_adapter_setup(str(out / "setup/stack"), set_active=True, use_safetensors=True)
    plain.load_adapter(str(out / "lang/stack/lang_de"), use_safetensors=True)
    plain.set_active_adapters(Stack("lang_de", *setup.children[1:]))
    plain.active_head = head
    with torch.no_grad():
        got = plain(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).logits
    assert torch.equal(got, torch.tensor(want))


def test_no_exported_byte_names_a_local_path(runs, exported, demo_data, tiny_checkpoint):
    root, chain, _, _ = runs
    out, _ = exported
    needles = {str(root), str(chain.resolve()), str(demo_data), str(Path(tiny_checkpoint).parent),
               os.environ.get("HOME", "/nonexistent-home"), str(Path.home())}  # fmt: skip
    files = [p for p in out.rglob("*") if p.is_file()]
    assert len(files) > 30
    for path in files:
        data = path.read_bytes()
        for needle in needles:
            assert needle.encode() not in data, f"{path.relative_to(out)} contains {needle}"
    # the source artifacts do hold the checkpoint folder (adapters' model_name): the export had work to do
    assert str(Path(tiny_checkpoint)).encode() in (chain / "artifacts/task_pawsx/adapter_config.json").read_bytes()


def test_local_path_guard_refuses(tmp_path):
    from adapter_xfer.errors import UserError
    from adapter_xfer.export import _refuse_local_paths

    (tmp_path / "x.json").write_text('{"a": "/home/someone/data"}')
    with pytest.raises(UserError, match=r"x\.json would contain the local path /home/someone"):
        _refuse_local_paths(tmp_path, ["/home/someone"])


def _front_matter(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def test_cards_and_metadata(runs, exported):
    _, chain, _, _ = runs
    out, folders = exported
    results = read_results(chain)
    kinds = {p.relative_to(out).as_posix() for p in folders["chain"]}
    assert kinds == {"lang/chain/lang_en", "lang/chain/lang_de", "task/chain/task_mnli", "task/chain/task_pawsx",
                     "setup/chain"}  # fmt: skip
    for folder in folders["chain"]:
        card, meta = _front_matter(folder / "README.md"), json.loads((folder / "adapter_xfer.json").read_text())
        assert card["library_name"] == "adapter-transformers"
        assert {"adapter-transformers", "adapters", "xlm-roberta"} <= set(card["tags"])
        assert meta["base_model"]["weights_hash"] == results["base_model"]["weights_hash"]
        assert meta["run_id"] == results["run_id"] and meta["seed"] == results["seed"]
        assert meta["git_commit"] == results["git_commit"] and meta["versions"] == results["versions"]
        assert "output_dir" not in meta["config"] and "cache_dir" not in meta["config"]
        assert meta["config"]["train"] == results["config"]["train"]
        assert set(card["dataset_licenses"]) == set(card["datasets"])
    setup = out / "setup/chain"
    card = _front_matter(setup / "README.md")
    assert card["datasets"][:2] == ["nyu-mll/glue", "google-research-datasets/paws-x"]
    assert card["language"] == ["de", "en"] and card["metrics"] == ["accuracy"]
    body = (setup / "README.md").read_text()
    de = results["per_language"]["de"]
    assert f"| de | {de['accuracy']:.2f} | {de['n']} | test |" in body
    assert _front_matter(out / "lang/chain/lang_de/README.md")["language"] == ["de"]
    saved = json.loads((setup / "adapter_setup.json").read_text())
    assert saved["adapter_setup"]["type"] == "Stack" and saved["head_setup"] == "task_pawsx"
    assert [c["children"] for c in saved["adapter_setup"]["children"]] == [["lang_en"], ["task_pawsx"]]
    mnli = json.loads((out / "task/chain/task_mnli/adapter_xfer.json").read_text())
    assert mnli["trained"] == "intermediate" and [d["task"] for d in mnli["data"]] == ["mnli"]
    assert (out / "task/chain/task_mnli/head_config.json").is_file()  # its own head travels with it
    index = json.loads((out / "index.json").read_text())
    assert set(index["exports"]) == {"chain", "fusion", "peft"}
    assert "| chain | " in (out / "INDEX.md").read_text()


def test_peft_run_exports_in_peft_format(runs, exported, tiny_checkpoint, tiny_tokenizer):
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification

    from adapter_xfer.peft_arm import build_peft_model
    from adapter_xfer.tasks import get_task

    _, _, _, peft = runs
    out, folders = exported
    assert [p.relative_to(out).as_posix() for p in folders["peft"]] == ["task/peft/task_pawsx"]
    folder = folders["peft"][0]
    assert json.loads((folder / "adapter_config.json").read_text())["base_model_name_or_path"] == "tiny"
    assert _front_matter(folder / "README.md")["library_name"] == "peft"
    inputs = _inputs(tiny_tokenizer)
    ours = build_peft_model(tiny_checkpoint, get_task("pawsx"), None, peft / "artifacts" / "peft").eval()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(123)  # another static-head init than adapter_xfer's: the saved head must win
        plain = AutoModelForSequenceClassification.from_pretrained(tiny_checkpoint, num_labels=2)
    theirs = PeftModel.from_pretrained(plain, str(folder)).eval()
    with torch.no_grad():
        assert torch.equal(ours(**inputs).logits, theirs(**inputs).logits)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_reexport_replaces_cleanly(runs, tmp_path, monkeypatch):
    from adapter_xfer import export

    _, chain, fusion, _ = runs
    out = tmp_path / "hub_exports"
    first = export_run(fusion, "same", out)
    before = _snapshot(out)
    real_card = export.render_card

    def failing_card(meta):  # the last kind written fails: nothing of the new export may land
        if meta["kind"] == "setup":
            raise RuntimeError("disk full")
        return real_card(meta)

    monkeypatch.setattr(export, "render_card", failing_card)
    with pytest.raises(RuntimeError, match="disk full"):
        export_run(chain, "same", out)
    monkeypatch.undo()
    assert _snapshot(out) == before and not [p for p in out.rglob(".*")]
    weights = (out / "fusion/same/task_mnli-task_pawsx/model_adapter_fusion.safetensors").read_bytes()
    again = export_run(fusion, "same", out)
    assert again == first  # and deterministic, byte for byte:
    assert (out / "fusion/same/task_mnli-task_pawsx/model_adapter_fusion.safetensors").read_bytes() == weights
    second = export_run(chain, "same", out)  # a run without a fusion layer, under the same name
    assert not (out / "fusion" / "same").exists()
    on_disk = {p.relative_to(out).as_posix() for p in out.glob("*/same/*") if p.parent.parent.name != "setup"}
    assert on_disk == {p.relative_to(out).as_posix() for p in second if p.parent.name != "setup"}
    assert not [p for p in out.rglob(".*")]  # no temporary or moved-aside folders left
    index = json.loads((out / "index.json").read_text())
    assert index["exports"]["same"]["run_id"] == read_results(chain)["run_id"]
    assert "fusion/" not in (out / "INDEX.md").read_text()


@pytest.mark.parametrize("case", ["no_results", "no_artifacts", "bad_name", "full_ft", "yes_without_push"])
def test_export_errors_are_one_line(runs, tmp_path, capsys, case):
    _, chain, _, _ = runs
    run, args = tmp_path / "run", []
    if case == "no_results":
        run.mkdir()
    elif case == "bad_name":
        run, args = chain, ["--name", "../escape"]
    elif case == "yes_without_push":
        run, args = chain, ["--yes"]
    else:
        shutil.copy(chain / "results.json", tmp_path / "results.json")
        run = tmp_path
        if case == "full_ft":
            results = read_results(run) | {"method": "full_ft"}
            (run / "results.json").write_text(json.dumps(results))
            (run / "artifacts" / "model").mkdir(parents=True)
    capsys.readouterr()
    assert main(["export", str(run), "--out", str(tmp_path / "out"), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("adapter-xfer: error: ")
    expected = {"no_results": "no results.json", "no_artifacts": "no artifacts/", "bad_name": "invalid export name",
                "full_ft": "full fine-tuning run", "yes_without_push": "apply to --push REPO_ID only"}  # fmt: skip
    assert expected[case] in err
    assert not (tmp_path / "out" / "setup").exists()


class FakeHub:
    """Stands in for `huggingface_hub.HfApi`: records what would reach the Hub."""

    instances: ClassVar[list[FakeHub]] = []

    def __init__(self, token: str):
        self.token, self.repos, self.files = token, [], []
        FakeHub.instances.append(self)

    def create_repo(self, repo_id, repo_type, private, exist_ok):
        self.repos.append((repo_id, repo_type, private, exist_ok))

    def create_commit(self, repo_id, repo_type, operations, commit_message):
        assert self.repos and self.repos[-1][0] == repo_id
        self.files += [(op.path_in_repo, Path(op.path_or_fileobj).read_bytes()) for op in operations]


@pytest.fixture
def fake_hub(monkeypatch):
    FakeHub.instances = []
    monkeypatch.setattr(hub, "make_api", FakeHub)
    return FakeHub


def test_push_lists_without_yes(runs, exported, fake_hub, tmp_path, capsys, monkeypatch):
    _, chain, _, _ = runs
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    capsys.readouterr()
    assert main(["export", str(chain), "--name", "dry", "--out", str(tmp_path), "--push", "someone/dry"]) == 0
    stdout = capsys.readouterr().out
    assert "would upload" in stdout and "  adapter_setup.json\n" in stdout
    assert "  lang/lang_de/adapter.safetensors\n" in stdout
    assert fake_hub.instances == [] and TOKEN not in stdout


def test_push_uploads_the_export_and_never_shows_the_token(runs, fake_hub, tmp_path, capsys, caplog, monkeypatch):
    _, chain, _, _ = runs
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    out = tmp_path / "hub_exports"
    capsys.readouterr()
    args = ["export", str(chain), "--name", "pushed", "--out", str(out), "--push", "someone/pawsx-madx", "--yes"]
    assert main(args) == 0
    streams = capsys.readouterr()
    [api] = fake_hub.instances
    assert api.token == TOKEN and api.repos == [("someone/pawsx-madx", "model", None, True)]
    setup = out / "setup/pushed"
    expected = {p.relative_to(setup).as_posix() for p in setup.rglob("*") if p.is_file()}
    for folder in out.glob("[ltf]*/pushed/*"):  # lang, task, fusion folders go under <kind>/<adapter>/
        expected |= {f"{folder.parent.parent.name}/{folder.name}/{p.relative_to(folder).as_posix()}"
                     for p in folder.rglob("*") if p.is_file()}  # fmt: skip
    assert sorted(path for path, _ in api.files) == sorted(expected)
    assert "adapter_setup.json" in expected and "task/task_pawsx/model_head.safetensors" in expected
    assert f"uploaded {len(expected)} files" in streams.out
    leaks = [streams.out, streams.err, caplog.text, *(data.decode("latin-1") for _, data in api.files)]
    leaks += [p.read_bytes().decode("latin-1") for p in tmp_path.rglob("*") if p.is_file()]
    assert not [text for text in leaks if TOKEN in text]


def test_push_without_a_token_is_a_user_error(runs, exported, fake_hub, tmp_path, capsys, monkeypatch):
    import huggingface_hub.constants

    _, chain, _, _ = runs
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    capsys.readouterr()
    assert main(["export", str(chain), "--out", str(tmp_path / "x"), "--push", "someone/r", "--yes"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no Hugging Face token" in err and fake_hub.instances == []


def test_push_warns_about_non_commercial_training_data(exported, tmp_path, capsys):
    _, folders = exported
    copy = tmp_path / "task" / "nc" / "task_pawsx"
    shutil.copytree(folders["chain"][3], copy)
    meta = json.loads((copy / "adapter_xfer.json").read_text())
    meta["data"][0]["license"] = "CC BY-NC 4.0"
    (copy / "adapter_xfer.json").write_text(json.dumps(meta))
    hub.push_export("someone/nc", [copy])
    streams = capsys.readouterr()
    assert "warning: training data nyu-mll/glue is licensed 'CC BY-NC 4.0'" in streams.err
    assert "would upload" in streams.out
    hub.push_export("someone/ok", [folders["chain"][3]])
    assert "warning" not in capsys.readouterr().err


def test_upload_plan_refuses_two_files_on_one_repository_path(tmp_path):
    """Exports of two runs both hold `lang/<run>/lang_de/`: on the Hub one would silently replace the other."""
    from adapter_xfer.errors import UserError

    folders = [tmp_path / "hub_exports" / "lang" / run / "lang_de" for run in ("run1", "run2")]
    for folder in folders:
        folder.mkdir(parents=True)
        (folder / "adapter_config.json").write_text("{}")
    assert [p for p, _ in hub.upload_plan(folders[:1])] == ["adapter_config.json"]
    (folders[1] / "adapter_config.json").rename(folders[1] / "other.json")
    assert [p for p, _ in hub.upload_plan(folders)] == ["lang/lang_de/adapter_config.json", "lang/lang_de/other.json"]
    (folders[1] / "other.json").rename(folders[1] / "adapter_config.json")
    with pytest.raises(UserError, match=r"run1/lang_de/adapter_config\.json and .*run2/lang_de/adapter_config\.json"):
        hub.upload_plan(folders)
