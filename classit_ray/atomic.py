"""Atomic writes: a file or a directory appears complete under its final name, or not at all.

Every artifact (split, tokenizer, shard set, checkpoint, results table) is written through these
helpers so that a crash or a kill mid-write never leaves something that reads back as finished.
A directory is built under a temporary sibling name and renamed into place in one `os.rename`;
its `manifest.json` is written last, inside the temporary directory, so the manifest's presence
under the final name is the completion marker. The manifest lists every other file of the
directory with its size and content hash (`contents`), so a copy of it (fetched from object
storage, or a folder on a damaged disk) can be checked before it is used (`check_contents`). A
directory's rename onto a complete one fails: the first writer wins, on a local disk and on NFS.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
# The manifest's field listing the files: {"hash": "blake2b", "files": {path: {"size": ..., "blake2b": ...}}}.
CONTENTS = "contents"
HASH = "blake2b"  # faster than sha256 on a 64-bit CPU without SHA extensions, and as strong for this
_CHUNK = 1 << 20


class DamagedStage(ValueError):
    """A stage folder whose files differ from what its manifest lists (the message names the file)."""


def file_hash(path: str | os.PathLike) -> str:
    digest = hashlib.blake2b()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


RUNTIME = "runtime"  # the manifest's field saying what ran the stage (`runtime_record`)


def runtime_record(manifest: dict) -> dict | None:
    """What computed a stage, for its manifest: torch's and CUDA's versions, the device, and
    whether the run was bit-deterministic (the same key then means the same bytes on the same
    hardware, versions and thread count; a GPU run without deterministic algorithms may differ in
    its last bits from run to run). None for a stage that ran no torch in this process (the data
    stages: plain Python, deterministic anywhere). Read from the process that writes the stage;
    a training stage's workers are other processes, so its spec's `use_gpu` names their device."""
    torch = sys.modules.get("torch")  # never imported here: a light process stays light
    if torch is None:
        return None
    spec = manifest.get("spec") if isinstance(manifest.get("spec"), dict) else {}
    on_gpu = bool(spec.get("use_gpu")) or torch.cuda.is_initialized()
    deterministic = not on_gpu or torch.are_deterministic_algorithms_enabled()
    return {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "device": "cuda" if on_gpu else "cpu",
        "deterministic": bool(deterministic),
    }


def list_contents(directory: str | os.PathLike) -> dict:
    """The manifest's `contents` field for the files under `directory` (its manifest excepted)."""
    directory = Path(directory)
    files = sorted(p for p in directory.rglob("*") if p.is_file() and p != directory / MANIFEST)
    return {
        "hash": HASH,
        "files": {p.relative_to(directory).as_posix(): {"size": p.stat().st_size, HASH: file_hash(p)} for p in files},
    }


def check_contents(directory: str | os.PathLike, manifest: dict, hashes: bool = True) -> str | None:
    """None if every file `manifest` lists is under `directory` with its size (and, with `hashes`,
    its hash); else the first difference, in words naming the file. A manifest written before
    files were listed has nothing to check against: None."""
    directory = Path(directory)
    listed = manifest.get(CONTENTS)
    if not isinstance(listed, dict):
        return None
    algorithm = listed.get("hash", HASH)
    for name, want in sorted(listed.get("files", {}).items()):
        path = directory / name
        if not path.is_file():
            return f"{name}: missing"
        size = path.stat().st_size
        if size != want["size"]:
            return f"{name}: {size} bytes, the manifest says {want['size']}"
        if hashes and algorithm == HASH and file_hash(path) != want[HASH]:
            return f"{name}: its {HASH} hash differs from the manifest's (same size: damaged, not truncated)"
    return None


def tmp_sibling(path: Path) -> Path:
    # Same directory as the target: rename is atomic only within one filesystem.
    return path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_sibling(path)
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def is_complete(directory: str | os.PathLike) -> bool:
    """A directory written by `atomic_dir` is complete iff its manifest is there."""
    return (Path(directory) / MANIFEST).is_file()


def read_manifest(directory: str | os.PathLike) -> dict:
    directory = Path(directory)
    if not is_complete(directory):
        raise FileNotFoundError(f"{directory}: no {MANIFEST}; the artifact is missing or was never finished")
    return read_json(directory / MANIFEST)


@contextlib.contextmanager
def atomic_dir(final: str | os.PathLike, manifest: dict | None = None) -> Iterator[Path]:
    """Yield a fresh temporary directory; on success, write `manifest` into it and rename it to `final`.

    The caller may fill `manifest` (a dict) inside the block; it is written last. If `final`
    already exists and is complete, another writer of the same content-addressed artifact won the
    race: ours is discarded. So what a writer reports after the block (scores, losses) is read
    back from `final` (`read_manifest`), not taken from its own `manifest`: a key's bytes need
    not be equal (GPU kernels are not bit-deterministic), and a results row must say what every
    reader of the key gets. On an exception the temporary directory is removed and nothing
    appears under `final`.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_sibling(final)
    tmp.mkdir()
    manifest = {} if manifest is None else manifest
    try:
        yield tmp
        runtime = {RUNTIME: record} if RUNTIME not in manifest and (record := runtime_record(manifest)) else {}
        atomic_write_json(tmp / MANIFEST, {**manifest, **runtime, CONTENTS: list_contents(tmp)})
        install_dir(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def install_dir(tmp: Path, final: Path) -> None:
    """Rename the finished directory `tmp` (a `tmp_sibling` of `final`, manifest inside) to
    `final` in one `os.rename`. A complete `final` means another writer of the same content won
    the race: `tmp` is left for the caller to delete."""
    if final.exists() and not is_complete(final):
        shutil.rmtree(final)  # a leftover from a writer older than this scheme; never complete
    try:
        os.rename(tmp, final)
    except OSError:
        if not is_complete(final):
            raise


def replace_dir(finished: str | os.PathLike, final: str | os.PathLike) -> None:
    """Move the finished directory `finished` to `final`, replacing what is there.

    For outputs that a rerun with other settings should replace (unlike `atomic_dir`, whose
    content-addressed targets are equal when both are complete). The old directory is renamed
    aside before the new one is renamed in, and deleted last: nothing is ever half-written under
    `final`, and a crash between the two renames leaves the old directory intact under a hidden
    sibling name (`.NAME.tmp-*`).
    """
    finished, final = Path(finished), Path(final)
    old = tmp_sibling(final) if final.exists() else None
    if old is not None:
        os.rename(final, old)
    os.rename(finished, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
