"""`classit-ray store ls | du | gc`: what the artifact store holds, who uses it, and removing the rest.

    classit-ray store ls [--storage S]        every stage: kind, key, size, age, the studies that use it
    classit-ray store du [--storage S]        per kind: stages and bytes, used by a study or not
    classit-ray store gc [--storage S] [--keep NAME ...] [--grace-hours H] [--address auto] [--yes]
                                              delete what no kept study uses; without --yes, print it only

The store is `--work-dir` (a folder, or s3:// or gs://), by default `<storage>/artifacts`; the
studies are the folders of `<storage>` holding a `results.parquet`, whose rows list every stage key
their cell's graph has (`keys/graph`): a finished cell's, and an unfinished one's (failed,
interrupted, not started: the stages a resumed study reuses, `study/trial.py: planned_keys`). A
stage is a folder of the store with a committed `manifest.json` (`store.py`): `<kind>/<key>`,
`shards/<which>-<key>`, `toyworld-<words>`. Besides stages, gc removes what no reader follows:
uploads whose commit lost or never came (`<stage>/.uploads/<token>/` other than the one the
manifest names) and temporary folders of killed writers (`.<name>.tmp-*`).

gc never deletes: a stage a kept study uses (`--keep`, default every study found); anything younger
than the grace period (`--grace-hours`, default 24: a study that is running and has not yet written
its results may be about to reuse it); a stage whose run-once lease a running study holds on the
Ray cluster named by `--address` (`study/once.py`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from classit_ray.atomic import MANIFEST
from classit_ray.config import is_uri, join_uri, redact_uri
from classit_ray.store import UPLOAD, UPLOADS
from classit_ray.study.row import KEYS_GRAPH

RESULTS = "results.parquet"
KEYS_COLUMN = KEYS_GRAPH  # the results row's list of every stage key its cell's graph has (study/trial.py)


class StoreToolError(ValueError):
    """One line for the user: the store or a study cannot be read as asked."""


@dataclass
class Stage:
    rel: str  # its folder inside the store: "pretrain/<key>", "shards/pretrain-<key>", "toyworld-40000"
    kind: str
    key: str
    size: int = 0
    files: int = 0
    newest: float = 0.0  # mtime of its newest object: its age for the grace period
    complete: bool = False
    uploads: dict[str, int] = field(default_factory=dict)  # token -> bytes of each upload prefix
    studies: list[str] = field(default_factory=list)


def stage_of(rel_path: str) -> tuple[str, str, str] | None:
    """(stage folder, kind, key) of a file's path inside the store; None outside any stage
    (Ray Train's running checkpoints in ray_results/, a node cache's logs/)."""
    parts = rel_path.split("/")
    if parts[0].startswith("toyworld-"):
        return parts[0], "toyworld", parts[0]
    if len(parts) < 3 or parts[0] in ("ray_results", "logs"):
        return None
    kind, name = parts[0], parts[1]
    key = name.rsplit("-", 1)[-1] if kind == "shards" else name  # shards/instruct-<config>-<key>
    if kind == "shards":
        kind = "pretrain_shards" if name.startswith("pretrain-") else "instruct_shards"
    return f"{parts[0]}/{name}", kind, key


class StoreView:
    """The store's files, grouped into stages, on any filesystem pyarrow opens."""

    def __init__(self, uri: str):
        import pyarrow.fs

        self.uri = uri
        self.leftovers: dict[str, tuple[int, float]] = {}  # killed writers' temporary folders: rel -> (bytes, newest)
        try:
            if is_uri(uri):
                self.fs, self.root = pyarrow.fs.FileSystem.from_uri(uri)
            else:
                self.fs, self.root = pyarrow.fs.LocalFileSystem(), str(Path(uri).expanduser().resolve())
            info = self.fs.get_file_info(self.root)
        except Exception as err:  # noqa: BLE001 - any failure to open: one line naming the URI
            raise StoreToolError(f"{redact_uri(uri)}: cannot open the store ({type(err).__name__}: {err})") from None
        if info.type == pyarrow.fs.FileType.NotFound and not is_uri(uri):
            raise StoreToolError(f"{uri}: no such store folder")

    def stages(self) -> dict[str, Stage]:
        import pyarrow.fs
        from tqdm import tqdm

        try:
            files = self.fs.get_file_info(pyarrow.fs.FileSelector(self.root, recursive=True, allow_not_found=True))
        except Exception as err:  # noqa: BLE001
            raise StoreToolError(
                f"{redact_uri(self.uri)}: cannot list the store ({type(err).__name__}: {err})"
            ) from None
        stages: dict[str, Stage] = {}
        for info in tqdm(files, desc="listing", unit=" objects", disable=None, leave=False):
            if info.type != pyarrow.fs.FileType.File:
                continue
            rel = info.path[len(self.root.rstrip("/")) + 1 :]
            mtime = info.mtime.timestamp() if info.mtime is not None else 0.0
            top = rel.split("/")
            if any(part.startswith(".") and ".tmp-" in part for part in top[:2]):
                folder = "/".join(top[:2] if not top[0].startswith(".") else top[:1])
                size, newest = self.leftovers.get(folder, (0, 0.0))
                self.leftovers[folder] = (size + info.size, max(newest, mtime))
                continue
            where = stage_of(rel)
            if where is None:
                continue
            stage = stages.setdefault(where[0], Stage(*where))
            inside = rel[len(where[0]) + 1 :]
            stage.size += info.size
            stage.files += 1
            stage.newest = max(stage.newest, mtime)
            stage.complete |= inside == MANIFEST
            if inside.startswith(f"{UPLOADS}/"):
                token = inside.split("/")[1]
                stage.uploads[token] = stage.uploads.get(token, 0) + info.size
        return stages

    def committed_upload(self, stage: Stage) -> str | None:
        """The upload token the stage's manifest names (None: an old-layout or local stage)."""
        with self.fs.open_input_stream(f"{self.root}/{stage.rel}/{MANIFEST}") as f:
            return json.loads(f.read()).get(UPLOAD)

    def delete(self, rel: str) -> None:
        self.fs.delete_dir(f"{self.root}/{rel}")


