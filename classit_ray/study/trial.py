"""One grid cell as a Tune trial: walk its stage graph, report its results row.

Ray's three layers stay apart: the per-worker loop (`train/loop.py`), the `TorchTrainer` driver
of a stage (`train/driver.py`), and this Tune function, which walks the cell's stage graph
(`cell/graph.py`, `cell/execute.py`). Every stage is run through `run_once`, so a stage that
several trials share runs once even when they ask for it at the same moment. The stages' bodies
run in the trial's `StageHost`, a process outside its placement group, which the next trial of
the same Tune actor keeps (`stage_host`).
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from classit_ray.cell.execute import Execution, execute
from classit_ray.cell.graph import DATA_KINDS, build_graph
from classit_ray.config import Config
from classit_ray.config_load import config_from_dict
from classit_ray.progress import reporting_to
from classit_ray.study.definition import CELL, cell_config
from classit_ray.study.once import run_once
from classit_ray.study.row import FAILED_TASKS, KEYS_GRAPH, config_values, key_name, metric_name


class StageHost:
    """One process per trial, outside the trial's placement group, that runs the trial's stages.

    Tune schedules whatever a trial starts into the trial's placement group, whose one CPU the
    trial itself holds: Ray Data's tasks and Ray Train's split coordinator would wait there for
    ever. So stages run here instead, one after another in one process that keeps its imports
    (`ray.data`, `ray.train.torch`, `torch`) warm from stage to stage. The host is owned by the
    trial's process, so it dies with it.
    """

    def call(self, fn: Callable[[], Any]) -> Any:
        return fn()


PROGRESS_SEND_S = 2.0  # a running stage's progress reaches the console's actor at most this often


class ProgressToConsole:
    """A stage's progress reports (`classit_ray/progress.py`), in the stage host, sent on to the
    study console's actor (`console.StageEvents`) with the cell they belong to, throttled."""

    def __init__(self, events, cell: dict[str, Any]):
        self.events, self.cell, self._last = events, dict(cell), 0.0

    def __call__(self, fields: dict[str, Any]) -> None:
        now = time.monotonic()
        if now - self._last >= PROGRESS_SEND_S:
            self._last = now
            # Not waited for: a lost report is replaced by the next.
            self.events.progress.remote({"cell": self.cell, **fields})


def _reporting(fn: Callable[[], Any], listener) -> Any:
    with reporting_to(listener):
        return fn()


def hosted(host, listener: Callable[[dict], None] | None = None) -> Callable[[Callable[[], Any]], Any]:
    """`run(fn)`: `fn()` in `host`, raising `fn`'s own error rather than Ray's wrapper; its progress
    reports (`classit_ray/progress.py`) go to `listener` there."""
    import ray
    from ray.exceptions import RayTaskError

    def run(fn: Callable[[], Any]) -> Any:
        try:
            return ray.get(host.call.remote(fn if listener is None else functools.partial(_reporting, fn, listener)))
        except RayTaskError as err:
            raise (err.cause if isinstance(err.cause, Exception) else err) from None

    return run


_host = None  # this process's stage host, kept for the next trial that Tune runs in it


def stage_host() -> tuple[Any, bool]:
    """This trial process's stage host, on its node (`runtime.on_this_node`), and whether it is
    the one the process's previous trial used (else it is new).

    Tune reuses a finished trial's process for the next trial (`study/runner.py`,
    `reuse_actors`), and the host goes with it: a new trial then starts neither a process nor
    its `torch`/`transformers`/`ray.data` imports (bench/results/2026-12-01-trial-reuse.md). A
    trial that fails or is stopped is not reused: its process ends, and its host with it."""
    global _host
    if _host is not None:
        return _host, True
    import ray

    from classit_ray.runtime import on_this_node

    _host = ray.remote(num_cpus=0, max_restarts=0, scheduling_strategy=on_this_node())(StageHost).remote()
    return _host, False


def drop_stage_host() -> None:
    """End this process's stage host (after a failure, which may have left it broken or busy)."""
    global _host
    if _host is not None:
        import ray

        ray.kill(_host)
        _host = None


