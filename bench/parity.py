"""Benchmark: prediction-for-prediction parity of this project's zero-shot evaluation with the
official BabyLM 2025 pipeline (`babylm/evaluation-pipeline-2025`), by `eval.convention`.

    python bench/parity.py --official DIR --data evaluation_data/full_eval [--model DIR | --preset small]
        [--tasks blimp ... reading] [--items N] [--reading-rows N] [--out DIR]

`--official` is a checkout of the official repository kept outside this project; its runners are
run unmodified, as `python -m evaluation_pipeline.sentence_zero_shot.run` and
`python -m evaluation_pipeline.reading.run` from that folder, in this Python (when `datasets`,
which the zero-shot reader imports but only calls for image tasks, is not installed, the child
process registers a stand-in module that raises if it is ever called). `--data` is a release
`full_eval/` or `fast_eval/` folder. Each choice task's files are sampled evenly (`--items` per
file, every numops of entity tracking among them) into a work folder both sides read.

Per choice task: items compared, items whose chosen candidate differs from the official one
(each convention), the largest difference of a candidate's summed log-probability, and the score
on both sides (this project's aggregation of the official choices and of its own). Reading: the
per-word surprisals (`pred`, `prev_pred`) against the official `prediction.jsonl` (largest
difference, rows beyond 1e-4) and the ΔR² values against the official `predictive_power*.jsonl`.
The model is `--model`, or a randomly initialised `--preset` with a BPE trained on the toy
corpus (bench/scorer.py); parity does not depend on the weights.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from official_eval import OFFICIAL_CHILD, OFFICIAL_TASK, official_command, official_ids, predictions  # noqa: E402

CHOICE_TASKS = ["blimp", "blimp_supplement", "ewok", "entity_tracking", "wug_adj", "wug_past", "comps"]
# `datasets` is imported by the official reader at the top, and used only with --images_path.
DATASETS_STAND_IN = r"""
import sys, types
try:
    import datasets
except ImportError:
    stand_in = types.ModuleType("datasets")
    def load_dataset(*args, **kwargs):
        raise RuntimeError("datasets is not installed; this stand-in serves text-only tasks")
    stand_in.load_dataset = load_dataset
    sys.modules["datasets"] = stand_in
"""


def sample_folder(folder: Path, out: Path, per_file: int) -> Path:
    """`folder`'s .jsonl files, each cut to `per_file` lines spaced evenly over it (0: all)."""
    out.mkdir(parents=True)
    for f in sorted(folder.glob("*.jsonl")):
        lines = [line for line in f.read_text().splitlines() if line.strip()]
        if per_file and len(lines) > per_file:
            step = (len(lines) - 1) / max(per_file - 1, 1)
            lines = [lines[round(i * step)] for i in range(per_file)]
        (out / f.name).write_text("".join(line + "\n" for line in lines))
    return out


def run(cmd: list[str], cwd: Path, env: dict, timeout: int) -> None:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd[:3])}...\n{proc.stderr[-3000:]}")


