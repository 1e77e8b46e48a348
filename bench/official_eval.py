"""Benchmark: the project's zero-shot evaluation against the official BabyLM 2025 zero-shot runner
(`babylm/evaluation-pipeline-2025`, backend "causal"), on the same model and the same files.

    python bench/official_eval.py --official DIR --official-python PY [--model DIR | --preset small]
        [--data evaluation_data/] [--split full] [--tasks blimp ewok ...] [--max-lines N] [--repeats 3]

The official pipeline is not part of this project: clone it and give it its own environment (see
bench/results/2026-11-30-official-eval.md); this script only runs it,
as `python -m evaluation_pipeline.sentence_zero_shot.run` from its folder.

Each task runs through both evaluators as whole processes, timed end to end (imports, model load,
reading, scoring, writing), alternating ours and theirs (the order swapped every repeat). Inside
each process a small wrapper times the scoring alone (ours: `score_items`; theirs:
`compute_results`, its data loader's tokenization included as ours includes our tokenization) and
records every candidate's summed log-probability; it then runs the runner's own `__main__` with the
same arguments. The two `predictions.json` files are compared item by item (both use the BabyLM
layout `{"<UID>": {"predictions": [{"id", "pred"}]}}`, with different UIDs and `pred` texts, mapped
here through the file and line each item came from; the repeats are checked to predict alike).

The model is `--model`, or a randomly initialised LLaMA of `--preset` with a tokenizer trained on
the toy corpus (the speed does not depend on the weights). The evaluator of the official pipeline
pins transformers 4.51, which cannot read the `tokenizer_config.json` that transformers 5 writes
(`"tokenizer_class": "TokenizersBackend"`), so both read a copy of the model folder whose
tokenizer_config names `PreTrainedTokenizerFast` (same weights, same tokenizer.json, same token ids).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# Our task name -> the official runner's --task.
OFFICIAL_TASK = {
    "blimp": "blimp",
    "blimp_supplement": "blimp",
    "ewok": "ewok",
    "entity_tracking": "entity_tracking",
    "wug_adj": "wug_adj",
    "wug_past": "wug_past",
    "comps": "comps",
}
DEFAULT_TASKS = ["blimp", "blimp_supplement", "ewok", "entity_tracking", "wug_adj", "wug_past"]
TIE = 1e-4  # a disagreement whose two candidates are this close in both evaluators' scores is a tie

# Runs `python -m classit_ray.eval` in this process, timing `score_items` and keeping its scores.
OURS_CHILD = r"""
import json, os, runpy, sys, time
import classit_ray.eval.runners as runners
score_items, clock, scores = runners.score_items, {}, {}
def timed(lm, items):
    t0 = time.perf_counter()
    results = score_items(lm, items)
    clock["scoring_s"] = clock.get("scoring_s", 0.0) + time.perf_counter() - t0
    scores.update({r.item.id: r.scores for r in results})
    return results
runners.score_items = timed
sys.argv = ["classit_ray.eval", *sys.argv[1:]]
try:
    runpy.run_module("classit_ray.eval", run_name="__main__", alter_sys=True)
finally:
    with open(os.environ["BENCH_SCORES"], "w") as f:
        json.dump({"scoring_s": clock.get("scoring_s"), "scores": scores}, f)
"""

# Runs the official `python -m evaluation_pipeline.sentence_zero_shot.run` in this process, timing
# `compute_results` and keeping the per-candidate scores that its ranking functions receive.
OFFICIAL_CHILD = r"""
import json, os, runpy, sys, time
from collections import Counter
import torch
import evaluation_pipeline.sentence_zero_shot.compute_results as cr
clock, scores, seen = {}, {}, Counter()
def keeping_scores(rank):
    def wrapped(args, stats, all_log_probs, raw, labels, metadatas, uids, predictions):
        per_item = torch.stack(all_log_probs[next(iter(all_log_probs))], dim=1).tolist()  # (B, candidates)
        for uid, row in zip(uids, per_item):
            scores[f"{uid}_{seen[uid]}"] = row  # the id the runner gives this item
            seen[uid] += 1
        return rank(args, stats, all_log_probs, raw, labels, metadatas, uids, predictions)
    return wrapped
