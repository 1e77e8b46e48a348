"""A study stopped with Ctrl-C says so: no unfinished trial is recorded as finished, and the
console names what is done, interrupted and not started, and how to resume; and the console's
own pieces for it (the closing lines, a running stage's progress) without Ray."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import kill_ray_session_of

from classit_ray.study.console import INTERRUPTED, NOT_STARTED, StudyConsole, end_summary

ROOT = Path(__file__).resolve().parents[1]

# Two cells, one trial at a time: when the first is interrupted the second has not started.
_DRIVER = """
import dataclasses, sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from test_study import _toy_study
from classit_ray.study.runner import run_study
study = _toy_study(Path({storage!r}), "stopped")
base = dataclasses.replace(study.base, study=dataclasses.replace(study.base.study, max_concurrent_trials=1))
study = dataclasses.replace(study, base=base,
                            grid={{"model.preset": ["tiny"], "seed": [0], "instruct.curriculum": ["merged", "none"],
                                   "budget.instruct_fraction": [0.1]}}, baseline=False)
run_study(study)
"""


@pytest.mark.slow
def test_ctrl_c_records_no_unfinished_trial_as_finished_and_says_how_to_resume(tmp_path):
    storage = tmp_path / "storage"
    command = [sys.executable, "-c", _DRIVER.format(tests=str(ROOT / "tests"), storage=str(storage))]
    log_path = tmp_path / "driver.log"
    with open(log_path, "w") as log:
        driver = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            # The first trial is running once its first data stage is written (Tune's Ctrl-C handler is in place).
            deadline = time.monotonic() + 300
            started = lambda: list(storage.glob("artifacts/split/*/manifest.json"))  # noqa: E731
            while time.monotonic() < deadline and driver.poll() is None and not started():
                time.sleep(0.2)
            assert driver.poll() is None, log_path.read_text()[-3000:]
            os.kill(driver.pid, signal.SIGINT)  # what Ctrl-C sends the driver
            driver.wait(timeout=180)
        finally:
            if driver.poll() is None:
                os.killpg(driver.pid, signal.SIGKILL)
            kill_ray_session_of(driver.pid)
    console = log_path.read_text()
    assert driver.returncode == 0, console[-3000:]
    rows = pd.read_parquet(storage / "stopped" / "results.parquet")
    assert "ok" not in set(rows["status"]), rows[["instruct.curriculum", "status"]]  # nothing had finished
    assert set(rows["status"]) <= {INTERRUPTED, NOT_STARTED}
    assert "0 of 2 cell(s) done, 0 failed, 1 interrupted, 1 not started" in console, console[-3000:]
    assert "run the same command again:" in console and "-c" in console.split("run the same command again:")[1]
    assert "no finished trials" in console  # the summary table counted nothing


def test_the_closing_lines_say_what_is_left_only_when_something_is():
    assert end_summary(["ok", "error"], 2, 65, "/r/results.parquet", "python s.py") == [
        "[study] 2 cell(s) in 1 min 5 s, 1 failed; results: /r/results.parquet"
    ]
    lines = end_summary(["ok", INTERRUPTED, NOT_STARTED], 5, 65, "/r/results.parquet", "python s.py --seeds 2")
    assert lines[0] == (
        "[study] stopped after 1 min 5 s: 1 of 5 cell(s) done, 0 failed, 1 interrupted, 3 not started; "
        "results so far: /r/results.parquet"
    )
    assert lines[1].endswith("run the same command again:\n    python s.py --seeds 2")


def test_a_running_glue_fine_tuning_shows_on_the_progress_line():
    from classit_ray.study import console as console_module

    out = io.StringIO()
    cell = {"model.preset": "tiny", "seed": 0, "instruct.curriculum": "merged"}
    console = StudyConsole({"instruct.curriculum"}, {"e": "eval"}, set(), 1, out)
    console.stage({"cell": cell, "progress": True, "task": "mnli", "epoch": 2, "epochs": 3, "items": 4000, "of": 10000})
    console._last_progress -= console_module.PROGRESS_EVERY_S
    console.tick()
    assert out.getvalue().splitlines()[-1] == "  now tiny · merged · seed 0: GLUE mnli: epoch 2/3, 4,000/10,000 items"
    console.stage({"cell": cell, "key": "e", "kind": "eval", "label": "eval@final", "executed": True, "seconds": 5.0})
    console._last_progress -= console_module.PROGRESS_EVERY_S
    console.tick()
    assert "now" not in out.getvalue().splitlines()[-1]  # that stage has ended


def test_a_stage_reports_its_progress_only_to_whoever_listens():
    from classit_ray import progress

    heard = []
    progress.report(task="cola", items=1)  # nobody listens: nothing happens
    with progress.reporting_to(heard.append):
        progress.report(task="cola", items=32, of=64)
    progress.report(task="cola", items=64)
    assert heard == [{"task": "cola", "items": 32, "of": 64}]


def test_the_eta_counts_a_running_stage_as_work_under_way():
    """One pretraining (60 s) done of three; a cell has been in its next stage for 30 s: of the
    120 s left, 30 are under way, so the ETA is elapsed x 90 / 90, not elapsed x 120 / 60."""
    cell = {"model.preset": "tiny", "seed": 0, "instruct.curriculum": "merged"}
    stages = {"p1": "pretrain", "p2": "pretrain", "p3": "pretrain"}
    console = StudyConsole({"instruct.curriculum"}, stages, set(), 2, io.StringIO())
    console.stage(
        {"cell": cell, "key": "p1", "kind": "pretrain", "label": "pretrain", "executed": True, "seconds": 60.0}
    )
    console.t0 = time.perf_counter() - 100
    assert console.eta() == pytest.approx(100 * 120 / 60, rel=0.01)
    console.started(cell)
    console._stage_since[next(iter(console._stage_since))] -= 30
    assert console.eta() == pytest.approx(100 * 90 / 90, rel=0.01)
