"""A training stage, fully resolved: what one Ray Train run needs, as one plain dataclass.

Pretraining and each instruction stage are the same loop over different data and labels, so
both are described by a `StageSpec`. It is planned from the config tree and the data plan
here (its key is known before any input exists), resolved against its inputs' manifests just
before it runs, travels to the workers as a dict, and is recorded in every checkpoint.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from classit_ray.atomic import is_complete, read_manifest
from classit_ray.config import CURRICULA, Config, OptimizerConfig, config_hash, redact_uri
from classit_ray.data.stages import PreparedData
from classit_ray.model import get_preset
from classit_ray.store import open_store
from classit_ray.train.checkpoint import FINAL_CHECKPOINT

# Left out of a stage's key:
# - what does not change what a finished stage contains, so that a run stopped by max_steps
#   resumes under the same name and the worker or thread count can change;
# - paths, which differ between machines and stores: the inputs are named by their keys instead
#   (`inputs`), and what is derived from them (row and word counts, the tokenizer hash) with them.
# The key can therefore be computed from the config before any input exists (a study's plan).
# A dotted name is a field of a nested dataclass (`optim.max_steps`).
_NOT_IN_KEY = (
    "optim.max_steps",
    "num_workers",
    "use_gpu",
    "launcher",
    "worker_resources",
    "store",
    "torch_threads",
    "run_name",
    "keep_checkpoints",
    "curve_checkpoints",
    "tokenizer_dir",
    "shard_dirs",
    "init_from",
    "rows",
    "words",
    "tokenizer_sha256",
)


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
    optim: OptimizerConfig  # the stage section's optimizer settings (`pretrain.*` or `instruct.*`)
    loss_on: str  # "all" for pretraining; "reply" | "all" for instruction tuning
    num_workers: int = 1
    use_gpu: bool = False
    launcher: str = "auto"  # config.Launcher
    worker_resources: dict[str, float] = dataclasses.field(default_factory=dict)  # per Ray Train worker, beyond CPU/GPU
    compile: bool = False
    init_from: str = ""  # checkpoint directory to start from; "" = random init
    budget_words: int = 0  # scales the BabyLM checkpoint schedule; 0 = final checkpoint only
    inputs: list[str] = dataclasses.field(default_factory=list)  # keys of the tokenizer, shards and init checkpoint
    torch_threads: int = 0  # CPU threads per worker; 0 = the node's cores / its workers
    keep_checkpoints: str = "all"  # what the artifact store keeps of the finished stage (config.KeepCheckpoints)
    curve_checkpoints: list[str] = dataclasses.field(default_factory=list)  # `eval.checkpoints`, which `curve` keeps
    store: list[str] = dataclasses.field(
        default_factory=list
    )  # [URI, cache] of a remote artifact store; [] = a local one
    run_name: str = ""  # filled by `with_key`

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> StageSpec:
        """The inverse of `dataclasses.asdict`: a spec as it reaches the workers (Ray Train's loop
        config) and as checkpoints record it (`classit_state.json`)."""
        return cls(**{**d, "optim": OptimizerConfig(**d["optim"])})

    @property
    def key(self) -> str:
        if not self.inputs:
            raise ValueError(f"stage {self.name!r}: no input keys; build specs with pretrain_spec/instruct_specs")
        values = dataclasses.asdict(self)
        for name in _NOT_IN_KEY:
            parent, _, leaf = name.rpartition(".")
            del (values[parent] if parent else values)[leaf]
        return config_hash(values)

    def with_key(self) -> StageSpec:
        return dataclasses.replace(self, run_name=f"{self.name}-{self.key}")

    @property
    def accumulation(self) -> int:
        return self.optim.batch_size // (self.optim.micro_batch_size * self.num_workers)

    @property
    def steps_per_epoch(self) -> int:
        # Each worker gets rows // workers rows; leftovers that do not fill a step are dropped.
        micro_batches = (self.rows // self.num_workers) // self.optim.micro_batch_size
        return micro_batches // self.accumulation


def model_vocab(preset: str) -> int:
    """The model's embedding rows: the preset's vocabulary, whatever size the tokenizer came out."""
    return get_preset(preset).vocab_size


def check_tokenizer_fits(tokenizer_dir: Path, preset: str) -> int:
    """The preset's vocabulary must hold every token id the tokenizer can emit."""
    tok = read_manifest(tokenizer_dir)
    vocab = model_vocab(preset)
    if tok["vocab_size"] > vocab:
        raise ValueError(
            f"{tokenizer_dir}: tokenizer has {tok['vocab_size']:,} tokens but model preset {preset!r} has a vocabulary of {vocab:,}; "
            f"set tokenizer.vocab_size <= {vocab} or choose a larger preset"
        )
    return vocab


