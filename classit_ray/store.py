"""The artifact store on object storage (s3://, gs://): the stages kept remotely, and each node's
local cache of them.

Every stage is still written and read as a local folder (`atomic.py`), here in the node's cache
(`config.work_dir_of`); this module moves finished stages between the cache and the store:

    publish(local_dir)  uploads a complete stage into a prefix of its own, `<rel>/.uploads/<token>/`,
                        then commits it with ONE conditional create of `<rel>/manifest.json` (which
                        names the token): S3 `If-None-Match: *`, GCS `if_generation_match=0`, a
                        hard link on a local or NFS path. Object storage has no rename; a create
                        that fails when the object exists is what it has instead.
    fetch(rel)          copies the committed stage into the cache through a temporary sibling,
                        checks every file against the manifest's sizes and hashes (`atomic.
                        check_contents`), and only then renames it into place: a damaged or
                        truncated object is refused (`DamagedStage`, naming the stage and the file)
                        and the cache is left as it was.
    is_complete(rel)    whether the remote manifest exists.

First writer wins, never a mix. The same key need not mean the same bytes (GPU kernels are not
bit-deterministic; two clusters, or a study resumed on a new cluster while the old one still runs,
hold separate run-once leases, `study/once.py`), so two publishers of one key may upload different
files. Each uploads into its own prefix and only one create of the manifest succeeds; the loser
deletes its upload and replaces its cached copy with the winner's (`adopt`), so every node goes on
from the one committed version, and the loser's results row reports the winner's numbers, not its
own (`through_store` and `on_its_node` return what the stage's body reads back after `adopt`). A
reader follows only a committed manifest, and only to the files of the upload it names. An upload
killed before its commit leaves an uncommitted prefix that no reader follows (`classit-ray store
gc` removes it). Stages published before this layout (files directly under `<rel>/`, the manifest
uploaded last, no upload token) still read back as they are.

`execute` (`cell/execute.py`) runs each stage through `through_store`: fetch when the cache lacks
it, run (which reuses what is complete), publish what the store lacks.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import shutil
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from classit_ray.atomic import (
    CONTENTS,
    MANIFEST,
    DamagedStage,
    atomic_write_json,
    check_contents,
    install_dir,
    is_complete,
    list_contents,
    read_manifest,
    replace_dir,
    tmp_sibling,
)
from classit_ray.config import Config, artifact_store_of, is_uri, join_uri, redact_uri, work_dir_of

_UPLOAD_THREADS = 8  # a shard set is many files; object storage is slow per request, not per byte
UPLOADS = ".uploads"  # <rel>/.uploads/<token>/: one publish's files, followed once its manifest names the token
UPLOAD = "upload"  # the committed manifest's field naming the token


class StoreError(ValueError):
    """A store that cannot be read or written as asked; the message is one line naming the stage or URI."""


class ArtifactStore:
    """The stages under `uri` (any URI pyarrow opens), mirrored in the local folder `cache`.
    Paths inside the store are relative (`pretrain/<key>`), the same under `uri` and `cache`."""

    def __init__(self, uri: str, cache: str | Path):
        self.uri = uri
        self.cache = Path(cache)
        self._fs_and_root = None
        self._uploads: dict[str, str | None] = {}  # stage -> its committed upload's token (`_upload_of`)

    def __reduce__(
        self,
    ):  # shipped to another process (a trial's stage host) as its URI and cache: `mirror_of` knows it there
        return open_store, (self.uri, str(self.cache))

    def __repr__(self) -> str:
        return f"ArtifactStore({redact_uri(self.uri)!r}, cache={str(self.cache)!r})"

    @property
    def filesystem(self):
        return self._opened()[0]

    def remote(self, rel: str) -> str:
        """`rel`'s path on `filesystem` (no scheme, no query): a stage's folder, or a file of a
        stage this node's cache holds, where its committed upload put it (Ray Data's read tasks
        read a shard set's files there, `data/shards.py`)."""
        root = self._opened()[1].rstrip("/")
        stage = self._cached_stage_of(rel)
        if stage is None or stage == rel:
            return f"{root}/{rel}"
        token = self._upload_of(stage)
        return f"{root}/{stage}/{UPLOADS}/{token}/{rel[len(stage) + 1 :]}" if token else f"{root}/{rel}"

    def _cached_stage_of(self, rel: str) -> str | None:
        """The complete stage folder of the cache that holds `rel` (or is it), inside the store."""
        path = self.cache / rel
        for folder in (path, *path.parents):
            if folder == self.cache:
                return None
            if is_complete(folder):
                return self.rel(folder)
        return None

    def _upload_of(self, stage: str) -> str | None:
        """The upload token the committed manifest of `stage` names (None: the old layout); asked
        of the store once per stage and process: a committed manifest never changes."""
        if stage not in self._uploads:
            manifest = self.manifest(stage)
            if manifest is None:
                return None
            self._uploads[stage] = manifest.get(UPLOAD)
        return self._uploads[stage]

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

    def manifest(self, rel: str) -> dict | None:
        """The committed manifest of stage `rel`, or None when there is none; a StoreError when it
        does not parse."""
        try:
            with self.filesystem.open_input_stream(f"{self.remote(rel)}/{MANIFEST}") as f:
                data = f.read()
        except FileNotFoundError:
            return None
        try:
            manifest = json.loads(data)
            if not isinstance(manifest, dict):
                raise ValueError(f"a JSON {type(manifest).__name__}, not an object")
        except ValueError as err:
            raise StoreError(
                f"stage {rel}: its {MANIFEST} in {redact_uri(self.uri)} does not parse ({err}); "
                f"nothing was installed (delete the stage's folder in the store to rebuild it)"
            ) from None
        return manifest

    def files_of(self, rel: str, manifest: dict) -> str:
        """Where the committed stage's files are on `filesystem`: its upload's prefix, or the stage
        folder itself for a stage published before uploads had their own."""
        return f"{self.remote(rel)}/{UPLOADS}/{manifest[UPLOAD]}" if UPLOAD in manifest else self.remote(rel)

    def fetch(self, rel: str) -> bool:
        """Make the cache hold the complete stage `rel`, copying it from the store when the cache
        lacks it; False when the store has no complete copy either. A copy whose files differ
        from the manifest raises `DamagedStage` and leaves the cache as it was."""
        final = self.cache / rel
        if is_complete(final):
            return True
        manifest = self.manifest(rel)
        if manifest is None:
            return False
        install_dir(self._download(rel, manifest, final), final)
        self._uploads[rel] = manifest.get(UPLOAD)
        return True

    def _download(self, rel: str, manifest: dict, final: Path) -> Path:
        """The committed stage copied into a fresh temporary sibling of `final` and checked
        against its manifest (sizes and hashes); the caller installs it. Removed on any error."""
        import pyarrow.fs

        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = tmp_sibling(final)
        tmp.mkdir()
        try:
            source, local_fs = self.files_of(rel, manifest), pyarrow.fs.LocalFileSystem()
            listed = manifest.get(CONTENTS, {}).get("files")
            if listed is None:  # published before manifests listed their files: the folder as it is
                pyarrow.fs.copy_files(
                    source,
                    str(tmp),
                    source_filesystem=self.filesystem,
                    destination_filesystem=local_fs,
                    use_threads=True,
                )
                shutil.rmtree(tmp / UPLOADS, ignore_errors=True)
            else:

                def download(name: str) -> None:
                    (tmp / name).parent.mkdir(parents=True, exist_ok=True)
                    try:
                        pyarrow.fs.copy_files(
                            f"{source}/{name}",
                            str(tmp / name),
                            source_filesystem=self.filesystem,
                            destination_filesystem=local_fs,
                        )
                    except FileNotFoundError:
                        pass  # named below, as the stage's problem

                with ThreadPoolExecutor(_UPLOAD_THREADS) as pool:
                    list(pool.map(download, sorted(listed)))
            problem = check_contents(tmp, manifest)
            if problem is not None:
                raise DamagedStage(
                    f"stage {rel} in {redact_uri(self.uri)}: {problem}; not installed (the cache is "
                    "unchanged; delete the stage's folder in the store to rebuild it)"
                )
            atomic_write_json(tmp / MANIFEST, {k: v for k, v in manifest.items() if k != UPLOAD})
            return tmp
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def publish(self, local_dir: str | Path) -> bool:
        """Upload the complete stage `local_dir` (in the cache) into a prefix of its own and commit
        it with one conditional create of its manifest. True when this publish won; False when
        the store held the stage already or another publisher committed it first (this upload is
        then deleted; `adopt` makes the cache hold the winner's copy)."""
        import pyarrow.fs

        local_dir = Path(local_dir)
        if not is_complete(local_dir):
            raise ValueError(f"{local_dir}: no {MANIFEST}; only a finished stage is published")
        rel = self.rel(local_dir)
        if self.is_complete(rel):
            return False
        manifest = read_manifest(local_dir)
        if CONTENTS not in manifest:  # written before manifests listed their files
            manifest = {**manifest, CONTENTS: list_contents(local_dir)}
        token = uuid.uuid4().hex
        prefix, local_fs = f"{self.remote(rel)}/{UPLOADS}/{token}", pyarrow.fs.LocalFileSystem()

        def upload(name: str) -> None:
            pyarrow.fs.copy_files(
                str(local_dir / name),
                f"{prefix}/{name}",
                source_filesystem=local_fs,
                destination_filesystem=self.filesystem,
            )

        try:
            with ThreadPoolExecutor(_UPLOAD_THREADS) as pool:
                list(pool.map(upload, sorted(manifest[CONTENTS]["files"])))  # list(): an upload's error raised here
            committed = json.dumps({**manifest, UPLOAD: token}, indent=2, sort_keys=True, default=str) + "\n"
            won = create_once(self, f"{self.remote(rel)}/{MANIFEST}", committed.encode())
        except BaseException:
            self._delete_dir(prefix)
            raise
        if won:
            self._uploads[rel] = token
        else:
            self._delete_dir(prefix)
        return won

    def adopt(self, rel: str) -> bool:
        """Make the cache's copy of `rel` the committed one when it differs (another publisher
        won): True when the cached copy changed. Other bytes: the winner's files replace it.
        The same bytes under another record (the loser's own metrics, timings): the winner's
        manifest replaces the cached one. Either way what the loser reads back and reports is
        the winner's, as on every other node."""
        manifest, final = self.manifest(rel), self.cache / rel
        if manifest is None or not is_complete(final):
            return False
        committed, cached = {k: v for k, v in manifest.items() if k != UPLOAD}, read_manifest(final)
        if cached == committed:
            return False
        if cached.get(CONTENTS) == committed.get(CONTENTS):
            atomic_write_json(final / MANIFEST, committed)  # one rename: the stage stays complete throughout
        else:
            replace_dir(self._download(rel, manifest, final), final)
        self._uploads[rel] = manifest.get(UPLOAD)
        return True

    def _delete_dir(self, path: str) -> None:
        try:
            self.filesystem.delete_dir(path)
        except (FileNotFoundError, OSError):
            pass  # an uncommitted upload no reader follows; `store gc` removes what is left


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
    # Not when a training stage stopped at max_steps. Another publisher may have committed this key
    # first (other bytes, or the same under its own record): the cache takes theirs, and the body
    # reads them back, so the result reports the committed stage, not this run.
    if is_complete(local_dir) and not store.publish(local_dir) and store.adopt(store.rel(local_dir)):
        result = body()
    return result


