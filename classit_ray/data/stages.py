"""The data stages: corpus -> budget split -> tokenizer -> shards, each keyed by its settings.

Each stage's output lives under `<work_dir>/<stage>/<key>`, where the key hashes the stage's own
settings and its inputs' keys: a finished stage with the same key is reused, a changed setting
gets a new directory, and nothing half-written is ever taken as finished (`atomic.py`).
`plan_data` names every stage from the config alone, each with the one settings object that
both its key hashes and its build reads (`data_builder`); `run_data_stage` builds one. Which of
them a cell needs, and the toy world they may read, is the stage graph's business
(`classit_ray/cell/`); `classit-ray prepare` runs the data part of that graph.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from classit_ray.atomic import is_complete, read_manifest
from classit_ray.config import BudgetConfig, Config, CorpusConfig, config_hash, curriculum_configs
from classit_ray.data.budget import split_budget
from classit_ray.data.class_it import read_provenance
from classit_ray.data.shards import build_instruct_shards, build_pretrain_shards
from classit_ray.data.tokenizer import train_tokenizer
from classit_ray.model import get_preset
from classit_ray.toyworld import CORPUS_DIR, INSTRUCT_DIR, world_id


@dataclass
class PreparedData:
    """Where each data stage's artifact is, with the keys that name them, computed from the
    config alone by `plan_data` (nothing needs to exist yet)."""

    config: Config  # as given: empty paths stand for the toy world (see `toy_world_id`)
    split_dir: Path
    tokenizer_dir: Path
    pretrain_shards: Path
    instruct_shards: dict[str, Path] = field(default_factory=dict)
    keys: dict[str, str] = field(
        default_factory=dict
    )  # "split", "tokenizer", "pretrain_shards", "instruct_shards/<config>"
    vocab_size: int = 0  # the tokenizer's requested vocabulary
    # Stage name -> its settings: hashed into its key (with its inputs' keys), and all its build
    # reads besides its inputs' artifacts (`data_builder`).
    settings: dict[str, dict] = field(default_factory=dict)

    def stages(self) -> dict[str, Path]:
        """Stage name -> artifact directory, in build order."""
        return {
            "split": self.split_dir,
            "tokenizer": self.tokenizer_dir,
            "pretrain_shards": self.pretrain_shards,
            **{f"instruct_shards/{c}": d for c, d in self.instruct_shards.items()},
        }


def tokenizer_vocab(cfg: Config) -> int:
    """The tokenizer's vocabulary: `tokenizer.vocab_size`, or the model preset's (0)."""
    return cfg.tokenizer.vocab_size or get_preset(cfg.model.preset).vocab_size


def toy_world_id(cfg: Config) -> str:
    return world_id(cfg.study.toy_words)


def _corpus_identity(cfg: Config) -> dict:
    """The corpus settings as they enter the split key (empty paths as `toy_world_id`).

    Pairs built by `instruct_pairs/` are named by their manifest too: rebuilding them in the same
    folder with other settings gives a new split rather than the stale one.
    """
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
    vocab, rows = tokenizer_vocab(cfg), cfg.pretrain.shard_rows
    settings = {
        "split": {"corpus": _corpus_identity(cfg), "budget": dataclasses.asdict(cfg.budget)},
        "tokenizer": {"vocab": vocab, "tokenizer": dataclasses.asdict(cfg.tokenizer)},
        "pretrain_shards": {"seq_len": cfg.pretrain.seq_len, "rows": rows},
        **{
            f"instruct_shards/{config}": {"config": config, "max_len": cfg.instruct.max_len, "rows": rows}
            for config in curriculum_configs(cfg.instruct.curriculum)
        },  # what the curriculum trains on, no more
    }
    keys = {"split": config_hash(settings["split"])}
    keys["tokenizer"] = config_hash({"split": keys["split"], **settings["tokenizer"]})
    for name in settings:
        if name not in keys:
            keys[name] = config_hash({"tokenizer": keys["tokenizer"], **settings[name]})
    instruct_shards = {
        s["config"]: work_dir / "shards" / f"instruct-{s['config']}-{keys[name]}"
        for name, s in settings.items()
        if name.startswith("instruct_shards/")
    }
    return PreparedData(
        cfg,
        work_dir / "split" / keys["split"],
        work_dir / "tokenizer" / keys["tokenizer"],
        work_dir / "shards" / f"pretrain-{keys['pretrain_shards']}",
        instruct_shards,
        keys,
        vocab,
        settings,
    )


def run_data_stage(name: str, out_dir: Path, build: Callable[[Path], None]) -> float | None:
    """Build `out_dir` unless it is complete; the seconds it took when built by this call, else None."""
    if is_complete(out_dir):
        print(f"[prepare] {name}: reused {out_dir}", flush=True)
        return None
    t0 = time.perf_counter()
    build(out_dir)
    seconds = time.perf_counter() - t0
    print(f"[prepare] {name}: built in {seconds:.1f}s -> {out_dir}", flush=True)
    return seconds


def corpus_config(corpus: dict, toy_id: str, toy_world: Path) -> CorpusConfig:
    """The split's corpus settings (`_corpus_identity`) as the `CorpusConfig` its build reads: the
    toy world's name, `toy_id`, becomes the folder it is written to, `toy_world`."""
    located = {k: v for k, v in corpus.items() if k != "instruct_pairs"}  # the pairs' provenance: the key's alone
    for name, folder in (("data_dir", CORPUS_DIR), ("instruct_dir", INSTRUCT_DIR)):
        if located[name] == toy_id:
            located[name] = str(toy_world / folder)
    return CorpusConfig(**located)