cr.rank_and_evaluate = keeping_scores(cr.rank_and_evaluate)
cr.rank_and_evaluate_wug = keeping_scores(cr.rank_and_evaluate_wug)
compute_results = cr.compute_results
def timed(*args, **kwargs):
    t0 = time.perf_counter()
    out = compute_results(*args, **kwargs)
    clock["scoring_s"] = time.perf_counter() - t0
    return out
cr.compute_results = timed
sys.argv = ["run.py", *sys.argv[1:]]
try:
    runpy.run_module("evaluation_pipeline.sentence_zero_shot.run", run_name="__main__", alter_sys=True)
finally:
    with open(os.environ["BENCH_SCORES"], "w") as f:
        json.dump({"scoring_s": clock.get("scoring_s"), "scores": scores}, f)
"""


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def portable_model_dir(src: Path, out: Path) -> Path:
    """`src` as a folder that transformers 4.51 loads too: its files linked, and a tokenizer_config
    naming `PreTrainedTokenizerFast`, a class both 4.51 and 5.x know (5.x writes `TokenizersBackend`)."""
    out.mkdir(parents=True)
    for f in src.iterdir():
        if f.is_file() and f.name != "tokenizer_config.json":
            (out / f.name).symlink_to(f.resolve())
    cfg_path = src / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text()) if cfg_path.is_file() else {}
    cfg.pop("backend", None)
    cfg["tokenizer_class"] = "PreTrainedTokenizerFast"
    extra = cfg.pop("extra_special_tokens", None)
    if isinstance(extra, list):  # 5.x's list is 4.x's additional_special_tokens
        cfg["additional_special_tokens"] = extra
    elif extra:
        cfg["extra_special_tokens"] = extra
    (out / "tokenizer_config.json").write_text(json.dumps(cfg, indent=2))
    return out


def benchmark_copy(folder: Path, out: Path, max_lines: int, same_option_count: bool) -> tuple[Path, str]:
    """`folder`'s .jsonl files in `out` (same names), each cut to its first `max_lines` items (0: all).

    `same_option_count` (entity tracking) keeps only the items with the most common number of
    `options`: the official collate function takes the number of candidates of a batch's first item
    for the whole batch, so it fails on a batch where a later item has fewer (KeyError) and drops
    the extra candidates of one that has more. The toy world's files mix 2, 3 and 4 options.
    Returns the folder and a note of what was kept."""
    out.mkdir(parents=True)
    files = sorted(folder.glob("*.jsonl"))
    rows = {f: [line for line in f.read_text().splitlines() if line.strip()] for f in files}
    keep = None
    if same_option_count:
        counts = Counter(len(json.loads(line)["options"]) for lines in rows.values() for line in lines)
        keep = counts.most_common(1)[0][0]
    for f, lines in rows.items():
        if keep is not None:
            lines = [line for line in lines if len(json.loads(line)["options"]) == keep]
        (out / f.name).write_text("".join(line + "\n" for line in lines[: max_lines or None]))
    return out, f"{folder.name}: the items with {keep} options only" if keep is not None else ""


def official_ids(task: str, folder: Path) -> dict[tuple[str, int], str]:
    """(file name, line number) -> the id the official runner gives that item. It reads the .jsonl
    files in directory order and numbers items per UID: BLiMP's `UID` field (the file stem for the
    supplement, which has no `field`), EWoK's `Domain`, entity tracking's `<file>_<numops>_ops`,
    WUG's task name, COMPS's subset."""
    from classit_ray.eval.formats import COMPS_FILES

    uid_of = {
        "blimp": lambda obj, stem: obj["UID"] if "field" in obj else stem,  # (item, file stem) -> its UID
        "ewok": lambda obj, stem: obj["Domain"],
        "entity_tracking": lambda obj, stem: f"{stem}_{obj['numops']}_ops",
        "wug_adj": lambda obj, stem: "wug_adj",
        "wug_past": lambda obj, stem: "wug_past",
        "comps": lambda obj, stem: COMPS_FILES.get(stem, "wugs_dist_in_between"),
    }[task]
    ids, counts = {}, Counter()
    for path in folder.iterdir():  # its order, not sorted: it numbers items in this order
        if path.suffix != ".jsonl":
            continue
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            uid = uid_of(json.loads(line), path.stem)
            ids[(path.name, lineno)] = f"{uid}_{counts[uid]}"
            counts[uid] += 1
    return ids


def official_versions(official: Path, python: str) -> str:
    """The official clone's commit (if it is a git clone) and its environment's torch and transformers."""
    commit = subprocess.run(
        ["git", "-C", str(official), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    )
    libs = subprocess.run(
        [
            python,
            "-c",
            "import torch, transformers; print(f'torch {torch.__version__}, transformers {transformers.__version__}')",
        ],
        capture_output=True,
        text=True,
    )
    return f"commit {commit.stdout.strip() or 'unknown (not a git clone)'}, {libs.stdout.strip()}"


def run_child(cmd: list[str], cwd: Path, scores_path: Path, env: dict) -> dict:
    """One whole evaluation process: wall seconds end to end, and what its wrapper recorded."""
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env={**env, "BENCH_SCORES": str(scores_path)}, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd[:1] + cmd[3:])}\n{proc.stderr[-3000:]}")
    recorded = json.loads(scores_path.read_text())
    return {"wall_s": wall, "scoring_s": recorded["scoring_s"], "scores": recorded["scores"]}


def predictions(path: Path) -> dict[str, str]:
    """id -> pred of a BabyLM predictions.json."""
    return {p["id"]: p["pred"] for uid in json.loads(path.read_text()).values() for p in uid["predictions"]}


def compare(
    task: str, items, ours_pred: dict, theirs_pred: dict, ours_scores: dict, theirs_scores: dict, their_id: dict
) -> dict:
    """Item by item: the candidate each evaluator chose, ties, and the score differences."""
    same = ties = tie_disagree = other_disagree = 0
    max_diff, examples = 0.0, []
    for item in items:
        path, lineno = item.source.rsplit(":", 1)
        tid = their_id[(Path(path).name, int(lineno))]
        texts = [item.text(i) for i in range(len(item.candidates))]
        their_texts = texts if task == "comps" else list(item.candidates)  # their pred: the completion alone
        ours_i, theirs_i = texts.index(ours_pred[item.id]), their_texts.index(theirs_pred[tid])
        mine, theirs = ours_scores[item.id], theirs_scores[tid]
        max_diff = max(max_diff, *(abs(a - b) for a, b in zip(mine, theirs)))
        ties += mine.count(max(mine)) > 1
        if ours_i == theirs_i:
            same += 1
        elif abs(mine[ours_i] - mine[theirs_i]) <= TIE and abs(theirs[ours_i] - theirs[theirs_i]) <= TIE:
            tie_disagree += 1
        else:
            other_disagree += 1
            examples.append(f"{item.id}: ours {mine} -> {ours_i}, theirs {theirs} -> {theirs_i}")
    return {
        "same": same,
        "ties": ties,
        "tie_disagreements": tie_disagree,
        "other_disagreements": other_disagree,
        "max_abs_logprob_diff": max_diff,
        "examples": examples[:5],
    }


def official_command(python: str, child: str, model: Path, name: str, folder: Path, out: Path) -> list[str]:
    """The official zero-shot runner's command line for task `name` on `folder`, run through `child`
    (the snippet that times it and records its scores), with its predictions saved under `out`."""
    return [
        python,
        "-c",
        child,
        "--model_path_or_name",
        str(model),
        "--backend",
        "causal",
        "--task",
        OFFICIAL_TASK[name],
        "--data_path",
        str(folder),
        "--save_predictions",
        "--output_dir",
        str(out),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--official", required=True, type=Path, help="a clone of babylm/evaluation-pipeline-2025")
    parser.add_argument("--official-python", required=True, help="the python of its own environment")
    parser.add_argument("--model", type=Path, help="a model folder (default: a random --preset model)")
    parser.add_argument("--preset", default="small", help="preset of the random model when no --model")
    parser.add_argument("--data", type=Path, help="an evaluation_data/ folder (default: the toy world's)")
    parser.add_argument("--split", choices=["full", "fast"], default="full")
    parser.add_argument("--tasks", nargs="+", choices=list(OFFICIAL_TASK), default=DEFAULT_TASKS)
    parser.add_argument("--max-lines", type=int, default=0, help="first N items of each file (0: all)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, help="keep the work folder and results.json here (default: a temp dir)")
    args = parser.parse_args()

    from classit_ray.eval.formats import task_dir
    from classit_ray.eval.registry import get_task

    load_before = load_average()
    work = args.out or Path(tempfile.mkdtemp(prefix="official_eval_"))
    if work.exists() and any(work.iterdir()):
        raise SystemExit(f"{work}: exists and is not empty; pass a new folder to --out")
    work.mkdir(parents=True, exist_ok=True)
    eval_dir = args.data
    if eval_dir is None or args.model is None:
        from classit_ray.toyworld.world import write_toy_world

        toy = write_toy_world(work / "world", words=200_000, seed=0)
        eval_dir = eval_dir or Path(toy["eval_dir"])
    if args.model is None:
        sys.path.insert(0, str(REPO / "bench"))
        from scorer import build_model_dir

        model_src = build_model_dir(work / "random_model", args.preset, Path(toy["corpus_dir"]))
    else:
        model_src = args.model
    model = portable_model_dir(model_src, work / "model")
    split = f"{args.split}_eval"

    folders, items, notes = {}, {}, []
    for name in args.tasks:
        folder = task_dir(eval_dir, args.split == "fast", get_task(name).spec.subdir)
        if args.max_lines or name == "entity_tracking":
            folder, note = benchmark_copy(
                folder, work / "data" / split / folder.name, args.max_lines, name == "entity_tracking"
            )
            notes += [note] if note else []
        folders[name], items[name] = folder, get_task(name).read(folder)

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    runs: dict[str, dict[str, list]] = {name: {"ours": [], "official": []} for name in args.tasks}
    for rep in range(args.repeats):
        for name in args.tasks:
            folder = folders[name]
            ours_cmd = [
                sys.executable,
                "-c",
                OURS_CHILD,
                "--model",
                str(model),
                "--data",
                str(folder),
                "--tasks",
                name,
                "--results",
                str(work / "ours" / f"{name}-{rep}"),
            ]
            official_cmd = official_command(
                args.official_python, OFFICIAL_CHILD, model, name, folder, work / "official" / f"{name}-{rep}"
            )
            order = [("ours", ours_cmd, REPO), ("official", official_cmd, args.official.resolve())]
            for who, cmd, cwd in order if rep % 2 == 0 else order[::-1]:
                run = run_child(cmd, cwd, work / f"{who}-{name}-{rep}.scores.json", env)
                runs[name][who].append(run)
                print(
                    f"repeat {rep + 1}/{args.repeats} {name:<16} {who:<8} whole {run['wall_s']:6.1f} s, "
                    f"scoring {run['scoring_s']:6.2f} s",
                    flush=True,
                )

    rows = []
    for name in args.tasks:
        n_items = len(items[name])
        n_sentences = sum(len(it.candidates) for it in items[name])
        ours_out = next((work / "ours" / f"{name}-0").glob(f"*/*/zero_shot/causal/{name}/*/predictions.json"))
        theirs_out = next((work / "official" / f"{name}-0").glob("*/*/zero_shot/causal/*/*/predictions.json"))
        agreement = compare(
            name,
            items[name],
            predictions(ours_out),
            predictions(theirs_out),
            runs[name]["ours"][0]["scores"],
            runs[name]["official"][0]["scores"],
            official_ids(OFFICIAL_TASK[name], folders[name]),
        )
        for who, layout in (
            ("ours", f"*/*/zero_shot/causal/{name}/*/predictions.json"),
            ("official", "*/*/zero_shot/causal/*/*/predictions.json"),
        ):
            first = predictions(next((work / who / f"{name}-0").glob(layout)))
            if any(
                predictions(next((work / who / f"{name}-{rep}").glob(layout))) != first
                for rep in range(1, args.repeats)
            ):
                print(f"warning: {who} {name}: the repeats' predictions differ; compared the first repeat's")
        row = {"task": name, "items": n_items, "sentences": n_sentences, **agreement}
        for kind in ("wall_s", "scoring_s"):
            ours_t = [r[kind] for r in runs[name]["ours"]]
            theirs_t = [r[kind] for r in runs[name]["official"]]
            row[kind] = {
                "ours": ours_t,
                "official": theirs_t,
                "ratio": statistics.median(b / a for a, b in zip(ours_t, theirs_t)),
            }
        rows.append(row)

    import torch
    import transformers

    print(
        f"\n## Zero-shot evaluation vs the official runner ({time.strftime('%Y-%m-%d')}, {platform.machine()}, "
        f"{os.cpu_count()} cores, load before {load_before}, after {load_average()})"
    )
    print(
        f"ours: torch {torch.__version__}, transformers {transformers.__version__}; "
        f"official: {official_versions(args.official, args.official_python)}"
    )
    print(
        f"model {model_src} ({'--model' if args.model else 'random ' + args.preset}); data {eval_dir} {split}"
        f"{f', first {args.max_lines} items per file' if args.max_lines else ''}; {'; '.join(notes + [''])}"
        f"{args.repeats} alternating repeats\n"
    )
    print(
        "| task | items | sentences | whole: ours s | official s | ours sent/s | official sent/s | ratio "
        "| scoring: ours s | official s | ours sent/s | official sent/s | ratio | same predictions | ties (ours) "
        "| disagreements: tie / other | max abs logprob diff |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|---:|")
    for r in rows:
        cells = [r["task"], f"{r['items']:,}", f"{r['sentences']:,}"]
        for kind in ("wall_s", "scoring_s"):
            ours_m, theirs_m = statistics.median(r[kind]["ours"]), statistics.median(r[kind]["official"])
            cells += [
                f"{ours_m:.2f}",
                f"{theirs_m:.2f}",
                f"{r['sentences'] / ours_m:,.0f}",
                f"{r['sentences'] / theirs_m:,.0f}",
                f"**{r[kind]['ratio']:.2f}x**",
            ]
        cells += [
            f"{r['same']}/{r['items']}",
            str(r["ties"]),
            f"{r['tie_disagreements']} / {r['other_disagreements']}",
            f"{r['max_abs_logprob_diff']:.1e}",
        ]
        print("| " + " | ".join(cells) + " |")
    for r in rows:
        for example in r["examples"]:
            print(f"disagreement {r['task']}: {example}")
    (work / "results.json").write_text(
        json.dumps(
            {
                "load_before": load_before,
                "load_after": load_average(),
                "args": {k: str(v) for k, v in vars(args).items()},
                "rows": rows,
            },
            indent=1,
        )
    )
    print(f"\nraw timings and agreement in {work / 'results.json'}")


if __name__ == "__main__":
    main()