def on_its_node(
    fn: Callable[..., Any], store: ArtifactStore | None, inputs: list[str], output: str | Path
) -> Callable[..., Any]:
    """`fn` made fit for a Ray task that may run on another node than its caller: with a remote
    store, the task first fetches the stages it reads (`inputs`, cache paths) into its own node's
    cache, and publishes the stage it writes (`output`) when it is complete. `fn` returns the
    manifest of the stage it wrote (an evaluation's); when another publisher committed the stage
    first, the call returns the winner's manifest, whose files the cache then holds."""
    if store is None:
        return fn

    @functools.wraps(fn)
    def call(*args):
        for path in inputs:
            store.fetch(store.rel(path))
        result = fn(*args)
        if is_complete(output) and not store.publish(output) and store.adopt(store.rel(output)):
            result = read_manifest(output)  # the winner's, not recomputed
        return result

    return call


def check_local_stages(paths, hashes: bool = False) -> None:
    """Raise `DamagedStage` (one line naming the stage folder and the file) for the first complete
    stage among `paths` (local folders: a local store's, or a node's cache) whose files differ from
    its manifest: their sizes always (a stat each), their hashes too with `hashes` (reads them all)."""
    for path in sorted(set(map(str, paths))):
        if not is_complete(path):
            continue
        try:
            manifest = read_manifest(path)
        except ValueError as err:
            raise DamagedStage(
                f"stage {path}: its {MANIFEST} does not parse ({err}); delete the folder to rebuild it"
            ) from None
        problem = check_contents(path, manifest, hashes=hashes)
        if problem is not None:
            raise DamagedStage(f"stage {path}: {problem}; delete the folder to rebuild it")


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


