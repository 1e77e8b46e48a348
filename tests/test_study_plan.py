"""Studies before anything runs: definitions and their checks, stage keys known in advance (and
so independent of where the store is), resources outside the keys, and the study command lines'
dry runs and bad input."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import pytest

from classit_ray.cell.graph import build_graph
from classit_ray.config import Config, ConfigError
from classit_ray.config_load import apply_overrides
from classit_ray.study.cli import apply_arguments, study_parser
from classit_ray.study.definition import StudyDefinition, cell_config, check_definition, grid_cells, study_cells
from classit_ray.study.runner import check_inputs

ROOT = Path(__file__).resolve().parents[1]


# ---- definitions ---------------------------------------------------------------------------------
def test_grid_cells_cross_every_axis_and_seed_sets_both_training_seeds():
    study = StudyDefinition(
        Config(), grid={"model.preset": ["tiny", "tiny-deep"], "seed": [0, 1], "instruct.curriculum": ["merged"]}
    )
    cells = grid_cells(study)
    assert len(cells) == 4 and cells[0] == {"model.preset": "tiny", "seed": 0, "instruct.curriculum": "merged"}
    cfg = cell_config(study.base, cells[1])
    assert (cfg.model.preset, cfg.pretrain.seed, cfg.instruct.seed) == ("tiny", 1, 1)


def test_cells_are_dealt_round_robin_over_their_pretrainings():
    study = StudyDefinition(
        Config(),
        grid={"model.preset": ["tiny", "tiny-deep"], "instruct.curriculum": ["merged", "switchboard>wiki"]},
        baseline=False,
    )
    cells = study_cells(study, group=lambda c: c["model.preset"])
    assert [c["model.preset"] for c in cells] == ["tiny", "tiny-deep", "tiny", "tiny-deep"]


def test_each_cell_gets_its_pretrained_baseline_once_and_extra_cells_cross_the_seeds():
    study = StudyDefinition(
        Config(),
        grid={
            "model.preset": ["tiny"],
            "seed": [0, 1],
            "instruct.loss_on": ["reply", "all"],
            "instruct.curriculum": ["merged", "wiki>switchboard"],
        },
        extra_cells=[{"budget.instruct_fraction": 0.0, "instruct.curriculum": "none"}],
    )
    cells = study_cells(study)
    baselines = [c for c in cells if c["instruct.curriculum"] == "none" and "budget.instruct_fraction" not in c]
    # 8 tuned cells share 2 pretrainings (one per seed): one baseline each, without the instruct.* axes it ignores.
    assert baselines == [
        {"model.preset": "tiny", "seed": 0, "instruct.curriculum": "none"},
        {"model.preset": "tiny", "seed": 1, "instruct.curriculum": "none"},
    ]
    assert [c for c in cells if c.get("budget.instruct_fraction") == 0.0] == [
        {"budget.instruct_fraction": 0.0, "instruct.curriculum": "none", "seed": 0},
        {"budget.instruct_fraction": 0.0, "instruct.curriculum": "none", "seed": 1},
    ]
    assert len(cells) == 8 + 2 + 2
    graphs = [build_graph(cell_config(study.base, c), "/store") for c in cells]
    none = graphs[cells.index(baselines[0])]
    tuned = graphs[
        cells.index({"model.preset": "tiny", "seed": 0, "instruct.loss_on": "reply", "instruct.curriculum": "merged"})
    ]
    # The baseline trains nothing: its graph is the tuned cell's pretraining and that pretraining's evaluation.
    assert not none.of_kind("instruct") and none.pretrain.key == tuned.pretrain.key
    assert none.final_eval.key == tuned.evaluations["pretrain"].key
    assert len(study_cells(dataclasses.replace(study, baseline=False))) == 8 + 2


def test_none_crossed_with_instruction_axes_is_refused():
    study = StudyDefinition(Config(), grid={"instruct.curriculum": ["none", "merged"], "instruct.lr": [1e-3, 1e-4]})
    with pytest.raises(
        ConfigError, match=r"'none' crossed with \['instruct.lr'\], which mean nothing without instruction tuning"
    ):
        check_definition(study)


def test_bad_study_definitions_fail_together_before_any_trial():
    study = StudyDefinition(
        Config(),
        grid={
            "model.preset": ["tiny", "7b"],
            "instruct.curriculum": ["merged", "hardest_first"],
            "budget.instruct_fraction": [0.1, 1.0],
            "eval.tasks": [["blimp", "glu"]],
            "model.presett": ["tiny"],
        },
    )
    with pytest.raises(ConfigError) as err:
        check_definition(study)
    text = str(err.value)
    for expected in (
        "model.preset",
        "'7b'",
        "instruct.curriculum",
        "hardest_first",
        "budget.instruct_fraction",
        "[0, 1)",
        "eval.tasks",
        "'glu'",
        "model.presett",
    ):
        assert expected in text, expected
    with pytest.raises(ConfigError, match="search dimension 'instruct.lr': ranges need algorithm 'optuna'"):
        check_definition(StudyDefinition(Config(), search={"instruct.lr": ("loguniform", 1e-4, 1e-2)}))


def test_bad_paths_fail_with_the_field_named(tmp_path):
    not_a_corpus = tmp_path / "notes"
    not_a_corpus.mkdir()
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    cfg = apply_overrides(
        Config(),
        {
            "corpus.data_dir": str(not_a_corpus),
            "eval.eval_dir": str(tmp_path / "missing"),
            "study.storage_path": str(blocker / "results"),
        },
    )
    with pytest.raises(ConfigError) as err:
        check_inputs(cfg)
    text = str(err.value)
    assert "corpus.data_dir" in text and "no BabyLM source files" in text
    assert "eval.eval_dir" in text and "evaluation_data/" in text
    assert "study.storage_path" in text and "not writable" in text


# ---- keys known before anything runs -------------------------------------------------------------
def test_a_logger_without_its_package_is_refused_before_any_trial(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a))
    cfg = apply_overrides(Config(), {"study.storage_path": str(tmp_path), "study.loggers": ["tensorboard", "mlflow"]})
    with pytest.raises(
        ConfigError, match=r"study.loggers: 'mlflow' needs the mlflow package; expected `pip install mlflow`"
    ):
        check_inputs(cfg)
    from classit_ray.study.runner import logger_callbacks

    assert [type(c).__name__ for c in logger_callbacks(Config())] == ["TBXLoggerCallback"]


def test_training_workers_ask_for_extra_resources_outside_the_key_and_clusters_retry_trials():
    from classit_ray.study.runner import trial_retries

    plain = build_graph(Config(), "/store").pretrain.spec
    pinned = build_graph(
        apply_overrides(Config(), {"pretrain.worker_resources": {"trainer": 1}}), "/store"
    ).pretrain.spec
    assert (
        pinned.worker_resources == {"trainer": 1.0} and pinned.key == plain.key
    )  # where it trains is not what it trains
    assert trial_retries(Config()) == 0  # one machine: a failure is the cell's own
    assert trial_retries(apply_overrides(Config(), {"study.ray_address": "auto"})) == 2  # a cluster can lose a node


def test_a_cell_is_one_graph_with_an_evaluation_at_every_endpoint():
    kinds = lambda cur: [
        n.label
        for n in build_graph(apply_overrides(Config(), {"instruct.curriculum": cur}), "/x").nodes  # noqa: E731
        if n.kind in ("pretrain", "instruct", "eval", "curve")
    ]
    assert kinds("none") == ["pretrain", "eval@pretrain", "learning curve"]
    assert kinds("merged") == [
        "pretrain",
        "eval@pretrain",
        "learning curve",
        "instruct 1/1 (switchboard+simple_wiki)",
        "eval@final",
    ]
    assert kinds("wiki>switchboard") == [
        "pretrain",
        "eval@pretrain",
        "learning curve",
        "instruct 1/2 (simple_wiki)",
        "eval@stage1",
        "instruct 2/2 (switchboard)",
        "eval@final",
    ]
    graph = build_graph(
        apply_overrides(Config(), {"instruct.curriculum": "wiki>switchboard", "eval.checkpoints": []}), "/x"
    )
    assert not graph.of_kind("curve")
    assert [n.kind for n in graph.upto("pretrain")] == ["toyworld", "split", "tokenizer", "pretrain_shards", "pretrain"]
    # Each node needs only nodes before it, and a stage starts from the final checkpoint of the one before.
    seen: set[str] = set()
    for node in graph.nodes:
        assert set(node.needs) <= seen, node.label
        seen.add(node.key)
    one, two = graph.of_kind("instruct")
    assert two.spec.init_from == f"{one.path}/final" and one.key in two.needs


def test_relative_paths_are_made_absolute_before_trials_change_directory(tmp_path, monkeypatch):
    from classit_ray.study.runner import study_dir, with_absolute_paths

    monkeypatch.chdir(tmp_path)
    cfg = apply_overrides(
        Config(),
        {
            "study.storage_path": "results",
            "study.name": "s",
            "corpus.data_dir": "babylm",
            "eval.eval_dir": "~/evaluation_data",
            "study.work_dir": "s3://bucket/store",
        },
    )
    assert study_dir(cfg) == str(tmp_path.resolve() / "results" / "s")  # a relative one broke Tuner.can_restore
    fixed = with_absolute_paths(cfg)
    assert fixed.study.storage_path == str(
        tmp_path.resolve() / "results"
    )  # trials run elsewhere: it broke the artifact store
    assert fixed.corpus.data_dir == str(tmp_path.resolve() / "babylm")
    assert fixed.eval.eval_dir == str(Path("~/evaluation_data").expanduser().resolve())
    assert (fixed.study.work_dir, fixed.corpus.instruct_dir) == (
        "s3://bucket/store",
        "",
    )  # URIs and "unset" stay as they are


def test_plan_keys_do_not_depend_on_where_the_store_is():
    cfg = Config()
    one = [n.key for n in build_graph(cfg, Path("/store/a")).nodes]
    two = [n.key for n in build_graph(cfg, Path("/elsewhere/b")).nodes]
    assert one == two


# ---- command lines -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "script, expected",
    [
        # (3 curricula + a baseline) × 2 sizes × 3 seeds; evaluations: per size and seed the pretrained
        # model, the merged final, and stage 1 and final of each sequential curriculum; one learning
        # curve per size and seed.
        (
            "curriculum_grid.py",
            ["24 cell(s)", "pretrain 24 -> 6", "instruct 30 -> 30", "eval 54 -> 36", "curve 24 -> 6"],
        ),
        # 4 fractions, their 4 baselines, and p = 0 (no instruction stage)
        # The other two scripts run the same code: the fast lane leaves them out.
        pytest.param(
            "budget_split.py",
            ["9 cell(s)", "pretrain 9 -> 5", "instruct 4 -> 4", "eval 13 -> 9"],
            marks=pytest.mark.slow,
        ),
        pytest.param(
            "loss_masking.py",
            ["3 cell(s)", "pretrain 3 -> 1", "instruct 2 -> 2", "eval 5 -> 3"],
            marks=pytest.mark.slow,
        ),
    ],
)
def test_dry_run_prints_cells_unique_stages_and_resources(script, expected, tmp_path):
    out = subprocess.run(
        [sys.executable, str(ROOT / "studies" / script), "--dry-run", "--storage", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    text = " ".join(out.stdout.split())
    for line in [*expected, "resources:", "at once"]:
        assert line in text, (line, out.stdout)
    assert not (tmp_path / "artifacts" / "split").exists()  # nothing was computed


@pytest.mark.slow
def test_paper_scale_dry_run_uses_the_paper_presets(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "studies" / "curriculum_grid.py"),
            "--dry-run",
            "--scale",
            "paper",
            "--storage",
            str(tmp_path),
            "--seeds",
            "3",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert (
        "24 cell(s)" in out.stdout and "model.preset=100m" in out.stdout and "model.preset=140m" in out.stdout
    )  # 18 + 6 baselines
    assert "1 GPU" in out.stdout
    # The GPU-hours of its training on the shipped cluster.yaml's GPU worker, said to be an estimate.
    assert re.search(
        r"GPU-hours +on g5\.2xlarge \(1 × A10G, node type gpu_worker of \S+cluster\.yaml\): ≈ \d+ for the training stages",
        out.stdout,
    )
    assert "an estimate, not a measurement" in out.stdout
    # The paper's recipe (classit_ray/recipes.py): 8 epochs of pretraining, 10 of instruction tuning.
    text = " ".join(out.stdout.split())
    assert re.search(r"pretrain \S+ \[8 epochs", text) and re.search(
        r"instruct 1/1 \(switchboard\+simple_wiki\) \S+ \[10 epochs", text
    )


@pytest.mark.slow
def test_study_command_reports_bad_input_in_one_message(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "studies" / "curriculum_grid.py"),
            "--dry-run",
            "--storage",
            str(tmp_path),
            "--data-dir",
            str(tmp_path / "nowhere"),
            "--set",
            "model.preset=huge",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "model.preset" in out.stderr and "huge" in out.stderr


def test_grid_picks_a_subset_of_the_studys_own_axes():
    """`--grid AXIS=V1,V2` narrows an axis the study has: one size, one curriculum and one seed is one
    cell and its baseline; an axis the study lacks, or no value, is a config error naming it."""
    sys.path.insert(0, str(ROOT / "studies"))
    try:
        import curriculum_grid
    finally:
        sys.path.pop(0)
    parse = study_parser("curriculum_grid.py", "").parse_args
    args = parse(["--grid", "model.preset=tiny", "--grid", "instruct.curriculum=merged", "--seeds", "1"])
    study = apply_arguments(curriculum_grid.build(), args)
    assert study.grid["model.preset"] == ["tiny"] and study.grid["budget.instruct_fraction"] == [0.087]
    cells = study_cells(study)
    assert sorted(c["instruct.curriculum"] for c in cells) == ["merged", "none"]
    fractions = apply_arguments(curriculum_grid.build(), parse(["--grid", "budget.instruct_fraction=0.05,0.1"]))
    assert fractions.grid["budget.instruct_fraction"] == [0.05, 0.1]
    with pytest.raises(ConfigError, match=r"--grid nope: not an axis of this study[\s\S]*--grid 'x': expected"):
        apply_arguments(curriculum_grid.build(), parse(["--grid", "nope=1", "--grid", "x"]))
