"""The data stages end to end: corpus -> budget split -> tokenizer -> shards.

    python -m classit_ray.data.prepare [--config FILE] [--set key=value ...] [--work-dir DIR]

With `corpus.data_dir` empty, the toy BabyLM world is generated first (`toyworld.py`). Each
stage's output lives under `<work_dir>/<stage>/<key>`, where the key hashes the stage's own
settings and its inputs' keys: a finished stage with the same key is reused, a changed setting
gets a new directory, and nothing half-written is ever taken as finished (`atomic.py`).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from classit_ray.atomic import is_complete, read_manifest
from classit_ray.config import Config, config_hash
from classit_ray.model import get_preset


@dataclass
class PreparedData:
    """Where each data stage's artifact is, with the manifests that describe them."""

    config: Config
    split_dir: Path
    tokenizer_dir: Path
    pretrain_shards: Path
    instruct_shards: dict[str, Path] = field(default_factory=dict)
    executed: list[str] = field(default_factory=list)  # stages computed by this call (not reused)


def work_dir_of(cfg: Config) -> Path:
    return Path(cfg.study.work_dir or Path(cfg.study.storage_path) / cfg.study.name).expanduser()


def resolve_toy_world(cfg: Config, work_dir: Path) -> Config:
    """`cfg` with empty corpus/eval paths pointed at the toy world, generating it if needed."""
    if cfg.corpus.data_dir and (cfg.corpus.instruct_dir or cfg.budget.instruct_fraction == 0):
        return cfg
    from classit_ray.data.toyworld import write_toy_world

    # The size is in the name: a changed study.toy_words gets its own world rather than a clash.
    toy = write_toy_world(work_dir / f"toyworld-{cfg.study.toy_words}", words=cfg.study.toy_words, seed=0)
    corpus = dataclasses.replace(
        cfg.corpus,
        data_dir=cfg.corpus.data_dir or str(toy["corpus_dir"]),
        instruct_dir=cfg.corpus.instruct_dir or str(toy["instruct_dir"]),
    )
    return dataclasses.replace(cfg, corpus=corpus)


def _run_stage(name: str, out_dir: Path, build, done: list[str]) -> Path:
    if not is_complete(out_dir):
        t0 = time.perf_counter()
        build(out_dir)
        done.append(name)
        print(f"[prepare] {name}: built in {time.perf_counter() - t0:.1f}s -> {out_dir}", flush=True)
    else:
        print(f"[prepare] {name}: reused {out_dir}", flush=True)
    return out_dir


def prepare_data(cfg: Config, work_dir: Path) -> PreparedData:
    """Run (or reuse) every data stage for `cfg`. Ray must be initialised by the caller."""
    from classit_ray.data.budget import split_budget
    from classit_ray.data.shards import build_instruct_shards, build_pretrain_shards
    from classit_ray.data.tokenizer import train_tokenizer

    cfg = resolve_toy_world(cfg, work_dir)
    done: list[str] = []
    split_key = config_hash({"corpus": dataclasses.asdict(cfg.corpus), "budget": dataclasses.asdict(cfg.budget)})
    split_dir = _run_stage("split", work_dir / "split" / split_key, lambda d: split_budget(cfg.corpus, cfg.budget, d), done)

    vocab = cfg.tokenizer.vocab_size or get_preset(cfg.model.preset).vocab_size
    tok_key = config_hash({"split": split_key, "vocab": vocab, "tokenizer": dataclasses.asdict(cfg.tokenizer)})
    tokenizer_dir = _run_stage(
        "tokenizer",
        work_dir / "tokenizer" / tok_key,
        lambda d: train_tokenizer(split_dir, vocab, d, cfg.tokenizer.min_frequency, cfg.tokenizer.max_train_words),
        done,
    )

    seq_len, rows = cfg.pretrain.seq_len, cfg.pretrain.shard_rows
    shard_key = config_hash({"tokenizer": tok_key, "seq_len": seq_len, "rows": rows})
    pretrain_shards = _run_stage(
        "pretrain_shards", work_dir / "shards" / f"pretrain-{shard_key}", lambda d: build_pretrain_shards(split_dir, tokenizer_dir, d, seq_len, rows), done
    )

    instruct_shards = {}
    for config in read_manifest(split_dir)["table"]["instruct"]:
        key = config_hash({"tokenizer": tok_key, "config": config, "max_len": cfg.instruct.max_len, "rows": rows})
        instruct_shards[config] = _run_stage(
            f"instruct_shards[{config}]",
            work_dir / "shards" / f"instruct-{config}-{key}",
            lambda d, c=config: build_instruct_shards(split_dir / "instruct" / f"{c}.parquet", tokenizer_dir, d, cfg.instruct.max_len, rows),
            done,
        )
    return PreparedData(cfg, split_dir, tokenizer_dir, pretrain_shards, instruct_shards, done)


def summary(data: PreparedData) -> str:
    """What a researcher wants to see after preparing: the budget table and the shard counts."""
    split = read_manifest(data.split_dir)
    tok = read_manifest(data.tokenizer_dir)
    lines = [(data.split_dir / "budget.md").read_text(), f"tokenizer: {tok['vocab_size']:,} tokens (requested {tok['requested_vocab_size']:,})"]
    shards = {"pretrain": data.pretrain_shards, **{f"instruct/{c}": d for c, d in data.instruct_shards.items()}}
    for name, shard_dir in shards.items():
        m = read_manifest(shard_dir)
        lines.append(f"{name} shards: {m['words']:,} words -> {m['tokens']:,} tokens -> {m['sequences']:,} sequences in {m['files']} file(s)")
    lines.append(f"targets: {split['targets']}, sampled: {split['words']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from classit_ray.commands import run_command, stage_parser

    args = stage_parser("python -m classit_ray.data.prepare", __doc__.split("\n")[0]).parse_args(argv)
    return run_command(args, lambda cfg, work_dir: summary(prepare_data(cfg, work_dir)))


if __name__ == "__main__":
    sys.exit(main())
