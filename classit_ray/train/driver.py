"""The Ray Train driver: one `TorchTrainer` per stage. Which stages a cell has, and in which
order, is the stage graph's business (`classit_ray/cell/graph.py`), not this module's.

A stage's run name is its key (a hash of its resolved spec), never a timestamp: launching the same
stage again resumes it from its latest checkpoint (Ray Train V2 reloads the run's checkpoint
state from storage), and a finished stage — its named checkpoints placed into `out_dir`,
completed atomically — is never run again.

One copy of each checkpoint: while a stage runs, its checkpoints live in Ray Train's storage
(what a resume reads); when it finishes, the ones its retention keeps (`pretrain.keep_checkpoints`)
are hard-linked into the artifact store (copied only across filesystems or from s3), and Ray
Train's run folder is deleted. A finished stage is never resumed, so nothing needs it any more.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from classit_ray.atomic import atomic_dir, is_complete, read_manifest
from classit_ray.config import absolute_path, is_uri
from classit_ray.data.shards import read_shards
from classit_ray.train.checkpoint import OPTIMIZER_FILES, check_compatible, retained
from classit_ray.train.loop import train_loop_per_worker
from classit_ray.train.stage import StageSpec, resolve


@dataclass
class StageResult:
    spec: StageSpec
    out_dir: Path
    complete: bool  # False when the run stopped at max_steps; rerun to continue it
    executed: bool  # False when a finished stage was reused
    metrics: dict
    latest: str = ""  # the newest checkpoint (in Ray's storage, or in out_dir once complete)

    @property
    def final(self) -> Path:
        return self.out_dir / "final"


def stage_dataset(spec: StageSpec):
    """The stage's Ray Data input, shuffled so that sources and documents mix.

    Pretraining shards are in corpus order, whole sources one after another: shuffle the block
    order (cheap) and, in the loop, rows within a buffer. Several instruction sets (the merged
    curriculum) are shuffled globally — they are small — so every batch draws from both.
    """
    datasets = [read_shards(d) for d in spec.shard_dirs]
    ds = datasets[0].union(*datasets[1:]) if len(datasets) > 1 else datasets[0]
    ds = ds.random_shuffle(seed=spec.optim.seed) if len(datasets) > 1 else ds.randomize_block_order(seed=spec.optim.seed)
    # The split coordinator inherits this context: its progress bars would redraw into the
    # training log once per epoch.
    ds.context.enable_progress_bars = False
    return ds


def run_stage(spec: StageSpec, out_dir: Path, storage_path: str | Path, max_failures: int = 3, callbacks=()) -> StageResult:
    """Run (or resume, or reuse) one planned stage under Ray Train (`resolve`d against its inputs
    first, which must exist).

    `storage_path` holds Ray Train's run state (a local path, or a URI such as s3://);
    `callbacks` are Ray Train `UserCallback`s (a study passes Tune's report callback)."""
    from ray.data import ExecutionOptions
    from ray.train import CheckpointConfig, DataConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    if is_complete(out_dir):
        remove_run(storage_path, spec.run_name)  # left behind if the process died just after completing it
        print(f"[{spec.name}] reused {out_dir}", flush=True)
        return StageResult(spec, out_dir, True, False, read_manifest(out_dir)["metrics"], str(out_dir / "final"))
    spec = resolve(spec)
    if spec.init_from:
        check_compatible(spec.init_from, spec.preset, spec.vocab_size, spec.tokenizer_sha256)
    resources = {"CPU": 1, **({"GPU": 1} if spec.use_gpu else {})}
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config=dataclasses.asdict(spec),
        scaling_config=ScalingConfig(num_workers=spec.num_workers, use_gpu=spec.use_gpu, resources_per_worker=resources),
        run_config=RunConfig(
            name=spec.run_name,
            storage_path=absolute_path(storage_path),
            failure_config=FailureConfig(max_failures=max_failures),  # a dead worker restarts from the last checkpoint
            checkpoint_config=CheckpointConfig(num_to_keep=None),  # every named checkpoint is kept
            callbacks=list(callbacks),
        ),
        datasets={"train": stage_dataset(spec)},
        # Deterministic data order: a resumed run skips exactly the batches it already trained on.
        dataset_config=DataConfig(execution_options=ExecutionOptions(preserve_order=True)),
    )
    t0 = time.perf_counter()
    result = trainer.fit()
    named = {metrics["checkpoint_name"]: checkpoint for checkpoint, metrics in result.best_checkpoints}
    latest = result.checkpoint.path if result.checkpoint else ""
    if "final" not in named:
        print(f"[{spec.name}] stopped at {latest or 'no checkpoint'}; run again to continue", flush=True)
        return StageResult(spec, out_dir, False, True, result.metrics, latest)
    kept = retained(sorted(named), spec.keep_checkpoints, spec.curve_checkpoints)
    manifest = {"kind": f"{spec.stage}_stage", "spec": dataclasses.asdict(spec), "metrics": result.metrics,
                "checkpoints": sorted(kept), "dropped": sorted(set(named) - set(kept)), "retention": spec.keep_checkpoints,
                "seconds": time.perf_counter() - t0}
    with atomic_dir(out_dir, manifest) as tmp:
        for name, whole in kept.items():
            place_checkpoint(named[name], tmp / name, whole)
    remove_run(storage_path, spec.run_name)
    print(f"[{spec.name}] done in {manifest['seconds']:.1f}s: {len(kept)} of {len(named)} checkpoints -> {out_dir}", flush=True)
    return StageResult(spec, out_dir, True, True, result.metrics, str(out_dir / "final"))


def place_checkpoint(checkpoint, dest: Path, whole: bool) -> None:
    """Put a Ray Train checkpoint at `dest`: hard links when both are on one local filesystem (no
    second copy on disk), else a copy; without the optimizer files unless `whole`."""
    import pyarrow.fs

    if not isinstance(checkpoint.filesystem, pyarrow.fs.LocalFileSystem):
        checkpoint.to_directory(str(dest))
        for name in () if whole else OPTIMIZER_FILES:
            (dest / name).unlink(missing_ok=True)
        return
    source = Path(checkpoint.path)
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
    """Delete a finished stage's Ray Train run folder (its checkpoints are in the artifact store)."""
    storage = absolute_path(storage_path)
    if is_uri(storage):
        import pyarrow.fs

        fs, root = pyarrow.fs.FileSystem.from_uri(storage)
        if fs.get_file_info(f"{root}/{run_name}").type != pyarrow.fs.FileType.NotFound:
            fs.delete_dir(f"{root}/{run_name}")
        return
    shutil.rmtree(Path(storage) / run_name, ignore_errors=True)


def stage_dir(work_dir: Path, spec: StageSpec) -> Path:
    """Where a finished stage's checkpoints live in the artifact store."""
    return work_dir / spec.stage / spec.key
