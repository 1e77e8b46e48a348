"""Benchmark: a Ray study against the plain script a user would write instead (issue 17).

    python bench/plain_study.py [--grid small|one|default] [--concurrency 1 2] [--repeats 1] [--out DIR]

Contenders, each a whole process started from nothing (a fresh storage folder: toy world, data
stages, every training stage and evaluation):
- **plain**: `classit_ray.study.plain.run_plain`, the cells one after another in one process,
  no Ray, every physical core for torch;
- **ray cN**: the study as `studies/curriculum_grid.py` runs it (`run_study`), N trials at once.

They run alternately, the order rotated every repeat. The script reports each one's wall time
(median over repeats), the ratio ray / plain, the Ray overhead per trial (the results' own
`time/ray_overhead_s`: a trial's wall time less its stages' compute and its waits), and whether
every `eval/*` equals plain's: exactly when the torch thread count is the same (1 trial at
once), else the largest difference (2 trials at once run 1 thread each;
docs/reproducibility.md).

`--grid small` is the curriculum grid at its smallest (one size, one seed: 3 curricula and the
baseline, a 40K-word toy world, one epoch per stage); `--grid one` is one cell of the README's
study at its full settings and its baseline (`tiny-deep`, seed 0, merged: a pretraining that is
most of the compute, one instruction stage, their evaluations and learning curve), to compare
stage by stage; `--grid default` is the README's study itself (24 cells). Prints markdown for
a new dated file under bench/results/, with each stage kind's compute (the manifests' `seconds`)
per contender.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "studies"))

SMALL = {
    "study.toy_words": 40_000,
    "budget.total_words": 20_000,
    "pretrain.seq_len": 64,
    "pretrain.epochs": 1,
    "pretrain.shard_rows": 200,
    "instruct.epochs": 1,
    "eval.tasks": ["blimp", "ewok", "wug_adj", "reading"],
}


def definition(grid: str, storage: Path, concurrency: int):
    import curriculum_grid

    from classit_ray.config_load import apply_overrides

    study = curriculum_grid.build()
    overrides = {"study.storage_path": str(storage), "study.max_concurrent_trials": concurrency}
    if grid == "one":
        study = dataclasses.replace(
            study, grid={**study.grid, "model.preset": ["tiny-deep"], "seed": [0], "instruct.curriculum": ["merged"]}
        )
    if grid == "small":
        overrides.update(SMALL)
        study = dataclasses.replace(study, grid={**study.grid, "model.preset": ["tiny"], "seed": [0]})
    return dataclasses.replace(study, base=apply_overrides(study.base, overrides))


def child(args) -> None:
    """One contender, in this process; writes <storage>/<study name>/results.parquet."""
    storage = Path(args.storage)
    if args.child == "plain":
        from classit_ray.runtime import physical_cores
        from classit_ray.study.plain import run_plain
        from classit_ray.study.runner import study_dir, write_results

        study = definition(args.grid, storage, 1)
        write_results(run_plain(study, threads=physical_cores()), study_dir(study.base))
    else:
        from classit_ray.study.runner import run_study

        run_study(definition(args.grid, storage, args.concurrency[0]))


def contender(name: str, grid: str, out: Path, repeat: int) -> dict:
    storage = out / f"r{repeat}-{name}"
    kind, _, n = name.partition(" c")
    cmd = [
        sys.executable,
        __file__,
        "--child",
        kind,
        "--grid",
        grid,
        "--storage",
        str(storage),
        "--concurrency",
        n or "1",
    ]
    log = out / f"r{repeat}-{name.replace(' ', '-')}.log"
    t0 = time.perf_counter()
    with open(log, "w") as f:
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=REPO)
    wall = time.perf_counter() - t0
    if proc.returncode:
        raise SystemExit(f"{name} failed ({proc.returncode}); see {log}")
    import pandas as pd

    df = pd.read_parquet(storage / "curriculum_grid" / "results.parquet")
    print(f"repeat {repeat} {name:8s} {wall:7.1f} s", flush=True)
    return {"wall": wall, "df": df, "storage": str(storage), "stages": stage_seconds(storage / "artifacts")}


def stage_seconds(store: Path) -> dict[str, float]:
    """Each stage kind's compute in one store: the sum of its manifests' `seconds` (what the stage
    itself took, wherever it ran), by kind (`pretrain`, `instruct`, `eval`, `curve`, ...)."""
    totals: dict[str, float] = {}
    for manifest in store.glob("*/*/manifest.json"):
        seconds = json.loads(manifest.read_text()).get("seconds")
        if seconds is not None:
            kind = manifest.parent.parent.name
            totals[kind] = totals.get(kind, 0.0) + float(seconds)
    return totals


def compare(plain, other) -> tuple[str, float]:
    """('identical' | 'differ', max abs difference) over every eval/* both scored, cell by cell."""
    cell = ["model.preset", "seed_col", "instruct.curriculum", "budget.instruct_fraction"]

    def keyed(df):
        df = df.assign(seed_col=df["pretrain.seed"])
        return df.set_index(cell)

    a, b = keyed(plain), keyed(other)
    cols = sorted(c for c in a.columns if c.startswith("eval/") and c != "eval/failed_tasks" and c in b.columns)
    diffs = [
        abs(float(a.loc[i, c]) - float(b.loc[i, c]))
        for i in a.index
        for c in cols
        if a.loc[i, c] == a.loc[i, c] and b.loc[i, c] == b.loc[i, c]
    ]  # both scored (not NaN)
    return ("identical" if not any(diffs) else "differ"), max(diffs, default=0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--grid", choices=("small", "one", "default"), default="small")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--out", default="bench/out/plain_study")
    parser.add_argument("--child", choices=("plain", "ray"), help=argparse.SUPPRESS)
    parser.add_argument("--storage", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()
    names = ["plain", *(f"ray c{n}" for n in args.concurrency)]
    runs: dict[str, list[dict]] = {n: [] for n in names}
    for repeat in range(args.repeats):
        order = names[repeat % len(names) :] + names[: repeat % len(names)]
        for name in order:
            runs[name].append(contender(name, args.grid, out, repeat))
    plain_wall = statistics.median(r["wall"] for r in runs["plain"])
    print(
        f"\n## A Ray study against the plain script ({time.strftime('%Y-%m-%d')}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs, load before {load[0]:.2f}, after {os.getloadavg()[0]:.2f})\n"
    )
    print(f"grid {args.grid}: {len(runs['plain'][0]['df'])} cells; {args.repeats} repeat(s), alternating\n")
    print(
        "| contender | wall s (median) | ratio to plain | Ray overhead per trial s (median / max) | eval/* against plain |"
    )
    print("|---|---:|---:|---:|---|")
    summary = {}
    for name in names:
        wall = statistics.median(r["wall"] for r in runs[name])
        if name == "plain":
            print(f"| plain script (no Ray) | {wall:.1f} | 1.00x | — | — |")
            continue
        df = runs[name][0]["df"]
        overhead = df["time/ray_overhead_s"].dropna()
        same, worst = compare(runs["plain"][0]["df"], df)
        verdict = "identical" if same == "identical" else f"max abs diff {worst:.2g}"
        print(
            f"| Ray study, {name.rpartition('c')[2]} trial(s) at once | {wall:.1f} | {wall / plain_wall:.2f}x | "
            f"{overhead.median():.1f} / {overhead.max():.1f} | {verdict} |"
        )
        summary[name] = {"wall": [r["wall"] for r in runs[name]], "overhead": overhead.tolist(), "eval": verdict}
    kinds = sorted({k for rs in runs.values() for r in rs for k, v in r["stages"].items() if v >= 0.5})
    print(
        "\nEach stage kind's own compute (Σ of its manifests' `seconds`, median over repeats), and its ratio to plain's:\n"
    )
    print("| stage kind | " + " | ".join(names) + " |")
    print("|---|" + "---:|" * len(names))
    for kind in kinds:
        medians = {n: statistics.median(r["stages"].get(kind, 0.0) for r in runs[n]) for n in names}
        cells = [
            f"{medians[n]:.1f}"
            + ("" if n == "plain" or not medians["plain"] else f" ({medians[n] / medians['plain']:.2f}x)")
            for n in names
        ]
        print(f"| {kind} | " + " | ".join(cells) + " |")
    summary["plain"] = {"wall": [r["wall"] for r in runs["plain"]]}
    for name in names:
        summary[name]["stages"] = [r["stages"] for r in runs[name]]
    (out / "results.json").write_text(json.dumps(summary, indent=1))
    print(f"\nraw timings in {out / 'results.json'}")


if __name__ == "__main__":
    main()
