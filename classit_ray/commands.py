"""The stage commands, verbs of `classit-ray` (`cli.py`), each walking a part of the cell's stage
graph (`cell/graph.py`):

    classit-ray prepare     the data stages              (alias: python -m classit_ray.data.prepare)
    classit-ray pretrain    + the pretraining            (alias: python -m classit_ray.train.pretrain)
    classit-ray instruct    + the curriculum's instruction stages (alias: python -m classit_ray.train.instruct)

What they share: `--config`, `--set key=value`, `--work-dir`; a bad config reported as one message
(exit 2); bad data reported as one line naming the file (exit 1); Ray started with this project's
settings. A command module: no library module imports it.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable
from pathlib import Path

from classit_ray.cell.execute import execute
from classit_ray.cell.graph import Target, build_graph
from classit_ray.config import Config, ConfigError, work_dir_of
from classit_ray.config_load import apply_overrides, load_config
from classit_ray.data.corpus import find_corpus_dir
from classit_ray.data.stages import summary
from classit_ray.runtime import init_ray


def stage_parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--config", help="YAML/JSON config file (default: the built-in toy-scale defaults)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="dotted override, e.g. budget.instruct_fraction=0.1",
    )
    parser.add_argument(
        "--work-dir",
        help="the artifact store, a folder or s3://... (default: study.work_dir or <storage_path>/artifacts)",
    )
    return parser


def load_with_overrides(config_path: str | None, overrides: list[str]) -> Config:
    cfg = load_config(config_path) if config_path else Config()
    return apply_overrides(cfg, overrides) if overrides else cfg


def run_command(args: argparse.Namespace, body: Callable[[Config, Path], str]) -> int:
    """Load the config, start Ray, run `body(cfg, work_dir)` and print what it returns."""
    try:
        cfg = load_with_overrides(args.config, args.overrides)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.work_dir:
        cfg = dataclasses.replace(cfg, study=dataclasses.replace(cfg.study, work_dir=args.work_dir))
    work_dir = work_dir_of(cfg)  # with the store on a URI, this machine's cache of it
    try:
        if cfg.corpus.data_dir:  # a wrong path is named at once, not after Ray has started (seconds)
            find_corpus_dir(cfg.corpus.data_dir)
        init_ray(cfg.study.ray_address, cfg.study.num_cpus)
        print(body(cfg, work_dir))
    except (ValueError, FileNotFoundError) as e:  # our own errors: they name the file and field
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


def walk_subgraph(target: Target, cfg: Config, work_dir: Path) -> str:
    """Run the nodes of the cell graph that `target` ("data", "pretrain", "instruct") needs; what
    was built, then a line per training stage."""
    graph = build_graph(cfg, work_dir)
    done = execute(graph, graph.upto(target), progress=sys.stderr.isatty())
    lines = [summary(graph.data, [r.node.data_stage for r in done.runs.values() if r.node.data_stage])]
    for r in done.runs.values():
        if r.node.spec is None:
            continue
        stage = r.result
        losses = {k: round(v, 4) for k, v in stage.metrics.items() if k.endswith("/loss")}
        state = "finished" if stage.complete else "stopped at max_steps (rerun to continue)"
        lines.append(f"{r.node.label}: {state}; {losses} -> {stage.out_dir if stage.complete else stage.latest}")
    return "\n".join(lines)


def run_subgraph(target: Target, argv: list[str] | None, prog: str, description: str) -> int:
    args = stage_parser(prog, description).parse_args(argv)
    return run_command(args, lambda cfg, work_dir: walk_subgraph(target, cfg, work_dir))


def prepare(argv: list[str] | None = None) -> int:
    return run_subgraph(
        "data", argv, "classit-ray prepare", "the data stages: corpus -> budget split -> tokenizer -> shards"
    )


def pretrain(argv: list[str] | None = None) -> int:
    return run_subgraph("pretrain", argv, "classit-ray pretrain", "the data stages, then the pretraining")


def instruct(argv: list[str] | None = None) -> int:
    return run_subgraph(
        "instruct",
        argv,
        "classit-ray instruct",
        "the data stages, the pretraining, then the curriculum's instruction stages",
    )