@dataclass
class StageResult:
    """What running (or reusing) a training stage gives back; it travels from a trial's stage host
    to the trial, which reads it without torch."""

    spec: StageSpec
    out_dir: Path
    complete: bool  # False when the run stopped at max_steps; rerun to continue it
    executed: bool  # False when a finished stage was reused
    metrics: dict
    latest: str = ""  # the newest checkpoint (in Ray's storage, or in out_dir once complete)

    @property
    def final(self) -> Path:
        return self.out_dir / FINAL_CHECKPOINT


def stage_dir(work_dir: Path, spec: StageSpec) -> Path:
    """Where a finished stage's checkpoints live in the artifact store."""
    return work_dir / spec.stage / spec.key


def _stage(
    cfg: Config, data: PreparedData, stage: str, name: str, shard_dirs: list[Path], inputs: list[str]
) -> StageSpec:
    """The fields both kinds of stage take from the config: the optimizer settings of `stage`'s
    section, the model, the hardware."""
    p = cfg.pretrain
    return StageSpec(
        stage=stage,
        name=name,
        preset=cfg.model.preset,
        vocab_size=model_vocab(cfg.model.preset),
        tokenizer_dir=str(data.tokenizer_dir),
        tokenizer_sha256="",
        shard_dirs=[str(d) for d in shard_dirs],
        rows=0,
        words=0,
        optim=OptimizerConfig.of(getattr(cfg, stage)),
        loss_on="all" if stage == "pretrain" else cfg.instruct.loss_on,
        num_workers=p.num_workers,
        use_gpu=p.use_gpu,
        launcher=p.launcher,
        worker_resources=dict(p.worker_resources),
        compile=p.compile,
        budget_words=cfg.budget.total_words if stage == "pretrain" else 0,
        inputs=inputs,
        keep_checkpoints=p.keep_checkpoints,
        curve_checkpoints=list(cfg.eval.checkpoints),
    )


def pretrain_spec(cfg: Config, data: PreparedData) -> StageSpec:
    """The pretraining stage of `cfg` on `data`, as planned: nothing is read from disk, the counts
    stay 0 until `resolve`, and the key is the one the stage has when it runs."""
    return _stage(
        cfg,
        data,
        "pretrain",
        "pretrain",
        [data.pretrain_shards],
        [data.keys["tokenizer"], data.keys["pretrain_shards"]],
    ).with_key()


def instruct_specs(cfg: Config, data: PreparedData) -> list[StageSpec]:
    """One planned spec per stage of the curriculum (`config.CURRICULA`), without its starting
    checkpoint and key: `chain` fills both (stage 1 starts from the pretrained model, each later
    one from the one before). The curriculum `none` has no stage."""
    curriculum = cfg.instruct.curriculum
    slug = curriculum.replace(">", "-then-")
    specs = []
    for n, configs in enumerate(CURRICULA[curriculum], 1):
        specs.append(
            _stage(
                cfg,
                data,
                "instruct",
                f"instruct-{slug}-{n}-{'+'.join(configs)}",
                [data.instruct_shards[c] for c in configs],
                [data.keys["tokenizer"], *(data.keys[f"instruct_shards/{c}"] for c in configs)],
            )
        )
    return specs


def chain(spec: StageSpec, init_from: str | Path, init_key: str) -> StageSpec:
    """`spec` starting from the checkpoint `init_from`, whose identity is `init_key` (the key of
    the stage that wrote it, or a hash of a user's path): part of this stage's key."""
    return dataclasses.replace(spec, init_from=str(init_from), inputs=[*spec.inputs, init_key]).with_key()


def resolve(spec: StageSpec) -> StageSpec:
    """`spec` with what its inputs say filled in (rows, words, the tokenizer's hash), once they
    exist; none of it is in the key. Raises ValueError naming the file when they cannot train it."""
    check_tokenizer_fits(Path(spec.tokenizer_dir), spec.preset)
    manifests = [read_manifest(d) for d in spec.shard_dirs]
    rows, words = sum(m["sequences"] for m in manifests), sum(m["words"] for m in manifests)
    if rows < spec.optim.batch_size:
        what = "sequences" if spec.stage == "pretrain" else "pairs"
        raise ValueError(
            f"{', '.join(spec.shard_dirs)}: {rows} {what}, fewer than one batch of {spec.optim.batch_size}; "
            f"lower {spec.stage}.batch_size or add data"
        )
    return dataclasses.replace(spec, rows=rows, words=words, tokenizer_sha256=manifests[0]["tokenizer_sha256"])


def fetch_inputs(spec: StageSpec) -> None:
    """Make this node's cache hold the stage's tokenizer and starting checkpoint. The stage walk
    fetched them on the trial's node; a Ray Train worker placed on another node fetches them
    from the remote store here (the shards it reads from the store directly, `data/shards.py`)."""
    if not spec.store:
        return
    store = open_store(*spec.store)
    for local in (spec.tokenizer_dir, str(Path(spec.init_from).parent) if spec.init_from else ""):
        if local and not is_complete(local) and not store.fetch(store.rel(local)):
            raise FileNotFoundError(
                f"{local}: not in this node's cache, and {redact_uri(store.uri_of(store.rel(local)))} has no complete copy"
            )
