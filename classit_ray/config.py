"""The typed config tree: one dataclass per pipeline component, one root `Config`.

Every stage reads its settings from here; Ray Tune overrides fields by dotted path
(`"budget.instruct_fraction": 0.1`). Reading a config (files, dicts, overrides) and type-checking
it is `config_load.py`; the range and consistency checks are `config_checks.py`. Validation
collects *every* problem and raises them together in one `ConfigError` (defined here).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, fields, make_dataclass
from pathlib import Path
from typing import Any, Literal, get_args, get_type_hints

from .eval.tasks import GLUE_TASKS, INSTRUCT_CONFIGS, TASK_SPECS


def is_uri(path: str | Path) -> bool:
    """A storage URI (s3://, gs://, ...) rather than a local or NFS path."""
    return "://" in str(path)


def absolute_path(path: str | Path) -> str:
    """A local path made absolute (`~` expanded); a URI, or "" (unset), as it is. Tune and Ray
    Train run trials and workers in directories of their own, where a relative path means
    something else, and pyarrow refuses relative storage paths."""
    path = str(path)
    return path if not path or is_uri(path) else str(Path(path).expanduser().resolve())


def join_uri(base: str, *parts: str) -> str:
    """`base/part/...` for a URI (s3://bucket/prefix); its query (`?endpoint_override=...`, which
    pyarrow reads) stays at the end."""
    head, sep, query = str(base).partition("?")
    return "/".join([head.rstrip("/"), *(p.strip("/") for p in parts)]) + sep + query


def redact_uri(uri: str) -> str:
    """`uri` fit to print: credentials written into it (`s3://KEY:SECRET@bucket/...`) hidden."""
    return re.sub(r"^([a-z0-9+.-]+://)[^/@]*@", r"\1***@", str(uri))


def artifact_store_of(cfg: Config) -> str:
    """Where the stages are kept: `study.work_dir`, else `<storage_path>/artifacts`; a local (or
    NFS) folder, or a URI (s3://, gs://). Shared by every study on the same storage, so that a
    second study reuses what the first one built (stage directories are named by content keys)."""
    storage = cfg.study.storage_path
    return cfg.study.work_dir or (
        join_uri(storage, "artifacts") if is_uri(storage) else str(Path(storage) / "artifacts")
    )


def work_dir_of(cfg: Config) -> Path:
    """The local folder the stages are read and written in: the artifact store itself, or, when
    the store is a URI, this node's cache of it (`<study.cache_dir>/<scheme>/<bucket>/<path>`,
    credentials and query left out; `classit_ray/store.py` moves stages between the two)."""
    store = artifact_store_of(cfg)
    if not is_uri(store):
        return Path(store).expanduser()
    scheme, _, rest = store.partition("?")[0].partition("://")
    return Path(cfg.study.cache_dir).expanduser() / scheme / rest.rpartition("@")[2].strip("/")


# Choices are types: the allowed values of a field live in its annotation, and validation reads
# them from there (`_coerce`). The tuples beside them are the same values, for code that iterates.
Source = Literal["bnc_spoken", "childes", "gutenberg", "open_subtitles", "simple_wiki", "switchboard"]
BABYLM_SOURCES: tuple[str, ...] = get_args(Source)  # the six sources of the text release, in its order

# CLASS_IT instruction configs and the corpus source each one was built from. A source that feeds
# instruction pairs is held out of pretraining by default so that no word counts twice.
InstructSource = Literal[INSTRUCT_CONFIGS]  # the task table's tuple: its interactive task scores each one
INSTRUCT_SOURCES: dict[str, str] = {"switchboard": "switchboard", "simple_wiki": "simple_wiki"}
assert tuple(INSTRUCT_SOURCES) == INSTRUCT_CONFIGS

# The curricula: name -> the instruction configs of each stage, in order; each stage starts from
# the checkpoint of the one before, the first from the pretrained model. This table is the only
# place that says what a curriculum is: validation, the stage graph and the command lines read it.
# `none` is the pretrained model itself (the paper's reference point: no instruction tuning).
Curriculum = Literal["none", "merged", "switchboard>wiki", "wiki>switchboard"]
CURRICULA: dict[str, tuple[tuple[str, ...], ...]] = {
    "none": (),
    "merged": (("switchboard", "simple_wiki"),),
    "switchboard>wiki": (("switchboard",), ("simple_wiki",)),
    "wiki>switchboard": (("simple_wiki",), ("switchboard",)),
}
assert tuple(CURRICULA) == get_args(Curriculum)


def curriculum_configs(curriculum: str) -> list[str]:
    """The instruction configs a curriculum trains on, sorted: the instruction shard sets a cell builds."""
    return sorted({c for stage in CURRICULA[curriculum] for c in stage})


BASELINE: Curriculum = "none"  # the curriculum of the pretrained model alone, every study's reference

LossOn = Literal["reply", "all"]
# Which of a finished training stage's checkpoints the artifact store keeps (`pretrain.keep_checkpoints`,
# both stages): `curve` = what the project reads back, `final` and the `chck_*` that
# `eval.checkpoints` scores, as weights without the optimizer moments (the next stage and every
# evaluation load weights alone; a stage in progress resumes from its own run's checkpoints, not
# from the store); `final` = `final` alone, whole, to continue training from; `all` = every
# checkpoint written, whole.
KeepCheckpoints = Literal["curve", "all", "final"]
# How a training stage is launched (`pretrain.launcher`, both stages; `train/driver.py: launcher_of`):
# `ray_train` = a Ray Train run (`TorchTrainer`); `in_process` = the loop in the calling process,
# one worker; `auto` = Ray Train when the stage has several workers, a GPU or Ray Train callbacks
# (ASHA), else in process, where a one-CPU stage saves Ray Train's start
# (bench/results/2026-11-25-study-overhead.md).
Launcher = Literal["auto", "ray_train", "in_process"]
EVAL_TASKS = tuple(TASK_SPECS)  # the evaluation tasks, in their table's order
EvalTask = Literal[EVAL_TASKS]  # subscripting with a tuple gives Literal["blimp", "blimp_supplement", ...]
GlueTask = Literal[GLUE_TASKS]
# How zero-shot scores are computed (`eval.convention`). "official": as the BabyLM 2025 pipeline
# computes them, prediction for prediction (a candidate's tokens are those of the whole sentence whose
# characters overlap it; a tie goes to the first candidate, credited in full; reading scores the word
# without a leading space, subwords chained, and fits each regression on the rows it has). "clean": this
# project's own (the continuation tokenized after its context, <s> always, a tie credited 1/m; reading
# scores " " + word and fits both regressions on the same rows). Part of the evaluation key; one study
# uses one (study/definition.py), since scores of the two do not compare.
EvalConvention = Literal["official", "clean"]
# The model presets; their shapes are the table in model.py, which imports this module and
# checks that its table has exactly these names (importing model.py here would be a cycle).
Preset = Literal["tiny", "tiny-deep", "small", "100m", "140m"]

# Checkpoint sets for learning curves (`eval.checkpoints`), besides explicit `chck_*` names:
# `log` = the BabyLM checkpoints at 1, 2 and 5 × 10^k million words, `all` = every one written.
CHECKPOINT_SETS = {"log": (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000), "all": None}
BABYLM_CHECKPOINT_MILLIONS = (*range(1, 10), *range(10, 100, 10), *range(100, 1001, 100))
BABYLM_WORDS = 100_000_000  # the strict track's budget, which the checkpoint names refer to


@dataclass
class CorpusConfig:
    """Where the BabyLM text and the CLASS_IT-style instruction parquet live, and how to clean."""

    data_dir: str = ""  # a BabyLM folder (train_100M/, train_10M/, babylm_100M/ ...); "" = toy world
    instruct_dir: str = ""  # folder with <config>/*.parquet or <config>.parquet; "" = toy world
    sources: list[Source] = field(default_factory=lambda: list(BABYLM_SOURCES))
    keep_speaker_labels: bool = True  # keep "A:\t" / "*MOT:\t" prefixes in the cleaned text
    max_doc_lines: int = 64  # header-less files are cut into documents of at most this many lines


@dataclass
class BudgetConfig:
    """The word budget and its split between pretraining and instruction data."""

    # Defaults are the toy world's scale, so `Config()` runs on a laptop; the paper's strict track
    # is 100_000_000. Words are whitespace tokens of the raw text.
    total_words: int = 150_000
    instruct_fraction: float = 0.087  # the paper: 8.7M instruction words of ~100M
    seed: int = 0
    instruct_configs: list[InstructSource] = field(default_factory=lambda: list(INSTRUCT_SOURCES))
    # Share of the instruction words per config; empty = proportional to the words each holds.
    instruct_weights: dict[str, float] = field(default_factory=dict)
    holdout_instruct_sources: bool = True
    # Instruction pairs per config held out of every training draw and scored by the interactive
    # evaluation: the same pairs for every fraction, seed and curriculum (a fixed seeded order of
    # their own), so that cells compare on one paired set. 200: a binomial standard error of at
    # most 0.035 on generation accuracy and about σ/14 on the mean NLL per word, in seconds on a
    # tiny model; 0 = none (the interactive task is then skipped).
    heldout_pairs: int = 200


@dataclass
class TokenizerConfig:
    """Byte-level BPE trained on the pretraining split."""

    vocab_size: int = 0  # 0 = the model preset's vocabulary size
    min_frequency: int = 2
    max_train_words: int = 0  # 0 = train on the whole pretraining split


@dataclass
class ModelConfig:
    preset: Preset = "tiny"  # shapes in classit_ray.model.PRESETS


@dataclass
class OptimizerConfig:
    """How a training stage optimizes: epochs and batch, AdamW, warmup + cosine, clipping, data
    order, and where to stop. `pretrain` and `instruct` are both one (plus fields of their own),
    and a stage takes the settings whole (`StageSpec.optim`).

    The four fields without a default are the ones the two stages set differently: each section
    gives them in `with_defaults`."""

    epochs: int
    lr: float  # peak learning rate, reached at the end of the warmup
    warmup_steps: int
    weight_decay: float  # on matrices only, not norms
    batch_size: int = 16  # sequences (pairs) per optimizer step, summed over workers and micro-batches
    micro_batch_size: int = 16
    min_lr_ratio: float = 0.1  # the cosine ends at min_lr_ratio × lr
    grad_clip: float = 1.0  # max gradient norm; 0 = off
    seed: int = 0  # data order (and, for pretraining, the model's initialisation)
    max_steps: int = 0  # stop (each stage) after this many optimizer steps, resumably; 0 = all epochs

    @classmethod
    def with_defaults(cls, **defaults: Any) -> type[OptimizerConfig]:
        """This dataclass with `defaults` for some fields, as the base class of a stage's section.

        Why a made base class rather than a field `optim: OptimizerConfig` in each section: the
        dotted paths that users, recipes and Optuna write (`pretrain.lr`, `instruct.epochs`) are
        two levels deep, so the fields must stay at the top of their section. And why not plain
        inheritance: a dataclass changes an inherited default only when the field is declared
        again, type and all, which would copy every declaration this class exists to hold once."""
        unknown = defaults.keys() - {f.name for f in fields(cls)}
        if unknown:
            raise TypeError(f"{cls.__name__} has no fields {sorted(unknown)}")
        return make_dataclass(
            cls.__name__,
            [(f.name, f.type, field(default=defaults.get(f.name, f.default))) for f in fields(cls)],
            bases=(cls,),
            namespace={"__module__": cls.__module__},
        )

    @classmethod
    def of(cls, section: OptimizerConfig) -> OptimizerConfig:
        """The optimizer settings of a stage's section (`cfg.pretrain`, `cfg.instruct`), alone."""
        return cls(**{f.name: getattr(section, f.name) for f in fields(cls)})


@dataclass
class PretrainConfig(OptimizerConfig.with_defaults(epochs=8, lr=3e-3, warmup_steps=20, weight_decay=0.1)):
    seq_len: int = 128  # packed sequence length of the shards
    num_workers: int = 1
    use_gpu: bool = False
    compile: bool = False
    shard_rows: int = 4096  # sequences per parquet shard file
    keep_checkpoints: KeepCheckpoints = "curve"  # see KeepCheckpoints; not in the stage's key
    launcher: Launcher = "auto"  # see Launcher; not in the stage's key (either gives the same stage)
    # Ray resources each Ray Train worker asks for beyond its CPU (and GPU), e.g. a node type's custom
    # resource from cluster.yaml's `resources`, to keep training on those nodes; not in the stage's key.
    worker_resources: dict[str, float] = field(default_factory=dict)


# The toy instruction recipe, set by one principle rather than by what it gives (issue 16; the
# measurements are in bench/results/2026-11-30-instruct-collapse.md): keep the paper-scale
# recipe's ratios to pretraining. Learning rate: recipes.PAPER tunes at 5e-5 after pretraining at
# 6e-4, 1/12, so the toy tunes at 3e-3 / 12 = 2.5e-4 (it was 1e-3, 1/3). Token passes: 10
# instruction epochs after 8 pretraining ones, as the paper, which with the paper's 8.7%
# instruction words gives the paper's ratio of instruction to pretraining tokens (0.12).
# tests/test_config.py checks both ratios against recipes.PAPER.
@dataclass
class InstructConfig(OptimizerConfig.with_defaults(epochs=10, lr=2.5e-4, warmup_steps=10, weight_decay=0.0)):
    curriculum: Curriculum = "merged"  # see CURRICULA; "none" = the pretrained model, no instruction tuning
    loss_on: LossOn = "reply"
    max_len: int = 128  # a rendered pair longer than this is truncated (reply side last)


@dataclass
class EvalConfig:
    eval_dir: str = ""  # evaluation_data/ folder; "" = the toy world's
    tasks: list[EvalTask] = field(default_factory=lambda: list(EVAL_TASKS))
    fast: bool = True  # fast_eval/ rather than full_eval/
    convention: EvalConvention = "official"  # see EvalConvention
    batch_size: int = 64
    finetune_epochs: int = 0  # 0 = the official epochs (10; WSC 30)
    # The GLUE subtasks fine-tuned when `glue` is among the tasks; eval/glue_avg only with all seven.
    glue_tasks: list[GlueTask] = field(default_factory=lambda: list(GLUE_TASKS))
    # Learning curve: the pretraining's intermediate checkpoints on which the fast zero-shot tasks
    # are scored, once per pretraining: `chck_*` names, or a set from CHECKPOINT_SETS; [] = none.
    # Default `log`: 6-10 points along the run at the cost of that many zero-shot evaluations.
    checkpoints: list[str] = field(default_factory=lambda: ["log"])


# Where a study's training curves and scores are logged, through Ray Tune's own logger callbacks
# (`study/runner.py: logger_callbacks`): TensorBoard event files in the study folder, MLflow, W&B.
Logger = Literal["tensorboard", "mlflow", "wandb"]
LOGGER_PACKAGES: dict[str, str] = {"tensorboard": "tensorboardX", "mlflow": "mlflow", "wandb": "wandb"}


@dataclass
class StudyConfig:
    name: str = "toy"
    storage_path: str = "~/classit_ray_results"  # local path, NFS path or s3:// URI
    work_dir: str = ""  # the artifact store (toy data, stages): a folder or s3://, gs://; "" = <storage_path>/artifacts, shared by studies
    cache_dir: str = (
        "~/.cache/classit_ray"  # with the store on a URI: each node's local copy of the stages it reads and writes
    )
    ray_address: str = ""  # "" = start a local Ray; "auto" = join a running cluster
    num_cpus: int = 0  # logical CPUs for a local Ray; 0 = enough for the trials at once (see study/resources.py)
    toy_words: int = 200_000  # size of the generated toy corpus when data_dir is ""
    # 0 = auto (study/resources.py): on CPUs one trial per physical core; on GPUs this machine's GPUs ÷ GPUs per
    # trial, or, joining a cluster, what its YAML (cluster_yaml) holds at its largest, without one no cap
    max_concurrent_trials: int = 0
    cluster_yaml: str = (
        ""  # the `ray up` YAML of the cluster the study joins: caps trials at once, checked to hold a trial
    )
    # Ray resources each trial asks for beyond its CPU, e.g. a node type's custom resource from cluster.yaml's
    # `resources`, to keep trials (and their stage hosts) off the nodes their workers need; not in any key.
    trial_resources: dict[str, float] = field(default_factory=dict)
    loggers: list[Logger] = field(default_factory=lambda: ["tensorboard"])  # see Logger
    mlflow_tracking_uri: str = ""  # with "mlflow" in loggers; "" = <storage_path>/<name>/mlruns
    # Before a study starts, the finished stages it will read are checked against their manifests: the
    # files' sizes always, their hashes too when True (--verify; reads every byte of them).
    verify_stages: bool = False


@dataclass
class Config:
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    instruct: InstructConfig = field(default_factory=InstructConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    study: StudyConfig = field(default_factory=StudyConfig)


# ---- errors and type checking --------------------------------------------------------------------
class ConfigError(ValueError):
    """Every problem found in a config, reported together so that one run fixes them all."""

    def __init__(self, problems: Iterable[str], source: str = ""):
        self.problems: list[str] = list(problems)
        self.source = source
        # args = (problems, source) so that pickling (Ray ships exceptions between processes)
        # rebuilds the error from the same arguments.
        super().__init__(self.problems, source)

    def __str__(self) -> str:
        n = len(self.problems)
        if n == 1:  # one line, like every other error a user sees
            return f"{self.source or 'config'}: {self.problems[0]}"
        header = f"config has {n} problems:"
        if self.source:
            header = f"{self.source}: {header}"
        return "\n".join([header, *(f"  - {p}" for p in self.problems)])


# Section name -> section dataclass. The module uses `from __future__ import annotations`, so the
# annotations are strings until resolved here.
SECTIONS: dict[str, type] = get_type_hints(Config)
STAGE_SECTIONS = tuple(name for name, cls in SECTIONS.items() if issubclass(cls, OptimizerConfig))  # pretrain, instruct


def config_to_dict(cfg: Config) -> dict:
    """A plain nested dict of builtins (deep-copied), ready for YAML or JSON."""
    return dataclasses.asdict(cfg)


def checkpoint_millions(selection: Iterable[str]) -> tuple[list[int] | None, list[str]]:
    """`eval.checkpoints` -> (the BabyLM millions it names, None for every one; unknown entries)."""
    millions: set[int] = set()
    unknown = []
    for entry in selection:
        if entry in CHECKPOINT_SETS:
            if CHECKPOINT_SETS[entry] is None:
                return None, unknown
            millions.update(CHECKPOINT_SETS[entry])
        elif (m := re.fullmatch(r"chck_(\d+)M", entry)) and int(m.group(1)) in BABYLM_CHECKPOINT_MILLIONS:
            millions.add(int(m.group(1)))
        else:
            unknown.append(entry)
    return sorted(millions), unknown


# ---- hashing ------------------------------------------------------------------------------------
def config_hash(obj: Any) -> str:
    """A stable 16-hex-digit sha256 of a dict or dataclass: canonical JSON, keys sorted."""
    data = dataclasses.asdict(obj) if dataclasses.is_dataclass(obj) else obj
    blob = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]