# ---- the one conditional create each kind of storage has -----------------------------------------
# Scheme -> (the module its conditional create needs, its package, this project's extra that
# installs it: pyproject.toml). Not runtime dependencies: a study on a local or NFS store needs neither.
CLIENTS = {"s3": ("boto3", "boto3", "s3"), "gs": ("google.cloud.storage", "google-cloud-storage", "gcs")}


def client_problem(uri: str) -> str | None:
    """None when publishing to the store `uri` can run here; else one line saying which library
    is missing and the extra that installs it. A study asks before any trial
    (`study/runner.py`), so a store it cannot commit to stops it there, not at its first stage."""
    scheme = urlsplit(uri).scheme if is_uri(uri) else ""
    if scheme not in CLIENTS:
        return None
    module, package, extra = CLIENTS[scheme]
    try:
        found = importlib.util.find_spec(module) is not None
    except (ModuleNotFoundError, ValueError):  # a parent package (google, google.cloud) missing, or no spec
        found = False
    if found:
        return None
    return (
        f"{redact_uri(uri)}: publishing a stage to {scheme}:// needs {package} (its create-if-absent commits "
        f'a stage), which is not installed; expected `pip install "classit_ray[{extra}]"`'
    )


def create_once(store: ArtifactStore, path: str, data: bytes) -> bool:
    """Create the object `path` (on `store.filesystem`) holding `data` unless it exists, in one
    atomic step: True when this call created it, False when it existed."""
    import pyarrow.fs

    fs = store.filesystem
    if isinstance(fs, pyarrow.fs.S3FileSystem):
        return _s3_create_once(store, path, data)
    if type(fs).__name__ == "GcsFileSystem":
        return _gcs_create_once(store, path, data)
    if isinstance(fs, pyarrow.fs.LocalFileSystem):
        return _local_create_once(Path(path), data)
    raise StoreError(
        f"{redact_uri(store.uri)}: {type(fs).__name__} has no create-if-absent, which publishing a stage "
        "needs; expected an s3://, gs:// or local store"
    )


