"""One grid cell, end to end: data stages → pretraining → instruction stage(s) → evaluation.

Ray's three layers stay apart: the per-worker loop (`train/loop.py`), the `TorchTrainer` driver
of a stage (`train/driver.py`), and this Tune function, which only sequences stages. Every stage
is looked up in the artifact store by its key first and run through `run_once`, so a stage that
several trials share runs once even when they ask for it at the same moment. The stages' bodies
run in the trial's `StageHost`, one process per trial outside its placement group.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from classit_ray.atomic import atomic_dir, is_complete, read_manifest
from classit_ray.config import Config, EvalConfig, config_hash, config_from_dict, config_to_dict
from classit_ray.data.prepare import PreparedData, prepare_data, toy_world_dir, toy_world_id
from classit_ray.study.definition import CELL, cell_config
from classit_ray.study.once import outside_placement_group, run_once
from classit_ray.train.driver import StageResult, run_curriculum, run_stage, stage_dir
from classit_ray.train.stage import pretrain_spec


def eval_key(model_key: str, cfg: Config) -> str:
    """Evaluation results are named by the model they score and the evaluation settings; the toy
    evaluation data by its generator, as in the split key."""
    ev = dataclasses.asdict(cfg.eval)
    ev["eval_dir"] = ev["eval_dir"] or toy_world_id(cfg)
    return config_hash({"model": model_key, "eval": ev})


def resolve_eval_dir(cfg: Config, work_dir: Path) -> Config:
    """An empty `eval.eval_dir` means the toy world's evaluation data (generated with its corpus)."""
    if cfg.eval.eval_dir:
        return cfg
    return dataclasses.replace(cfg, eval=dataclasses.replace(cfg.eval, eval_dir=str(toy_world_dir(cfg, work_dir) / "evaluation_data")))


def _evaluate_into(model_dir: str, eval_cfg: dict, out_dir: str, threads: int) -> dict:
    """The evaluation task's body: score `model_dir` into the BabyLM results layout, atomically."""
    import torch

    from classit_ray.eval.harness import evaluate
    from classit_ray.runtime import set_torch_threads

    if threads:
        set_torch_threads(threads)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    manifest: dict[str, Any] = {"kind": "eval", "model": model_dir, "eval": eval_cfg}
    t0 = time.perf_counter()
    with atomic_dir(out_dir, manifest) as tmp:
        report = evaluate(model_dir, EvalConfig(**eval_cfg), tmp, device=device)
        manifest.update(metrics=report.metrics, failed=report.failed, task_seconds=report.seconds, seconds=time.perf_counter() - t0)
    return manifest


def run_eval_stage(model_dir: Path, cfg: Config, out_dir: Path, threads: int) -> tuple[dict, bool]:
    """(manifest, executed): evaluate here on CPU, or in a Ray task that holds a GPU when training does."""
    import ray

    if is_complete(out_dir):
        return read_manifest(out_dir), False
    args = (str(model_dir), dataclasses.asdict(cfg.eval), str(out_dir), threads)
    if not cfg.pretrain.use_gpu:  # this process (the trial's stage host) has torch loaded already
        return _evaluate_into(*args), True
    task = ray.remote(_evaluate_into).options(num_cpus=1, num_gpus=1, scheduling_strategy=outside_placement_group())
    return ray.get(task.remote(*args)), True


class StageHost:
    """One process per trial, outside the trial's placement group, that runs the trial's stages.

    Tune schedules whatever a trial starts into the trial's placement group, whose one CPU the
    trial itself holds: Ray Data's tasks and Ray Train's split coordinator would wait there for
    ever. So stages run here instead, one after another in one process that keeps its imports
    (`ray.data`, `ray.train.torch`, `torch`) warm from stage to stage. The host is owned by the
    trial, so it dies with it.
    """

    def call(self, fn: Callable[[], Any]) -> Any:
        return fn()


def hosted(host) -> Callable[[Callable[[], Any]], Any]:
    """`run(fn)`: `fn()` in `host`, raising `fn`'s own error rather than Ray's wrapper."""
    import ray
    from ray.exceptions import RayTaskError

    def run(fn: Callable[[], Any]) -> Any:
        try:
            return ray.get(host.call.remote(fn))
        except RayTaskError as err:
            raise (err.cause if isinstance(err.cause, Exception) else err) from None

    return run


def start_stage_host():
    import ray

    return ray.remote(num_cpus=0, max_restarts=0, scheduling_strategy=outside_placement_group())(StageHost).remote()


def config_columns(cfg: Config) -> dict[str, Any]:
    """The cell's whole config as `section.field` columns; lists and dicts as JSON text."""
    cols = {}
    for section, fields in config_to_dict(cfg).items():
        for name, value in fields.items():
            cols[f"{section}.{name}"] = json.dumps(value) if isinstance(value, (list, dict)) else value
    return cols


class TrialClock:
    """Where a trial's wall time goes: its own compute (data builds, training loops, evaluation),
    stages it waited for or reused (computed by another trial, or before), and the rest — Ray's
    overhead: actors, trainers, tasks and their start-up. Each stage call is timed here, and
    `compute_of(result, elapsed)` says how much of it was this trial's compute (None: waited).
    `stages` keeps each stage's [seconds, own compute or None], in order, for the results row."""

    def __init__(self):
        self.compute = self.waited = 0.0
        self.stages: dict[str, list] = {}

    def timed(self, call, compute_of, name: str = ""):
        t0 = time.perf_counter()
        result = call()
        elapsed = time.perf_counter() - t0
        own = compute_of(result, elapsed)
        if own is None:
            self.waited += elapsed
        else:
            own = min(own, elapsed)
            self.compute += own
        if name:
            name = name if name not in self.stages else f"{name}#{len(self.stages)}"  # a second instruction stage
            self.stages[name] = [round(elapsed, 3), None if own is None else round(own, 3)]
        return result