def data_builder(
    name: str, plan: PreparedData, settings: dict, toy_world: Path, progress: bool = False
) -> Callable[[Path], None]:
    """The build of data stage `name` (a key of `plan.stages()`) from its `settings` (those of
    `plan.settings`) and its inputs (the split, the tokenizer, and the toy world's folder
    `toy_world` where the corpus settings name it); `progress` shows a bar while shards are
    tokenized (a command line's)."""
    split_dir, tokenizer_dir = plan.split_dir, plan.tokenizer_dir
    if name == "split":
        corpus = corpus_config(settings["corpus"], toy_world_id(plan.config), toy_world)
        budget = BudgetConfig(**settings["budget"])
        return lambda d: split_budget(corpus, budget, d)
    if name == "tokenizer":
        tok = settings["tokenizer"]
        return lambda d: train_tokenizer(split_dir, settings["vocab"], d, tok["min_frequency"], tok["max_train_words"])
    if name == "pretrain_shards":
        return lambda d: build_pretrain_shards(
            split_dir, tokenizer_dir, d, settings["seq_len"], settings["rows"], progress=progress
        )
    config = settings["config"]

    def instruct(d: Path) -> None:
        pairs = split_dir / "instruct" / f"{config}.parquet"
        if not read_manifest(split_dir)["table"]["instruct"].get(config, {}).get("items"):
            raise ValueError(
                f"{split_dir}: the split holds no {config!r} instruction pairs; "
                "expected some (raise budget.instruct_fraction or check the instruction data)"
            )
        build_instruct_shards(pairs, tokenizer_dir, d, settings["max_len"], settings["rows"], progress=progress)

    return instruct


def summary(data: PreparedData, built: list[str]) -> str:
    """What a researcher wants to see after preparing: the budget table and the shard counts of
    the data stages in `built` (names of `data.stages()`)."""
    split = read_manifest(data.split_dir)
    tok = read_manifest(data.tokenizer_dir)
    lines = [
        (data.split_dir / "budget.md").read_text(),
        f"tokenizer: {tok['vocab_size']:,} tokens (requested {tok['requested_vocab_size']:,})",
    ]
    shards = {"pretrain": data.pretrain_shards, **{f"instruct/{c}": d for c, d in data.instruct_shards.items()}}
    for name, shard_dir in shards.items():
        if ("pretrain_shards" if name == "pretrain" else name.replace("instruct/", "instruct_shards/")) not in built:
            continue
        m = read_manifest(shard_dir)
        lines.append(
            f"{name} shards: {m['words']:,} words -> {m['tokens']:,} tokens -> {m['sequences']:,} sequences in {m['files']} file(s)"
        )
    lines.append(f"targets: {split['targets']}, sampled: {split['words']}")
    return "\n".join(lines)
