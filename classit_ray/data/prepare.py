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
    """Where each data stage's artifact is, with the keys that name them.

    `plan_data` fills it without building anything (paths and keys are known from the config
    alone); `prepare_data` builds whatever is missing.
    """

    config: Config
    split_dir: Path
    tokenizer_dir: Path
    pretrain_shards: Path
    instruct_shards: dict[str, Path] = field(default_factory=dict)
    executed: list[str] = field(default_factory=list)  # stages computed by this call (not reused)
    keys: dict[str, str] = field(default_factory=dict)  # "split", "tokenizer", "pretrain_shards", "instruct_shards/<config>"

    def stages(self) -> dict[str, Path]:
        """Stage name -> artifact directory, in build order."""
        return {"split": self.split_dir, "tokenizer": self.tokenizer_dir, "pretrain_shards": self.pretrain_shards,
                **{f"instruct_shards/{c}": d for c, d in self.instruct_shards.items()}}


def work_dir_of(cfg: Config) -> Path:
    """The artifact store: shared by every study on the same storage, so that a second study
    reuses what the first one built (stage directories are named by content keys)."""
    return Path(cfg.study.work_dir or Path(cfg.study.storage_path) / "artifacts").expanduser()


def toy_world_dir(cfg: Config, work_dir: Path) -> Path:
    # The size is in the name: a changed study.toy_words gets its own world rather than a clash.
    return work_dir / f"toyworld-{cfg.study.toy_words}"


def uses_toy_world(cfg: Config) -> bool:
    return not (cfg.corpus.data_dir and (cfg.corpus.instruct_dir or cfg.budget.instruct_fraction == 0))


def resolve_toy_world(cfg: Config, work_dir: Path) -> Config:
    """`cfg` with empty corpus paths pointed at the toy world, generating it if needed."""
    if not uses_toy_world(cfg):
        return cfg
    from classit_ray.data.toyworld import write_toy_world

    toy = write_toy_world(toy_world_dir(cfg, work_dir), words=cfg.study.toy_words, seed=0)
    corpus = dataclasses.replace(
        cfg.corpus,
        data_dir=cfg.corpus.data_dir or str(toy["corpus_dir"]),
        instruct_dir=cfg.corpus.instruct_dir or str(toy["instruct_dir"]),
    )
    return dataclasses.replace(cfg, corpus=corpus)


def toy_world_id(cfg: Config) -> str:
    """What an empty data or evaluation path stands for in a key: the generated toy world, named
    by its size and generator version rather than by where it was written, so that keys can be
    computed before it exists and do not depend on the machine."""
    from classit_ray.data.toyworld import GENERATOR_VERSION

    return f"toyworld:{cfg.study.toy_words}:v{GENERATOR_VERSION}"


def _corpus_identity(cfg: Config) -> dict:
    """The corpus settings as they enter the split key (empty paths as `toy_world_id`).

    Pairs built by `instruct_pairs/` are named by their manifest too: rebuilding them in the same
    folder with other settings gives a new split rather than the stale one.
    """
    from classit_ray.data.class_it import read_provenance

    toy = toy_world_id(cfg)
    corpus = dataclasses.asdict(cfg.corpus)
    for name in ("data_dir", "instruct_dir"):
        corpus[name] = corpus[name] or toy
    if cfg.corpus.instruct_dir:
        built = {c: read_provenance(cfg.corpus.instruct_dir, c) for c in cfg.budget.instruct_configs}
        # Everything but the last run's own tally, which a no-op resume rewrites.
        built = {c: config_hash({k: v for k, v in m.items() if k != "this_run"}) for c, m in built.items() if m}
        if built:  # absent otherwise, so that other data keeps the keys it had
            corpus["instruct_pairs"] = built
    return corpus


