"""The task, format and method tables: every entry is complete and consistent (matrix tests)."""

from __future__ import annotations

import pytest

from adapter_xfer.cli import main
from adapter_xfer.formats import FORMATS
from adapter_xfer.methods import METHODS
from adapter_xfer.metrics import METRICS
from adapter_xfer.readers import READERS
from adapter_xfer.tasks import SPLITS, TASKS, training_task


@pytest.mark.parametrize("name", sorted(TASKS))
def test_task_entry_is_complete(name):
    task = TASKS[name]
    fmt = FORMATS[task.format]
    assert task.metric in METRICS
    assert task.summary and task.license
    assert len(set(task.languages)) == len(task.languages) > 0
    if fmt.trainable:
        data = training_task(task)
        assert data.source_language in data.languages
        assert FORMATS[data.format].trainable
        for step in task.recipe:
            assert FORMATS[TASKS[step].format].trainable and TASKS[step].languages == ("en",)
    if task.format in ("classification", "pair_classification", "tagging"):
        assert len(set(task.labels)) == len(task.labels) > 1
    if task.hub.path:  # local-only tasks (licensed data such as CCGbank) declare no Hub source
        assert set(task.hub.splits) <= set(SPLITS)
        if fmt.trainable:
            assert set(task.hub.columns) == set(task.local[0].columns)
    assert task.local
    for layout in task.local:
        assert layout.reader in READERS
        assert set(layout.files) <= set(SPLITS) and layout.files
        assert all(code for code in layout.codes.values())


def test_known_chains():
    assert TASKS["xnli"].train_task == "mnli"
    assert training_task(TASKS["pawsx"]) is TASKS["pawsx"]
    assert len(TASKS["xnli"].languages) == 15 and len(TASKS["pawsx"].languages) == 7


def test_methods_table():
    assert {"adapter", "full_ft"} <= set(METHODS)
    assert METHODS["full_ft"].trains_base and not METHODS["adapter"].trains_base


@pytest.mark.parametrize("what", ["tasks", "methods", "models", "formats"])
def test_ls_lists_tab_separated(capsys, what):
    assert main(["ls", what]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines
    if what == "tasks":
        names = [line.split("\t")[0] for line in lines]
        assert names == list(TASKS)
        assert all(len(line.split("\t")) == 4 for line in lines)
