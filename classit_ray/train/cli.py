"""The command lines of the two training stages (each runs the data stages it needs first).

    python -m classit_ray.train.pretrain --config FILE [--set key=value ...] [--work-dir DIR]
    python -m classit_ray.train.instruct --config FILE [--set key=value ...] [--work-dir DIR]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from classit_ray.config import ConfigError


def run_cli(stage: str, argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m classit_ray.train.{stage}", description=f"Run the {stage} stage under Ray Train.")
    parser.add_argument("--config", help="YAML/JSON config file (default: the built-in toy-scale defaults)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="dotted override, e.g. instruct.curriculum=merged")
    parser.add_argument("--work-dir", help="where artifacts go (default: study.work_dir or <storage_path>/<name>)")
    args = parser.parse_args(argv)

    from classit_ray.data.prepare import load_with_overrides, prepare_data, work_dir_of

    try:
        cfg = load_with_overrides(args.config, args.overrides)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from classit_ray.runtime import init_ray
    from classit_ray.train.driver import run_curriculum, run_pretraining

    work_dir = Path(args.work_dir).expanduser() if args.work_dir else work_dir_of(cfg)
    init_ray(cfg.study.ray_address, cfg.study.num_cpus)
    try:
        data = prepare_data(cfg, work_dir)
        results = [run_pretraining(data.config, data, work_dir)]
        if stage == "instruct" and results[0].complete:
            results += run_curriculum(data.config, data, results[0].final, work_dir)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for r in results:
        losses = {k: round(v, 4) for k, v in r.metrics.items() if k.endswith("/loss")}
        state = "finished" if r.complete else "stopped at max_steps (rerun to continue)"
        print(f"{r.spec.name}: {state}; {losses} -> {r.out_dir}")
    return 0
