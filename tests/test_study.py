"""Studies: definitions and their checks, stage keys known before anything runs, run-once
coordination, the toy curriculum grid end to end (and run again), the notebook, cluster YAML."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import kill_ray_session_of

from classit_ray.config import Config, ConfigError, apply_overrides
from classit_ray.data.prepare import plan_data
from classit_ray.study.definition import StudyDefinition, cell_config, check_definition, grid_cells
from classit_ray.study.runner import check_inputs, plan_cell, run_study
from classit_ray.train.stage import instruct_specs, pretrain_spec

ROOT = Path(__file__).resolve().parents[1]


# ---- definitions ---------------------------------------------------------------------------------
def test_grid_cells_cross_every_axis_and_seed_sets_both_training_seeds():
    study = StudyDefinition(Config(), grid={"model.preset": ["tiny", "tiny-deep"], "seed": [0, 1], "instruct.curriculum": ["merged"]})
    cells = grid_cells(study)
    assert len(cells) == 4 and cells[0] == {"model.preset": "tiny", "seed": 0, "instruct.curriculum": "merged"}
    cfg = cell_config(study.base, cells[1])
    assert (cfg.model.preset, cfg.pretrain.seed, cfg.instruct.seed) == ("tiny", 1, 1)


def test_cells_are_dealt_round_robin_over_their_pretrainings():
    study = StudyDefinition(Config(), grid={"model.preset": ["tiny", "tiny-deep"], "instruct.curriculum": ["merged", "switchboard>wiki"]})
    cells = grid_cells(study, group=lambda c: c["model.preset"])
    assert [c["model.preset"] for c in cells] == ["tiny", "tiny-deep", "tiny", "tiny-deep"]


def test_bad_study_definitions_fail_together_before_any_trial():
    study = StudyDefinition(Config(), grid={
        "model.preset": ["tiny", "7b"], "instruct.curriculum": ["merged", "hardest_first"],
        "budget.instruct_fraction": [0.1, 1.0], "eval.tasks": [["blimp", "glu"]], "model.presett": ["tiny"],
    })
    with pytest.raises(ConfigError) as err:
        check_definition(study)
    text = str(err.value)
    for expected in ("model.preset", "'7b'", "instruct.curriculum", "hardest_first", "budget.instruct_fraction",
                     "[0, 1)", "eval.tasks", "'glu'", "model.presett"):
        assert expected in text, expected
    with pytest.raises(ConfigError, match="search dimension 'instruct.lr': ranges need algorithm 'optuna'"):
        check_definition(StudyDefinition(Config(), search={"instruct.lr": ("loguniform", 1e-4, 1e-2)}))


def test_bad_paths_fail_with_the_field_named(tmp_path):
    not_a_corpus = tmp_path / "notes"
    not_a_corpus.mkdir()
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    cfg = apply_overrides(Config(), {"corpus.data_dir": str(not_a_corpus), "eval.eval_dir": str(tmp_path / "missing"),
                                     "study.storage_path": str(blocker / "results")})
    with pytest.raises(ConfigError) as err:
        check_inputs(cfg)
    text = str(err.value)
    assert "corpus.data_dir" in text and "no BabyLM source files" in text
    assert "eval.eval_dir" in text and "evaluation_data/" in text
    assert "study.storage_path" in text and "not writable" in text


# ---- keys known before anything runs -------------------------------------------------------------
def test_planned_keys_equal_the_keys_of_the_built_stages(prepared):
    cfg = prepared.config
    plan = plan_data(cfg, prepared.split_dir.parent.parent)
    assert {k: v for k, v in plan.keys.items() if k in prepared.keys} == prepared.keys
    assert pretrain_spec(cfg, plan, resolve=False).key == pretrain_spec(cfg, prepared).key
    planned = [s.key for s in instruct_specs(cfg, plan, resolve=False)]
    assert planned == [s.key for s in instruct_specs(cfg, prepared)]


def test_relative_paths_are_made_absolute_before_trials_change_directory(tmp_path, monkeypatch):
    from classit_ray.study.runner import study_dir, with_absolute_paths

    monkeypatch.chdir(tmp_path)
    cfg = apply_overrides(Config(), {"study.storage_path": "results", "study.name": "s", "corpus.data_dir": "babylm",
                                     "eval.eval_dir": "~/evaluation_data", "study.work_dir": "s3://bucket/store"})
    assert study_dir(cfg) == str(tmp_path.resolve() / "results" / "s")  # a relative one broke Tuner.can_restore
    fixed = with_absolute_paths(cfg)
    assert fixed.study.storage_path == str(tmp_path.resolve() / "results")  # trials run elsewhere: it broke the artifact store
    assert fixed.corpus.data_dir == str(tmp_path.resolve() / "babylm")
    assert fixed.eval.eval_dir == str(Path("~/evaluation_data").expanduser().resolve())
    assert (fixed.study.work_dir, fixed.corpus.instruct_dir) == ("s3://bucket/store", "")  # URIs and "unset" stay as they are


def test_plan_keys_do_not_depend_on_where_the_store_is():
    cfg = Config()
    one = [s.key for s in plan_cell(cfg, Path("/store/a"))]
    two = [s.key for s in plan_cell(cfg, Path("/elsewhere/b"))]
    assert one == two
    assert [s.kind for s in plan_cell(cfg, Path("/x"))][-3:] == ["pretrain", "instruct", "eval"]  # merged: one instruction stage


def test_trials_at_once_follow_gpus_or_cores(monkeypatch):
    from classit_ray.study import resources

    gpu = apply_overrides(Config(), {"pretrain.use_gpu": True, "pretrain.num_workers": 2, "pretrain.micro_batch_size": 8, "instruct.micro_batch_size": 8})
    assert resources.plan_resources(gpu, cluster_gpus=8).concurrent == 4  # 8 GPUs ÷ 2 per trial
    assert resources.plan_resources(gpu, cluster_gpus=1).concurrent == 1
    monkeypatch.setattr(resources, "physical_cores", lambda: 8)
    cpu = resources.plan_resources(Config())
    assert (cpu.concurrent, cpu.torch_threads) == (8, 1) and cpu.logical_cpus >= 8 * 3
    two = resources.plan_resources(apply_overrides(Config(), {"study.max_concurrent_trials": 2}))
    assert (two.concurrent, two.torch_threads) == (2, 4)  # the cores are shared out, never oversubscribed


# ---- run once ------------------------------------------------------------------------------------
def test_concurrent_callers_run_a_stage_once(ray_session, tmp_path):
    import ray

    from classit_ray.study.once import run_once

    marker = tmp_path / "built"

    @ray.remote(num_cpus=0)
    def caller():
        def build():
            if marker.exists():
                return "reused"
            time.sleep(2)  # long enough that every caller arrives while it runs
            marker.write_text(str(os.getpid()))
            return "built"

        return run_once("test", "k1", build)

    answers = ray.get([caller.remote() for _ in range(3)])
    assert sorted(answers) == ["built", "reused", "reused"]

    def failing():
        raise ValueError("data.parquet: column 'prompt' missing")

    with pytest.raises(ValueError, match="column 'prompt' missing"):  # the stage's own error, not Ray's wrapper
        run_once("test", "k2", failing)


def test_a_waiter_takes_over_when_the_lease_holder_dies(ray_session, tmp_path):
    import ray

    from classit_ray.study.once import run_once

    started, built = tmp_path / "started", tmp_path / "built"

    @ray.remote(num_cpus=0, max_retries=0)
    def caller(hang: bool):
        def build():
            if built.exists():
                return "reused"
            started.write_text("")
            if hang:
                time.sleep(600)  # killed before it finishes
            built.write_text("")
            return "built"

        return run_once("test", "k3", build)

    holder = caller.remote(True)
    deadline = time.time() + 60
    while not started.exists() and time.time() < deadline:
        time.sleep(0.1)
    waiter = caller.remote(False)
    time.sleep(1)  # the waiter is now waiting on the holder's lease
    ray.cancel(holder, force=True)  # the holder's process dies, and its lease with it
    assert ray.get(waiter, timeout=120) == "built"  # the waiter took the lease and ran the stage itself


# ---- the toy grid end to end ---------------------------------------------------------------------
def _toy_study(storage: Path, name: str) -> StudyDefinition:
    """The curriculum grid at its smallest: one tiny size, the three curricula, one seed, plus a
    fraction the toy pairs cannot fill (those trials fail; the others must not)."""
    sys.path.insert(0, str(ROOT / "studies"))
    try:
        import curriculum_grid
    finally:
        sys.path.pop(0)
    study = curriculum_grid.build()
    base = apply_overrides(study.base, {
        "study.name": name, "study.storage_path": str(storage), "study.toy_words": 40_000, "study.max_concurrent_trials": 2,
        "budget.total_words": 20_000, "pretrain.seq_len": 64, "pretrain.epochs": 1, "pretrain.shard_rows": 200,
        "instruct.epochs": 1, "eval.tasks": ["blimp", "ewok", "wug_adj", "reading", "glue"], "eval.finetune_epochs": 1,
    })
    return dataclasses.replace(study, base=base, grid={"model.preset": ["tiny"], "seed": [0],
                                                       "instruct.curriculum": ["merged", "switchboard>wiki", "wiki>switchboard"],
                                                       "budget.instruct_fraction": [0.1, 0.95]})


def _manifests(store: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime for p in store.rglob("manifest.json")}


@pytest.fixture(scope="module")
def toy_study(ray_session, tmp_path_factory):
    storage = tmp_path_factory.mktemp("studies")
    df = run_study(_toy_study(storage, "grid"))
    return storage, df


@pytest.mark.slow
def test_toy_grid_one_row_per_cell_with_real_metrics(toy_study):
    storage, df = toy_study
    assert len(df) == 6 and (storage / "grid" / "results.parquet").is_file() and (storage / "grid" / "results.csv").is_file()
    ok, failed = df[df["status"] == "ok"], df[df["status"] == "error"]
    assert len(ok) == 3 and sorted(ok["instruct.curriculum"]) == ["merged", "switchboard>wiki", "wiki>switchboard"]
    # A trial that fails reports its error and leaves the others alone.
    assert len(failed) == 3 and (failed["budget.instruct_fraction"] == 0.95).all()
    assert failed["error"].str.contains("BudgetError: .*instruct_fraction 0.95").all()
    for metric in ("eval/blimp", "eval/ewok", "eval/wug_adj", "eval/reading_eye", "eval/glue_avg", "pretrain/loss", "instruct/loss"):
        assert ok[metric].notna().all(), metric
    assert ok["eval/blimp"].between(0, 1).all() and (ok["instruct/loss"] > 0).all()
    assert ok["eval/blimp"].nunique() > 1  # three different models, three different scores
    # The three curricula share one pretraining, and it ran once (they started side by side).
    assert ok["key/pretrain"].nunique() == 1 and ok["executed/pretrain"].sum() == 1
    assert (ok["executed/eval"] == 1).all() and ok["key/model"].nunique() == 3
    # Each trial's wall time splits into its own compute, waiting on shared stages, and Ray's overhead.
    assert (ok["time/compute_s"] > 0).all() and (ok["time/waited_s"] >= 0).all() and (ok["time/ray_overhead_s"] > 0).all()
    assert (ok["time/compute_s"] + ok["time/waited_s"] + ok["time/ray_overhead_s"] - ok["time/cell_s"]).abs().max() < 1e-6
    for _, row in ok.iterrows():  # and stage by stage: [seconds, own compute or None when waited on or reused]
        stages = json.loads(row["time/stages"])
        assert list(stages)[:3] == ["toyworld", "split", "tokenizer"] and list(stages)[-1] == "eval" and "pretrain" in stages
        assert all(own is None or 0 <= own <= seconds for seconds, own in stages.values())
        assert (stages["pretrain"][1] is None) == (row["executed/pretrain"] == 0)
    # The keys the trials used are the ones the plan (and --dry-run) computed beforehand.
    study = _toy_study(storage, "grid")
    for _, row in ok.iterrows():
        cell = {"model.preset": "tiny", "seed": 0, "instruct.curriculum": row["instruct.curriculum"], "budget.instruct_fraction": 0.1}
        planned = {s.kind: s.key for s in plan_cell(cell_config(study.base, cell), storage / "artifacts")}
        assert (planned["pretrain"], planned["eval"]) == (row["key/pretrain"], row["key/eval"])
    assert (storage / "grid" / "report.md").is_file()


_KILLABLE_DRIVER = """
import dataclasses, sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from test_study import _toy_study
from classit_ray.study.runner import run_study
study = _toy_study(Path({storage!r}), "killed")
run_study(dataclasses.replace(study, grid={{"model.preset": ["tiny"], "seed": [0], "instruct.curriculum": ["merged"],
                                           "budget.instruct_fraction": [0.1]}}))
