"""The artifact store on object storage (s3://, gs://): the stages kept remotely, and each node's
local cache of them.

Every stage is still written and read as a local folder (`atomic.py`), here in the node's cache
(`config.work_dir_of`); this module moves finished stages between the cache and the store:

    publish(local_dir)  uploads a complete stage file by file, its manifest.json LAST. Object
                        storage has no rename, so the remote manifest is the completion marker: a
                        stage whose upload was killed has no manifest, never reads back as
                        complete, and the next writer overwrites it.
    fetch(rel)          copies a stage whose remote manifest exists into the cache, through a
                        temporary sibling renamed into place: the cache holds complete stages only.
    is_complete(rel)    whether the remote manifest exists.

Two writers of one key write the same content (a key hashes everything that makes the stage, and
training is deterministic), and a study's run-once leases (`study/once.py`) keep two trials from
computing it at the same time anyway; so concurrent publishes overwrite files with equal files.
`execute` (`cell/execute.py`) runs each stage through `through_store`: fetch when the cache lacks
it, run (which reuses what is complete), publish what the store lacks.
"""

from __future__ import annotations

import functools
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from classit_ray.atomic import MANIFEST, install_dir, is_complete, tmp_sibling
from classit_ray.config import Config, artifact_store_of, is_uri, join_uri, redact_uri, work_dir_of

_UPLOAD_THREADS = 8  # a shard set is many files; object storage is slow per request, not per byte