def study_keys(storage: str) -> dict[str, set[str] | None]:
    """Study name -> the stage keys its results rows list (None: a study whose rows list none),
    for every folder of `storage` holding a results table."""
    import pyarrow.fs
    import pyarrow.parquet as pq

    try:
        if is_uri(storage):
            fs, root = pyarrow.fs.FileSystem.from_uri(storage)
        else:
            fs, root = pyarrow.fs.LocalFileSystem(), str(Path(storage).expanduser().resolve())
        folders = fs.get_file_info(pyarrow.fs.FileSelector(root, allow_not_found=True))
    except Exception as err:  # noqa: BLE001
        raise StoreToolError(f"{redact_uri(storage)}: cannot open the storage ({type(err).__name__}: {err})") from None
    studies: dict[str, set[str] | None] = {}
    for folder in folders:
        if folder.type != pyarrow.fs.FileType.Directory:
            continue
        path = f"{folder.path}/{RESULTS}"
        if fs.get_file_info(path).type != pyarrow.fs.FileType.File:
            continue
        name = folder.path.rstrip("/").rsplit("/", 1)[-1]
        try:
            table = pq.read_table(path, filesystem=fs)
        except Exception as err:  # noqa: BLE001
            raise StoreToolError(
                f"{redact_uri(join_uri(storage, name) if is_uri(storage) else path)}: cannot read it "
                f"({type(err).__name__}: {err})"
            ) from None
        columns = set(table.column_names)
        keys: set[str] = set()
        if KEYS_COLUMN in columns:
            for text in table.column(KEYS_COLUMN).to_pylist():
                keys.update(json.loads(text) if isinstance(text, str) and text else [])  # None: a row that listed none
        for column in columns - {KEYS_COLUMN}:  # key/pretrain, key/eval@stage1, ...: in keys/graph too, unless older
            if column.startswith("key/"):
                keys.update(v for v in table.column(column).to_pylist() if v)
        studies[name] = keys or None
    return studies


def leased_keys(address: str) -> set[str]:
    """The stage keys whose run-once lease (`study/once.py`) is held on the Ray cluster at `address`."""
    import ray

    from classit_ray.study.once import NAMESPACE

    ray.init(address=address, namespace=NAMESPACE, logging_level="ERROR", log_to_driver=False)
    try:
        names = ray.util.list_named_actors(all_namespaces=True)
    finally:
        ray.shutdown()
    return {
        entry["name"].rsplit("/", 1)[-1]
        for entry in names
        if entry.get("namespace") == NAMESPACE and entry["name"].startswith("once/")
    }


