"""The command line every study script shares, and the two scales it switches between.

A study script builds a `StudyDefinition` for the toy scale, hands it to `main`, and this module
applies what the user asked for: `--scale paper`, real data folders, a cluster address and its
YAML, storage, seeds, the search algorithm, overrides. Errors in any of it are reported before Ray
starts.
"""

from __future__ import annotations

import argparse
import dataclasses
import runpy
import sys
from collections.abc import Callable
from pathlib import Path

import yaml

from classit_ray.config import Config, ConfigError
from classit_ray.config_load import apply_overrides, load_config
from classit_ray.recipes import RECIPES
from classit_ray.study.definition import SEED, StudyDefinition


def study_parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument(
        "--scale",
        choices=("toy", *RECIPES),
        default="toy",
        help="toy: CPU presets on the generated toy world (default); paper: the paper's recipe "
        "(classit_ray/recipes.py: 100M words, its presets, 8 + 10 epochs, GPUs)",
    )
    parser.add_argument(
        "--data-dir", help="a BabyLM corpus folder (train_100M/ or its parent) instead of the toy world"
    )
    parser.add_argument(
        "--instruct-dir",
        help="folder of CLASS_IT instruction parquet, or the release's hub id "
        "colinglab/CLASS_IT (default: the toy world's pairs)",
    )
    parser.add_argument("--eval-dir", help="the BabyLM evaluation_data/ folder (default: the toy world's)")
    parser.add_argument(
        "--address", default=None, help="'auto' joins a running Ray cluster (after `ray up cluster.yaml`)"
    )
    parser.add_argument(
        "--cluster",
        metavar="YAML",
        help="the `ray up` YAML of that cluster: trials at once = what it holds at its largest (max_workers), "
        "not the GPUs up at the start; with --dry-run, the trials at once and the GPU-hours on it. "
        "An error before anything starts if its nodes cannot hold one trial",
    )
    parser.add_argument(
        "--storage", help="results and artifacts root: a path, NFS mount or s3:// URI (default: ~/classit_ray_results)"
    )
    parser.add_argument("--work-dir", help="artifact store (default: <storage>/artifacts); needed with s3:// storage")
    parser.add_argument("--name", help="study name (its folder under the storage)")
    parser.add_argument("--seeds", type=int, default=None, help="number of seeds per cell")
    parser.add_argument(
        "--grid",
        dest="axes",
        action="append",
        default=[],
        metavar="AXIS=V1,V2",
        help="run only these values of one of the study's axes (YAML values), e.g. --grid model.preset=tiny "
        "--grid instruct.curriculum=merged --seeds 1: one cell and its baseline",
    )
    parser.add_argument(
        "--algorithm", choices=("grid", "optuna"), default=None, help="grid search, or an Optuna search"
    )
    parser.add_argument("--num-samples", type=int, default=None, help="Optuna: trials to run")
    parser.add_argument("--asha", action="store_true", help="stop weak trials early on instruct/loss (ASHA)")
    parser.add_argument(
        "--max-concurrent",
        type=int,
        default=None,
        help="trials at once (default: cores ÷ workers on CPUs; on GPUs this machine's GPUs ÷ GPUs per trial, "
        "or on a cluster what --cluster holds at its largest, without --cluster no cap)",
    )
    parser.add_argument("--config", help="YAML/JSON base config (default: the built-in defaults)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="dotted override of the base config, e.g. pretrain.epochs=2",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print the cells, the unique stages, what a trial requests and how many run at once "
        "(and a GPU study's GPU-hours), then exit",
    )
    parser.add_argument(
        "--pilot",
        metavar="STUDY_DIR",
        help="with --dry-run: the power of this design (its seeds per size), planned from the noise of a "
        "finished study or pilot in STUDY_DIR (as `python -m classit_ray.analysis --plan`)",
    )
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="Ray's, Tune's and the workers' raw output on the terminal too (default: only in <storage>/<name>/logs/)",
    )
    parser.add_argument(
        "--verify",
        action="store_true",
        help="check the hashes of the finished stages the study reads, not only their sizes, before it starts",
    )
    return parser