class ArtifactStore:
    """The stages under `uri` (any URI pyarrow opens), mirrored in the local folder `cache`.
    Paths inside the store are relative (`pretrain/<key>`), the same under `uri` and `cache`."""

    def __init__(self, uri: str, cache: str | Path):
        self.uri = uri
        self.cache = Path(cache)
        self._fs_and_root = None

    def __reduce__(self):  # shipped to another process (a trial's stage host) as its URI and cache: `mirror_of` knows it there
        return open_store, (self.uri, str(self.cache))

    def __repr__(self) -> str:
        return f"ArtifactStore({redact_uri(self.uri)!r}, cache={str(self.cache)!r})"

    @property
    def filesystem(self):
        return self._opened()[0]

    def remote(self, rel: str) -> str:
        """`rel`'s path on `filesystem` (no scheme, no query)."""
        return f"{self._opened()[1].rstrip('/')}/{rel}"

    def _opened(self):
        """(pyarrow filesystem, the store's root path on it), opened on first use."""
        if self._fs_and_root is None:
            import pyarrow.fs

            self._fs_and_root = pyarrow.fs.FileSystem.from_uri(self.uri)
        return self._fs_and_root

    def uri_of(self, rel: str) -> str:
        return join_uri(self.uri, rel)

    def rel(self, local: str | Path) -> str:
        """A cache path's path inside the store."""
        return Path(local).relative_to(self.cache).as_posix()

    def is_complete(self, rel: str) -> bool:
        import pyarrow.fs

        return self.filesystem.get_file_info(f"{self.remote(rel)}/{MANIFEST}").type == pyarrow.fs.FileType.File

    def fetch(self, rel: str) -> bool:
        """Make the cache hold the complete stage `rel`, copying it from the store when the cache
        lacks it; False when the store has no complete copy either."""
        import pyarrow.fs

        final = self.cache / rel
        if is_complete(final):
            return True
        if not self.is_complete(rel):  # checked before copying: whatever the copy gets is then complete
            return False
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = tmp_sibling(final)
        tmp.mkdir()
        try:
            pyarrow.fs.copy_files(self.remote(rel), str(tmp), source_filesystem=self.filesystem,
                                  destination_filesystem=pyarrow.fs.LocalFileSystem(), use_threads=True)
            install_dir(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return True

    def publish(self, local_dir: str | Path) -> bool:
        """Upload the complete stage `local_dir` (in the cache), its manifest last; False when
        the store holds it complete already."""
        import pyarrow.fs

        local_dir = Path(local_dir)
        if not is_complete(local_dir):
            raise ValueError(f"{local_dir}: no {MANIFEST}; only a finished stage is published")
        rel = self.rel(local_dir)
        if self.is_complete(rel):
            return False
        remote, local_fs = self.remote(rel), pyarrow.fs.LocalFileSystem()

        def upload(path: Path) -> None:
            pyarrow.fs.copy_files(str(path), f"{remote}/{path.relative_to(local_dir).as_posix()}",
                                  source_filesystem=local_fs, destination_filesystem=self.filesystem)

        files = sorted(p for p in local_dir.rglob("*") if p.is_file() and p != local_dir / MANIFEST)
        with ThreadPoolExecutor(_UPLOAD_THREADS) as pool:
            list(pool.map(upload, files))  # list(): an upload's error is raised here, before the manifest
        upload(local_dir / MANIFEST)
        return True


_STORES: dict[tuple[str, str], ArtifactStore] = {}


def open_store(uri: str, cache: str) -> ArtifactStore:
    """One store object per (URI, cache) in a process, so its filesystem is opened once, and so
    `mirror_of` knows the stores this process works with."""
    return _STORES.setdefault((uri, str(cache)), ArtifactStore(uri, cache))


def store_of(cfg: Config) -> ArtifactStore | None:
    """The remote store `cfg` names (`config.artifact_store_of`), or None for a local one."""
    uri = artifact_store_of(cfg)
    return open_store(uri, str(work_dir_of(cfg))) if is_uri(uri) else None


def mirror_of(path: str | Path) -> tuple[ArtifactStore, str] | None:
    """(the store whose cache holds `path`, `path` inside it), among the stores this process has
    opened (a stage walk opens its store before any stage runs); None for a local store's path."""
    path = Path(path)
    for store in list(_STORES.values()):
        if path.is_relative_to(store.cache):
            return store, store.rel(path)
    return None


def through_store(store: ArtifactStore | None, local_dir: str | Path, body: Callable[[], Any]) -> Callable[[], Any]:
    """`body` (the run of the stage whose folder is `local_dir`) with the stage fetched into the
    cache first when the store has it, and published after when the store lacks it."""
    return body if store is None else functools.partial(_stored_call, store, str(local_dir), body)


def _stored_call(store: ArtifactStore, local_dir: str, body: Callable[[], Any]) -> Any:
    store.fetch(store.rel(local_dir))
    result = body()  # reuses the stage when it is complete in the cache
    if is_complete(local_dir):  # not when a training stage stopped at max_steps
        store.publish(local_dir)
    return result


def on_its_node(fn: Callable[..., Any], store: ArtifactStore | None, inputs: list[str], output: str | Path) -> Callable[..., Any]:
    """`fn` made fit for a Ray task that may run on another node than its caller: with a remote
    store, the task first fetches the stages it reads (`inputs`, cache paths) into its own node's
    cache, and publishes the stage it writes (`output`) when it is complete."""
    if store is None:
        return fn

    @functools.wraps(fn)
    def call(*args):
        for path in inputs:
            store.fetch(store.rel(path))
        result = fn(*args)
        if is_complete(output):
            store.publish(output)
        return result

    return call


def train_storage(cfg: Config, work_dir: Path) -> str | Path:
    """Where Ray Train keeps a running stage's checkpoints: beside the stages, so that with a
    remote store a stage killed on one node resumes from its last checkpoint on another."""
    store = store_of(cfg)
    return store.uri_of("ray_results") if store is not None else work_dir / "ray_results"


def stage_in_store(cfg: Config, local_dir: str | Path) -> bool:
    """A stage is complete in the store: in the local store, or in the remote one (not only in
    this node's cache)."""
    store = store_of(cfg)
    return is_complete(local_dir) if store is None else store.is_complete(store.rel(local_dir))
