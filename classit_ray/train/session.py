"""Where a training loop runs: a Ray Train worker, or one plain process. The loop
(`train/loop.py`) asks its session for five things — who it is (rank, world size), its device,
the checkpoint to resume from, one epoch of its rows, and where a report and its checkpoint go —
and nothing else about its launcher.

Why two: a Ray Train run gives a stage data-parallel workers, GPUs placed on any node, and
restarts of a dead worker, for a fixed cost per run (controller, worker process, process group;
bench/results/2026-11-25-study-overhead.md). A stage of one CPU worker uses none of that, and on
the toy grid that cost was most of the stage. `InProcessSession` runs such a stage in the
calling process — a trial's stage host, whose imports are warm, or a plain script — with the same
loop, the same rows in the same order (`train/rows.py`) and the same checkpoints, written into
a run folder of the same shape (`RunFolder`): it resumes from the newest whole checkpoint there,
whichever launcher wrote it.
Which one a stage uses is `pretrain.launcher` (`train/driver.py: launcher_of`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import torch

from classit_ray.config import is_uri
from classit_ray.train.checkpoint import STATE_FILE, read_state
from classit_ray.train.rows import read_rows, rows_of_batches, stage_files
from classit_ray.train.stage import StageSpec

READ_BATCH_ROWS = 1024  # rows per Ray Data / pyarrow batch; any size gives the same rows


class RayTrainSession:
    """Inside a `TorchTrainer` worker: Ray Train's context, checkpoint and dataset shard."""

    def __init__(self):
        import ray.train
        import ray.train.torch

        ctx = ray.train.get_context()
        self.rank, self.world, self.local_world = ctx.get_world_rank(), ctx.get_world_size(), ctx.get_local_world_size()
        self.device = ray.train.torch.get_device()
        self._shard = ray.train.get_dataset_shard("train")

    @contextlib.contextmanager
    def resume_dir(self) -> Iterator[Path | None]:
        import ray.train

        checkpoint = ray.train.get_checkpoint()
        if checkpoint is None:
            yield None
            return
        with checkpoint.as_directory() as directory:
            yield Path(directory)

    def rows(self):
        # The driver built the dataset from `stage_files` and keeps its order (DataConfig).
        return rows_of_batches(self._shard.iter_batches(batch_size=READ_BATCH_ROWS, batch_format="numpy"))

    def prepare_model(self, model):
        import ray.train.torch

        return ray.train.torch.prepare_model(model, move_to_device=False) if self.world > 1 else model

    def report(self, metrics: dict, checkpoint_dir: str | None, name: str) -> None:
        import ray.train

        if checkpoint_dir is None:
            ray.train.report(metrics)
        else:
            ray.train.report(
                metrics, checkpoint=ray.train.Checkpoint.from_directory(checkpoint_dir), checkpoint_dir_name=name
            )


class InProcessSession:
    """One worker in this process: rows read with pyarrow, checkpoints into `run` (a `RunFolder`)."""

    rank, world, local_world = 0, 1, 1

    def __init__(self, spec: StageSpec, run: RunFolder, progress: bool = False):
        self.spec, self.run = spec, run
        self.device = torch.device("cuda" if spec.use_gpu and torch.cuda.is_available() else "cpu")
        self.progress = progress  # a progress bar on stderr: a stage run on its own from a command line
        self.reports: list[dict] = []

    @contextlib.contextmanager
    def resume_dir(self) -> Iterator[Path | None]:
        with self.run.latest() as directory:
            yield directory

    def rows(self):
        return read_rows(stage_files(self.spec.shard_dirs, self.spec.optim.seed), READ_BATCH_ROWS)

    def prepare_model(self, model):
        return model

    def report(self, metrics: dict, checkpoint_dir: str | None, name: str) -> None:
        self.reports.append(metrics)
        if checkpoint_dir is not None:
            self.run.save(name, Path(checkpoint_dir))


class RunFolder:
    """A stage's checkpoints while it runs: `<storage>/<run_name>/<checkpoint name>/`, the same
    place and names Ray Train uses, on a local path or a URI (`pyarrow.fs`). A checkpoint is
    whole once its `classit_state.json` is there: renamed into place on a local disk, uploaded
    last on object storage."""

    def __init__(self, storage: str, run_name: str):
        import pyarrow.fs

        self.fs, root = (
            pyarrow.fs.FileSystem.from_uri(storage) if is_uri(storage) else (pyarrow.fs.LocalFileSystem(), storage)
        )
        self.local = isinstance(self.fs, pyarrow.fs.LocalFileSystem)
        self.root = f"{root.rstrip('/')}/{run_name}"

    def save(self, name: str, directory: Path) -> None:
        if self.local:
            final = Path(self.root) / name
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp = final.with_name(f".{name}.tmp-{uuid.uuid4().hex[:8]}")
            shutil.copytree(directory, tmp)
            if final.exists():  # the same point again (a resumed run re-reaching it): replace it
                shutil.rmtree(final)
            os.rename(tmp, final)
            return
        import pyarrow.fs

        dest = f"{self.root}/{name}"
        self.fs.delete_dir_contents(dest, missing_dir_ok=True)
        for path in sorted(directory.iterdir()):
            if path.name != STATE_FILE:
                pyarrow.fs.copy_files(str(path), f"{dest}/{path.name}", destination_filesystem=self.fs)
        pyarrow.fs.copy_files(str(directory / STATE_FILE), f"{dest}/{STATE_FILE}", destination_filesystem=self.fs)

    def named(self) -> dict[str, str]:
        """Whole checkpoints: name -> path on `self.fs`."""
        import pyarrow.fs

        found = {}
        for info in self.fs.get_file_info(pyarrow.fs.FileSelector(self.root, allow_not_found=True)):
            name = info.path.rstrip("/").rsplit("/", 1)[-1]
            if info.type == pyarrow.fs.FileType.Directory and not name.startswith("."):
                if self.fs.get_file_info(f"{info.path}/{STATE_FILE}").type == pyarrow.fs.FileType.File:
                    found[name] = info.path
        return found

    def state(self, path: str) -> dict:
        import json

        with self.fs.open_input_stream(f"{path}/{STATE_FILE}") as f:
            return json.loads(f.read().decode())

    @contextlib.contextmanager
    def latest(self) -> Iterator[Path | None]:
        """The checkpoint with the most steps, as a local directory, or None."""
        named = self.named()
        if not named:
            yield None
            return
        path = max(named.values(), key=lambda p: self.state(p)["position"]["step"])
        if self.local:
            read_state(path)
            yield Path(path)
            return
        import pyarrow.fs

        with tempfile.TemporaryDirectory() as tmp:
            pyarrow.fs.copy_files(
                path, tmp, source_filesystem=self.fs, destination_filesystem=pyarrow.fs.LocalFileSystem()
            )
            yield Path(tmp)

    def remove(self) -> None:
        """Delete the run folder, if there is one: a finished stage's, whichever launcher wrote it."""
        import pyarrow.fs

        if self.local:
            shutil.rmtree(self.root, ignore_errors=True)
        elif self.fs.get_file_info(self.root).type != pyarrow.fs.FileType.NotFound:
            self.fs.delete_dir(self.root)
