"""Benchmark: what a trial costs when Tune runs it in a finished trial's process, with that
trial's warm stage host (`study/trial.py: stage_host`, `reuse_actors` in `study/runner.py`),
against a fresh process and host per trial, as before.

    python bench/trial_reuse.py [--out bench/out/trial_reuse] [--repeats 3]

The toy grid (tiny, three curricula and the baseline, two seeds: 8 cells, 2 trials at once) is
computed once into a store; then the same grid runs again as new studies on that store, so every
stage is reused and what is left is each trial's own cost: its process, its stage host, and the
reading of its stages' results. The two contenders alternate; "fresh" is the shipped code with
Tune's `reuse_actors` forced off. Each run reports its wall time, the trials' Σ `time/cell_s`, how
many trials found a warm host, and the CPU seconds the whole machine spent meanwhile (/proc/stat,
so run it on a quiet machine).

Prints markdown for a new dated file under bench/results/ (bench/README.md).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import time
from pathlib import Path

from study_overhead import TOY as OVERHEAD_TOY
from study_overhead import study as toy_grid

from classit_ray.study.definition import StudyDefinition

# study_overhead.py's toy settings without GLUE: its fine-tuning only lengthens the store's build.
TOY = {**OVERHEAD_TOY, "eval.tasks": ["blimp", "ewok", "wug_adj", "reading"]}


def study(storage: Path, name: str) -> StudyDefinition:
    return toy_grid(storage, name, ["merged", "switchboard>wiki", "wiki>switchboard"], seeds=(0, 1), toy=TOY)


def busy_cpu_seconds() -> float:
    """CPU seconds the machine has spent on anything but idling, since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def forced_fresh(on: bool) -> None:
    """Make every Tuner built from here on run each trial in a new process (`reuse_actors=False`)."""
    from ray import tune

    original = getattr(tune.TuneConfig, "_bench_original_init", tune.TuneConfig.__init__)
    tune.TuneConfig._bench_original_init = original

    def init(self, *args, **kwargs):
        if on:
            kwargs["reuse_actors"] = False
        original(self, *args, **kwargs)

    tune.TuneConfig.__init__ = init


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="bench/out/trial_reuse")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)

    from classit_ray.study.runner import run_study

    first = run_study(study(out, "build"))
    assert (first["status"] == "ok").all(), first["error"].dropna().tolist()
    runs: dict[str, list[dict]] = {"reused": [], "fresh": []}
    for repeat in range(args.repeats):
        order = ["reused", "fresh"] if repeat % 2 == 0 else ["fresh", "reused"]
        for name in order:
            forced_fresh(name == "fresh")
            cpu, t0 = busy_cpu_seconds(), time.perf_counter()
            df = run_study(study(out, f"{name}-{repeat}"))
            wall, cpu = time.perf_counter() - t0, busy_cpu_seconds() - cpu
            executed = int(df[[c for c in df.columns if c.startswith("executed/")]].to_numpy().sum())
            assert (df["status"] == "ok").all() and executed == 0, "every stage must come from the store"
            runs[name].append(
                {
                    "wall": wall,
                    "cpu": cpu,
                    "cells": float(df["time/cell_s"].sum()),
                    "warm": int(df["time/host_reused"].sum()),
                    "trials": len(df),
                }
            )
    forced_fresh(False)

    print(
        "\n| contender | runs | wall s (median) | machine CPU s (median) | Σ trial wall s (median) | trials with a warm host |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for name, rs in runs.items():
        med = {k: statistics.median(r[k] for r in rs) for k in ("wall", "cpu", "cells")}
        print(
            f"| {name} | {len(rs)} | {med['wall']:.1f} | {med['cpu']:.1f} | {med['cells']:.1f} | "
            f"{', '.join(str(r['warm']) for r in rs)} of {rs[0]['trials']} |"
        )
    print(
        "\nper run (wall s / machine CPU s):",
        {k: [f"{r['wall']:.1f}/{r['cpu']:.1f}" for r in rs] for k, rs in runs.items()},
    )
    ratio = statistics.median(f["wall"] / r["wall"] for f, r in zip(runs["fresh"], runs["reused"]))
    cpu_ratio = statistics.median(f["cpu"] / r["cpu"] for f, r in zip(runs["fresh"], runs["reused"]))
    print(f"fresh / reused, median of per-repeat ratios: wall {ratio:.2f}x, machine CPU {cpu_ratio:.2f}x")


if __name__ == "__main__":
    main()