def stage_row(done: Execution, cell_s: float) -> dict[str, Any]:
    """The results row of a walked cell graph: its config, the final model's scores as `eval/*`,
    every earlier endpoint's as `eval/*@<endpoint>` (`@pretrain`, `@stage1`), the learning curve,
    losses, keys, artifacts, what this walk executed, and where its `cell_s` seconds went."""
    graph = done.graph
    row: dict[str, Any] = config_values(graph.cfg)
    ends = graph.evaluations
    final = done.runs[ends["final"].key].result
    row.update(final["metrics"])
    for endpoint, node in ends.items():
        if endpoint != "final":
            row.update(
                {metric_name(name, endpoint): value for name, value in done.runs[node.key].result["metrics"].items()}
            )
            row[key_name(metric_name("eval", endpoint))] = node.key
    row[FAILED_TASKS] = json.dumps(sorted(final.get("failed", {})))
    curve = graph.of_kind("curve")
    if curve:
        # Keys sorted as the manifest stores them, so a trial that computed the curve and one that
        # read it back write the same text.
        row["curve"] = json.dumps(done.runs[curve[0].key].result["points"], sort_keys=True)
        row["key/curve"] = curve[0].key
        # The curve's own scores, of the pretraining as a whole (eval/aoa: it needs every checkpoint).
        row.update(done.runs[curve[0].key].result.get("metrics", {}))
    pre = done.runs[graph.pretrain.key].result
    row["pretrain/loss"] = pre.metrics.get("pretrain/loss")
    row["pretrain/words_seen"] = pre.metrics.get("pretrain/words_seen")
    stages = [done.runs[n.key].result for n in graph.of_kind("instruct")]
    for r in stages:
        row[f"instruct/loss/{r.spec.name}"] = r.metrics.get("instruct/loss")
    if stages:
        row["instruct/loss"] = stages[-1].metrics.get("instruct/loss")
    model = (stages or [pre])[-1]
    row.update(
        {
            "key/pretrain": graph.pretrain.key,
            "key/model": model.spec.key,
            "key/eval": ends["final"].key,
            KEYS_GRAPH: json.dumps(done.keys),  # every node this cell walked, in order: the planned graph
            "artifact/pretrain": str(pre.out_dir),
            "artifact/model": str(model.final),
            "artifact/eval": ends["final"].path,
            "executed/data": sum(done.executed(k) for k in DATA_KINDS),
            "executed/pretrain": done.executed("pretrain"),
            "executed/instruct": done.executed("instruct"),
            "executed/eval": done.executed("eval"),
            "executed/curve": done.executed("curve"),
            "time/cell_s": cell_s,
            "time/compute_s": done.compute(),
            "time/waited_s": done.waited(),
            "time/ray_overhead_s": cell_s - done.compute() - done.waited(),
            "time/stages": json.dumps(done.timeline()),
        }
    )
    return row


def planned_keys(cfg: Config, work_dir: Path) -> dict[str, str]:
    """`keys/graph` for the row of a cell whose walk did not end (failed, interrupted, never
    started): every stage key its graph plans, as a walk would list them. The keys come from the
    config alone, so a resumed study reuses exactly these stages, and `classit-ray store gc --keep
    STUDY` keeps them (store_tools.py) rather than leaving them to the grace period."""
    return {KEYS_GRAPH: json.dumps([node.key for node in build_graph(cfg, work_dir).nodes])}


def run_cell(
    cfg: Config, work_dir: Path, once=run_once, threads: int = 0, callbacks=(), run=None, on_node=None
) -> dict[str, Any]:
    """Walk the whole stage graph of one cell (`cell/graph.py`); return its results row.

    `once(kind, key, fn)` coordinates shared stages (default: Ray leases; see once.py), `run(fn)`
    runs a stage's body (a trial passes its `StageHost`; default: here), `threads` pins torch
    threads per training worker and evaluation, `callbacks` go to the instruction stages'
    `TorchTrainer` (a study passes Tune's report callback for ASHA), `on_node(NodeRun)` hears of
    each node as it ends (a study's console).
    """
    t0 = time.perf_counter()
    graph = build_graph(cfg, work_dir)
    done = execute(
        graph, once=once, run=run or (lambda fn: fn()), threads=threads, callbacks=callbacks, on_node=on_node
    )
    if done.stopped is not None:
        section = done.stopped.kind
        raise RuntimeError(
            f"{done.stopped.label} {done.stopped.key} stopped before its end ({section}.max_steps="
            f"{getattr(cfg, section).max_steps}); a study needs whole stages: set {section}.max_steps=0"
        )
    return stage_row(done, time.perf_counter() - t0)


