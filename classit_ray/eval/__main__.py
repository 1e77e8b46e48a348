"""python -m classit_ray.eval --model DIR --data EVAL_DIR [--tasks ...] [--full]

Scores one model on the BabyLM evaluation data (the real `evaluation_data/` folder or the toy
world's), prints a score table, and writes predictions in the BabyLM results layout under
`--results` (default `results/`): `<model>/<revision>/...`, where a checkpoint directory named
`final` or `chck_*` gives the revision and its parent the model name.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from classit_ray.eval.tasks import TASK_SPECS


def model_name_and_revision(model_dir: Path) -> tuple[str, str]:
    if model_dir.name == "final" or model_dir.name.startswith(("chck_", "step_")):
        return model_dir.parent.name, model_dir.name
    return model_dir.name, "main"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m classit_ray.eval", description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="model directory (save_pretrained layout, with its tokenizer)")
    parser.add_argument("--data", required=True, help="evaluation_data/ folder (with full_eval/ and fast_eval/)")
    parser.add_argument("--tasks", nargs="+", choices=list(TASK_SPECS), default=list(TASK_SPECS), help="default: all")
    speed = parser.add_mutually_exclusive_group()
    speed.add_argument("--fast", dest="fast", action="store_true", default=True, help="fast_eval/ (default)")
    speed.add_argument("--full", dest="fast", action="store_false", help="full_eval/")
    parser.add_argument("--results", default="results", help="root of the BabyLM results layout")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--finetune-epochs", type=int, default=0, help="0 = the official epochs (10; WSC 30)")
    args = parser.parse_args(argv)

    from tqdm import tqdm

    from classit_ray.config import EvalConfig
    from classit_ray.eval.harness import evaluate
    from classit_ray.eval.items import EvalDataError

    model_dir = Path(args.model)
    name, revision = model_name_and_revision(model_dir.resolve())
    out = Path(args.results) / name / revision
    bar = tqdm(total=len(args.tasks), unit="task")

    def step(task: str) -> None:
        bar.set_postfix_str(f"{task} done")
        bar.update(1)

    try:
        cfg = EvalConfig(eval_dir=args.data, tasks=args.tasks, fast=args.fast, batch_size=args.batch_size, finetune_epochs=args.finetune_epochs)
        report = evaluate(model_dir, cfg, out, progress=step)
    except EvalDataError as e:
        bar.close()
        print(f"error: {e}", file=sys.stderr)
        return 1
    bar.close()
    width = max(map(len, report.metrics), default=10)
    print(f"\n{'metric':<{width}}  score")
    for key, value in report.metrics.items():
        print(f"{key:<{width}}  {value:.4f}")
    for task, message in report.failed.items():
        print(f"FAILED {task}: {message}", file=sys.stderr)
    print(f"\npredictions and metrics.json in {out}")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
