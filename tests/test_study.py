"""Studies that run: run-once coordination, the toy curriculum grid end to end (and run again, and
killed mid-study), searches over it, and the notebook on its results. What is decided before a
study runs (definitions, keys, dry runs) is in test_study_plan.py."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import kill_ray_session_of

from classit_ray.cell.graph import build_graph
from classit_ray.config import Config, ConfigError
from classit_ray.config_load import apply_overrides
from classit_ray.study.definition import StudyDefinition, cell_config, study_cells
from classit_ray.study.runner import run_study

ROOT = Path(__file__).resolve().parents[1]


# ---- run once ------------------------------------------------------------------------------------
def test_only_stages_that_several_cells_need_take_a_lease():
    from classit_ray.study.runner import plan_stages, shared_stages

    study = StudyDefinition(
        Config(), grid={"model.preset": ["tiny"], "instruct.curriculum": ["merged", "switchboard>wiki"]}
    )
    cells = study_cells(study)
    shared = shared_stages(study, plan_stages(study, cells, Path("/store"))[2])
    merged = build_graph(cell_config(study.base, cells[0]), "/store")
    assert merged.pretrain.key in shared and merged.evaluations["pretrain"].key in shared  # the baseline's too
    assert not {n.key for n in merged.of_kind("instruct")} & shared and merged.final_eval.key not in shared
    assert (
        shared_stages(dataclasses.replace(study, num_samples=2), plan_stages(study, cells, Path("/store"))[2]) is None
    )


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
    """The curriculum grid at its smallest: one tiny size, the three curricula and the baseline,
    one seed, plus a fraction the toy pairs cannot fill (those trials fail; the others must not)."""
    sys.path.insert(0, str(ROOT / "studies"))
    try:
        import curriculum_grid
    finally:
        sys.path.pop(0)
    study = curriculum_grid.build()
    base = apply_overrides(
        study.base,
        {
            "study.name": name,
            "study.storage_path": str(storage),
            "study.toy_words": 40_000,
            "study.max_concurrent_trials": 2,
            "budget.total_words": 20_000,
            "pretrain.seq_len": 64,
            "pretrain.epochs": 1,
            "pretrain.shard_rows": 200,
            "instruct.epochs": 1,
            "eval.tasks": ["blimp", "ewok", "wug_adj", "reading"],  # GLUE: test_finetune.py
        },
    )
    return dataclasses.replace(
        study,
        base=base,
        grid={
            "model.preset": ["tiny"],
            "seed": [0],
            "instruct.curriculum": ["merged", "switchboard>wiki", "wiki>switchboard"],
            "budget.instruct_fraction": [0.1, 0.95],
        },
    )


def _manifests(store: Path) -> dict[str, float]:
    return {str(p): p.stat().st_mtime for p in store.rglob("manifest.json")}


@pytest.fixture(scope="module")
def toy_study(ray_session, tmp_path_factory):
    """The toy grid, run once; what it printed is kept in `<storage>/grid.console`."""
    import contextlib
    import io

    storage = tmp_path_factory.mktemp("studies")
    console = io.StringIO()
    with contextlib.redirect_stdout(console), contextlib.redirect_stderr(console):
        df = run_study(_toy_study(storage, "grid"))
    (storage / "grid.console").write_text(console.getvalue())
    print(console.getvalue())
    return storage, df


@pytest.mark.slow
def test_toy_grid_one_row_per_cell_with_real_metrics(toy_study):
    from classit_ray.analysis import stage_deltas

    storage, df = toy_study
    assert (
        len(df) == 8
        and (storage / "grid" / "results.parquet").is_file()
        and (storage / "grid" / "results.csv").is_file()
    )
    ok, failed = df[df["status"] == "ok"], df[df["status"] == "error"]
    assert len(ok) == 4 and sorted(ok["instruct.curriculum"]) == [
        "merged",
        "none",
        "switchboard>wiki",
        "wiki>switchboard",
    ]
    # A trial that fails reports its error and leaves the others alone.
    assert len(failed) == 4 and (failed["budget.instruct_fraction"] == 0.95).all()
    assert failed["error"].str.contains("BudgetError: .*instruct_fraction 0.95").all()
    for metric in (
        "eval/blimp",
        "eval/ewok",
        "eval/wug_adj",
        "eval/reading_eye",
        "pretrain/loss",
        "eval/blimp@pretrain",
        "curve",
    ):
        assert ok[metric].notna().all(), metric
    assert ok["eval/blimp"].between(0, 1).all()
    assert ok["eval/blimp"].nunique() > 1  # different models, different scores
    tuned, none = ok[ok["instruct.curriculum"] != "none"], ok[ok["instruct.curriculum"] == "none"].iloc[0]
    assert (tuned["instruct/loss"] > 0).all()
    # The baseline trains nothing: its model is the shared pretraining, and its final score is the pretrained score.
    assert (
        none["executed/instruct"] == 0 and none["key/model"] == none["key/pretrain"] and pd.isna(none["instruct/loss"])
    )
    assert none["eval/blimp"] == none["eval/blimp@pretrain"] and none["key/eval"] == none["key/eval@pretrain"]
    # A sequential cell has its stage-1 scores; the merged one (one stage) has none.
    sequential = ok["instruct.curriculum"].isin(["switchboard>wiki", "wiki>switchboard"])
    assert (
        ok.loc[sequential, "eval/blimp@stage1"].notna().all() and ok.loc[~sequential, "eval/blimp@stage1"].isna().all()
    )
    # Gain and forgetting are the differences of the row's own scores.
    deltas = stage_deltas(ok).set_index(["trial", "task"])
    for i, row in ok.iterrows():
        assert deltas.loc[(i, "eval/blimp"), "gain"] == pytest.approx(row["eval/blimp"] - row["eval/blimp@pretrain"])
        stage1 = row["eval/blimp@stage1"]
        forgetting = deltas.loc[(i, "eval/blimp"), "forgetting"]
        assert forgetting == pytest.approx(stage1 - row["eval/blimp"]) if pd.notna(stage1) else pd.isna(forgetting)
    # Every cell shares one pretraining, its evaluation and its learning curve, each computed once
    # (they started side by side); every other evaluation is a cell's own.
    assert ok["key/pretrain"].nunique() == 1 and ok["executed/pretrain"].sum() == 1
    assert ok["key/curve"].nunique() == 1 and ok["executed/curve"].sum() == 1 and ok["curve"].nunique() == 1
    assert (
        ok["key/eval@pretrain"].nunique() == 1 and ok["executed/eval"].sum() == 1 + 1 + 2 + 2
    )  # pretrain, merged, 2 × (stage 1, final)
    assert ok["key/model"].nunique() == 4
    points = json.loads(ok["curve"].iloc[0])
    assert points and [p["words_seen"] for p in points] == sorted(p["words_seen"] for p in points)
    assert all(0 <= p["metrics"]["eval/blimp"] <= 1 and p["checkpoint"].startswith("chck_") for p in points)
    # Each trial's wall time splits into its own compute, waiting on shared stages, and Ray's overhead.
    assert (
        (ok["time/compute_s"] >= 0).all() and (ok["time/waited_s"] >= 0).all() and (ok["time/ray_overhead_s"] > 0).all()
    )
    assert (
        ok["time/compute_s"] + ok["time/waited_s"] + ok["time/ray_overhead_s"] - ok["time/cell_s"]
    ).abs().max() < 1e-6
    for _, row in ok.iterrows():  # and stage by stage: [seconds, own compute or None when waited on or reused]
        stages = json.loads(row["time/stages"])
        assert (
            list(stages)[:3] == ["toyworld", "split", "tokenizer"]
            and "pretrain" in stages
            and "eval@pretrain" in stages
        )
        assert all(own is None or 0 <= own <= seconds for seconds, own in stages.values())
        assert (stages["pretrain"][1] is None) == (row["executed/pretrain"] == 0)
    # What each trial walked is, node for node, the graph the plan (and --dry-run) built beforehand.
    study = _toy_study(storage, "grid")
    for _, row in ok.iterrows():
        cell = {
            "model.preset": "tiny",
            "seed": 0,
            "instruct.curriculum": row["instruct.curriculum"],
            "budget.instruct_fraction": 0.1,
        }
        planned = [n.key for n in build_graph(cell_config(study.base, cell), storage / "artifacts").nodes]
        assert json.loads(row["keys/graph"]) == planned
    assert (storage / "grid" / "report.md").is_file()


def _tensorboard_scalars(path: Path) -> dict[str, list[tuple[int, float]]]:
    """tag -> [(step, value)] of one TensorBoard event file (TFRecord framing: length, crc, event, crc)."""
    import struct

    from tensorboardX.proto import event_pb2

    scalars: dict[str, list[tuple[int, float]]] = {}
    data, at = path.read_bytes(), 0
    while at < len(data):
        (length,) = struct.unpack("<Q", data[at : at + 8])
        event = event_pb2.Event.FromString(data[at + 12 : at + 12 + length])
        at += 12 + length + 4
        for value in event.summary.value:
            scalars.setdefault(value.tag, []).append((event.step, value.simple_value))
    return scalars


@pytest.mark.slow
def test_each_cells_training_curve_and_scores_land_in_tensorboard(toy_study):
    storage, df = toy_study
    files = {f.parent.name: f for f in (storage / "grid").rglob("events.out.tfevents.*")}
    assert len(files) == len(df)  # one per trial, in its folder under the study's
    curves = [_tensorboard_scalars(f) for f in files.values()]
    tuned = [c for c in curves if "ray/tune/instruct/loss" in c]  # the row's final instruction loss
    assert len(tuned) == 3  # the three curricula that trained (the 0.95 cells fail before any stage)
    for scalars in tuned:
        loss, speed = scalars["ray/tune/train/loss"], scalars["ray/tune/train/tokens_per_s"]
        steps = [s for s, _ in loss]
        assert (
            len(steps) >= 20 and steps == sorted(set(steps)) and steps[0] == 1
        )  # optimizer steps along the whole path
        assert len(speed) >= 2  # one per training stage: pretraining, then instruction tuning
        pretrained = speed[0][0]  # where pretraining ended
        assert any(s > pretrained for s in steps)  # instruction tuning continues the axis
        assert {"ray/tune/train/lr", "ray/tune/train/words_seen"} <= set(scalars)
        blimp = scalars[
            "ray/tune/eval/blimp"
        ]  # the pretrained model's score at its step, then the final model's at the end
        assert len(blimp) >= 2 and blimp[0][0] == pretrained and blimp[-1][0] == steps[-1]


@pytest.mark.slow
def test_the_console_names_each_cell_in_one_line_and_the_raw_logs_are_in_the_study_folder(toy_study):
    storage, _ = toy_study
    lines = (storage / "grid.console").read_text().splitlines()
    text = "\n".join(lines)
    # 8 cells, 4 of them failing: the plan, a line per data or training stage and per cell, the summary.
    assert len(lines) <= 60, text
    assert lines[0].startswith("[study] grid: 8 cell(s), ") and "unique stages" in lines[0]
    assert f"[study] raw Ray/Tune/Train logs: {storage / 'grid' / 'logs'}/" in text
    assert re.search(r"^tiny · p=0\.1 · seed 0: pretrain done in \d", text, re.M)  # a shared stage: no curriculum
    assert re.search(r"^tiny · wiki>switchboard · p=0\.1 · seed 0: instruct 2/2 \(\w+\) done in \d", text, re.M)
    for curriculum in ("merged", "switchboard>wiki", "wiki>switchboard", "none"):
        assert re.search(
            rf"^tiny · {re.escape(curriculum)} · p=0\.1 · seed 0: cell done in .*\[\d+/\d+ stages, \d/8 cells, ",
            text,
            re.M,
        )
    failed = [line for line in lines if line.startswith("FAILED ")]
    assert len(failed) == 4 and all("p=0.95" in line and "BudgetError" in line for line in failed), failed
    assert all(Path(re.search(r"\(traceback: (.*)\)", line).group(1)).is_file() for line in failed)
    assert "8/8 cells" in text
    for noise in ("Trial Status", "TrainingReport(", "RayTrainWorker", "│", "step 1/"):
        assert noise not in text, noise
    logs = storage / "grid" / "logs"
    assert (logs / "driver.log").is_file() and (logs / "workers.log").is_file()


_TRIAL_WITHOUT_TORCH = """
import sys
from classit_ray.cell.execute import _body
from classit_ray.cell.graph import build_graph
from classit_ray.config import Config
from classit_ray.config_load import apply_overrides
from classit_ray.study import trial
from classit_ray.toyworld import with_toy_world
cfg = apply_overrides(Config(), {{"instruct.curriculum": "wiki>switchboard"}})
graph = build_graph(cfg, {work!r})
bodies = [_body(node, graph, with_toy_world(cfg, graph.work_dir), 1, ()) for node in graph.nodes]
kinds = {{node.kind for node in graph.nodes}}
assert {{"pretrain", "instruct", "eval", "curve"}} <= kinds, kinds
assert "torch" not in sys.modules and "transformers" not in sys.modules, [m for m in ("torch", "transformers") if m in sys.modules]
"""


def test_a_trial_plans_its_cell_and_hands_out_every_stage_without_importing_torch(tmp_path):
    """A Tune trial's own process builds its cell's graph and a body for every stage, which its
    stage host runs; torch and transformers are imported there, not in the trial (2-3 s of
    imports fewer per trial, for a trial whose stages are all in the store most of all)."""
    out = subprocess.run(
        [sys.executable, "-c", _TRIAL_WITHOUT_TORCH.format(work=str(tmp_path))],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]


def test_the_console_counts_unique_stages_and_estimates_what_is_left():
    import io

    from classit_ray.study.console import StudyConsole, cell_id

    out = io.StringIO()
    merged = {"model.preset": "tiny", "seed": 0, "instruct.curriculum": "merged"}
    other = {**merged, "instruct.curriculum": "none"}
    stages = {"d": "split", "p": "pretrain", "i1": "instruct", "i2": "instruct", "x": "split"}
    console = StudyConsole(
        {"instruct.curriculum"},
        stages,
        {"d"},
        3,
        out,
        cell_stages={cell_id(merged): {"d", "p", "i1"}, cell_id(other): {"d", "x", "i2"}},
    )
    event = dict(cell=merged, executed=True, seconds=30.0)
    console.stage({**event, "key": "p", "kind": "pretrain", "label": "pretrain"})
    console.stage({**event, "key": "i1", "kind": "instruct", "label": "instruct 1/1", "seconds": 10.0})
    console.stage({**event, "key": "d", "kind": "split", "label": "split", "executed": False})  # reused: no line
    console.trial(merged, 45.0)
    lines = out.getvalue().splitlines()
    assert (
        lines[0] == "tiny · seed 0: pretrain done in 30 s"
        and lines[1] == "tiny · merged · seed 0: instruct 1/1 done in 10 s"
    )
    assert lines[2].startswith(
        "tiny · merged · seed 0: cell done in 45 s (3 stages: 2 run here, 1 reused)   [3/5 stages, 1/3 cells, ETA "
    )
    # An instruct stage (10 s) and a split (the mean of all kinds, 20 s) are left of 40 s of work
    # done: the ETA is 30/40 of the time so far.
    console.t0 = time.perf_counter() - 100
    assert console.eta() == pytest.approx(100 * 30 / 40, rel=0.01)
    # A failed cell's stages that no other cell needs are no longer counted.
    console.trial(other, None, error="ValueError: bad", traceback="/x/error.txt")
    assert (
        out.getvalue()
        .splitlines()[-1]
        .startswith("FAILED tiny · none · seed 0: ValueError: bad (traceback: /x/error.txt)   [3/3 stages, 2/3 cells, ")
    )


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
    import shutil
    import signal

    storage = tmp_path / "storage"
    # The store already holds the study's data stages, and the evaluation and learning curve of its
    # pretraining (the grid's, hard-linked, as a store shared with an earlier study would): the
    # driver starts with the pretraining, the stage it is killed after; its rerun tunes and
    # evaluates the tuned model.
    grid_storage, grid = toy_study
    grid_artifacts = grid_storage / "artifacts"
    for folder in grid_artifacts.iterdir():
        if folder.name in ("split", "tokenizer", "shards") or folder.name.startswith("toyworld-"):
            shutil.copytree(folder, storage / "artifacts" / folder.name, copy_function=os.link)
    baseline = grid[(grid["instruct.curriculum"] == "none") & (grid["status"] == "ok")].iloc[0]
    for kind, key in (("eval", baseline["key/eval@pretrain"]), ("curve", baseline["key/curve"])):
        shutil.copytree(grid_artifacts / kind / key, storage / "artifacts" / kind / key, copy_function=os.link)
    command = [sys.executable, "-c", _KILLABLE_DRIVER.format(tests=str(ROOT / "tests"), storage=str(storage))]
    log = open(tmp_path / "killed.log", "w")
    driver = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 400
    try:
        while (
            time.monotonic() < deadline
            and driver.poll() is None
            and not list((storage / "artifacts" / "pretrain").glob("*/manifest.json"))
        ):
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
    # A driver of its own forwards the workers' output: to the study's log, not the terminal.
    assert "RayTrainWorker" not in rerun.stdout + rerun.stderr and len((rerun.stdout + rerun.stderr).splitlines()) <= 40
    assert "[instruct-merged-1-" in (storage / "killed" / "logs" / "workers.log").read_text()
    after = _manifests(storage / "artifacts")
    assert {p: after[p] for p in finished} == finished  # no finished stage was rewritten
    row = pd.read_parquet(storage / "killed" / "results.parquet").iloc[0]
    assert (
        row["status"] == "ok"
        and row["executed/pretrain"] == 0
        and row["executed/data"] == 0
        and row["executed/curve"] == 0
    )
    reference = grid[(grid["instruct.curriculum"] == "merged") & (grid["status"] == "ok")].iloc[0]
    for column in [c for c in reference.index if c.startswith(("key/", "eval/")) and pd.notna(reference[c])]:
        assert (
            row[column] == pytest.approx(reference[column], rel=1e-6)
            if isinstance(reference[column], float)
            else row[column] == reference[column]
        ), column


@pytest.mark.slow
def test_rerunning_the_same_study_recomputes_nothing(toy_study):
    storage, first = toy_study
    before = _manifests(storage / "artifacts")
    again = run_study(_toy_study(storage, "grid"))  # Tuner.restore: every trial is already finished
    assert _manifests(storage / "artifacts") == before
    cols = ["instruct.curriculum", "status", "eval/blimp", "key/eval"]
    pd.testing.assert_frame_equal(again[cols], first[cols])


@pytest.mark.slow
def test_a_second_study_reuses_the_first_ones_stages_and_verbose_shows_the_raw_output(toy_study, capfd):
    storage, first = toy_study
    before = _manifests(storage / "artifacts")
    # A new Tune experiment (the grid's four cells that succeed), the same artifact store;
    # --verbose: Ray's and Tune's own output on the terminal too.
    study = _toy_study(storage, "another_study")
    other = run_study(dataclasses.replace(study, grid={**study.grid, "budget.instruct_fraction": [0.1]}), verbose=True)
    out, err = capfd.readouterr()
    assert "[study] 4 cell(s)" in out
    # Tune's own console (its tables), which without --verbose only driver.log gets. (The workers' lines
    # would come too; the tests' shared Ray is started without log_to_driver.)
    assert "Trial status:" in out and "Configuration for experiment" in out
    assert _manifests(storage / "artifacts") == before
    ok = other[other["status"] == "ok"]
    assert (
        len(ok) == 4
        and ok[["executed/data", "executed/pretrain", "executed/instruct", "executed/eval", "executed/curve"]]
        .sum()
        .sum()
        == 0
    )
    assert sorted(ok["eval/blimp"]) == sorted(first.loc[first["status"] == "ok", "eval/blimp"])
    # Two at once, four in all: Tune ran the last two in the first two's processes, each with its
    # warm stage host (study/trial.py: stage_host).
    assert ok["time/host_reused"].sum() >= 1, ok["time/host_reused"].tolist()


@pytest.mark.slow
def test_the_baseline_cell_without_ray_into_a_fresh_store_gives_identical_bits(toy_study, tmp_path):
    """The plain-script baseline agrees with the Ray study, to the bit, on one machine: the toy
    grid's baseline cell (toy world, every data stage, pretraining, its evaluation and learning
    curve) run again without Ray (`study/plain.py`: data built in process, the loop in process),
    into a fresh store of its own, scores exactly as it did in the grid, with the same per-step
    losses and the same weights. Same thread count (the study's plan, not how many trials happen
    to run), library versions and machine; see docs/reproducibility.md. (Instruction stages run the same loop;
    test_train.py checks both launchers end an instruction-free stage on the same weights.)"""
    from classit_ray.study.plain import run_plain
    from classit_ray.study.resources import plan_resources
    from classit_ray.train.checkpoint import read_state

    storage, grid = toy_study
    cell = {"model.preset": ["tiny"], "seed": [0], "instruct.curriculum": ["none"], "budget.instruct_fraction": [0.1]}
    study = dataclasses.replace(_toy_study(tmp_path, "grid"), grid=cell, baseline=False)
    again = run_plain(study, threads=plan_resources(study.base).torch_threads)
    assert len(again) == 1
    first = grid[(grid["instruct.curriculum"] == "none") & (grid["status"] == "ok")].iloc[0]
    second = again.iloc[0]
    assert (
        second["executed/pretrain"] == 1 and first["artifact/pretrain"] != second["artifact/pretrain"]
    )  # nothing shared
    # The grid's table has columns (eval/*@stage1) that only its sequential cells fill: compare what either scored.
    scored = {
        c
        for row in (first, second)
        for c in row.index
        if c.startswith("eval/") and c != "eval/failed_tasks" and pd.notna(row[c])
    }
    assert {"eval/blimp", "eval/reading_eye", "eval/blimp@pretrain"} <= scored and first["eval/failed_tasks"] == "[]"
    differ = {c: (first.get(c), second.get(c)) for c in scored if first.get(c) != second.get(c)}
    assert not differ  # exact equality, not approx
    assert first["curve"] == second["curve"] and first["pretrain/loss"] == second["pretrain/loss"]
    one, two = (Path(row["artifact/pretrain"]) / "final" for row in (first, second))
    state, other = read_state(one), read_state(two)
    assert state["torch_threads"] == other["torch_threads"]  # the claim holds at one thread count
    history = state["position"]["history"]  # [step, loss, lr, words_seen] per optimizer step
    assert history and history == other["position"]["history"]
    assert (one / "model.safetensors").read_bytes() == (two / "model.safetensors").read_bytes()


@pytest.mark.slow
def test_optuna_search_over_the_same_definition(toy_study):
    storage, _ = toy_study
    study = _toy_study(storage, "optuna")
    study = dataclasses.replace(
        study,
        grid={"instruct.curriculum": ["merged"], "budget.instruct_fraction": [0.1]},
        algorithm="optuna",
        num_samples=2,
        search={"instruct.lr": ("loguniform", 1e-4, 3e-3)},
    )
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
    df = run_study(
        dataclasses.replace(
            study,
            grid={"instruct.curriculum": ["merged"], "budget.instruct_fraction": [0.1], "instruct.lr": [2e-3]},
            asha=True,
            baseline=False,
        )
    )
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
        NotebookClient(
            nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
        ).execute()
    finally:
        del os.environ["CLASSIT_STUDY_DIR"]
    outputs = "".join(
        o.get("text", "") + json.dumps(o.get("data", {})) for c in nb.cells if c.cell_type == "code" for o in c.outputs
    )
    assert "4 trials" in outputs and "image/png" in outputs and "merged" in outputs
