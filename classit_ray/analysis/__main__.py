"""`python -m classit_ray.analysis`: a study's report, or with `--plan` the seeds its design needs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from classit_ray.analysis import comparisons
from classit_ray.analysis.planner import plan_lines
from classit_ray.analysis.report import write_report


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m classit_ray.analysis",
        description="A study's report.md and figures, or with --plan its power plan.",
    )
    parser.add_argument("study_dir", help="folder holding results.parquet or results.csv")
    parser.add_argument("--by", nargs="+", default=None, help="condition columns (default: the varying config columns)")
    parser.add_argument("--out", default=None, help="report path (default: STUDY_DIR/report.md)")
    parser.add_argument("--plan", action="store_true", help="print the power plan instead of writing the report")
    parser.add_argument(
        "--seeds", type=int, default=None, help="--plan: the seeds per size planned (default: the study's)"
    )
    parser.add_argument(
        "--effect",
        type=float,
        default=None,
        help="--plan: an effect to detect, in --measure's own units (e.g. 0.01 of BLiMP accuracy)",
    )
    parser.add_argument(
        "--measure", default=comparisons.GLOBAL, help="--plan: the measure of --effect (default: global z)"
    )
    args = parser.parse_args(argv)
    if (args.seeds is not None or args.effect is not None) and not args.plan:
        parser.error("--seeds and --effect go with --plan")
    if args.seeds is not None and args.seeds < 2:
        parser.error("--seeds: a paired test needs at least 2 seeds")
    try:
        if args.plan:
            print("\n".join(plan_lines(args.study_dir, args.seeds, args.effect, args.measure)))
        else:
            print(write_report(args.study_dir, by=args.by, out=args.out))
    except (FileNotFoundError, ValueError) as e:
        print(f"classit_ray.analysis: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
