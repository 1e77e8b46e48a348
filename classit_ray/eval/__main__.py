"""python -m classit_ray.eval --model DIR|ORG/NAME [--revision REV] --data PATH [--tasks ...] [--fast | --full]
                            [--heldout DIR]

Scores one model on the BabyLM evaluation data (the real `evaluation_data/` folder or the toy
world's), prints a score table, and writes predictions in the BabyLM results layout under
`--results` (default `results/`): `<model>/<revision>/...`, where a checkpoint directory named
`final` or `chck_*` gives the revision and its parent the model name.

`--model` may be a hub id (`ORG/NAME`, with `--revision chck_5M` for one of its checkpoint
branches): it is read from the hub cache, fetched once (offline with `HF_HUB_OFFLINE=1`; `hub.py`),
and its results go to `<NAME>/<revision>/`, `main` when no revision is given.

`--data` may name the `evaluation_data/` folder, its `full_eval/` or `fast_eval/`, or one task's
folder (`.../full_eval/blimp_filtered`, `.../fast_eval/ewok_fast`, `reading/reading_data.csv`);
the first line printed says which it found. A split folder, or a task folder inside one or
named by the release's fast name, decides fast or full by itself; otherwise the evaluation is
the fast one unless `--full` is given (a lone `comps/` folder is full: COMPS has no fast set).

`--heldout` names a budget split's `heldout/` folder (`<store>/split/<key>/heldout`), whose
instruction pairs the interactive task scores; without it that task is skipped.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from classit_ray import hub
from classit_ray.eval.tasks import GLUE_TASKS, TASK_SPECS


def model_name_and_revision(model_dir: Path) -> tuple[str, str]:
    """(model, revision) of a local model folder, as the results layout names them."""
    if model_dir.name == "final" or model_dir.name.startswith(("chck_", "step_")):
        return model_dir.parent.name, model_dir.name
    return model_dir.name, "main"


def resolve_data(data: str, fast: bool | None, tasks: list[str] | None):
    """(layout, fast, tasks) for `--data`, `--fast`/`--full` (None: neither) and `--tasks` (None:
    not given): what the path is, which evaluation runs on it and on which tasks. EvalDataError
    when the flags contradict the path."""
    from classit_ray.eval.formats import SPLITS, find_layout
    from classit_ray.eval.items import EvalDataError

    layout = find_layout(data)
    if fast is not None and layout.split is not None and SPLITS[fast] != layout.split:
        raise EvalDataError(
            f"{layout.root}: is {layout.split} data but --{'fast' if fast else 'full'} asks for "
            f"{SPLITS[fast]}/; drop the flag, or pass the evaluation_data/ folder that holds both"
        )
    if fast is None:
        if layout.split is not None:
            fast = layout.split == "fast_eval"
        else:  # a lone task folder without a fast set is full data
            fast = not (layout.kind == "task" and TASK_SPECS[layout.task].fast_source == "skip")
    if layout.kind == "task":
        others = [t for t in tasks or [] if t != layout.task]
        if others:
            raise EvalDataError(
                f"{layout.root}: is the folder of the {layout.task} task alone, but --tasks asks for "
                f"{', '.join(others)}; pass the evaluation_data/ folder to evaluate them"
            )
        tasks = [layout.task]
    return layout, fast, tasks or list(TASK_SPECS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m classit_ray.eval", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--model",
        required=True,
        help="model directory (save_pretrained layout, with its tokenizer), or a hub id ORG/NAME",
    )
    parser.add_argument(
        "--revision", default=None, help="with a hub id: the revision (a branch such as chck_5M, a tag or a commit)"
    )
    parser.add_argument(
        "--data", required=True, help="evaluation_data/ folder, its full_eval/ or fast_eval/, or one task folder"
    )
    parser.add_argument(
        "--tasks", nargs="+", choices=list(TASK_SPECS), default=None, help="default: all (a task folder: its task)"
    )
    speed = parser.add_mutually_exclusive_group()
    speed.add_argument(
        "--fast",
        dest="fast",
        action="store_true",
        default=None,
        help="fast_eval/ (the default where --data does not say)",
    )
    speed.add_argument("--full", dest="fast", action="store_false", help="full_eval/")
    parser.add_argument("--results", default="results", help="root of the BabyLM results layout")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--finetune-epochs", type=int, default=0, help="0 = the official epochs (10; WSC 30)")
    parser.add_argument(
        "--glue-tasks",
        nargs="+",
        choices=list(GLUE_TASKS),
        default=list(GLUE_TASKS),
        help="the GLUE subtasks to fine-tune (default: all seven; eval/glue_avg only with all seven)",
    )
    parser.add_argument("--heldout", default=None, help="a budget split's heldout/ folder, for the interactive task")
    args = parser.parse_args(argv)

    from tqdm import tqdm

    from classit_ray.config import EvalConfig
    from classit_ray.eval.harness import evaluate
    from classit_ray.eval.items import EvalDataError

    try:
        model_dir = hub.resolve(args.model, "model", args.revision)
        if hub.is_hub_id(args.model):
            name, revision = args.model.rsplit("/", 1)[1], args.revision or "main"
        else:
            name, revision = model_name_and_revision(model_dir.resolve())
        layout, fast, tasks = resolve_data(args.data, args.fast, args.tasks)
    except (EvalDataError, hub.HubError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    out = Path(args.results) / name / revision
    print(f"data: {layout.describe(fast)}", flush=True)
    bar = tqdm(total=len(tasks), unit="task")

    def step(task: str) -> None:
        bar.set_postfix_str(f"{task} done")
        bar.update(1)

    try:
        cfg = EvalConfig(
            eval_dir=args.data,
            tasks=tasks,
            fast=fast,
            batch_size=args.batch_size,
            finetune_epochs=args.finetune_epochs,
            glue_tasks=args.glue_tasks,
        )
        report = evaluate(model_dir, cfg, out, progress=step, heldout_dir=args.heldout)
    except EvalDataError as e:
        bar.close()
        print(f"error: {e}", file=sys.stderr)
        return 1
    bar.close()
    width = max(map(len, report.metrics), default=10)
    print(f"\n{'metric':<{width}}  score")
    for key, value in report.metrics.items():
        print(f"{key:<{width}}  {value:.4f}")
    for task, reason in report.skipped.items():
        print(f"skipped {task}: {reason}")
    for task, message in report.failed.items():
        print(f"FAILED {task}: {message}", file=sys.stderr)
    print(f"\npredictions and metrics.json in {out}")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