def size_words(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return ""


def _age(seconds: float) -> str:
    hours = seconds / 3600
    return f"{hours:.0f} h" if hours < 48 else f"{hours / 24:.0f} d"


def _used_by(stages: dict[str, Stage], studies: dict[str, set[str] | None]) -> None:
    for stage in stages.values():
        stage.studies = sorted(name for name, keys in studies.items() if keys and stage.key in keys)


def gc_plan(
    stages: dict[str, Stage],
    studies: dict[str, set[str] | None],
    keep: list[str],
    grace_s: float,
    leased: set[str],
    leftovers: dict[str, tuple[int, float]],
    committed,
    now: float,
) -> list[tuple[str, int, str]]:
    """What gc deletes: (folder in the store, bytes, why), in order. `committed(stage)` is the
    upload token its manifest names."""
    kept: set[str] = set()
    for name in keep:
        kept |= studies[name] or set()
    old = lambda mtime: now - mtime >= grace_s  # noqa: E731
    plan = []
    for rel, stage in sorted(stages.items()):
        if stage.key in kept or stage.key in leased or not old(stage.newest):
            continue
        why = (
            "never committed"
            if not stage.complete
            else f"used only by {', '.join(stage.studies)}"
            if stage.studies
            else "used by no study"
        )
        plan.append((rel, stage.size, why))
    deleted = {rel for rel, _, _ in plan}
    for rel, stage in sorted(stages.items()):
        if rel in deleted or not stage.complete or len(stage.uploads) == 0 or not old(stage.newest):
            continue
        token = committed(stage)
        plan += [
            (f"{rel}/{UPLOADS}/{t}", n, "an upload that lost its commit")
            for t, n in sorted(stage.uploads.items())
            if t != token
        ]
    plan += [
        (rel, n, "a killed writer's temporary folder") for rel, (n, newest) in sorted(leftovers.items()) if old(newest)
    ]
    return plan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="classit-ray store", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("ls", "du", "gc"))
    parser.add_argument(
        "--storage",
        default="~/classit_ray_results",
        help="where the studies are: a folder or s3://, gs:// (default: ~/classit_ray_results)",
    )
    parser.add_argument("--work-dir", help="the artifact store (default: <storage>/artifacts)")
    parser.add_argument(
        "--keep",
        action="append",
        default=[],
        metavar="STUDY",
        help="gc: a study whose stages stay (repeat it; default: every study found)",
    )
    parser.add_argument(
        "--grace-hours", type=float, default=24.0, help="gc: never delete anything younger (default 24)"
    )
    parser.add_argument("--address", help="gc: the Ray cluster of running studies ('auto'); their leased stages stay")
    parser.add_argument("--yes", action="store_true", help="gc: delete; without it, print what would be deleted")
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except StoreToolError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    storage = args.storage if is_uri(args.storage) else str(Path(args.storage).expanduser())
    uri = args.work_dir or (join_uri(storage, "artifacts") if is_uri(storage) else str(Path(storage) / "artifacts"))
    view = StoreView(uri)
    studies = study_keys(storage)
    missing = [name for name in args.keep if name not in studies]
    if missing:
        raise StoreToolError(
            f"--keep {', '.join(missing)}: no such study in {redact_uri(storage)} "
            f"(a folder with a {RESULTS}); studies there: {', '.join(sorted(studies)) or 'none'}"
        )
    stages = view.stages()
    _used_by(stages, studies)
    now = time.time()
    if args.action == "ls":
        for _, stage in sorted(stages.items()):
            state = "" if stage.complete else "  (never committed)"
            print(
                f"{stage.kind:16s} {stage.key:20s} {size_words(stage.size):>9s} {stage.files:6d} files "
                f"{_age(now - stage.newest):>5s}  {', '.join(stage.studies) or '-'}{state}"
            )
        print(f"{len(stages)} stage(s) in {redact_uri(uri)}; studies: {', '.join(sorted(studies)) or 'none'}")
        return 0
    if args.action == "du":
        per_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        for stage in stages.values():
            row = per_kind[stage.kind]
            row[0] += 1
            row[1] += stage.size
            if not stage.studies:
                row[2] += 1
                row[3] += stage.size
        print(f"{'kind':16s} {'stages':>6s} {'size':>9s}   {'used by no study':>16s}")
        for kind, (n, size, unused, unused_size) in sorted(per_kind.items()):
            print(f"{kind:16s} {n:6d} {size_words(size):>9s}   {unused:6d} {size_words(unused_size):>9s}")
        total = sum(s.size for s in stages.values())
        print(f"{'total':16s} {len(stages):6d} {size_words(total):>9s}   in {redact_uri(uri)}")
        return 0
    keep = args.keep or sorted(studies)
    no_keys = [name for name in keep if studies[name] is None]
    if no_keys:
        raise StoreToolError(
            f"study {', '.join(no_keys)}: its results list no stage keys ({KEYS_COLUMN}); "
            "rerun it to record them before a gc that keeps it"
        )
    leased = leased_keys(args.address) if args.address else set()
    plan = gc_plan(stages, studies, keep, args.grace_hours * 3600, leased, view.leftovers, view.committed_upload, now)
    for rel, size, why in plan:
        print(f"{'delete' if args.yes else 'would delete'} {rel}  {size_words(size)}  ({why})")
    total = sum(size for _, size, _ in plan)
    print(
        f"{len(plan)} folder(s), {size_words(total)}; keeping what {', '.join(keep) or 'no study'} use"
        + ("" if args.yes or not plan else "; run again with --yes to delete")
    )
    if args.yes:
        for n, (rel, _, _) in enumerate(tqdm(plan, desc="deleting", unit=" folders", disable=None)):
            try:
                view.delete(rel)
            except Exception as err:  # noqa: BLE001 - e.g. a bucket this account may read but not write
                raise StoreToolError(
                    f"{redact_uri(uri)}: cannot delete {rel} ({type(err).__name__}: {err}); "
                    f"{n} of {len(plan)} folder(s) deleted before it"
                ) from None
    return 0


if __name__ == "__main__":
    sys.exit(main())
