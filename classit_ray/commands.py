"""What every pipeline command line shares: `--config`, `--set key=value`, `--work-dir`; a bad
config reported as one message (exit 2); bad data reported as one line naming the file (exit 1);
Ray started with this project's settings."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from classit_ray.config import Config, ConfigError, apply_overrides, load_config


def stage_parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--config", help="YAML/JSON config file (default: the built-in toy-scale defaults)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE", help="dotted override, e.g. budget.instruct_fraction=0.1")
    parser.add_argument("--work-dir", help="the artifact store (default: study.work_dir or <storage_path>/artifacts)")
    return parser


def load_with_overrides(config_path: str | None, overrides: list[str]) -> Config:
    cfg = load_config(config_path) if config_path else Config()
    return apply_overrides(cfg, overrides) if overrides else cfg


def run_command(args: argparse.Namespace, body: Callable[[Config, Path], str]) -> int:
    """Load the config, start Ray, run `body(cfg, work_dir)` and print what it returns."""
    from classit_ray.data.prepare import work_dir_of
    from classit_ray.runtime import init_ray

    try:
        cfg = load_with_overrides(args.config, args.overrides)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    work_dir = Path(args.work_dir).expanduser() if args.work_dir else work_dir_of(cfg)
    init_ray(cfg.study.ray_address, cfg.study.num_cpus)
    try:
        print(body(cfg, work_dir))
    except (ValueError, FileNotFoundError) as e:  # our own errors: they name the file and field
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0