def plan_data(cfg: Config, work_dir: Path) -> PreparedData:
    """Every data stage's key and directory for `cfg`, computed from the config alone.

    A stage's key hashes its own settings and its inputs' keys, so equal keys mean equal artifacts.
    """
    from classit_ray.data.budget import split_targets

    split_key = config_hash({"corpus": _corpus_identity(cfg), "budget": dataclasses.asdict(cfg.budget)})
    vocab = cfg.tokenizer.vocab_size or get_preset(cfg.model.preset).vocab_size
    tok_key = config_hash({"split": split_key, "vocab": vocab, "tokenizer": dataclasses.asdict(cfg.tokenizer)})
    rows = cfg.pretrain.shard_rows
    shard_key = config_hash({"tokenizer": tok_key, "seq_len": cfg.pretrain.seq_len, "rows": rows})
    keys = {"split": split_key, "tokenizer": tok_key, "pretrain_shards": shard_key}
    instruct_shards = {}
    if split_targets(cfg.budget)[1] > 0:
        for config in cfg.budget.instruct_configs:
            key = config_hash({"tokenizer": tok_key, "config": config, "max_len": cfg.instruct.max_len, "rows": rows})
            keys[f"instruct_shards/{config}"] = key
            instruct_shards[config] = work_dir / "shards" / f"instruct-{config}-{key}"
    return PreparedData(cfg, work_dir / "split" / split_key, work_dir / "tokenizer" / tok_key,
                        work_dir / "shards" / f"pretrain-{shard_key}", instruct_shards, [], keys)


def _run_stage(name: str, out_dir: Path, build) -> float | None:
    """Build `out_dir` unless it is complete; the seconds it took when built by this call, else None."""
    if is_complete(out_dir):
        print(f"[prepare] {name}: reused {out_dir}", flush=True)
        return None
    t0 = time.perf_counter()
    build(out_dir)
    seconds = time.perf_counter() - t0
    print(f"[prepare] {name}: built in {seconds:.1f}s -> {out_dir}", flush=True)
    return seconds


def prepare_data(cfg: Config, work_dir: Path, run_once=None) -> PreparedData:
    """Run (or reuse) every data stage for `cfg`. Ray must be initialised by the caller.

    `run_once(stage_name, key, fn)`, when given, wraps each build so that concurrent callers
    (the trials of a study) compute a shared stage once (`study/once.py`); the default calls `fn()`.
    """
    from classit_ray.data.budget import split_budget
    from classit_ray.data.shards import build_instruct_shards, build_pretrain_shards
    from classit_ray.data.tokenizer import train_tokenizer

    plan = plan_data(cfg, work_dir)
    once = run_once or (lambda name, key, fn: fn())
    if uses_toy_world(cfg):
        once("toyworld", f"toyworld-{cfg.study.toy_words}", lambda: resolve_toy_world(cfg, work_dir))
    cfg = resolve_toy_world(cfg, work_dir)
    done: list[str] = []

    def stage(name: str, out_dir: Path, build) -> None:
        if once(name, out_dir.name, lambda: _run_stage(name, out_dir, build)) is not None:
            done.append(name)

    split_dir, tokenizer_dir = plan.split_dir, plan.tokenizer_dir
    vocab = cfg.tokenizer.vocab_size or get_preset(cfg.model.preset).vocab_size
    stage("split", split_dir, lambda d: split_budget(cfg.corpus, cfg.budget, d))
    stage("tokenizer", tokenizer_dir,
          lambda d: train_tokenizer(split_dir, vocab, d, cfg.tokenizer.min_frequency, cfg.tokenizer.max_train_words))
    seq_len, rows = cfg.pretrain.seq_len, cfg.pretrain.shard_rows
    stage("pretrain_shards", plan.pretrain_shards, lambda d: build_pretrain_shards(split_dir, tokenizer_dir, d, seq_len, rows))
    present = read_manifest(split_dir)["table"]["instruct"]
    instruct_shards = {c: d for c, d in plan.instruct_shards.items() if c in present}
    for config, shard_dir in instruct_shards.items():
        stage(f"instruct_shards[{config}]", shard_dir,
              lambda d, c=config: build_instruct_shards(split_dir / "instruct" / f"{c}.parquet", tokenizer_dir, d, cfg.instruct.max_len, rows))
    keys = {k: v for k, v in plan.keys.items() if not k.startswith("instruct_shards/") or k.split("/", 1)[1] in instruct_shards}
    return PreparedData(cfg, split_dir, tokenizer_dir, plan.pretrain_shards, instruct_shards, done, keys)


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
