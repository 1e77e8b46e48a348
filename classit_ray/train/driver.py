"""The stage driver: one training stage, launched as a Ray Train run (`TorchTrainer`) or in this
process (`train/session.py` says when each is worth it; `launcher_of` decides). Which stages a
cell has, and in which order, is the stage graph's business (`classit_ray/cell/graph.py`).

A stage's run name is its key (a hash of its resolved spec), never a timestamp: launching the same
stage again resumes it from its latest checkpoint (Ray Train V2 reloads the run's checkpoint
state from storage; in process, `RunFolder.latest`), and a finished stage — its named checkpoints
placed into `out_dir`, completed atomically — is never run again.

One copy of each checkpoint: while a stage runs, its checkpoints live in its run folder under
`storage_path` (what a resume reads); when it finishes, the ones its retention keeps
(`pretrain.keep_checkpoints`) are hard-linked into the artifact store (copied only across
filesystems or from s3), and the run folder is deleted. A finished stage is never resumed, so
nothing needs it any more.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from pathlib import Path

from classit_ray.atomic import atomic_dir, is_complete, read_manifest
from classit_ray.config import absolute_path
from classit_ray.data.shards import read_parquet
from classit_ray.train.checkpoint import FINAL_CHECKPOINT, OPTIMIZER_FILES, check_compatible, retained
from classit_ray.train.loop import train_loop, train_loop_per_worker
from classit_ray.train.rows import stage_files
from classit_ray.train.session import InProcessSession, RunFolder
from classit_ray.train.stage import StageResult, StageSpec, resolve


def stage_dataset(spec: StageSpec):
    """The stage's Ray Data input: its shard files in the stage's order (`train/rows.py`), one
    block per file; the loop shuffles within its buffer."""
    files = stage_files(spec.shard_dirs, spec.optim.seed)
    ds = read_parquet(files, num_blocks=len(files))
    # The split coordinator inherits this context: its progress bars would redraw into the
    # training log once per epoch.
    ds.context.enable_progress_bars = False
    ds.context.execution_options.preserve_order = True  # the order given; Ray Train's DataConfig asks the same
    return ds


def launcher_for(launcher: str, num_workers: int, use_gpu: bool, callbacks: bool) -> str:
    """`pretrain.launcher`, with "auto" made concrete: a Ray Train run when the stage has
    something to get from one (several workers, a GPU to place, or Ray Train callbacks such as
    ASHA's reports to Tune), else this process (Ray Train's start saved; `train/session.py`).
    A study's resource plan asks the same question of the config (`study/resources.py`)."""
    if launcher != "auto":
        return launcher
    return "ray_train" if num_workers > 1 or use_gpu or callbacks else "in_process"


def launcher_of(spec: StageSpec, callbacks=()) -> str:
    return launcher_for(spec.launcher, spec.num_workers, spec.use_gpu, bool(callbacks))


def run_stage(
    spec: StageSpec,
    out_dir: Path,
    storage_path: str | Path,
    max_failures: int = 3,
    callbacks=(),
    progress: bool = False,
) -> StageResult:
    """Run (or resume, or reuse) one planned stage (`resolve`d against its inputs first, which
    must exist).

    `storage_path` holds the running stage's checkpoints (a local path, or a URI such as s3://);
    `callbacks` are Ray Train `UserCallback`s (a study passes Tune's report callback);
    `progress` shows a progress bar when the stage runs in this process (a command line's)."""
    if is_complete(out_dir):
        remove_run(storage_path, spec.run_name)  # left behind if the process died just after completing it
        print(f"[{spec.name}] reused {out_dir}", flush=True)
        return StageResult(
            spec, out_dir, True, False, read_manifest(out_dir)["metrics"], str(out_dir / FINAL_CHECKPOINT)
        )
    spec = resolve(spec)
    if spec.init_from:
        check_compatible(spec.init_from, spec.preset, spec.vocab_size, spec.tokenizer_sha256)
    t0 = time.perf_counter()
    if launcher_of(spec, callbacks) == "ray_train":
        named, metrics, latest = _fit(spec, storage_path, max_failures, callbacks)
    else:
        named, metrics, latest = _in_process(spec, storage_path, progress)
    if FINAL_CHECKPOINT not in named:
        print(f"[{spec.name}] stopped at {latest or 'no checkpoint'}; run again to continue", flush=True)
        return StageResult(spec, out_dir, False, True, metrics, latest)
    kept = retained(sorted(named), spec.keep_checkpoints, spec.curve_checkpoints)
    manifest = {
        "kind": f"{spec.stage}_stage",
        "spec": dataclasses.asdict(spec),
        "metrics": metrics,
        "checkpoints": sorted(kept),
        "dropped": sorted(set(named) - set(kept)),
        "retention": spec.keep_checkpoints,
        "seconds": time.perf_counter() - t0,
    }
    with atomic_dir(out_dir, manifest) as tmp:
        for name, whole in kept.items():
            place_checkpoint(*named[name], tmp / name, whole)
    remove_run(storage_path, spec.run_name)
    print(
        f"[{spec.name}] done in {manifest['seconds']:.1f}s: {len(kept)} of {len(named)} checkpoints -> {out_dir}",
        flush=True,
    )
    # The installed stage's metrics, not this run's: another writer of the key may have finished first (`atomic_dir`).
    return StageResult(spec, out_dir, True, True, read_manifest(out_dir)["metrics"], str(out_dir / FINAL_CHECKPOINT))


