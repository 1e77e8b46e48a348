"""Benchmark: what a study costs beyond its own compute, what it does not recompute, and the
pretraining's memory as the corpus grows.

    python bench/study_overhead.py [--out bench/out/study_overhead] [--scale 10]

1. Ray overhead per trial: a one-cell study from nothing, then the toy curriculum grid at one
   size (3 cells sharing a pretraining). Each trial's wall time is split by `study/trial.py`'s
   clock into its own compute (data builds, training loops, evaluation), time waited on stages
   another trial computed, and the rest: Ray's overhead (Tune trial, Train controllers and
   worker groups, Ray Data pipelines, evaluation task, their start-up).
2. Stages executed by the grid against a naive grid, where every cell runs its own pretraining.
   Each trial's `time/stages` gives the same split stage by stage; and, as the floor under every
   training stage, a `TorchTrainer.fit()` whose loop does nothing, started from a Ray worker as
   a trial's stages are (so with this project's local Ray settings).
3. Peak RSS of the pretraining worker (`pretrain/peak_rss_mb`, its ru_maxrss) on the toy corpus
   and on one `--scale` times larger, the same number of epochs.

Prints markdown for a new dated file under bench/results/ (bench/README.md).
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import time
from pathlib import Path

from classit_ray.config import Config
from classit_ray.config_load import apply_overrides
from classit_ray.study.definition import StudyDefinition

TOY = {
    "study.toy_words": 40_000,
    "study.max_concurrent_trials": 2,
    "budget.total_words": 20_000,
    "pretrain.seq_len": 64,
    "pretrain.epochs": 1,
    "pretrain.shard_rows": 200,
    "instruct.epochs": 1,
    "eval.tasks": ["blimp", "ewok", "wug_adj", "reading", "glue"],
    "eval.finetune_epochs": 1,
}
TIME_COLUMNS = ["time/cell_s", "time/compute_s", "time/waited_s", "time/ray_overhead_s"]


def study(
    storage: Path, name: str, curricula: list[str], seeds: tuple[int, ...] = (0,), toy: dict = TOY
) -> StudyDefinition:
    """The toy grid at one size (tiny) and fraction 0.1 over `curricula` and `seeds`."""
    base = apply_overrides(Config(), {**toy, "study.name": name, "study.storage_path": str(storage)})
    return StudyDefinition(
        base,
        grid={
            "model.preset": ["tiny"],
            "seed": list(seeds),
            "instruct.curriculum": curricula,
            "budget.instruct_fraction": [0.1],
        },
    )


def overhead_table(df, title: str) -> list[str]:
    lines = [
        f"{title}:",
        "",
        "| curriculum | wall s | own compute s | waited s | Ray overhead s |",
        "|---|---:|---:|---:|---:|",
    ]
    for _, row in df.sort_values("instruct.curriculum").iterrows():
        lines.append(f"| {row['instruct.curriculum']} | " + " | ".join(f"{row[c]:.1f}" for c in TIME_COLUMNS) + " |")
    return lines


def stage_table(row) -> list[str]:
    lines = ["| stage | seconds | own compute s | Ray overhead s |", "|---|---:|---:|---:|"]
    for name, (seconds, own) in json.loads(row["time/stages"]).items():
        lines.append(
            f"| {name} | {seconds:.2f} | {'waited' if own is None else f'{own:.2f}'} | "
            f"{'' if own is None else f'{seconds - own:.2f}'} |"
        )
    return lines


def _empty_fit(storage: str) -> float:
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    trainer = TorchTrainer(
        lambda: None,
        scaling_config=ScalingConfig(num_workers=1),
        run_config=RunConfig(name=f"empty-{time.time_ns()}", storage_path=storage),
    )
    t0 = time.perf_counter()
    trainer.fit()
    return time.perf_counter() - t0


def empty_fit_seconds(out: Path, repeats: int = 3) -> list[float]:
    import ray

    from classit_ray.runtime import outside_placement_group

    task = ray.remote(_empty_fit).options(num_cpus=0, scheduling_strategy=outside_placement_group())
    return [ray.get(task.remote(str((out / "empty_fit").resolve()))) for _ in range(repeats)]


def peak_memory(out: Path, scale: int) -> list[dict]:
    from classit_ray.cell.execute import execute
    from classit_ray.cell.graph import build_graph

    rows = []
    for factor in (1, scale):
        cfg = apply_overrides(
            Config(),
            {
                **TOY,
                "study.toy_words": TOY["study.toy_words"] * factor,
                "instruct.curriculum": "none",
                "budget.total_words": TOY["budget.total_words"] * factor,
                "budget.instruct_fraction": 0.0,
            },
        )
        work = out / f"memory-{factor}x"
        t0 = time.perf_counter()
        graph = build_graph(cfg, work)
        result = execute(graph, graph.upto("pretrain")).runs[graph.pretrain.key].result
        rows.append(
            {
                "factor": factor,
                "words": cfg.budget.total_words,
                "seconds": time.perf_counter() - t0,
                "peak_rss_mb": result.metrics["pretrain/peak_rss_mb"],
                "steps": result.metrics["pretrain/step"],
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="bench/out/study_overhead")
    parser.add_argument("--scale", type=int, default=10)
    args = parser.parse_args()
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)

    from classit_ray.runtime import physical_cores
    from classit_ray.study.runner import run_study

    print(f"machine: {platform.machine()}, {physical_cores()} cores\n")
    one = run_study(study(out / "one", "one_cell", ["merged"]))
    print("\n".join(overhead_table(one, "One cell from nothing")))
    print("\nIts stages:\n")
    print("\n".join(stage_table(one.iloc[0])))
    fits = empty_fit_seconds(out)
    print(f"\nan empty TorchTrainer.fit(): {', '.join(f'{s:.2f}' for s in fits)} s (median {sorted(fits)[1]:.2f})\n")
    grid = run_study(study(out / "grid", "grid", ["merged", "switchboard>wiki", "wiki>switchboard"]))
    print()
    print("\n".join(overhead_table(grid, "Three curricula sharing one pretraining, 2 trials at once")))
    cells = len(grid)
    print(
        f"\npretrainings executed: {int(grid['executed/pretrain'].sum())} (a naive grid: {cells}, one per cell); "
        f"instruction stages executed: {int(grid['executed/instruct'].sum())}; evaluations: {int(grid['executed/eval'].sum())}\n"
    )

    rows = peak_memory(out, args.scale)
    print("| corpus | budget words | optimizer steps | seconds | worker peak RSS MB |\n|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['factor']}x | {r['words']:,} | {r['steps']:,} | {r['seconds']:.0f} | {r['peak_rss_mb']:.0f} |")
    print(f"\npeak RSS {args.scale}x / 1x: {rows[1]['peak_rss_mb'] / rows[0]['peak_rss_mb']:.2f}")


if __name__ == "__main__":
    main()
