"""The command lines of the two training stages (each runs the data stages it needs first).

    python -m classit_ray.train.pretrain [--config FILE] [--set key=value ...] [--work-dir DIR]
    python -m classit_ray.train.instruct [--config FILE] [--set key=value ...] [--work-dir DIR]
"""

from __future__ import annotations

from pathlib import Path

from classit_ray.commands import run_command, stage_parser
from classit_ray.config import Config


def run_stages(stage: str, cfg: Config, work_dir: Path) -> str:
    """Data stages, pretraining and (for `instruct`) the curriculum; a line per training stage."""
    from classit_ray.data.prepare import prepare_data
    from classit_ray.train.driver import run_curriculum, run_pretraining

    data = prepare_data(cfg, work_dir)
    results = [run_pretraining(data.config, data, work_dir)]
    if stage == "instruct" and results[0].complete:
        results += run_curriculum(data.config, data, results[0], work_dir)
    lines = []
    for r in results:
        losses = {k: round(v, 4) for k, v in r.metrics.items() if k.endswith("/loss")}
        state = "finished" if r.complete else "stopped at max_steps (rerun to continue)"
        lines.append(f"{r.spec.name}: {state}; {losses} -> {r.out_dir if r.complete else r.latest}")
    return "\n".join(lines)


def run_cli(stage: str, argv: list[str] | None = None) -> int:
    args = stage_parser(f"python -m classit_ray.train.{stage}", f"Run the {stage} stage under Ray Train.").parse_args(argv)
    return run_command(args, lambda cfg, work_dir: run_stages(stage, cfg, work_dir))
