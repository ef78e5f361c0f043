"""Configuration: layering, typed overrides, and one-line user errors (exit code 2, no traceback)."""

from __future__ import annotations

import pytest

from adapter_xfer.cli import main
from adapter_xfer.config import load_config
from adapter_xfer.errors import UserError


def write(tmp_path, text: str):
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    return path


def test_defaults_and_experiment_and_overrides_layer(tmp_path):
    path = write(tmp_path, "task: pawsx\ntrain:\n  batch_size: 8\n")
    config = load_config(path, ["train.learning_rate=1e-4", "eval.languages=de,zh", "seed=7"])
    assert config.task == "pawsx"
    assert config.train.batch_size == 8
    assert config.train.epochs == 3.0  # from defaults.yaml
    assert config.train.learning_rate == pytest.approx(1e-4) and isinstance(config.train.learning_rate, float)
    assert config.eval.languages == ("de", "zh")
    assert config.seed == 7


@pytest.mark.parametrize(
    ("text", "overrides", "fragment"),
    [
        ("task: pawsx\ntrian:\n  batch_size: 8\n", [], "unknown key 'trian'"),
        ("task: pawsx\n", ["train.batchsize=3"], "unknown key 'train.batchsize'"),
        ("task: pawsx\n", ["train.batch_size=many"], "train.batch_size"),
        ("task: pawsx\ntrain:\n  bf16: maybe\n", [], "train.bf16"),
        ("task: pawsx\n", ["seed"], "key=value"),
        ("task: [pawsx\n", [], "not valid YAML"),
        ("method: adapter\n", [], "'task' is required"),
    ],
)
def test_config_errors_name_the_key(tmp_path, text, overrides, fragment):
    with pytest.raises(UserError, match=None) as info:
        load_config(write(tmp_path, text), overrides)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("text", "overrides", "fragment"),
    [
        ("task: pawsx\ntrain: {batch_size: x}\n", [], "train.batch_size"),
        ("task: nosuchtask\n", [], "unknown task 'nosuchtask'"),
        ("task: pawsx\nmethod: magic\n", [], "unknown method 'magic'"),
        ("task: pawsx\n", ["eval.languages=de,xx"], "no language 'xx'"),
        ("task: pawsx\n", ["data_dir=/nonexistent/dir"], "data_dir not found"),
    ],
)
def test_cli_user_errors_exit_2_with_one_line(tmp_path, capsys, text, overrides, fragment):
    code = main(["validate", str(write(tmp_path, text)), *overrides])
    err = capsys.readouterr().err
    assert code == 2
    assert fragment in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_validate_missing_local_file_names_it(tmp_path, capsys):
    (tmp_path / "data" / "pawsx").mkdir(parents=True)
    code = main(["validate", str(write(tmp_path, "task: pawsx\n")), f"data_dir={tmp_path / 'data'}"])
    assert code == 2
    assert "train-en.tsv" in capsys.readouterr().err


def test_validate_ok_loads_no_model(demo_data, tmp_path, capsys, monkeypatch):
    from adapters import AutoAdapterModel

    monkeypatch.setattr(AutoAdapterModel, "from_pretrained", lambda *a, **k: pytest.fail("validate loaded a model"))
    path = write(tmp_path, "task: pawsx\nintermediate: [mnli]\neval: {languages: [en, de, zh], split: test}\n")
    assert main(["validate", str(path), f"data_dir={demo_data}"]) == 0
    out = capsys.readouterr().out
    assert "lang adapter: zh" in out and "intermediate: mnli" in out and "valid" in out


@pytest.mark.parametrize(
    ("override", "key"),
    [("train.batch_size=0", "train.batch_size"), ("train.learning_rate=-1", "train.learning_rate"),
     ("lang_adapters.mlm_probability=1.5", "lang_adapters.mlm_probability"), ("threads=-2", "threads")],
)  # fmt: skip
def test_values_out_of_range_are_user_errors(tmp_path, override, key):
    with pytest.raises(UserError, match=f"key '{key}'.*out of range"):
        load_config(write(tmp_path, "task: pawsx\n"), [override])


def test_unknown_adapter_method_fails_validation(tmp_path, capsys):
    assert main(["validate", str(write(tmp_path, "task: pawsx\n")), "adapter.config=adapterfusion"]) == 2
    assert "unknown adapter method 'adapterfusion'" in capsys.readouterr().err