CURVE_POINTS = 50  # per training stage: what a curve needs, and few enough round trips to the driver


class TrainingCurves:
    """The cell's training path as Tune results, for Tune's logger callbacks (TensorBoard, MLflow,
    W&B; `study/runner.py: logger_callbacks`): as each training stage ends, up to `CURVE_POINTS`
    of its steps as `train/loss`, `train/lr`, `train/words_seen` (words of that stage's data),
    and its `train/tokens_per_s`; as each evaluation ends, its `eval/*` scores. The x axis
    (`timesteps_total`) is the optimizer step along the cell's whole path, pretraining first, so
    one cell's curve reads left to right as it was trained, and each evaluation sits at the step
    of the model it scored. Every step stays in the checkpoints' `position.history`; this is a
    view of it. (The results row, reported last, repeats the final numbers under their own names.)"""

    def __init__(self, report):
        self.report, self.step = report, 0

    def __call__(self, run) -> None:
        node, result = run.node, run.result
        if node.spec is not None and result.complete:
            from classit_ray.train.checkpoint import read_state

            history = read_state(result.final)["position"]["history"]  # [step, loss, lr, words_seen]
            every = max(1, -(-len(history) // CURVE_POINTS))
            points = history[every - 1 :: every]
            if history and points[-1:] != history[-1:]:
                points.append(history[-1])  # always the stage's last step
            for step, loss, lr, words in points:
                self.report(
                    {"timesteps_total": self.step + step, "train/loss": loss, "train/lr": lr, "train/words_seen": words}
                )
            self.step += history[-1][0] if history else 0
            speed = result.metrics.get(f"{node.kind}/tokens_per_s")
            if speed is not None:
                self.report({"timesteps_total": self.step, "train/tokens_per_s": speed})
        elif node.kind == "eval":
            metrics = result.get("metrics", {}) if isinstance(result, dict) else {}
            scores = {k: v for k, v in metrics.items() if k.startswith("eval/") and isinstance(v, (int, float))}
            if scores:
                self.report({"timesteps_total": self.step, **scores})


def cell_trainable(
    config: dict,
    base: dict | None = None,
    work_dir: str = "",
    threads: int = 0,
    asha: bool = False,
    events=None,
    shared: frozenset[str] | None = None,
    curves: bool = False,
) -> None:
    """The Tune function: one trial = one cell. Reports the cell's results row at the end (and,
    with ASHA, instruct/loss as instruction tuning goes; with `curves`, its training curves and
    evaluations as they end, `TrainingCurves`); tells `events` (the study console's actor,
    `study/console.py`) of each stage as it ends. `shared`: the keys of the stages more than one
    trial needs (a grid's plan), the only ones that take a lease; None = every stage does
    (Optuna's cells are not known in advance)."""
    import ray
    from ray import tune

    from classit_ray.study.console import node_event

    cell = config.get(CELL, config)  # a grid cell, or Optuna's flat point
    cfg = cell_config(config_from_dict(base), cell)
    # Waited for (a few ms, once per stage), so the driver has every stage's event before the trial's end.
    listeners = []
    if events is not None:
        listeners.append(lambda run: ray.get(events.add.remote(node_event(dict(cell), run))))
    if curves:
        listeners.append(TrainingCurves(tune.report))

    def on_node(run) -> None:
        for listener in listeners:
            listener(run)

    callbacks = ()
    if asha:
        from ray.tune.integration.ray_train import TuneReportCallback

        callbacks = (TuneReportCallback(),)
    once = run_once if shared is None else (lambda kind, key, fn: run_once(kind, key, fn) if key in shared else fn())
    host, warm = stage_host()
    try:
        progress_out = None if events is None else ProgressToConsole(events, cell)
        row = run_cell(
            cfg,
            Path(work_dir),
            once=once,
            threads=threads,
            callbacks=callbacks,
            run=hosted(host, progress_out),
            on_node=on_node,
        )
    except BaseException:
        drop_stage_host()
        raise
    row["time/host_reused"] = warm
    if curves:
        row["timesteps_total"] = listeners[-1].step  # the final scores at the end of the cell's path
    tune.report({k: v for k, v in row.items() if v is not None})