def _local_create_once(path: Path, data: bytes) -> bool:
    """A hard link fails when its name exists, atomically on a local disk and on NFS (where
    O_EXCL was not always honoured); the file is written whole under a temporary name first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_sibling(path)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)


def _s3_create_once(store: ArtifactStore, path: str, data: bytes) -> bool:
    from botocore.exceptions import ClientError

    bucket, _, key = path.partition("/")
    try:
        _s3_client(store.uri).put_object(Bucket=bucket, Key=key, Body=data, IfNoneMatch="*")
        return True
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code", "")
        if code == "PreconditionFailed":  # 412: it exists
            return False
        if code == "ConditionalRequestConflict":  # 409: a create of the same key at this moment; whoever it was wins
            return False
        raise StoreError(f"{redact_uri(store.uri)}: committing {key} failed: {code or err}") from None


@functools.cache
def _s3_client(uri: str):
    """A boto3 S3 client for the store `uri` as pyarrow reads it (credentials in the URI, else the
    usual chain; `endpoint_override`, `scheme`, `region` from its query). pyarrow's S3 filesystem
    has no conditional write, boto3 has (`If-None-Match`)."""
    problem = client_problem(uri)
    if problem is not None:
        raise StoreError(problem)
    import boto3

    parts = urlsplit(uri)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    endpoint = query.get("endpoint_override")
    if endpoint and "://" not in endpoint:
        endpoint = f"{query.get('scheme', 'https')}://{endpoint}"
    return boto3.client(
        "s3",
        endpoint_url=endpoint or None,
        region_name=query.get("region") or None,
        aws_access_key_id=unquote(parts.username or "") or None,
        aws_secret_access_key=unquote(parts.password or "") or None,
    )


def _gcs_create_once(store: ArtifactStore, path: str, data: bytes) -> bool:
    problem = client_problem(store.uri)
    if problem is not None:
        raise StoreError(problem)
    from google.api_core.exceptions import PreconditionFailed
    from google.cloud import storage

    bucket, _, key = path.partition("/")
    try:
        storage.Client().bucket(bucket).blob(key).upload_from_string(data, if_generation_match=0)
        return True
    except PreconditionFailed:
        return False