def choice_parity(name: str, folder: Path, model: Path, official: Path, work: Path, env: dict, timeout: int) -> dict:
    from classit_ray.eval.registry import get_task
    from classit_ray.eval.scorer import HFCausalLM
    from classit_ray.eval.zero_shot import ItemResult, score_items

    task = get_task(name)
    items = task.read(folder)
    scores_path, out = work / f"official-{name}.scores.json", work / "official" / name
    t0 = time.perf_counter()
    run(
        official_command(sys.executable, DATASETS_STAND_IN + OFFICIAL_CHILD, model, name, folder, out),
        official,
        {**env, "BENCH_SCORES": str(scores_path)},
        timeout,
    )
    official_s = time.perf_counter() - t0
    theirs_scores = json.loads(scores_path.read_text())["scores"]
    theirs_pred = predictions(next(out.glob("*/*/zero_shot/causal/*/*/predictions.json")))
    their_id = official_ids(OFFICIAL_TASK[name], folder)
    row = {"task": name, "items": len(items), "official_s": round(official_s, 1)}
    official_results = []
    for convention in ("official", "clean"):
        lm = HFCausalLM(model, convention=convention)
        results = score_items(lm, items, convention)
        differ, max_diff, examples = 0, 0.0, []
        for r in results:
            path, lineno = r.item.source.rsplit(":", 1)
            tid = their_id[(Path(path).name, int(lineno))]
            texts = list(r.item.candidates)  # the official `pred`: the completion, COMPS's whole sentence
            if name == "comps":
                texts = [r.item.text(i) for i in range(len(texts))]
            theirs_i = texts.index(theirs_pred[tid])
            mine, theirs = r.scores, theirs_scores[tid]
            max_diff = max(max_diff, *(abs(a - b) for a, b in zip(mine, theirs)))
            if r.chosen != theirs_i:
                differ += 1
                examples.append(f"{r.item.id}: ours {r.chosen}, official {theirs_i}")
            if convention == "official":
                official_results.append(ItemResult(r.item, theirs, theirs_i, float(theirs_i == r.item.correct), False))
        row[convention] = {
            "differ": differ,
            "max_abs_logprob_diff": max_diff,
            "score": task.aggregate(results),
            "examples": examples[:3],
        }
    row["official_score"] = task.aggregate(official_results)
    return row


def official_delta_r2(folder: Path) -> dict[str, float]:
    """ΔR² % per reading-time column from the official `predictive_power*.jsonl` (R² and its change)."""
    out = {}
    for name, columns in (("predictive_power.jsonl", "RT"), ("predictive_power_spillover.jsonl", "self")):
        for line in (folder / name).read_text().splitlines():
            res = json.loads(line)
            if columns in res["Predicted variable"]:
                r2_full, change = res["R2"], res["Change in R2 from baseline"]
                out[f"{name[:-6]}/{res['Predicted variable']}"] = 100 * change / (1 - (r2_full - change))
    return out


def reading_parity(csv: Path, model: Path, official: Path, work: Path, env: dict, timeout: int, rows: int) -> dict:
    import pandas as pd

    from classit_ray.eval.formats import read_reading
    from classit_ray.eval.reading import EYE_TRACKING_COLUMNS, regression_scores, row_surprisals
    from classit_ray.eval.scorer import HFCausalLM

    if rows:
        sample = work / "reading" / "reading_data.csv"
        sample.parent.mkdir(parents=True)
        pd.read_csv(csv, dtype=str, keep_default_na=False).head(rows).to_csv(sample, index=False)
        csv = sample
    out = work / "official" / "reading"
    t0 = time.perf_counter()
    run(
        [
            sys.executable,
            "-m",
            "evaluation_pipeline.reading.run",
            "--model_path_or_name",
            str(model),
            "--backend",
            "causal",
            "--data_path",
            str(csv),
            "--output_dir",
            str(out),
        ],
        official,
        env,
        timeout,
    )
    official_s = time.perf_counter() - t0
    folder = next(out.glob("*/*/zero_shot/causal/reading"))
    theirs = [json.loads(line) for line in (folder / "prediction.jsonl").read_text().splitlines()]
    their_r2 = official_delta_r2(folder)
    their_eye = sum(v for k, v in their_r2.items() if k.startswith("predictive_power/")) / len(EYE_TRACKING_COLUMNS)
    their_spr = their_r2["predictive_power_spillover/self_paced_reading_time"]
    data = read_reading(csv)
    row = {
        "task": "reading",
        "items": len(data),
        "official_s": round(official_s, 1),
        "official_score": {"reading_eye": their_eye, "reading_spr": their_spr},
    }
    for convention in ("official", "clean"):
        pred, prev = row_surprisals(HFCausalLM(model, convention=convention), data, convention)
        scores = regression_scores(data, pred, prev, convention)
        diffs = []
        for mine, key in ((pred, "Logprob"), (prev, "Prev_Logprob")):
            for m, t in zip(mine, (r[key] for r in theirs)):
                t = float("nan") if t is None else t
                if math.isnan(m) or math.isnan(t):  # missing on both sides, or on one only
                    diffs.append(0.0 if math.isnan(m) and math.isnan(t) else math.inf)
                else:
                    diffs.append(abs(m - t))
        row[convention] = {
            "differ": sum(d > 1e-4 for d in diffs),
            "words": len(diffs),
            "max_abs_logprob_diff": max(diffs),
            "score": {"reading_eye": scores["reading_eye"], "reading_spr": scores["reading_spr"]},
            "delta_r2_max_diff": max(
                abs(scores[f"reading_eye/{c}"] - their_r2[f"predictive_power/{c}"]) for c in EYE_TRACKING_COLUMNS
            ),
        }
    return row


