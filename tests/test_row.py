"""The declared results row (`study/row.py`): what the writers put in a row and the column groups
the analysis reads back."""

from __future__ import annotations

import json

import pytest

from classit_ray.config import Config
from classit_ray.config_load import apply_overrides
from classit_ray.study import row

# A row as a finished trial writes it (names as study/trial.py and study/runner.py write them).
ROW = [
    "model.preset",
    "instruct.curriculum",
    "corpus.data_dir",
    "pretrain.seed",
    "instruct.seed",
    "cell.seed",
    "eval/blimp",
    "eval/blimp@pretrain",
    "eval/blimp@stage1",
    "eval/failed_tasks",
    "curve",
    "pretrain/loss",
    "instruct/loss",
    "instruct/loss/switchboard",
    "key/pretrain",
    "key/eval@pretrain",
    "keys/graph",
    "artifact/model",
    "executed/eval",
    "time/cell_s",
    "time/stages",
    "tune/reports",
    "status",
    "error",
]


def test_every_column_of_a_row_is_in_one_group():
    groups = row.groups(ROW)
    assert groups["other"] == ["tune/reports"]  # Tune's own
    placed = [c for cols in groups.values() for c in cols]
    assert sorted(placed) == sorted(ROW)  # each once
    assert groups["seed"] == ["pretrain.seed", "instruct.seed", "cell.seed"]
    assert "pretrain.seed" not in groups["config"] and "corpus.data_dir" in groups["config"]


def test_metrics_per_endpoint():
    assert row.metric_columns(ROW) == ["eval/blimp", "pretrain/loss", "instruct/loss", "instruct/loss/switchboard"]
    assert row.metric_columns(ROW, "pretrain") == ["eval/blimp@pretrain"]
    assert row.endpoints(ROW) == ["final", "pretrain", "stage1"]
    assert (
        row.metric_name("eval/blimp", "stage1") == "eval/blimp@stage1" and row.metric_name("eval/blimp") == "eval/blimp"
    )


def test_the_writers_values():
    cfg = apply_overrides(Config(), {"instruct.curriculum": "switchboard>wiki"})
    values = row.config_values(cfg)
    assert values["instruct.curriculum"] == "switchboard>wiki"
    assert json.loads(values["eval.tasks"]) == cfg.eval.tasks  # lists as JSON text
    assert set(row.config_columns(values)) | set(row.seed_columns(values)) == set(values)
    assert row.cell_values({"seed": 2, "model.preset": "tiny"}) == {"cell.seed": 2}
    assert row.status_values(row.OK) == {"status": "ok", "error": ""}
    with pytest.raises(ValueError, match="unknown status 'done'"):
        row.status_values("done")


def test_a_dataframe_is_read_by_its_columns():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame([dict.fromkeys(ROW, 0)])
    assert row.key_columns(df) == ["key/pretrain", "key/eval@pretrain", "keys/graph"]
    assert row.timing_columns(df) == ["time/cell_s", "time/stages"]
