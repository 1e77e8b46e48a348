"""The range and consistency checks of a `Config` (`validate`): every problem, each naming its
field and what was expected, so that `config_from_dict` can raise them all in one `ConfigError`.

Single-field ranges are a table (`_RANGES`); what involves several fields (a budget that leaves a
stage no words, a batch that does not split over workers and micro-batches, a curriculum without
its instruction data, a checkpoint name the schedule never writes) has a function of its own.
"""

from __future__ import annotations

import re
import reprlib
from dataclasses import fields
from typing import Any

from .config import (
    BABYLM_WORDS,
    CHECKPOINT_SETS,
    CURRICULA,
    INSTRUCT_SOURCES,
    STAGE_SECTIONS,
    Config,
    OptimizerConfig,
    checkpoint_millions,
    curriculum_configs,
    is_uri,
)
from .model import PRESETS

_NAME_RE = re.compile(r"[A-Za-z0-9_.-]+")


def _at_least(low: int) -> tuple:
    return (lambda v: v >= low), f">= {low}"


# Single-field checks: dotted path -> (test, what was expected). Each test is written so that
# NaN fails it (every comparison with NaN is False).
_OPTIMIZER_RANGES = {  # checked in every stage section
    "epochs": _at_least(1),
    "batch_size": _at_least(1),
    "micro_batch_size": _at_least(1),
    "lr": (lambda v: v > 0, "> 0"),
    "min_lr_ratio": (lambda v: 0 <= v <= 1, "a ratio in [0, 1]"),
    "warmup_steps": _at_least(0),
    "weight_decay": _at_least(0),
    "grad_clip": (lambda v: v >= 0, ">= 0 (0 = off)"),
    "seed": _at_least(0),
    "max_steps": _at_least(0),
}
assert _OPTIMIZER_RANGES.keys() == {f.name for f in fields(OptimizerConfig)}  # a new field needs its range
_RANGES = {
    "corpus.sources": (bool, "at least one source"),
    "corpus.max_doc_lines": _at_least(1),
    "budget.total_words": (lambda v: v > 0, "> 0"),
    "budget.instruct_fraction": (lambda v: 0 <= v < 1, "a fraction in [0, 1)"),
    "budget.heldout_pairs": _at_least(0),
    "tokenizer.vocab_size": (lambda v: v == 0 or v >= 512, "0 (the preset's) or >= 512"),
    "tokenizer.min_frequency": _at_least(1),
    "tokenizer.max_train_words": _at_least(0),
    **{f"{stage}.{f.name}": _OPTIMIZER_RANGES[f.name] for stage in STAGE_SECTIONS for f in fields(OptimizerConfig)},
    "pretrain.seq_len": _at_least(8),
    "pretrain.num_workers": _at_least(1),
    "pretrain.shard_rows": _at_least(1),
    "instruct.max_len": _at_least(8),
    "eval.batch_size": _at_least(1),
    "eval.finetune_epochs": _at_least(0),
    "study.name": (lambda v: _NAME_RE.fullmatch(v) is not None, "a non-empty name of [A-Za-z0-9_.-]"),
    "study.num_cpus": _at_least(0),
    "study.toy_words": _at_least(1000),
    "study.max_concurrent_trials": _at_least(0),
    "study.cache_dir": (
        lambda v: bool(v) and not is_uri(v),
        "a local folder (each node's cache of a remote artifact store)",
    ),
}


def _get(cfg: Config, path: str) -> Any:
    section, key = path.split(".")
    return getattr(getattr(cfg, section), key)


def _budget_problems(cfg: Config) -> list[str]:
    """Instruction weights, and the budgets that leave a stage with no data at all."""
    b, sources, problems = cfg.budget, cfg.corpus.sources, []
    for name, weight in b.instruct_weights.items():
        if name not in b.instruct_configs:
            problems.append(
                f"budget.instruct_weights: key {name!r} is not a budget.instruct_configs entry; "
                f"expected one of {b.instruct_configs}"
            )
        if not weight >= 0:
            problems.append(f"budget.instruct_weights[{name!r}]: expected >= 0, got {weight!r}")
    if b.instruct_weights and not sum(b.instruct_weights.values()) > 0:
        problems.append(f"budget.instruct_weights: expected weights summing to > 0, got {b.instruct_weights}")

    uses_instruct = b.instruct_fraction > 0
    split = f"budget.total_words {b.total_words} × instruct_fraction {b.instruct_fraction}"
    if uses_instruct and not b.instruct_configs:
        problems.append(
            f"impossible budget: budget.instruct_fraction {b.instruct_fraction} > 0 but "
            "budget.instruct_configs is empty; expected a config or instruct_fraction 0"
        )
    holdout = uses_instruct and b.holdout_instruct_sources
    held = {INSTRUCT_SOURCES.get(c) for c in b.instruct_configs} if holdout else set()
    if sources and set(sources) <= held:
        problems.append(
            f"impossible budget: no pretraining source left: corpus.sources {sources} are all held "
            "out for instruction data; expected another source or budget.holdout_instruct_sources false"
        )
    if b.total_words > 0 and 0 <= b.instruct_fraction < 1:  # otherwise already reported as out of range
        if round(b.total_words * (1 - b.instruct_fraction)) < 1:
            problems.append(f"impossible budget: {split} leaves 0 pretraining words; expected >= 1")
        if uses_instruct and round(b.total_words * b.instruct_fraction) < 1:
            problems.append(f"impossible budget: {split} leaves 0 instruction words; expected >= 1")
    return problems


