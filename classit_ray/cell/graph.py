"""One cell of a study, resolved once into a graph of keyed stages.

`build_graph(cfg, work_dir)` is the only place that says which stages a cell has:

    toyworld                       when a data or evaluation path is empty
    split, tokenizer, pretrain_shards, instruct_shards/<config> (those the curriculum trains on)
    pretrain
    eval@pretrain                  the pretrained model: the baseline every curriculum is compared to
                                   (every evaluation also reads the split: its held-out pairs)
    curve                          the fast zero-shot tasks on the pretraining's chck_* checkpoints
    instruct 1..n                  the curriculum's stages (`config.CURRICULA`), each from the one before
    eval@stage1 .. eval@stage<n-1> the end of each stage before the last (forgetting is measured here)
    eval@final                     the last model (for `none`, the pretrained model: the same node)

Each node carries its key: a hash of its own settings and its inputs' keys, never of paths or
times, so the whole graph is known before anything exists. `--dry-run` prints this graph, a study
trial executes it, and `python -m classit_ray.data.prepare|train.pretrain|train.instruct` execute
a part of it (`CellGraph.upto`); nothing else decides what a cell runs. Nodes shared between cells
(one pretraining and its evaluations for every curriculum of a size and seed) have one key, so the
artifact store holds them once.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from classit_ray.config import CURRICULA, Config, config_hash
from classit_ray.data.stages import PreparedData, plan_data, toy_world_id
from classit_ray.eval.tasks import CURVE_TASKS
from classit_ray.toyworld import corpus_is_toy, eval_is_toy, world_dir
from classit_ray.train.checkpoint import FINAL_CHECKPOINT
from classit_ray.train.stage import StageSpec, chain, instruct_specs, pretrain_spec, stage_dir

Kind = Literal[
    "toyworld", "split", "tokenizer", "pretrain_shards", "instruct_shards", "pretrain", "instruct", "eval", "curve"
]
DATA_STAGES = ("split", "tokenizer", "pretrain_shards", "instruct_shards")
DATA_KINDS = ("toyworld", *DATA_STAGES)
# What each command line runs: the nodes of these kinds, and every node they need (the toy world
# only where a corpus path is empty: evaluation data alone is no reason to generate it).
Target = Literal["data", "pretrain", "instruct", "cell"]
_TARGET_KINDS: dict[str, tuple[str, ...]] = {
    "data": DATA_STAGES,
    "pretrain": ("pretrain",),
    "instruct": ("instruct",),
    "cell": ("eval", "curve", "instruct", "pretrain", *DATA_KINDS),
}


@dataclass(frozen=True)
class Node:
    kind: Kind
    key: str
    path: str  # the artifact directory in the store
    label: str  # for people: "instruct 2/2 (simple_wiki)", "eval@stage1"
    needs: tuple[str, ...] = ()  # keys of the nodes whose artifacts this one reads
    spec: StageSpec | None = None  # training nodes: the planned stage (resolved when it runs)
    data_stage: str = ""  # data nodes: the name `data_builder` takes ("instruct_shards/switchboard")
    model: str = ""  # eval nodes: the checkpoint directory scored; curve nodes: the pretraining's stage dir
    heldout: str = ""  # eval nodes: the split's heldout/ folder, the interactive task's pairs
    endpoint: str = ""  # eval nodes: "pretrain", "stage1", ..., "final"
    # Data, evaluation and curve nodes: the one resolved settings object, both what the key hashes
    # (with the input keys) and all the body is given besides its inputs' artifacts (`cell/execute.py`).
    # Training nodes carry theirs as `spec`.
    settings: dict = field(default=None, compare=False, hash=False)


@dataclass
class CellGraph:
    cfg: Config  # the cell's config as given (empty paths stand for the toy world)
    work_dir: Path
    data: PreparedData
    nodes: list[Node] = field(default_factory=list)  # in an order that runs each node after what it needs

    def node(self, key: str) -> Node:
        return next(n for n in self.nodes if n.key == key)

    def of_kind(self, kind: str) -> list[Node]:
        return [n for n in self.nodes if n.kind == kind]

    @property
    def pretrain(self) -> Node:
        return self.of_kind("pretrain")[0]

    @property
    def evaluations(self) -> dict[str, Node]:
        """Endpoint -> its evaluation node; `final` may be the same node as `pretrain`."""
        ends = {n.endpoint: n for n in self.of_kind("eval")}
        return {**ends, "final": self.final_eval}

    @property
    def final_eval(self) -> Node:
        finals = [n for n in self.of_kind("eval") if n.endpoint == "final"]
        return finals[0] if finals else next(n for n in self.of_kind("eval") if n.endpoint == "pretrain")

    def upto(self, target: Target) -> list[Node]:
        """The nodes of `target`'s kinds and everything they need, in order."""
        wanted = {n.key for n in self.nodes if n.kind in _TARGET_KINDS[target]}
        for n in reversed(self.nodes):
            if n.key in wanted:
                wanted.update(n.needs)
        return [n for n in self.nodes if n.key in wanted]

    def describe(self) -> list[str]:
        """One line per node: label, key, a training stage's recipe, and what it needs (by label)."""
        labels = {n.key: n.label for n in self.nodes}
        lines = []
        for n in self.nodes:
            recipe = (
                f"  [{n.spec.optim.epochs} epochs, batch {n.spec.optim.batch_size}, lr {n.spec.optim.lr:g}]"
                if n.spec
                else ""
            )
            lines.append(
                f"{n.label:<40s} {n.key}{recipe}" + (f"  <- {', '.join(labels[k] for k in n.needs)}" if n.needs else "")
            )
        return lines


