"""Atomic writes: a file or a directory appears complete under its final name, or not at all.

Every artifact (split, tokenizer, shard set, checkpoint, results table) is written through these
helpers so that a crash or a kill mid-write never leaves something that reads back as finished.
A directory is built under a temporary sibling name and renamed into place in one `os.rename`;
its `manifest.json` is written last, inside the temporary directory, so the manifest's presence
under the final name is the completion marker.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"


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
    race: ours is discarded. On an exception the temporary directory is removed and nothing
    appears under `final`.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_sibling(final)
    tmp.mkdir()
    manifest = {} if manifest is None else manifest
    try:
        yield tmp
        atomic_write_json(tmp / MANIFEST, manifest)
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
