"""A training stage, fully resolved: what one Ray Train run needs, as one plain dataclass.

Pretraining and each instruction stage are the same loop over different data and labels, so
both are described by a `StageSpec`. It is built from the config tree and the prepared data
here, travels to the workers as a dict, and is recorded in every checkpoint.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from classit_ray.atomic import read_manifest
from classit_ray.config import Config, config_hash
from classit_ray.model import get_preset

# Fields that do not change what a finished stage contains: left out of its key, so a run
# stopped by max_steps resumes under the same name, and the worker count can change.
_NOT_IN_KEY = ("max_steps", "num_workers", "use_gpu", "run_name")


@dataclass
class StageSpec:
    stage: str  # "pretrain" | "instruct"
    name: str  # human part of the run name, e.g. "pretrain", "instruct-merged-1"
    preset: str
    vocab_size: int
    tokenizer_dir: str
    tokenizer_sha256: str
    shard_dirs: list[str]
    rows: int  # sequences (pretrain) or pairs (instruct) in one epoch, all shard sets together
    words: int  # words in one epoch of this data (for words_seen)
    epochs: int
    batch_size: int
    micro_batch_size: int
    lr: float
    min_lr_ratio: float
    warmup_steps: int
    weight_decay: float
    grad_clip: float
    loss_on: str  # "all" for pretraining; "reply" | "all" for instruction tuning
    seed: int
    num_workers: int = 1
    use_gpu: bool = False
    compile: bool = False
    init_from: str = ""  # checkpoint directory to start from; "" = random init
    budget_words: int = 0  # scales the BabyLM checkpoint schedule; 0 = final checkpoint only
    max_steps: int = 0  # stop (resumably) after this many optimizer steps; 0 = train to the end
    run_name: str = ""  # filled by `with_key`

    @property
    def key(self) -> str:
        return config_hash({k: v for k, v in dataclasses.asdict(self).items() if k not in _NOT_IN_KEY})

    def with_key(self) -> StageSpec:
        return dataclasses.replace(self, run_name=f"{self.name}-{self.key}")

    @property
    def accumulation(self) -> int:
        return self.batch_size // (self.micro_batch_size * self.num_workers)

    @property
    def steps_per_epoch(self) -> int:
        # Each worker gets rows // workers rows; leftovers that do not fill a step are dropped.
        micro_batches = (self.rows // self.num_workers) // self.micro_batch_size
        return micro_batches // self.accumulation


def _shards_summary(shard_dirs: list[Path]) -> tuple[int, int, str]:
    manifests = [read_manifest(d) for d in shard_dirs]
    return sum(m["sequences"] for m in manifests), sum(m["words"] for m in manifests), manifests[0]["tokenizer_sha256"]


def check_tokenizer_fits(tokenizer_dir: Path, preset: str) -> int:
    """The preset's vocabulary must hold every token id the tokenizer can emit."""
    tok = read_manifest(tokenizer_dir)
    vocab = get_preset(preset).vocab_size
    if tok["vocab_size"] > vocab:
        raise ValueError(
            f"{tokenizer_dir}: tokenizer has {tok['vocab_size']:,} tokens but model preset {preset!r} has a vocabulary of {vocab:,}; "
            f"set tokenizer.vocab_size <= {vocab} or choose a larger preset"
        )
    return vocab


def pretrain_spec(cfg: Config, tokenizer_dir: Path, shard_dir: Path) -> StageSpec:
    vocab = check_tokenizer_fits(tokenizer_dir, cfg.model.preset)
    rows, words, sha = _shards_summary([shard_dir])
    p = cfg.pretrain
    if rows < p.batch_size:
        raise ValueError(f"{shard_dir}: {rows} sequences, fewer than one batch of {p.batch_size}; lower pretrain.batch_size or add data")
    return StageSpec(
        stage="pretrain", name="pretrain", preset=cfg.model.preset, vocab_size=vocab, tokenizer_dir=str(tokenizer_dir),
        tokenizer_sha256=sha, shard_dirs=[str(shard_dir)], rows=rows, words=words, epochs=p.epochs,
        batch_size=p.batch_size, micro_batch_size=p.micro_batch_size, lr=p.lr, min_lr_ratio=p.min_lr_ratio,
        warmup_steps=p.warmup_steps, weight_decay=p.weight_decay, grad_clip=p.grad_clip, loss_on="all", seed=p.seed,
        num_workers=p.num_workers, use_gpu=p.use_gpu, compile=p.compile, budget_words=cfg.budget.total_words, max_steps=p.max_steps,
    ).with_key()


# Curriculum -> the instruction configs of each stage, in order.
CURRICULUM_STAGES = {
    "merged": [["switchboard", "simple_wiki"]],
    "switchboard>wiki": [["switchboard"], ["simple_wiki"]],
    "wiki>switchboard": [["simple_wiki"], ["switchboard"]],
}


def instruct_specs(cfg: Config, tokenizer_dir: Path, instruct_shards: dict[str, Path]) -> list[StageSpec]:
    """One spec per stage of the curriculum, without `init_from` and key: the driver fills both
    once the stage before has finished (stage 1 starts from the pretrained model)."""
    vocab = check_tokenizer_fits(tokenizer_dir, cfg.model.preset)
    i = cfg.instruct
    specs = []
    for n, configs in enumerate(CURRICULUM_STAGES[i.curriculum], 1):
        present = [c for c in configs if c in instruct_shards]
        if not present:
            raise ValueError(f"curriculum {i.curriculum!r} stage {n} needs instruction data {configs}, but the split has none; raise budget.instruct_fraction")
        rows, words, sha = _shards_summary([instruct_shards[c] for c in present])
        if rows < i.batch_size:
            raise ValueError(f"instruction data {present}: {rows} pairs, fewer than one batch of {i.batch_size}; lower instruct.batch_size or raise the fraction")
        slug = i.curriculum.replace(">", "-then-")
        specs.append(StageSpec(
            stage="instruct", name=f"instruct-{slug}-{n}-{'+'.join(present)}", preset=cfg.model.preset, vocab_size=vocab,
            tokenizer_dir=str(tokenizer_dir), tokenizer_sha256=sha, shard_dirs=[str(instruct_shards[c]) for c in present],
            rows=rows, words=words, epochs=i.epochs, batch_size=i.batch_size, micro_batch_size=i.micro_batch_size, lr=i.lr,
            min_lr_ratio=i.min_lr_ratio, warmup_steps=i.warmup_steps, weight_decay=i.weight_decay, grad_clip=i.grad_clip,
            loss_on=i.loss_on, seed=i.seed, num_workers=cfg.pretrain.num_workers, use_gpu=cfg.pretrain.use_gpu,
            compile=cfg.pretrain.compile, max_steps=i.max_steps,
        ))
    return specs