def _batch_problems(cfg: Config) -> list[str]:
    """The global batch is split over workers and micro-batches, so it must divide evenly."""
    workers, problems = cfg.pretrain.num_workers, []
    for stage in STAGE_SECTIONS:
        s = getattr(cfg, stage)
        if min(s.batch_size, s.micro_batch_size, workers) >= 1 and s.batch_size % (s.micro_batch_size * workers):
            problems.append(
                f"{stage}.batch_size: expected a multiple of {stage}.micro_batch_size × "
                f"pretrain.num_workers = {s.micro_batch_size} × {workers}, got {s.batch_size}"
            )
    if cfg.pretrain.launcher == "in_process" and workers > 1:
        problems.append(
            f"pretrain.launcher: in_process runs one worker, but pretrain.num_workers is {workers}; "
            "expected ray_train or auto"
        )
    return problems


def validate(cfg: Config, bad: set[str] = frozenset()) -> list[str]:
    """Every range and consistency problem of `cfg` (whose field types are assumed right)."""
    problems = [
        f"{path}: expected {expected}, got {reprlib.repr(_get(cfg, path))}"
        for path, (ok, expected) in _RANGES.items()
        if not ok(_get(cfg, path))
    ]
    preset = None if "model.preset" in bad else PRESETS[cfg.model.preset]  # a bad one is reported already
    if preset and cfg.tokenizer.vocab_size > preset.vocab_size:  # the embedding table must hold every token id
        problems.append(
            f"tokenizer.vocab_size: {cfg.tokenizer.vocab_size} is more than model.preset {cfg.model.preset!r} "
            f"embeds ({preset.vocab_size}); expected 0 (the preset's) or <= {preset.vocab_size}, or a larger preset"
        )
    problems += _budget_problems(cfg) + _batch_problems(cfg)
    if not bad & {
        "instruct.curriculum",
        "budget.instruct_fraction",
        "budget.instruct_configs",
        "budget.instruct_weights",
    }:
        problems += _curriculum_problems(cfg)
    return problems + _checkpoint_problems(cfg)


def _curriculum_problems(cfg: Config) -> list[str]:
    """A curriculum needs instruction data for each of its stages, and instruction data needs a
    curriculum to be trained on: neither is left to fail (or to be skipped) at run time."""
    b, curriculum = cfg.budget, cfg.instruct.curriculum
    needed = curriculum_configs(curriculum) if curriculum in CURRICULA else []
    if not needed:
        return []
    if not b.instruct_fraction > 0:
        return [
            f"instruct.curriculum: {curriculum!r} trains on instruction data, but budget.instruct_fraction is "
            f"{b.instruct_fraction}; expected instruct.curriculum 'none' (the pretrained model alone) or a fraction > 0"
        ]
    weights = b.instruct_weights
    if weights and not (set(weights) <= set(b.instruct_configs) and all(w >= 0 for w in weights.values())):
        return []  # bad weights are reported as such (`_budget_problems`); what they would give is moot
    missing = [c for c in needed if c not in b.instruct_configs or (weights and not weights.get(c, 0) > 0)]
    if missing:
        return [
            f"instruct.curriculum: {curriculum!r} needs instruction data {missing}, which the budget does not provide "
            f"(budget.instruct_configs {b.instruct_configs}"
            + (f", budget.instruct_weights {weights}" if weights else "")
            + "); expected those configs in the budget, or another curriculum"
        ]
    return []


def _checkpoint_problems(cfg: Config) -> list[str]:
    """Named checkpoints must be ones the pretraining's schedule writes. It writes `chck_{m}M`
    once m/100 of the budget has been seen, and sees at most epochs × its words, so a name past
    that can never exist (a set such as `log` takes only the points the run reaches)."""
    names = cfg.eval.checkpoints
    millions, unknown = checkpoint_millions(names)
    problems = []
    if unknown:
        problems.append(
            f"eval.checkpoints: unknown {unknown}; expected chck_<N>M names of the BabyLM schedule "
            f"(N in 1-9, 10-90, 100-1000) or one of {', '.join(CHECKPOINT_SETS)}"
        )
    b, p = cfg.budget, cfg.pretrain
    if b.total_words > 0 and 0 <= b.instruct_fraction < 1 and p.epochs >= 1:
        reach = p.epochs * round(b.total_words * (1 - b.instruct_fraction))  # words seen at most
        explicit = [n for n in names if n not in CHECKPOINT_SETS and n not in unknown]
        never = [n for n in explicit if int(n[5:-1]) * 1_000_000 * b.total_words / BABYLM_WORDS > reach]
        if never:
            problems.append(
                f"eval.checkpoints: {never} are never written: pretraining sees at most {reach:,} words "
                f"(pretrain.epochs {p.epochs} × {reach // p.epochs:,} pretraining words), and chck_<N>M "
                f"is written after N/100 of budget.total_words; expected names within that reach"
            )
    return problems
