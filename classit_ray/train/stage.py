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
from classit_ray.data.prepare import PreparedData
from classit_ray.model import get_preset

# Left out of a stage's key:
# - what does not change what a finished stage contains, so that a run stopped by max_steps
#   resumes under the same name and the worker or thread count can change;
# - paths, which differ between machines and stores: the inputs are named by their keys instead
#   (`inputs`), and what is derived from them (row and word counts, the tokenizer hash) with them.
# The key can therefore be computed from the config before any input exists (a study's plan).
_NOT_IN_KEY = ("max_steps", "num_workers", "use_gpu", "torch_threads", "run_name",
               "tokenizer_dir", "shard_dirs", "init_from", "rows", "words", "tokenizer_sha256")


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
    inputs: list[str] = dataclasses.field(default_factory=list)  # keys of the tokenizer, shards and init checkpoint
    torch_threads: int = 0  # CPU threads per worker; 0 = the node's cores / its workers
    run_name: str = ""  # filled by `with_key`

    @property
    def key(self) -> str:
        if not self.inputs:
            raise ValueError(f"stage {self.name!r}: no input keys; build specs with pretrain_spec/instruct_specs")
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


def _shards_summary(shard_dirs: list[Path], resolve: bool) -> tuple[int, int, str]:
    if not resolve:  # planning: the shards do not exist yet, and these fields are not in the key
        return 0, 0, ""
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


def pretrain_spec(cfg: Config, data: PreparedData, resolve: bool = True) -> StageSpec:
    """The pretraining stage of `cfg` on `data`. With `resolve=False` nothing is read from disk:
    the counts stay 0, but the key is the one the real stage will have."""
    vocab = check_tokenizer_fits(data.tokenizer_dir, cfg.model.preset) if resolve else get_preset(cfg.model.preset).vocab_size
    shard_dir = data.pretrain_shards
    rows, words, sha = _shards_summary([shard_dir], resolve)
    p = cfg.pretrain
    if resolve and rows < p.batch_size:
        raise ValueError(f"{shard_dir}: {rows} sequences, fewer than one batch of {p.batch_size}; lower pretrain.batch_size or add data")
    return StageSpec(
        stage="pretrain", name="pretrain", preset=cfg.model.preset, vocab_size=vocab, tokenizer_dir=str(data.tokenizer_dir),
        tokenizer_sha256=sha, shard_dirs=[str(shard_dir)], rows=rows, words=words, epochs=p.epochs,
        batch_size=p.batch_size, micro_batch_size=p.micro_batch_size, lr=p.lr, min_lr_ratio=p.min_lr_ratio,
        warmup_steps=p.warmup_steps, weight_decay=p.weight_decay, grad_clip=p.grad_clip, loss_on="all", seed=p.seed,
        num_workers=p.num_workers, use_gpu=p.use_gpu, compile=p.compile, budget_words=cfg.budget.total_words, max_steps=p.max_steps,
        inputs=[data.keys["tokenizer"], data.keys["pretrain_shards"]],
    ).with_key()


# Curriculum -> the instruction configs of each stage, in order.
CURRICULUM_STAGES = {
    "merged": [["switchboard", "simple_wiki"]],
    "switchboard>wiki": [["switchboard"], ["simple_wiki"]],
    "wiki>switchboard": [["simple_wiki"], ["switchboard"]],
}


def instruct_specs(cfg: Config, data: PreparedData, resolve: bool = True) -> list[StageSpec]:
    """One spec per stage of the curriculum, without its starting checkpoint and key: `chain`
    fills both (stage 1 starts from the pretrained model, each later one from the one before)."""
    tokenizer_dir, instruct_shards = data.tokenizer_dir, data.instruct_shards
    vocab = check_tokenizer_fits(tokenizer_dir, cfg.model.preset) if resolve else get_preset(cfg.model.preset).vocab_size
    i = cfg.instruct
    specs = []
    for n, configs in enumerate(CURRICULUM_STAGES[i.curriculum], 1):
        present = [c for c in configs if c in instruct_shards]
        if not present:
            raise ValueError(f"curriculum {i.curriculum!r} stage {n} needs instruction data {configs}, but the split has none; raise budget.instruct_fraction")
        rows, words, sha = _shards_summary([instruct_shards[c] for c in present], resolve)
        if resolve and rows < i.batch_size:
            raise ValueError(f"instruction data {present}: {rows} pairs, fewer than one batch of {i.batch_size}; lower instruct.batch_size or raise the fraction")
        slug = i.curriculum.replace(">", "-then-")
        specs.append(StageSpec(
            stage="instruct", name=f"instruct-{slug}-{n}-{'+'.join(present)}", preset=cfg.model.preset, vocab_size=vocab,
            tokenizer_dir=str(tokenizer_dir), tokenizer_sha256=sha, shard_dirs=[str(instruct_shards[c]) for c in present],
            rows=rows, words=words, epochs=i.epochs, batch_size=i.batch_size, micro_batch_size=i.micro_batch_size, lr=i.lr,
            min_lr_ratio=i.min_lr_ratio, warmup_steps=i.warmup_steps, weight_decay=i.weight_decay, grad_clip=i.grad_clip,
            loss_on=i.loss_on, seed=i.seed, num_workers=cfg.pretrain.num_workers, use_gpu=cfg.pretrain.use_gpu,
            compile=cfg.pretrain.compile, max_steps=i.max_steps,
            inputs=[data.keys["tokenizer"], *(data.keys[f"instruct_shards/{c}"] for c in present)],
        ))
    return specs


def chain(spec: StageSpec, init_from: str | Path, init_key: str) -> StageSpec:
    """`spec` starting from the checkpoint `init_from`, whose identity is `init_key` (the key of
    the stage that wrote it, or a hash of a user's path): part of this stage's key."""
    return dataclasses.replace(spec, init_from=str(init_from), inputs=[*spec.inputs, init_key]).with_key()