"""


@pytest.mark.slow
def test_a_study_driver_killed_mid_study_resumes_without_recomputing(toy_study, tmp_path):
    """SIGKILL the driver (and the Ray it started: its process group) once the pretraining has
    finished; the same command again restores the experiment, reuses every finished stage and
    writes the row an uninterrupted study wrote."""
    import signal

    storage = tmp_path / "storage"
    command = [sys.executable, "-c", _KILLABLE_DRIVER.format(tests=str(ROOT / "tests"), storage=str(storage))]
    log = open(tmp_path / "killed.log", "w")
    driver = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 400
    try:
        while time.monotonic() < deadline and driver.poll() is None and not list((storage / "artifacts" / "pretrain").glob("*/manifest.json")):
            time.sleep(0.2)
        assert driver.poll() is None, (tmp_path / "killed.log").read_text()[-3000:]
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait(timeout=30)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
        log.close()
    # Ray's daemons are not all in the driver's process group and outlive it for a moment (as
    # after a real crash); the test must not leave them running.
    kill_ray_session_of(driver.pid)
    assert not (storage / "killed" / "results.parquet").exists()  # it was killed before the end
    finished = _manifests(storage / "artifacts")
    assert any("/pretrain/" in path for path in finished)

    rerun = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    after = _manifests(storage / "artifacts")
    assert {p: after[p] for p in finished} == finished  # no finished stage was rewritten
    row = pd.read_parquet(storage / "killed" / "results.parquet").iloc[0]
    assert row["status"] == "ok" and row["executed/pretrain"] == 0
    _, uninterrupted = toy_study
    reference = uninterrupted[(uninterrupted["instruct.curriculum"] == "merged") & (uninterrupted["status"] == "ok")].iloc[0]
    for column in [c for c in reference.index if c.startswith(("key/", "eval/"))]:
        assert row[column] == pytest.approx(reference[column], rel=1e-6) if isinstance(reference[column], float) else row[column] == reference[column], column


@pytest.mark.slow
def test_rerunning_the_same_study_recomputes_nothing(toy_study):
    storage, first = toy_study
    before = _manifests(storage / "artifacts")
    again = run_study(_toy_study(storage, "grid"))  # Tuner.restore: every trial is already finished
    assert _manifests(storage / "artifacts") == before
    cols = ["instruct.curriculum", "status", "eval/blimp", "key/eval"]
    pd.testing.assert_frame_equal(again[cols], first[cols])


@pytest.mark.slow
def test_a_second_study_reuses_the_first_ones_stages(toy_study):
    storage, first = toy_study
    before = _manifests(storage / "artifacts")
    other = run_study(_toy_study(storage, "another_study"))  # a new Tune experiment, the same artifact store
    assert _manifests(storage / "artifacts") == before
    ok = other[other["status"] == "ok"]
    assert len(ok) == 3 and ok[["executed/data", "executed/pretrain", "executed/instruct", "executed/eval"]].sum().sum() == 0
    assert sorted(ok["eval/blimp"]) == sorted(first.loc[first["status"] == "ok", "eval/blimp"])


@pytest.mark.slow
def test_optuna_search_over_the_same_definition(toy_study):
    storage, _ = toy_study
    study = _toy_study(storage, "optuna")
    study = dataclasses.replace(study, grid={"instruct.curriculum": ["merged"], "budget.instruct_fraction": [0.1]}, algorithm="optuna", num_samples=2,
                                search={"instruct.lr": ("loguniform", 1e-4, 3e-3)})
    df = run_study(study)
    assert len(df) == 2 and (df["status"] == "ok").all()
    assert df["instruct.lr"].nunique() == 2 and df["instruct.lr"].between(1e-4, 3e-3).all()  # Optuna's draws
    assert df["executed/pretrain"].sum() == 0  # the grid study's pretraining, reused
    assert df["eval/blimp"].notna().all()
    with pytest.raises(ConfigError, match="asha: not with algorithm 'optuna'"):
        run_study(dataclasses.replace(study, asha=True), dry_run=True)


@pytest.mark.slow
def test_asha_sees_instruct_loss_while_instruction_tuning_runs(toy_study):
    storage, _ = toy_study
    study = _toy_study(storage, "asha")
    df = run_study(dataclasses.replace(study, grid={"instruct.curriculum": ["merged"], "budget.instruct_fraction": [0.1], "instruct.lr": [2e-3]}, asha=True))
    assert len(df) == 1 and df.loc[0, "status"] == "ok"
    assert df.loc[0, "executed/instruct"] == 1  # a new instruction stage, which reported to Tune as it trained:
    assert df.loc[0, "tune/reports"] == 2  # its checkpoint's instruct/loss, then the cell's row


@pytest.mark.slow
def test_notebook_runs_top_to_bottom_on_a_finished_study(toy_study, tmp_path):
    import nbformat
    from nbclient import NotebookClient

    storage, _ = toy_study
    nb = nbformat.read(ROOT / "analysis" / "trials.ipynb", as_version=4)
    os.environ["CLASSIT_STUDY_DIR"] = str(storage / "grid")
    try:
        NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    finally:
        del os.environ["CLASSIT_STUDY_DIR"]
    outputs = "".join(o.get("text", "") + json.dumps(o.get("data", {})) for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "3 trials" in outputs and "image/png" in outputs and "merged" in outputs


# ---- command lines -------------------------------------------------------------------------------
@pytest.mark.parametrize("script, expected", [
    ("curriculum_grid.py", ["6 cell(s)", "pretrain 6 -> 2", "instruct 10 -> 10", "eval 6 -> 6"]),
    ("budget_split.py", ["5 cell(s)", "pretrain 5 -> 5", "instruct 4 -> 4"]),  # p = 0 has no instruction stage
    ("loss_masking.py", ["2 cell(s)", "pretrain 2 -> 1", "instruct 2 -> 2"]),
])
def test_dry_run_prints_cells_unique_stages_and_resources(script, expected, tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "studies" / script), "--dry-run", "--storage", str(tmp_path)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    text = " ".join(out.stdout.split())
    for line in [*expected, "resources:", "at once"]:
        assert line in text, (line, out.stdout)
    assert not (tmp_path / "artifacts" / "split").exists()  # nothing was computed


def test_paper_scale_dry_run_uses_the_paper_presets(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "studies" / "curriculum_grid.py"), "--dry-run", "--scale", "paper",
                          "--storage", str(tmp_path), "--seeds", "3"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "18 cell(s)" in out.stdout and "model.preset=100m" in out.stdout and "model.preset=140m" in out.stdout
    assert "1 GPU" in out.stdout


def test_study_command_reports_bad_input_in_one_message(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "studies" / "curriculum_grid.py"), "--dry-run", "--storage", str(tmp_path),
                          "--data-dir", str(tmp_path / "nowhere"), "--set", "model.preset=huge"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "model.preset" in out.stderr and "huge" in out.stderr