# Bumped when an evaluation computes something else from the same settings, so that no store
# reuses what the old one wrote under the same key. 2: `eval.glue_tasks` is honoured (before, all
# seven GLUE subtasks were fine-tuned whatever it said).
EVALUATOR_VERSION = 2


def eval_settings(cfg: Config) -> dict:
    """The evaluation settings that change a score, as they enter an evaluation's key: the toy
    world's data named by its generator (as in the split key), not by where it was written."""
    ev = dataclasses.asdict(cfg.eval)
    ev["eval_dir"] = ev["eval_dir"] or toy_world_id(cfg)
    del ev["checkpoints"]  # which checkpoints make the learning curve: the curve's business
    ev["evaluator"] = EVALUATOR_VERSION
    return ev


def curve_settings(cfg: Config) -> dict:
    """A learning curve's settings: the evaluation's on the fast data and the curve tasks alone
    (no fine-tuning: `finetune_epochs` and `glue_tasks` cannot change it), and the checkpoints."""
    ev = {**eval_settings(cfg), "tasks": curve_tasks(cfg), "fast": True}
    del ev["finetune_epochs"], ev["glue_tasks"]
    return {"eval": ev, "checkpoints": list(cfg.eval.checkpoints)}


def curve_tasks(cfg: Config) -> list[str]:
    """The learning curve's tasks: the fast zero-shot tasks and AoA among `eval.tasks` (`CURVE_TASKS`)."""
    return [t for t in cfg.eval.tasks if t in CURVE_TASKS]


def build_graph(cfg: Config, work_dir: str | Path) -> CellGraph:
    """Every stage of the cell `cfg`, keyed, in order, computed from the config alone."""
    work_dir = Path(work_dir)
    data = plan_data(cfg, work_dir)
    graph = CellGraph(cfg, work_dir, data)
    add = graph.nodes.append

    world = ()
    if corpus_is_toy(cfg) or eval_is_toy(cfg):
        path = world_dir(work_dir, cfg.study.toy_words)
        world_node = Node("toyworld", path.name, str(path), "toyworld")
        add(world_node)
        world = (world_node.key,)
    corpus_world = world if corpus_is_toy(cfg) else ()
    eval_world = world if eval_is_toy(cfg) else ()

    k, ds = data.keys, data.settings
    add(Node("split", k["split"], str(data.split_dir), "split", corpus_world, data_stage="split", settings=ds["split"]))
    add(
        Node(
            "tokenizer",
            k["tokenizer"],
            str(data.tokenizer_dir),
            "tokenizer",
            (k["split"],),
            data_stage="tokenizer",
            settings=ds["tokenizer"],
        )
    )
    add(
        Node(
            "pretrain_shards",
            k["pretrain_shards"],
            str(data.pretrain_shards),
            "pretrain shards",
            (k["tokenizer"],),
            data_stage="pretrain_shards",
            settings=ds["pretrain_shards"],
        )
    )
    stages = CURRICULA[cfg.instruct.curriculum]
    for config in data.instruct_shards:  # the curriculum's configs (`plan_data`)
        name = f"instruct_shards/{config}"
        add(
            Node(
                "instruct_shards",
                k[name],
                str(data.instruct_shards[config]),
                f"instruct shards ({config})",
                (k["split"], k["tokenizer"]),
                data_stage=name,
                settings=ds[name],
            )
        )

    spec = pretrain_spec(cfg, data)
    pre = Node("pretrain", spec.key, str(stage_dir(work_dir, spec)), "pretrain", tuple(spec.inputs), spec=spec)
    add(pre)

    def evaluation(model: Node, endpoint: str) -> Node:
        # The split is an input: its held-out pairs are what the interactive task scores.
        settings = {"eval": eval_settings(cfg)}
        key = config_hash({"model": model.key, **settings, "heldout": k["split"]})
        return Node(
            "eval",
            key,
            str(work_dir / "eval" / key),
            f"eval@{endpoint}",
            (model.key, k["split"], *eval_world),
            model=str(Path(model.path) / FINAL_CHECKPOINT),
            endpoint=endpoint,
            heldout=str(data.split_dir / "heldout"),
            settings=settings,
        )

    add(evaluation(pre, "pretrain"))
    if cfg.eval.checkpoints and curve_tasks(cfg):
        settings = curve_settings(cfg)
        key = config_hash({"pretrain": pre.key, **settings})
        add(
            Node(
                "curve",
                key,
                str(work_dir / "curve" / key),
                "learning curve",
                (pre.key, *eval_world),
                model=pre.path,
                settings=settings,
            )
        )

    before = pre
    for n, (s, configs) in enumerate(zip(instruct_specs(cfg, data), stages), 1):
        s = chain(s, Path(before.path) / FINAL_CHECKPOINT, before.key)
        node = Node(
            "instruct",
            s.key,
            str(stage_dir(work_dir, s)),
            f"instruct {n}/{len(stages)} ({'+'.join(configs)})",
            tuple(s.inputs),
            spec=s,
        )
        add(node)
        add(evaluation(node, "final" if n == len(stages) else f"stage{n}"))
        before = node
    return graph