def fmt(value) -> str:
    """A score, or a dict of scores, for the table."""
    return ", ".join(f"{k} {x:.4f}" for k, x in value.items()) if isinstance(value, dict) else f"{value:.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--official", required=True, type=Path, help="a checkout of babylm/evaluation-pipeline-2025")
    parser.add_argument("--data", required=True, type=Path, help="a release full_eval/ or fast_eval/ folder")
    parser.add_argument("--model", type=Path, help="a model folder (default: a random --preset model)")
    parser.add_argument("--preset", default="small")
    parser.add_argument("--tasks", nargs="+", choices=[*CHOICE_TASKS, "reading"], default=[*CHOICE_TASKS, "reading"])
    parser.add_argument("--items", type=int, default=40, help="items per file, spaced evenly (0: all)")
    parser.add_argument("--reading-rows", type=int, default=0, help="first N reading rows (0: all)")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds for one official run")
    parser.add_argument("--out", type=Path, help="work folder and results.json (default: a temp dir)")
    args = parser.parse_args()

    from classit_ray.eval.formats import task_dir
    from classit_ray.eval.registry import get_task

    work = args.out or Path(tempfile.mkdtemp(prefix="parity_"))
    work.mkdir(parents=True, exist_ok=True)
    model = args.model
    if model is None:
        from scorer import build_model_dir

        from classit_ray.toyworld.world import write_toy_world

        toy = write_toy_world(work / "world", words=200_000, seed=0)
        model = build_model_dir(work / "model", args.preset, Path(toy["corpus_dir"]))
    env = {**os.environ, "PYTHONPATH": str(args.official.resolve()), "TOKENIZERS_PARALLELISM": "false"}
    fast = args.data.name == "fast_eval"
    rows = []
    for name in args.tasks:
        try:
            folder = task_dir(args.data, fast, get_task(name).spec.subdir)
        except Exception as e:  # noqa: BLE001 - a task whose files the release copy lacks is reported, not fatal
            print(f"{name}: skipped ({str(e).splitlines()[0]})", flush=True)
            continue
        if name == "reading":
            row = reading_parity(
                folder / "reading_data.csv", model, args.official, work, env, args.timeout, args.reading_rows
            )
        else:
            sample = sample_folder(folder, work / "data" / folder.name, args.items)
            row = choice_parity(name, sample, model, args.official, work, env, args.timeout)
        rows.append(row)
        print(json.dumps(row), flush=True)
    args_text = {k: str(v) for k, v in vars(args).items()}
    (work / "results.json").write_text(json.dumps({"args": args_text, "model": str(model), "rows": rows}, indent=1))
    print(
        "\n| task | items | differ: official | differ: clean | max abs log-prob diff (official) "
        "| score: official pipeline | ours, official | ours, clean |"
    )
    print("|---|---:|---:|---:|---:|---|---|---|")
    for r in rows:
        print(
            f"| {r['task']} | {r['items']} | {r['official']['differ']} | {r['clean']['differ']} "
            f"| {r['official']['max_abs_logprob_diff']:.1e} | {fmt(r['official_score'])} "
            f"| {fmt(r['official']['score'])} "
            f"| {fmt(r['clean']['score'])} |"
        )
    print(f"\nresults in {work / 'results.json'}")


if __name__ == "__main__":
    main()