def _data_compute(result: float | None, elapsed: float) -> float | None:
    # prepare.py's builds (the toy world's too) return their seconds, None when reused.
    return result


def _training_compute(result: StageResult, elapsed: float) -> float | None:
    return result.metrics.get(f"{result.spec.stage}/loop_s", elapsed) if result.executed else None


def _eval_compute(result: tuple[dict, bool], elapsed: float) -> float | None:
    manifest, executed = result
    return manifest.get("seconds", elapsed) if executed else None


def run_cell(cfg: Config, work_dir: Path, once=run_once, threads: int = 0, callbacks=(), run=None) -> dict[str, Any]:
    """Run (or reuse) every stage of one cell; return its results row.

    `once(stage, key, fn)` coordinates shared stages (default: Ray leases; see once.py), `run(fn)`
    runs a stage's body (a trial passes its `StageHost`; default: here), `threads` pins torch
    threads per training worker and evaluation, `callbacks` go to the instruction stages'
    `TorchTrainer` (a study passes Tune's report callback for ASHA).
    """
    t0 = time.perf_counter()
    clock = TrialClock()
    ray_storage = work_dir / "ray_results"
    run = run or (lambda fn: fn())

    def shared(stage: str, key: str, fn, compute_of):
        return clock.timed(lambda: once(stage, key, lambda: run(fn)), compute_of, stage)

    data: PreparedData = prepare_data(cfg, work_dir, run_once=lambda name, key, fn: shared(name, key, fn, _data_compute))
    planned = cfg  # keys come from the config as given (empty paths = the toy world), as in the plan
    cfg = resolve_eval_dir(data.config, work_dir)

    def stage(spec, out_dir: Path, cbs=()) -> StageResult:
        spec = dataclasses.replace(spec, torch_threads=threads)
        return shared(spec.stage, spec.key, lambda: run_stage(spec, out_dir, ray_storage, callbacks=cbs), _training_compute)

    spec = pretrain_spec(cfg, data)
    pretrained = stage(spec, stage_dir(work_dir, spec))
    if not pretrained.complete:
        raise RuntimeError(f"pretraining {spec.run_name} stopped before its end (pretrain.max_steps={cfg.pretrain.max_steps}); "
                           "a study needs whole stages: set pretrain.max_steps=0")
    instruct: list[StageResult] = []
    if cfg.budget.instruct_fraction > 0:
        instruct = run_curriculum(cfg, data, pretrained, work_dir, run=lambda s, out: stage(s, out, callbacks))
        if not all(r.complete for r in instruct):
            raise RuntimeError(f"instruction stage {instruct[-1].spec.run_name} stopped before its end; set instruct.max_steps=0")
    model = (instruct or [pretrained])[-1]
    key = eval_key(model.spec.key, planned)
    evaluation, evaluated = shared("eval", key, lambda: run_eval_stage(model.final, cfg, work_dir / "eval" / key, threads), _eval_compute)
    if evaluation.get("failed"):
        print(f"[eval] failed tasks for {model.final}: {evaluation['failed']}", flush=True)

    row: dict[str, Any] = config_columns(cfg)
    row.update(evaluation["metrics"])
    row["pretrain/loss"] = pretrained.metrics.get("pretrain/loss")
    for r in instruct:
        row[f"instruct/loss/{r.spec.name}"] = r.metrics.get("instruct/loss")
    if instruct:
        row["instruct/loss"] = instruct[-1].metrics.get("instruct/loss")
    row.update({
        "eval/failed_tasks": json.dumps(sorted(evaluation.get("failed", {}))),
        "key/pretrain": pretrained.spec.key, "key/model": model.spec.key, "key/eval": key,
        "artifact/pretrain": str(pretrained.out_dir), "artifact/model": str(model.final), "artifact/eval": str(work_dir / "eval" / key),
        "executed/data": len(data.executed), "executed/pretrain": int(pretrained.executed),
        "executed/instruct": sum(int(r.executed) for r in instruct), "executed/eval": int(evaluated),
    })
    cell_s = time.perf_counter() - t0
    row.update({"time/cell_s": cell_s, "time/compute_s": clock.compute, "time/waited_s": clock.waited,
                "time/ray_overhead_s": cell_s - clock.compute - clock.waited, "time/stages": json.dumps(clock.stages)})
    return row


def cell_trainable(config: dict, base: dict | None = None, work_dir: str = "", threads: int = 0, asha: bool = False) -> None:
    """The Tune function: one trial = one cell. Reports the cell's results row once, at the end
    (and, with ASHA, instruct/loss as instruction tuning goes)."""
    from ray import tune

    cfg = cell_config(config_from_dict(base), config.get(CELL, config))  # a grid cell, or Optuna's flat point
    callbacks = ()
    if asha:
        from ray.tune.integration.ray_train import TuneReportCallback

        callbacks = (TuneReportCallback(),)
    import ray

    host = start_stage_host()
    try:
        row = run_cell(cfg, Path(work_dir), threads=threads, callbacks=callbacks, run=hosted(host))
    finally:
        ray.kill(host)
    tune.report({k: v for k, v in row.items() if v is not None})

