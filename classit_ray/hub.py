"""Hub ids where paths go: a model (`--model`, `--generator`) or the CLASS_IT instruction release
(`corpus.instruct_dir`, `--instruct-dir`) named `ORG/NAME` resolves to a folder of the Hugging
Face cache, through `huggingface_hub.snapshot_download`, the hub's own client: cache-aware (a
snapshot already there is not fetched again), and offline with `HF_HUB_OFFLINE=1`, where only
the cache is read. A local path keeps working as before: a path that exists is a path, so a
folder that happens to be named like `org/name` is never shadowed by the hub.

Why not `datasets.load_dataset` for the CLASS_IT release: the release is parquet files, one
folder per config (`switchboard/`, `simple_wiki/`), which `data/class_it.py` already reads and
checks column by column. A snapshot of the dataset repository gives exactly that layout, so the
hub id costs no new dependency (`datasets` pulls in its own cache of Arrow files, and a second
copy of every pair), and the pairs read from the hub and from a local copy go through one reader.

Only safetensors, JSON, text and parquet are fetched (`safe_loading.py`: never pickle). Every
failure is one line naming the id: not in the cache while offline, no such repository or
revision, or the hub out of reach.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Literal

from classit_ray.config import absolute_path

RepoKind = Literal["model", "dataset"]
# The hub's repository names: `owner/name`, letters, digits, `-`, `_`, `.` (no `..`, no leading `.`).
HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*")
# What a snapshot fetches of each kind of repository: weights as safetensors only, configs and
# tokenizers, the model card; for a dataset its parquet files and any `instruct_pairs/` manifest.
FILES: dict[str, list[str]] = {
    "model": ["*.safetensors", "*.json", "*.txt", "*.model", "README.md"],
    "dataset": ["*.parquet", "*_manifest.json", "README.md"],
}
_TRUE = {"1", "on", "yes", "true"}


class HubError(ValueError):
    """A hub id that cannot be resolved; the message is one line naming it."""


def is_hub_id(ref: str | Path) -> bool:
    """`ref` names a hub repository: `owner/name`, and no file or folder of that name exists here.
    A path written as one (`./x/y`, `/x/y`, `~/x`) never is."""
    text = str(ref)
    return bool(HUB_ID.fullmatch(text)) and ".." not in text and not Path(text).expanduser().exists()


def offline() -> bool:
    """`HF_HUB_OFFLINE`, read now (huggingface_hub reads it once, when it is first imported)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE


def cache_dir() -> str | None:
    """`HF_HUB_CACHE`, read now; None leaves the library's own default (`~/.cache/huggingface/hub`)."""
    return os.environ.get("HF_HUB_CACHE") or None


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())


def snapshot(repo_id: str, kind: RepoKind, revision: str | None = None) -> Path:
    """The local folder of `repo_id` at `revision` (default: the hub's `main`), fetched into the
    hub cache unless it is there already; offline, the cache alone. HubError naming the id else.
    Asked once per process for each id, revision, cache and mode: planning a cell reads the
    instruction release several times, and online each ask is a round trip to the hub."""
    return _snapshot(repo_id, kind, revision, cache_dir(), offline())


@functools.lru_cache(maxsize=64)
def _snapshot(repo_id: str, kind: RepoKind, revision: str | None, cache: str | None, local_only: bool) -> Path:
    # Imported here: a process that reads only local paths never loads huggingface_hub.
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    at = f"{repo_id}@{revision}" if revision else repo_id
    where = cache or "the default hub cache"
    try:
        folder = snapshot_download(
            repo_id,
            repo_type=kind,
            revision=revision,
            cache_dir=cache,
            local_files_only=local_only,
            allow_patterns=FILES[kind],
        )
    except RevisionNotFoundError:
        raise HubError(f"{at}: the {kind} {repo_id} on the hub has no revision {revision!r}") from None
    except (RepositoryNotFoundError, GatedRepoError) as e:
        raise HubError(
            f"{at}: no such {kind} on the hub, or it is private or gated ({type(e).__name__}), and no local "
            "folder of that name exists"
        ) from None
    except LocalEntryNotFoundError:  # also a cached snapshot known to be incomplete
        if local_only:
            raise HubError(
                f"{at}: not in the hub cache ({where}) and HF_HUB_OFFLINE is set; fetch it once online "
                f"(`hf download {repo_id}{' --repo-type dataset' if kind == 'dataset' else ''}"
                f"{f' --revision {revision}' if revision else ''}`) or pass a local folder"
            ) from None
        raise HubError(
            f"{at}: the hub cannot be reached and the {kind} is not in the hub cache ({where}); "
            "pass a local folder, or retry online"
        ) from None
    except HfHubHTTPError as e:
        raise HubError(f"{at}: the hub refused the download: {_one_line(e)}") from None
    return Path(folder)


def resolve(ref: str | Path, kind: RepoKind, revision: str | None = None) -> Path:
    """A local path as it is (`~` expanded), or a hub id's snapshot folder. `revision` is a hub
    revision (`chck_5M`, a branch, a tag or a commit); a local path has none."""
    if is_hub_id(ref):
        return snapshot(str(ref), kind, revision)
    if revision:
        raise HubError(f"{ref}: a revision ({revision!r}) applies to a hub id (ORG/NAME), not to a local path")
    return Path(ref).expanduser()


def absolute_unless_hub(ref: str) -> str:
    """`ref` made absolute as `config.absolute_path` does, unless it is a hub id, which stays one
    (a trial that runs in another working directory resolves it through the same cache)."""
    return ref if ref and is_hub_id(ref) else absolute_path(ref)
