"""Benchmark: does the official BabyLM 2025 collation (`evaluation_pipeline.collate_preds`, unmodified)
accept the results folder that `python -m classit_ray.eval` writes, task by task?

    python bench/collate_check.py --official DIR --data evaluation_data/full_eval [--model DIR | --preset tiny]
        [--tasks blimp ... reading] [--items N] [--out DIR]

`--official` is a checkout of `babylm/evaluation-pipeline-2025` kept outside this project; its code is
run as it is. `--data` is a release `full_eval/` folder: the collation checks the full evaluation's
item counts, so every task present there is evaluated whole unless `--items N` samples each file
(N lines spaced evenly), and then the official size check fails by design (its lines are recorded)
and is applied instead to the whole files' counts per subtask, beside a check that the sample got one
prediction per item: together they say whether the whole files would pass it.
Tasks whose folder the data lacks are listed as not at hand. The model is `--model`, or a randomly
initialised `--preset` with a BPE trained on the toy corpus (bench/scorer.py): the collation reads
the layout and the predictions, not how good they are.

Three checks, all with the official code:
1. the collation's own command (`python -m evaluation_pipeline.collate_preds --model_path_or_name=M
   --backend=causal --track=strict-small`, without `--fast`: the public release copy has no fast_eval/),
   whose validity check prints one "... data is missing!" line per results file it cannot find;
2. its `collate_full_eval_preds`, which loads and size-checks the tasks in a fixed order and stops at
   the first one that fails; every task it passes before stopping is accepted by that code verbatim;
3. per task, what that function does for it (`_load_results`, `_check_size`) and the official score
   functions the fast collation applies to the same predictions (`_calculate_target_results`,
   `_calculate_wugs_results`, `_calculate_reading_results`), compared with the score we reported.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from parity import CHOICE_TASKS, sample_folder  # noqa: E402

from classit_ray.eval.registry import get_task  # noqa: E402
from classit_ray.eval.tasks import TASK_SPECS  # noqa: E402

# Per task of ours: the official collation's task key, the file it loads under
# `<results>/<model>/<revision>/zero_shot/causal/` and the line its validity check prints without it
# (copied from collate_preds.py's collate_full_eval_preds and _check_validity_of_dir, commit bf55c11).
OFFICIAL = {
    "blimp": ("blimp", "blimp/blimp_filtered/predictions.json", "The blimp data is missing!"),
    "blimp_supplement": (
        "blimp_supplement",
        "blimp/supplement_filtered/predictions.json",
        "The blimp supplement data is missing!",
    ),
    "ewok": ("ewok", "ewok/ewok_filtered/predictions.json", "The ewok data is missing!"),
    "entity_tracking": (
        "entity_tracking",
        "entity_tracking/entity_tracking/predictions.json",
        "The entity tracking data is missing!",
    ),
    "wug_adj": (
        "wug_adj",
        "wug_adj/wug_adj_nominalization/predictions.json",
        "The wug adj nominalization data is missing!",
    ),
    "wug_past": ("wug_past", "wug_past/wug_past_tense/predictions.json", "The wug past tense data is missing!"),
    "comps": ("comps", "comps/comps/predictions.json", "The comps data is missing!"),
    "reading": ("reading", "reading/predictions.json", "The reading data is missing!"),
    "aoa": ("aoa", "AoA_word/surprisal.json", "The AoA surprisal data is missing!"),
}
# The order collate_full_eval_preds takes them in (GLUE follows AoA).
FULL_ORDER = ["blimp", "blimp_supplement", "ewok", "entity_tracking", "wug_adj", "wug_past", "comps", "reading", "aoa"]


def captured(fn, *args):
    """(value or the exception, its stdout lines): the official functions report by printing."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            value = fn(*args)
        except Exception as e:  # noqa: BLE001 - the official code's assertion or read error is the finding
            value = e
    return value, [line for line in out.getvalue().splitlines() if line.strip()]


def official_score(cp, task: str, results: dict, folder: Path) -> dict[str, float] | None:
    """The official fast collation's score function on our predictions and the data they came from
    (the full files here: it matches predictions to the file's lines by order, per subtask)."""
    if task in ("blimp", "blimp_supplement", "ewok"):
        return cp._calculate_target_results(results, task, folder)
    if task == "entity_tracking":  # it reads regular.jsonl alone (the fast set's only file)
        return cp._calculate_target_et_results({k: v for k, v in results.items() if k.startswith("regular_")}, folder)
    if task in ("wug_adj", "wug_past"):
        return cp._calculate_wugs_results(results, folder.name, folder)
    if task == "reading":
        return cp._calculate_reading_results(results, folder / "reading_data.csv")
    return None