def _fit(spec: StageSpec, storage_path: str | Path, max_failures: int, callbacks) -> tuple[dict, dict, str]:
    """The stage as a Ray Train run: (name -> (filesystem, path) of each named checkpoint, the
    last report's metrics, the newest checkpoint's path)."""
    from ray.data import ExecutionOptions
    from ray.train import CheckpointConfig, DataConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    resources = {"CPU": 1, **({"GPU": 1} if spec.use_gpu else {}), **spec.worker_resources}
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config=dataclasses.asdict(spec),
        scaling_config=ScalingConfig(
            num_workers=spec.num_workers, use_gpu=spec.use_gpu, resources_per_worker=resources
        ),
        run_config=RunConfig(
            name=spec.run_name,
            storage_path=absolute_path(storage_path),
            failure_config=FailureConfig(max_failures=max_failures),  # a dead worker restarts from the last checkpoint
            checkpoint_config=CheckpointConfig(num_to_keep=None),  # every named checkpoint is kept
            callbacks=list(callbacks),
        ),
        datasets={"train": stage_dataset(spec)},
        # The rows in the order `stage_dataset` gives: a resumed run skips exactly the batches it
        # already trained on.
        dataset_config=DataConfig(execution_options=ExecutionOptions(preserve_order=True)),
    )
    result = trainer.fit()
    named = {
        metrics["checkpoint_name"]: (checkpoint.filesystem, checkpoint.path)
        for checkpoint, metrics in result.best_checkpoints
    }
    return named, result.metrics, result.checkpoint.path if result.checkpoint else ""


def _in_process(spec: StageSpec, storage_path: str | Path, progress: bool) -> tuple[dict, dict, str]:
    """The stage in this process, one worker; the same three answers as `_fit`."""
    run = RunFolder(absolute_path(storage_path), spec.run_name)
    train_loop(spec, InProcessSession(spec, run, progress))
    named = run.named()
    states = {name: run.state(path) for name, path in named.items()}
    newest = max(states, key=lambda name: states[name]["position"]["step"], default=None)
    metrics = states[newest]["metrics"] if newest else {}
    return {name: (run.fs, path) for name, path in named.items()}, metrics, named.get(newest, "")


def place_checkpoint(filesystem, path: str, dest: Path, whole: bool) -> None:
    """Put the checkpoint at `path` on `filesystem` (pyarrow) at `dest`: hard links when both are
    on one local filesystem (no second copy on disk), else a copy; without the optimizer files
    unless `whole`."""
    import pyarrow.fs

    if not isinstance(filesystem, pyarrow.fs.LocalFileSystem):
        dest.mkdir(parents=True, exist_ok=True)  # pyarrow creates no local folders
        pyarrow.fs.copy_files(
            path, str(dest), source_filesystem=filesystem, destination_filesystem=pyarrow.fs.LocalFileSystem()
        )
        for name in () if whole else OPTIMIZER_FILES:
            (dest / name).unlink(missing_ok=True)
        return
    source = Path(path)
    for path in sorted(source.rglob("*")):
        if path.is_dir() or (not whole and path.name in OPTIMIZER_FILES):
            continue
        target = dest / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, target)
        except OSError:  # another filesystem, or one without hard links
            shutil.copy2(path, target)


def remove_run(storage_path: str | Path, run_name: str) -> None:
    """Delete a finished stage's run folder (its checkpoints are in the artifact store)."""
    RunFolder(absolute_path(storage_path), run_name).remove()
