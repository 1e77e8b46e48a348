"""Walk a cell's stage graph: run (or reuse) each node in order, timing where the time goes.

Every node is looked up in the artifact store by its key first; `once(kind, key, fn)` wraps each
node so that concurrent callers (the trials of a study) compute a shared node once (default: run
it here; a study passes Ray leases, `study/once.py`), and `run(fn)` runs a node's body (a trial
passes its stage host; default: here). With the store on s3:// or gs://, the body runs in the
node's local cache, fetched from the store before and published to it after, in the process that
runs it (`store.through_store`). Training nodes are Ray Train runs or run in this process
(`train/driver.py: launcher_of`); evaluations run in this process on CPU, or in a Ray task that
holds a GPU when training does.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from classit_ray.atomic import is_complete, read_manifest
from classit_ray.cell.graph import CellGraph, Node
from classit_ray.config import Config, redact_uri
from classit_ray.data.stages import data_builder, run_data_stage, toy_world_id
from classit_ray.eval.artifact import curve_into, evaluate_into
from classit_ray.runtime import outside_placement_group
from classit_ray.store import on_its_node, store_of, through_store, train_storage
from classit_ray.toyworld import EVAL_DIR, SEED, with_toy_world, world_dir
from classit_ray.toyworld.world import toy_world_ready, write_toy_world


@dataclass
class NodeRun:
    node: Node
    executed: bool  # computed by this walk, not reused or waited for
    seconds: float  # wall time of the node's call, waiting included
    compute: float | None  # of that, this walk's own compute; None when reused or computed by another caller
    result: Any = None  # StageResult for training nodes, the manifest for evaluations


@dataclass
class Execution:
    graph: CellGraph
    runs: dict[str, NodeRun] = field(default_factory=dict)  # key -> its run, in walk order
    stopped: Node | None = None  # a training node that stopped at max_steps: the walk ends there

    @property
    def keys(self) -> list[str]:
        return list(self.runs)

    def compute(self) -> float:
        return sum(r.compute or 0.0 for r in self.runs.values())

    def waited(self) -> float:
        return sum(r.seconds for r in self.runs.values() if r.compute is None)

    def timeline(self) -> dict[str, list]:
        """Node label -> [seconds, own compute or None], in order (the results row's `time/stages`)."""
        return {
            r.node.label: [round(r.seconds, 3), None if r.compute is None else round(r.compute, 3)]
            for r in self.runs.values()
        }

    def executed(self, kind: str) -> int:
        return sum(r.executed for r in self.runs.values() if r.node.kind == kind)


def _here(fn: Callable[[], Any]) -> Any:
    return fn()


def _once_here(kind: str, key: str, fn: Callable[[], Any]) -> Any:
    return fn()


def execute(
    graph: CellGraph,
    nodes: list[Node] | None = None,
    once=_once_here,
    run=_here,
    threads: int = 0,
    callbacks=(),
    on_node: Callable[[NodeRun], None] | None = None,
    progress: bool = False,
) -> Execution:
    """Run `nodes` of `graph` (default: all) in order. `threads` pins torch threads per training
    worker and evaluation; `callbacks` go to the instruction stages' `TorchTrainer` (a study passes
    Tune's report callback for ASHA); `on_node` hears of each node as it ends (a study's console);
    `progress` shows progress bars while shards are tokenized and training stages run in this
    process (a command line).
    Without Ray, data stages build in this process and training stages need `in_process`."""
    source = with_toy_world(graph.cfg, graph.work_dir)  # what the data and evaluation nodes read
    store = store_of(graph.cfg)
    if store is not None and store.cache != Path(graph.work_dir):
        raise ValueError(
            f"the stage graph is in {graph.work_dir}, but the config's artifact store {redact_uri(store.uri)} "
            f"is cached in {store.cache}; build the graph in config.work_dir_of(cfg)"
        )
    done = Execution(graph)
    for node in graph.nodes if nodes is None else nodes:
        body, compute_of = _body(node, graph, source, threads, callbacks, progress)
        body = through_store(store, node.path, body)
        t0 = time.perf_counter()
        # A finished stage needs no coordination: read back at once, without a lease (an actor).
        result = run(body) if is_complete(node.path) else once(node.kind, node.key, lambda body=body: run(body))
        seconds = time.perf_counter() - t0
        own = compute_of(result, seconds)
        if node.kind in ("eval", "curve"):
            result = result[0]  # the manifest (the flag said whether it was computed here)
        done.runs[node.key] = NodeRun(
            node, own is not None, seconds, None if own is None else min(own, seconds), result
        )
        if on_node is not None:
            on_node(done.runs[node.key])
        if node.spec is not None and not result.complete:
            done.stopped = node
            break
    return done


def _body(node: Node, graph: CellGraph, source: Config, threads: int, callbacks, progress: bool = False):
    """(the node's body, and `compute_of(result, seconds)`: its own compute, None when reused)."""
    kind = node.kind
    if kind == "toyworld":
        return (lambda: _write_toy_world(node, source)), lambda result, s: result
    if node.data_stage:
        toy_world = world_dir(graph.work_dir, graph.cfg.study.toy_words)  # where a toy corpus is read from
        build = data_builder(node.data_stage, graph.data, node.settings, toy_world, progress)
        return (lambda: run_data_stage(node.label, Path(node.path), build)), lambda result, s: result
    if node.spec is not None:
        store = store_of(graph.cfg)
        spec = dataclasses.replace(
            node.spec, torch_threads=threads, store=[store.uri, str(store.cache)] if store else []
        )
        cbs = callbacks if kind == "instruct" else ()
        storage = train_storage(graph.cfg, graph.work_dir)

        def body():
            # Imported where the body runs (a trial's stage host): the trial's own process, which
            # only walks the graph, never loads torch (bench/results/2026-12-01-test-suite.md).
            from classit_ray.train.driver import run_stage

            return run_stage(spec, Path(node.path), storage, callbacks=cbs, progress=progress)

        return body, lambda result, s: result.metrics.get(f"{kind}/loop_s", s) if result.executed else None
    if kind == "eval":
        args = (node.model, _eval_config(node, graph), node.path, threads, node.heldout)
        return (lambda: _evaluation(evaluate_into, args, node, source, _input_dirs(node, graph))), _evaluation_compute
    if kind == "curve":
        args = (node.model, list(node.settings["checkpoints"]), _eval_config(node, graph), node.path, threads)
        return (lambda: _evaluation(curve_into, args, node, source, _input_dirs(node, graph))), _evaluation_compute
    raise ValueError(f"stage graph node {node.label!r}: unknown kind {kind!r}")


def _write_toy_world(node: Node, source: Config) -> float | None:
    """Like a data stage: the seconds it took when generated here, else None."""
    if toy_world_ready(node.path, words=source.study.toy_words, seed=SEED):
        return None
    t0 = time.perf_counter()
    write_toy_world(node.path, words=source.study.toy_words, seed=SEED)
    return time.perf_counter() - t0


def _eval_config(node: Node, graph: CellGraph) -> dict:
    """An evaluation node's settings as `EvalConfig` fields: the toy world's name (in the key)
    becomes the folder of the toy world node it reads, and the evaluator's version (the key's
    alone: it changes with the code, not with a setting) goes."""
    ev = {name: value for name, value in node.settings["eval"].items() if name != "evaluator"}
    worlds = [graph.node(key) for key in node.needs if graph.node(key).kind == "toyworld"]
    if worlds and ev["eval_dir"] == toy_world_id(graph.cfg):
        ev["eval_dir"] = str(Path(worlds[0].path) / EVAL_DIR)
    return ev


def _input_dirs(node: Node, graph: CellGraph) -> list[str]:
    return [graph.node(key).path for key in node.needs]


def _evaluation(fn, args: tuple, node: Node, source: Config, inputs: list[str]) -> tuple[dict, bool]:
    """(manifest, executed): reused when complete; here on CPU (this process has torch loaded
    already), or in a Ray task that holds a GPU when training does (on any node: with a remote
    store it fetches the stages it reads, `inputs`, into its node's cache, and publishes its own)."""
    if is_complete(node.path):
        return read_manifest(node.path), False
    if not source.pretrain.use_gpu:
        manifest = fn(*args)
    else:
        import ray  # imported here: a walk whose evaluations run on CPU (a plain study's) never loads Ray

        task = ray.remote(on_its_node(fn, store_of(source), inputs, node.path))
        task = task.options(num_cpus=1, num_gpus=1, scheduling_strategy=outside_placement_group())
        manifest = ray.get(task.remote(*args))
    if manifest.get("failed"):
        print(f"[{node.label}] failed: {manifest['failed']}", flush=True)
    return manifest, True


def _evaluation_compute(result: tuple[dict, bool], seconds: float) -> float | None:
    manifest, executed = result
    return manifest.get("seconds", seconds) if executed else None