def items_per_group(task: str, folder: Path) -> dict[str, int]:
    """How many items of `folder` each subtask (UID, domain, `<file>_<numops>_ops`) has, by our reader."""
    return dict(Counter(item.group for item in get_task(task).read(folder)))


def ours_vs_official(task: str, ours: dict[str, float], theirs: dict[str, float]) -> tuple[float, float]:
    """(our reported score, the same score from the official function's values). Accuracy tasks:
    the mean over subtasks (our macro average); reading: ΔR² in % (ours) from its fraction."""
    if task == "reading":
        return ours["eval/reading_eye"], 100 * theirs["rt"]
    if task == "entity_tracking":  # regular only: ours averages the three files, so no score to set beside it
        return float("nan"), sum(theirs.values()) / len(theirs)
    return ours[f"eval/{task}"], sum(theirs.values()) / len(theirs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--official", required=True, type=Path, help="a checkout of babylm/evaluation-pipeline-2025")
    parser.add_argument("--data", required=True, type=Path, help="a release full_eval/ folder")
    parser.add_argument("--model", type=Path, help="a model folder (default: a random --preset model)")
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--tasks", nargs="+", choices=[*CHOICE_TASKS, "reading"], default=[*CHOICE_TASKS, "reading"])
    parser.add_argument("--items", type=int, default=0, help="lines per choice-task file, spaced evenly (0: all)")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds for our evaluation")
    parser.add_argument("--out", type=Path, help="work folder and results.json (default: a temp dir)")
    args = parser.parse_args()
    if args.data.name != "full_eval":
        raise SystemExit(f"{args.data}: expected a full_eval/ folder (the collation checks full evaluation counts)")

    work = (args.out or Path(tempfile.mkdtemp(prefix="collate_check_"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    at_hand = [t for t in args.tasks if (args.data / TASK_SPECS[t].subdir).is_dir()]
    missing = [t for t in args.tasks if t not in at_hand]
    data = args.data.resolve()
    if args.items:  # a full_eval/ of evenly spaced samples, folder names kept (they name the results' datasets)
        data = work / "data" / "full_eval"
        for t in at_hand:
            src = args.data / TASK_SPECS[t].subdir
            if t == "reading":
                shutil.copytree(src, data / src.name)
            else:
                sample_folder(src, data / src.name, args.items)
    model = args.model
    if model is None:
        from scorer import build_model_dir

        from classit_ray.toyworld.world import write_toy_world

        toy = write_toy_world(work / "world", words=200_000, seed=0)
        model = build_model_dir(work / "model", args.preset, Path(toy["corpus_dir"]))
    model = model.resolve()
    results_dir = work / "results"

    t0 = time.perf_counter()
    ours_cmd = [
        sys.executable,
        "-m",
        "classit_ray.eval",
        "--model",
        str(model),
        "--data",
        str(data),
        "--full",
        "--tasks",
        *at_hand,
        "--results",
        str(results_dir),
    ]
    proc = subprocess.run(
        ours_cmd,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=args.timeout,
        env={**os.environ, "TOKENIZERS_PARALLELISM": "false"},
    )
    ours_s = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"our evaluation failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    run_dir = next(p for p in results_dir.glob("*/*") if (p / "metrics.json").is_file())
    ours = json.loads((run_dir / "metrics.json").read_text())["metrics"]
    name, revision = run_dir.parent.name, run_dir.name
    print(f"our evaluation: {ours_s:.0f} s, results in {run_dir}", flush=True)

    # 1. The collation's command, as collate_preds.sh runs it (less --fast).
    official_cmd = [
        sys.executable,
        "-m",
        "evaluation_pipeline.collate_preds",
        f"--model_path_or_name={name}",
        "--backend=causal",
        "--track=strict-small",
        f"--results_dir={results_dir}",
        f"--revision_name={revision}",
    ]
    env = {**os.environ, "PYTHONPATH": str(args.official.resolve())}
    cli = subprocess.run(official_cmd, cwd=args.official, capture_output=True, text=True, timeout=600, env=env)
    cli_lines = [line for line in cli.stdout.splitlines() if line.strip()]
    cli_error = (cli.stderr.strip().splitlines() or [""])[-1]
    print(f"collate_preds: exit {cli.returncode}; {cli_error}", flush=True)

    sys.path.insert(0, str(args.official.resolve()))
    import evaluation_pipeline.collate_preds as cp  # the official module, unmodified

    ns = argparse.Namespace(
        model_path_or_name=Path(name),
        backend="causal",
        results_dir=results_dir,
        revision_name=revision,
        fast=False,
        track="strict-small",
        multimodal=False,
    )
    # 2. Its full collation, which stops at the first task that fails.
    stop, stop_lines = captured(cp.collate_full_eval_preds, ns)
    stop_text = f"{type(stop).__name__}: {stop}".splitlines()[0] if isinstance(stop, Exception) else "completed"
    print(f"collate_full_eval_preds: {stop_text}", flush=True)

    # 3. Per task.
    zero_shot = run_dir / "zero_shot" / "causal"
    rows = []
    for task in args.tasks:
        key, rel, missing_line = OFFICIAL[task]
        row = {"task": task, "data_at_hand": task in at_hand, "found": missing_line not in cli_lines}
        if task in at_hand:
            results, _ = captured(cp._load_results, zero_shot / rel)
            if isinstance(results, Exception):
                row["load"] = f"{type(results).__name__}: {results}"
            else:
                size_ok, size_lines = captured(cp._check_size, key, results, False)
                row["size_check"] = size_ok is True
                more = [f"... {len(size_lines) - 5} more"] if len(size_lines) > 5 else []
                row["size_lines"] = size_lines[:5] + more
                score, _ = captured(official_score, cp, task, results, data / TASK_SPECS[task].subdir)
                if isinstance(score, Exception):
                    row["official_score_error"] = f"{type(score).__name__}: {score}"
                else:
                    # numpy floats (Spearman's ρ) made plain, for the JSON record
                    row["ours"], row["official_from_ours"] = map(float, ours_vs_official(task, ours, score))
            same = math.isnan(row.get("ours", math.nan)) or abs(row["ours"] - row["official_from_ours"]) < 1e-6
            row["accepted"] = row["found"] and row.get("size_check") is True and "official_from_ours" in row and same
            if args.items and task != "reading" and not isinstance(results, Exception):
                # A sample fails the size check by design. Whether the whole files would pass it: their
                # counts per subtask under the same official check, and one prediction per sampled item.
                whole = items_per_group(task, args.data / TASK_SPECS[task].subdir)
                row["whole_files_size_check"] = (
                    captured(cp._check_size, key, {g: {"predictions": [None] * n} for g, n in whole.items()}, False)[0]
                    is True
                )
                written = {g: len(v["predictions"]) for g, v in results.items()}
                row["one_prediction_per_item"] = written == items_per_group(task, data / TASK_SPECS[task].subdir)
                row["accepted_as_sample"] = (
                    row["found"]
                    and "official_from_ours" in row
                    and same
                    and row["whole_files_size_check"]
                    and row["one_prediction_per_item"]
                )
        rows.append(row)
        print(json.dumps(row), flush=True)

    summary = {
        "command_ours": " ".join(ours_cmd),
        "ours_s": round(ours_s, 1),
        "model": str(model),
        "collate_preds_command": " ".join(official_cmd),
        "collate_preds_exit": cli.returncode,
        "collate_preds_stdout": cli_lines,
        "collate_preds_error": cli_error,
        "collate_full_eval_preds": stop_text,
        "collate_full_eval_preds_stdout": stop_lines,
        "not_at_hand": missing,
        "args": {k: str(v) for k, v in vars(args).items()},
        "rows": rows,
    }
    (work / "results.json").write_text(json.dumps(summary, indent=1))
    print(
        "\n| task | real data at hand | found by the validity check | official size check "
        "| our score | official function on our predictions | accepted |"
    )
    print("|---|---|---|---|---:|---:|---|")
    for r in rows:
        size = "—" if "size_check" not in r else "pass" if r["size_check"] else f"fail: {r['size_lines'][0]}"
        accepted = "yes" if r.get("accepted") else "no"
        if "whole_files_size_check" in r:
            size += (
                f" (whole files: {'pass' if r['whole_files_size_check'] else 'fail'}; one prediction per item: "
                f"{'yes' if r['one_prediction_per_item'] else 'no'})"
            )
            accepted = "as a sample" if r["accepted_as_sample"] else "no"
        print(
            f"| {r['task']} | {'yes' if r['data_at_hand'] else 'no'} | {'yes' if r['found'] else 'no'} | {size} "
            f"| {r.get('ours', float('nan')):.4f} | {r.get('official_from_ours', float('nan')):.4f} | {accepted} |"
        )
    print(f"\nresults in {work / 'results.json'}")


if __name__ == "__main__":
    main()