def grid_values(grid: dict, axes: list[str]) -> dict[str, list]:
    """`--grid AXIS=V1,V2` as {axis: [values]}: each axis one the study already has, each value read as
    YAML (`0.1` a number, `tiny` a string), so a subset of the study's own grid runs."""
    chosen, problems = {}, []
    for text in axes:
        axis, eq, values = text.partition("=")
        if not eq or not values:
            problems.append(f"--grid {text!r}: expected AXIS=V1,V2")
        elif axis not in grid:
            problems.append(f"--grid {axis}: not an axis of this study (its axes: {', '.join(grid)})")
        else:
            chosen[axis] = [yaml.safe_load(v) for v in values.split(",")]
    if problems:
        raise ConfigError(problems)
    return chosen


def apply_arguments(
    study: StudyDefinition, args: argparse.Namespace, paper_grid: dict | None = None
) -> StudyDefinition:
    """`study` (the toy definition) changed as the command line asks."""
    base: Config = load_config(args.config) if args.config else study.base
    grid = dict(study.grid)
    overrides: dict = {}
    if args.scale != "toy":
        overrides.update(RECIPES[args.scale].overrides)
        grid.update(paper_grid or {})
    paths = {
        "corpus.data_dir": args.data_dir,
        "corpus.instruct_dir": args.instruct_dir,
        "eval.eval_dir": args.eval_dir,
        "study.ray_address": args.address,
        "study.storage_path": args.storage,
        "study.work_dir": args.work_dir,
        "study.name": args.name,
        "study.max_concurrent_trials": args.max_concurrent,
        "study.cluster_yaml": args.cluster,
        "study.verify_stages": args.verify or None,
    }
    overrides.update({k: v for k, v in paths.items() if v is not None})
    base = apply_overrides(base, overrides)
    if args.overrides:
        base = apply_overrides(base, args.overrides)
    if args.seeds is not None:
        grid[SEED] = list(range(args.seeds))
    grid.update(grid_values(grid, args.axes))
    return dataclasses.replace(
        study,
        base=base,
        grid=grid,
        algorithm=args.algorithm or study.algorithm,
        num_samples=args.num_samples if args.num_samples is not None else study.num_samples,
        asha=args.asha or study.asha,
    )


def main(
    build: Callable[[], StudyDefinition],
    prog: str,
    description: str,
    paper_grid: dict | None = None,
    argv: list[str] | None = None,
) -> int:
    """Parse the command line, then check, plan and run the study `build()` returns."""
    from classit_ray.study.runner import run_study  # it loads torch and Ray Tune; a study script's import does not

    args = study_parser(prog, description).parse_args(argv)
    try:
        study = apply_arguments(build(), args, paper_grid)
        if args.pilot and not args.dry_run:
            raise ConfigError(["--pilot goes with --dry-run: it plans the seeds before a study runs"])
        run_study(study, dry_run=args.dry_run, verbose=args.verbose)
        if args.pilot:
            # statsmodels and matplotlib load only for --pilot, not with every study script's import
            from classit_ray.analysis.planner import plan_lines

            print("\n".join(plan_lines(args.pilot, seeds=len(study.grid.get(SEED, [0])))))
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError) as err:  # our own data errors name the file and field
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


def run_script(argv: list[str]) -> int:
    """`classit-ray study STUDY.py [ARGS]`: run a study definition file as `python STUDY.py [ARGS]` would."""
    if not argv or argv[0] in ("-h", "--help") or not argv[0].endswith(".py"):
        print(
            "usage: classit-ray study STUDY.py [ARGS]   (a study definition, e.g. studies/curriculum_grid.py; "
            "STUDY.py --help for its arguments)",
            file=sys.stderr,
        )
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    if not Path(argv[0]).is_file():
        print(f"error: {argv[0]}: study definition not found", file=sys.stderr)
        return 1
    saved = sys.argv
    sys.argv = list(argv)  # what the script's own `main` parses
    try:
        runpy.run_path(argv[0], run_name="__main__")
    except SystemExit as done:  # the script ends with sys.exit(main(...))
        return done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    finally:
        sys.argv = saved
    return 0
