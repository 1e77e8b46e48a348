"""The artifact store on object storage, against a real S3 server (moto's, on 127.0.0.1): publish
and fetch, an upload killed before its manifest, concurrent publishes, the pre-flight errors, and
the smallest toy study stored on s3:// then run again from a fresh cache (another node)."""

from __future__ import annotations

import dataclasses
import threading
import uuid
from pathlib import Path

import pytest
from conftest import free_port

from classit_ray.atomic import MANIFEST, atomic_dir, read_manifest
from classit_ray.config import Config, ConfigError, join_uri, work_dir_of
from classit_ray.config_load import apply_overrides
from classit_ray.store import ArtifactStore, store_of, through_store


@pytest.fixture(scope="module")
def s3_server():
    """A standalone S3 server (moto's) on a free port of 127.0.0.1; its address for URIs."""
    from moto.server import ThreadedMotoServer  # the dev extra's moto[server]

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"{host}:{port}"
    server.stop()


def _query(address: str) -> str:
    return f"endpoint_override={address}&scheme=http&region=us-east-1"


@pytest.fixture
def bucket_uri(s3_server) -> str:
    """`s3://` + a fresh bucket, with the endpoint and dummy credentials in the URI itself (what
    pyarrow reads): Ray's worker processes, started before this test, get no environment from it."""
    import pyarrow.fs

    name = f"test-{uuid.uuid4().hex[:12]}"
    fs, _ = pyarrow.fs.FileSystem.from_uri(f"s3://test:test@{name}?{_query(s3_server)}&allow_bucket_creation=true")
    fs.create_dir(name)
    return f"s3://test:test@{name}/store?{_query(s3_server)}"


def _stage(cache: Path, rel: str, files: dict[str, bytes]) -> Path:
    with atomic_dir(cache / rel, {"kind": "test", "files": sorted(files)}) as tmp:
        for name, data in files.items():
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp / name).write_bytes(data)
    return cache / rel


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


FILES = {"part-00000.parquet": b"\x00" * 5000, "final/model.safetensors": b"weights", "final/config.json": b"{}"}


def test_a_published_stage_fetches_into_a_fresh_cache_as_the_same_files(bucket_uri, tmp_path):
    one = ArtifactStore(bucket_uri, tmp_path / "node1")
    local = _stage(one.cache, "pretrain/abc", FILES)
    assert not one.is_complete("pretrain/abc")
    assert one.publish(local) and one.is_complete("pretrain/abc")
    assert not one.publish(local)  # complete in the store already: nothing uploaded

    two = ArtifactStore(bucket_uri, tmp_path / "node2")
    assert two.fetch("pretrain/abc")
    assert _tree(two.cache / "pretrain/abc") == _tree(local)
    assert not two.fetch("pretrain/missing") and not (two.cache / "pretrain/missing").exists()
    assert [p.name for p in (two.cache / "pretrain").iterdir()] == ["abc"]  # no temporary sibling left


def test_an_upload_killed_before_its_manifest_never_reads_as_complete_and_is_redone(bucket_uri, tmp_path):
    """A writer died after uploading some files and before the manifest (its local copy gone with
    its node); the remote stage is not complete, a reader fetches nothing, and the stage's next
    walk builds it again and publishes it whole over the leftovers."""
    import pyarrow.fs

    store = ArtifactStore(bucket_uri, tmp_path / "dead-node")
    dead = _stage(store.cache, "eval/k1", {**FILES, "final/model.safetensors": b"half-written"})
    for name in ("part-00000.parquet", "final/model.safetensors"):  # the files, not the manifest
        pyarrow.fs.copy_files(
            str(dead / name), f"{store.remote('eval/k1')}/{name}", destination_filesystem=store.filesystem
        )
    assert not store.is_complete("eval/k1")

    other = ArtifactStore(bucket_uri, tmp_path / "node2")
    assert not other.fetch("eval/k1") and not (other.cache / "eval/k1").exists()
    built = []

    def body():
        if not (other.cache / "eval/k1" / MANIFEST).is_file():
            built.append(_stage(other.cache, "eval/k1", FILES))
        return "result"

    assert through_store(other, other.cache / "eval/k1", body)() == "result" and len(built) == 1
    assert other.is_complete("eval/k1")
    third = ArtifactStore(bucket_uri, tmp_path / "node3")
    assert third.fetch("eval/k1") and _tree(third.cache / "eval/k1") == _tree(built[0])  # the leftover was overwritten
    assert through_store(third, third.cache / "eval/k1", body)() == "result" and len(built) == 1  # reused, not rebuilt


def test_concurrent_publishes_of_one_key_are_harmless(bucket_uri, tmp_path):
    """Two nodes that built the same stage (same key, so the same files) publish it at once."""
    stores = [ArtifactStore(bucket_uri, tmp_path / f"node{i}") for i in range(3)]
    locals_ = [
        _stage(s.cache, "shards/pretrain-k", {f"part-{i:05d}.parquet": bytes([i]) * 3000 for i in range(12)})
        for s in stores[:2]
    ]
    start, errors = threading.Barrier(2), []

    def publish(store, local):
        start.wait()
        try:
            store.publish(local)
        except Exception as err:  # noqa: BLE001 - collected for the assertion below
            errors.append(err)

    threads = [threading.Thread(target=publish, args=pair) for pair in zip(stores, locals_)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and stores[2].fetch("shards/pretrain-k")
    assert _tree(stores[2].cache / "shards/pretrain-k") == _tree(locals_[0])


def test_a_task_on_another_node_fetches_what_it_reads_and_publishes_what_it_writes(bucket_uri, tmp_path):
    """A GPU evaluation runs as a Ray task on whichever node has the GPU (`execute._evaluation`)."""
    from classit_ray.store import on_its_node

    here = ArtifactStore(bucket_uri, tmp_path / "node1")
    here.publish(_stage(here.cache, "pretrain/m", FILES))
    there = ArtifactStore(bucket_uri, tmp_path / "node2")  # the task's node: an empty cache

    def evaluate(model: str) -> str:
        _stage(there.cache, "eval/e", {"score": (Path(model) / "final" / "model.safetensors").read_bytes()})
        return "scored"

    task = on_its_node(evaluate, there, [str(there.cache / "pretrain/m")], there.cache / "eval/e")
    assert task(str(there.cache / "pretrain/m")) == "scored"
    assert here.fetch("eval/e") and (here.cache / "eval/e" / "score").read_bytes() == b"weights"


def test_ray_data_reads_a_cached_shard_set_from_the_store(ray_session, bucket_uri, tmp_path):
    """Ray Data's read tasks may run on a node whose cache lacks the shards: they read the store.
    (The stage's file list is made where the stage walk fetched the shards, `train/rows.py`.)"""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from classit_ray.data.shards import read_parquet
    from classit_ray.store import open_store
    from classit_ray.train.rows import stage_files

    store = open_store(bucket_uri, str(tmp_path / "node1"))
    with atomic_dir(store.cache / "shards" / "pretrain-k", {"sequences": 6, "files": 2}) as tmp:
        for i in range(2):
            pq.write_table(pa.table({"input_ids": [[i, 1, 2]] * 3}), tmp / f"part-{i:05d}.parquet")
    store.publish(store.cache / "shards" / "pretrain-k")
    files = stage_files([store.cache / "shards" / "pretrain-k"], seed=0)
    for part in (store.cache / "shards" / "pretrain-k").glob("*.parquet"):
        part.unlink()  # as on the node a read task lands on
    rows = read_parquet(files, num_blocks=len(files)).take_all()
    assert sorted(r["input_ids"][0] for r in rows) == [0, 0, 0, 1, 1, 1]


def test_a_remote_store_is_cached_under_its_uri_without_credentials_or_query(tmp_path):
    cfg = apply_overrides(
        Config(),
        {
            "study.storage_path": "s3://KEY:SECRET@bucket/classit?endpoint_override=h:9000",
            "study.cache_dir": str(tmp_path),
        },
    )
    assert work_dir_of(cfg) == tmp_path / "s3" / "bucket" / "classit" / "artifacts"
    store = store_of(cfg)
    assert (
        store.uri_of("ray_results") == "s3://KEY:SECRET@bucket/classit/artifacts/ray_results?endpoint_override=h:9000"
    )
    assert "SECRET" not in repr(store)
    assert join_uri("gs://b/p/", "x") == "gs://b/p/x"
    assert store_of(apply_overrides(Config(), {"study.storage_path": str(tmp_path)})) is None  # a local store: no cache


# ---- bad input: one error naming the URI, before anything runs -----------------------------------
def _store_problem(tmp_path, work_dir: str) -> str:
    from classit_ray.study.runner import check_inputs

    cfg = apply_overrides(
        Config(),
        {
            "study.storage_path": str(tmp_path / "results"),
            "study.work_dir": work_dir,
            "study.cache_dir": str(tmp_path / "cache"),
        },
    )
    with pytest.raises(ConfigError) as err:
        check_inputs(cfg)
    assert len(err.value.problems) == 1
    return str(err.value)


def test_a_missing_bucket_is_one_error_naming_the_uri(s3_server, tmp_path):
    text = _store_problem(tmp_path, f"s3://test:test@no-such-bucket/store?{_query(s3_server)}")
    assert (
        "study.work_dir: s3://***@no-such-bucket/store" in text and "not writable" in text and "no-such-bucket" in text
    )
    assert "test:test" not in text


def test_an_unreachable_endpoint_is_one_error_naming_the_uri(tmp_path):
    text = _store_problem(tmp_path, f"s3://test:test@bucket/store?{_query(f'127.0.0.1:{free_port()}')}")
    assert "study.work_dir: s3://***@bucket/store" in text and "not writable" in text and "connect" in text.lower()


# ---- a study on s3 -------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_study_on_s3_reruns_from_a_fresh_cache_without_recomputing(ray_session, bucket_uri, tmp_path):
    """The smallest toy study (one cell: the pretrained baseline) with its results, Tune state, Ray
    Train checkpoints and stages on s3://; then the same cell as another study whose cache is
    empty, as on another node: every stage is fetched from the store, none is computed."""
    import pyarrow.fs
    from test_study import _toy_study

    from classit_ray.study.runner import run_study

    def study(name: str, cache: Path):
        base = _toy_study(tmp_path, name)
        base = dataclasses.replace(
            base,
            base=apply_overrides(
                base.base,
                {
                    "study.storage_path": bucket_uri,
                    "study.cache_dir": str(cache),
                    "eval.tasks": ["blimp"],
                    "eval.checkpoints": [],
                    "pretrain.batch_size": 64,
                    "pretrain.micro_batch_size": 64,
                },
            ),
        )  # 6 steps (and checkpoints through s3), not 28
        return dataclasses.replace(
            base,
            grid={
                "model.preset": ["tiny"],
                "seed": [0],
                "instruct.curriculum": ["none"],
                "budget.instruct_fraction": [0.1],
            },
            baseline=False,
        )

    first = run_study(study("on-s3", tmp_path / "node1"))
    assert len(first) == 1 and first.loc[0, "status"] == "ok", first.loc[0, "error"]
    assert first.loc[0, "executed/pretrain"] == 1 and first.loc[0, "executed/data"] >= 4
    store = ArtifactStore(join_uri(bucket_uri, "artifacts"), tmp_path / "unused")
    pretrain = Path(first.loc[0, "artifact/pretrain"])
    assert store.is_complete(f"pretrain/{pretrain.name}")
    fs, root = pyarrow.fs.FileSystem.from_uri(bucket_uri)
    assert fs.get_file_info(f"{root}/on-s3/results.parquet").type == pyarrow.fs.FileType.File
    # Ray Train kept the running pretraining's checkpoints in the store, not in this node's cache,
    # and removed them once the stage was complete.
    assert not (work_dir_of(study("on-s3", tmp_path / "node1").base) / "ray_results").exists()
    assert fs.get_file_info(pyarrow.fs.FileSelector(f"{root}/artifacts/ray_results", allow_not_found=True)) == []

    again = run_study(study("again", tmp_path / "node2"))
    row = again.iloc[0]
    assert row["status"] == "ok", row["error"]
    executed = [c for c in again.columns if c.startswith("executed/")]
    assert len(executed) == 5 and (again[executed] == 0).all().all()
    assert row["eval/blimp"] == first.loc[0, "eval/blimp"] and row["key/eval"] == first.loc[0, "key/eval"]
    fetched = work_dir_of(study("again", tmp_path / "node2").base) / "pretrain" / pretrain.name
    assert read_manifest(fetched)["metrics"] == read_manifest(pretrain)["metrics"]


def test_a_running_stage_checkpoints_to_the_store_and_resumes_from_its_newest(bucket_uri, tmp_path):
    """The in-process launcher's run folder on s3 (train/session.py): a checkpoint is whole once
    its state file is there (uploaded last); a resume reads the one with the most steps."""
    import json

    from classit_ray.store import join_uri
    from classit_ray.train.checkpoint import STATE_FILE
    from classit_ray.train.session import RunFolder

    run = RunFolder(join_uri(bucket_uri, "ray_results"), "pretrain-k")
    with run.latest() as nothing:
        assert nothing is None
    for step, name in ((10, "chck_1M"), (20, "step_20")):
        local = tmp_path / name
        local.mkdir()
        (local / "model.safetensors").write_bytes(b"w" * step)
        (local / STATE_FILE).write_text(json.dumps({"position": {"step": step}}))
        run.save(name, local)
    run.fs.create_dir(f"{run.root}/step_30")
    with run.fs.open_output_stream(f"{run.root}/step_30/model.safetensors") as f:
        f.write(b"x")  # an upload killed before its state file: not a checkpoint
    assert sorted(run.named()) == ["chck_1M", "step_20"]
    with run.latest() as newest:
        assert (newest / "model.safetensors").read_bytes() == b"w" * 20
    run.remove()
    assert run.named() == {}


# ---- verified stages, first writer wins ----------------------------------------------------------
def _version_files(version: int) -> dict[str, bytes]:
    """A stage's files as publisher `version` wrote them: every byte says which version it is."""
    parts = {f"part-{i:05d}.parquet": bytes([version]) * (1500 + 100 * i) for i in range(6)}
    return parts | {"final/who": bytes([version])}


def _versions_in(folder: Path) -> set[int]:
    """Which publishers' bytes `folder` holds (the manifest aside): one, for a stage never mixed."""
    return {b for name, data in _tree(folder).items() if name != MANIFEST for b in set(data)}


def _publish_at(uri: str, cache: str, rel: str, version: int, start: float) -> tuple[bool, set[int]]:
    """(in a process of its own) Build `rel` as `version`, publish it at the wall time `start`, take
    the winner's copy when it lost; whether it won, and the versions its cache then holds."""
    import time

    store = ArtifactStore(uri, cache)
    local = _stage(store.cache, rel, _version_files(version))
    time.sleep(max(0.0, start - time.time()))
    won = store.publish(local)
    if not won:
        store.adopt(rel)
    return won, _versions_in(local)


def _warm(uri: str, cache: str) -> None:
    import time

    ArtifactStore(uri, cache).is_complete("nothing")
    time.sleep(0.5)  # long enough that each process of the pool takes one call


def _read_when_committed(uri: str, cache: str, rel: str, until: float) -> set[int]:
    """(in a process of its own) Fetch `rel` as soon as it is committed; the versions fetched."""
    import time

    store = ArtifactStore(uri, cache)
    while time.time() < until:
        if store.fetch(rel):
            return _versions_in(store.cache / rel)
        time.sleep(0.005)
    return set()


@pytest.mark.slow
def test_publishers_of_different_bytes_under_one_key_commit_one_version_whole(bucket_uri, tmp_path):
    """Three processes publish three different versions of one key at the same moment while a
    fourth reads it as soon as it is committed, round after round: one publisher wins, the others
    delete their uploads and take its copy, and every reader gets that version whole."""
    import multiprocessing
    import time

    import pyarrow.fs

    rounds, publishers = 8, 3
    with multiprocessing.get_context("spawn").Pool(publishers + 1) as pool:
        # Every process started, this module imported and S3 set up (a second or more each) before the clock runs.
        pool.starmap(_warm, [(bucket_uri, str(tmp_path / "warm"))] * (publishers + 1), chunksize=1)
        for n in range(rounds):
            rel, start = f"pretrain/race-{n}", time.time() + 0.3
            reader = pool.apply_async(_read_when_committed, (bucket_uri, str(tmp_path / f"reader{n}"), rel, start + 60))
            writers = [
                pool.apply_async(_publish_at, (bucket_uri, str(tmp_path / f"r{n}w{v}"), rel, v + 1, start))
                for v in range(publishers)
            ]
            results = [w.get(timeout=60) for w in writers]
            won = [v + 1 for v, (w, _) in enumerate(results) if w]
            assert len(won) == 1, results
            assert all(held == set(won) for _, held in results), results  # the losers took the winner's copy
            assert reader.get(timeout=60) == set(won)
    store = ArtifactStore(bucket_uri, tmp_path / "check")
    uploads = store.filesystem.get_file_info(pyarrow.fs.FileSelector(f"{store.remote('pretrain/race-0')}/.uploads"))
    assert len(uploads) == 1  # the losers' uploads are gone


def test_a_damaged_or_truncated_object_is_refused_and_the_cache_left_as_it_was(bucket_uri, tmp_path):
    from classit_ray.atomic import DamagedStage

    one = ArtifactStore(bucket_uri, tmp_path / "node1")
    assert one.publish(_stage(one.cache, "pretrain/abc", FILES))
    files = one.files_of("pretrain/abc", one.manifest("pretrain/abc"))
    for damage, said in ((b"WEIGHTS", "its blake2b hash differs"), (b"weig", "4 bytes, the manifest says 7")):
        with one.filesystem.open_output_stream(f"{files}/final/model.safetensors") as f:
            f.write(damage)
        two = ArtifactStore(bucket_uri, tmp_path / f"node-{len(damage)}")
        with pytest.raises(DamagedStage) as err:
            two.fetch("pretrain/abc")
        assert str(err.value).startswith("stage pretrain/abc in s3://***@")
        assert f"final/model.safetensors: {said}" in str(err.value)
        assert "\n" not in str(err.value)
        assert not (two.cache / "pretrain").exists() or not any(
            (two.cache / "pretrain").iterdir()
        )  # no stage, no temporary


def test_an_unparseable_manifest_is_one_error_and_nothing_is_installed(bucket_uri, tmp_path):
    from classit_ray.store import StoreError

    store = ArtifactStore(bucket_uri, tmp_path / "node")
    with store.filesystem.open_output_stream(f"{store.remote('eval/bad')}/{MANIFEST}") as f:
        f.write(b'{"kind": "eval", ')
    with pytest.raises(StoreError, match=r"^stage eval/bad: its manifest.json in s3://\*\*\*@.* does not parse"):
        store.fetch("eval/bad")
    assert not (store.cache / "eval").exists() or not any((store.cache / "eval").iterdir())


def test_a_stage_published_in_the_old_layout_still_fetches(bucket_uri, tmp_path):
    """Before uploads had prefixes of their own, a stage's files sat under its folder and its
    manifest (no file list) was uploaded last."""
    import json

    store = ArtifactStore(bucket_uri, tmp_path / "node")
    for name, data in {**FILES, MANIFEST: json.dumps({"kind": "old"}).encode()}.items():
        with store.filesystem.open_output_stream(f"{store.remote('pretrain/old')}/{name}") as f:
            f.write(data)
    assert store.fetch("pretrain/old")
    assert {k: v for k, v in _tree(store.cache / "pretrain/old").items() if k != MANIFEST} == FILES
    assert read_manifest(store.cache / "pretrain/old") == {"kind": "old"}


def test_a_stage_manifest_lists_its_files_with_sizes_and_hashes(tmp_path):
    from classit_ray.atomic import check_contents, file_hash

    stage = _stage(tmp_path, "pretrain/k", FILES)
    listed = read_manifest(stage)["contents"]
    assert listed["hash"] == "blake2b" and set(listed["files"]) == set(FILES)
    weights = stage / "final/model.safetensors"
    assert listed["files"]["final/model.safetensors"] == {"size": 7, "blake2b": file_hash(weights)}
    assert check_contents(stage, read_manifest(stage)) is None
    (stage / "final/model.safetensors").write_bytes(b"WEIGHTS")
    assert check_contents(stage, read_manifest(stage), hashes=False) is None  # the cheap check sees sizes only
    assert "final/model.safetensors" in check_contents(stage, read_manifest(stage))


def test_a_damaged_local_stage_is_named_before_a_study_starts(tmp_path):
    from classit_ray.atomic import DamagedStage
    from classit_ray.store import check_local_stages

    stage = _stage(tmp_path, "pretrain/k", FILES)
    check_local_stages([stage, tmp_path / "pretrain/not-built"], hashes=True)  # whole, and a stage still to run: fine
    (stage / "final/model.safetensors").write_bytes(b"WEIGHTS")  # same size, other bytes
    check_local_stages([stage])  # the cheap check sees sizes only
    with pytest.raises(DamagedStage, match=r"^stage .*pretrain/k: final/model.safetensors: its blake2b hash differs"):
        check_local_stages([stage], hashes=True)
    (stage / "part-00000.parquet").write_bytes(b"\x00" * 10)
    with pytest.raises(DamagedStage, match=r"part-00000.parquet: 10 bytes, the manifest says 5000; delete the folder"):
        check_local_stages([stage])


def test_a_stage_written_where_torch_ran_says_on_what_and_whether_bit_deterministic(tmp_path):
    import torch

    record = read_manifest(_stage(tmp_path, "eval/k", {"score": b"1"}))["runtime"]
    assert record == {"torch": torch.__version__, "cuda": torch.version.cuda, "device": "cpu", "deterministic": True}
    with atomic_dir(tmp_path / "pretrain/g", {"spec": {"use_gpu": True}}):
        pass
    gpu = read_manifest(tmp_path / "pretrain/g")["runtime"]
    assert gpu["device"] == "cuda" and gpu["deterministic"] == torch.are_deterministic_algorithms_enabled()


# ---- the object stores' clients are extras -------------------------------------------------------
def test_a_study_on_s3_without_boto3_stops_before_anything_naming_the_extra(tmp_path, monkeypatch, capsys):
    """boto3 is the s3 extra's (pyproject.toml), not a runtime dependency: a study whose store is
    on s3:// in an install without it is one line, exit 1, before its inputs are even probed."""
    import sys

    from classit_ray.study import runner
    from classit_ray.study.cli import main
    from classit_ray.study.definition import StudyDefinition

    monkeypatch.setitem(sys.modules, "boto3", None)  # as if not installed
    monkeypatch.setattr(runner, "check_inputs", lambda cfg: pytest.fail("the study went on past the missing client"))
    study = StudyDefinition(
        apply_overrides(
            Config(), {"study.storage_path": "s3://KEY:SECRET@bucket/classit", "study.cache_dir": str(tmp_path)}
        )
    )
    assert main(lambda: study, "study", "a study", argv=[]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: s3://***@bucket/classit/artifacts: ")
    assert "needs boto3" in err and 'expected `pip install "classit_ray[s3]"`' in err and "SECRET" not in err


def test_publishing_without_the_client_names_the_extra(tmp_path, monkeypatch):
    import sys

    from classit_ray.store import StoreError, client_problem, create_once

    monkeypatch.setitem(sys.modules, "boto3", None)
    store = ArtifactStore("s3://bucket/store?endpoint_override=127.0.0.1:1&scheme=http&region=us-east-1", tmp_path)
    with pytest.raises(StoreError, match=r'needs boto3 .*pip install "classit_ray\[s3\]"'):
        create_once(store, "bucket/store/pretrain/k/manifest.json", b"{}")
    monkeypatch.setitem(sys.modules, "google.cloud.storage", None)
    said = client_problem("gs://bucket/x")
    assert said.startswith("gs://bucket/x: ") and said.endswith(
        "needs google-cloud-storage (its create-if-absent commits a stage), which is not installed; "
        'expected `pip install "classit_ray[gcs]"`'
    )
    assert client_problem(str(tmp_path)) is None


# ---- a writer that lost reports the winner's numbers ---------------------------------------------
def test_an_evaluation_that_lost_its_key_returns_the_winners_manifest(tmp_path, monkeypatch):
    """Two writers of one evaluation key on a local store, with different scores (as two GPU runs
    may have): the first one's folder is installed, and the second's call returns its manifest,
    so the second trial's results row says what every reader of the key gets."""
    from types import SimpleNamespace

    from classit_ray.config import EvalConfig
    from classit_ray.eval import harness
    from classit_ray.eval.artifact import evaluate_into

    def scoring(score: float):
        def evaluate(model_dir, cfg, out, device, heldout_dir=None):
            (Path(out) / "scores.json").write_text(str(score))
            return SimpleNamespace(metrics={"eval/blimp": score}, failed={}, skipped={}, seconds={"blimp": 1.0})

        return evaluate

    out, cfg = str(tmp_path / "eval" / "k"), dataclasses.asdict(EvalConfig())
    monkeypatch.setattr(harness, "evaluate", scoring(0.5))
    first = evaluate_into("model", cfg, out)
    monkeypatch.setattr(harness, "evaluate", scoring(0.75))  # finishes second: its rename onto the key fails
    second = evaluate_into("model", cfg, out)
    assert first["metrics"] == second["metrics"] == {"eval/blimp": 0.5}
    assert second == first == read_manifest(out) and (Path(out) / "scores.json").read_text() == "0.5"


def test_a_training_stage_that_lost_its_key_returns_the_winners_metrics(tmp_path, monkeypatch):
    import pyarrow.fs

    from classit_ray.cell.graph import build_graph
    from classit_ray.train import driver

    spec = build_graph(Config(), tmp_path / "store").pretrain.spec
    out = tmp_path / "store" / "pretrain" / spec.key

    def training(loss: float):
        def in_process(spec, storage_path, progress):
            final = tmp_path / f"run-{loss}" / "final"
            final.mkdir(parents=True)
            (final / "model.safetensors").write_text(str(loss))
            return {"final": (pyarrow.fs.LocalFileSystem(), str(final))}, {"pretrain/loss": loss}, str(final)

        return in_process

    monkeypatch.setattr(driver, "resolve", lambda spec: spec)  # no data to resolve against: the run is faked
    results = []
    for loss in (2.0, 3.0):  # the second finishes after the first has installed the key
        monkeypatch.setattr(driver, "_in_process", training(loss))
        monkeypatch.setattr(driver, "is_complete", lambda path: False)  # both ran: neither found the other's stage
        results.append(driver.run_stage(spec, out, tmp_path / "ray_results"))
    assert [r.metrics for r in results] == [{"pretrain/loss": 2.0}] * 2 and all(r.executed for r in results)
    assert (out / "final" / "model.safetensors").read_text() == "2.0"


def _record_stage(cache: Path, rel: str, weights: bytes, metrics: dict) -> None:
    with atomic_dir(cache / rel, {"kind": "eval", "metrics": metrics}) as tmp:
        (tmp / "weights").write_bytes(weights)


@pytest.mark.parametrize("same_bytes", [True, False])
def test_a_publisher_that_lost_returns_the_winners_record(bucket_uri, tmp_path, same_bytes):
    """Two nodes computed one key at once through the store; the second commits too late. Its
    stage call returns the record the first committed, whether its own bytes were the same (only
    its record differed: its own timings, say) or not, and its cache then holds the committed stage."""
    rel = "eval/k"
    winner, loser = ArtifactStore(bucket_uri, tmp_path / "node1"), ArtifactStore(bucket_uri, tmp_path / "node2")

    def stage(store: ArtifactStore, weights: bytes, metrics: dict, before_publish=lambda: None):
        def body():
            if (store.cache / rel / MANIFEST).is_file():
                return read_manifest(store.cache / rel)["metrics"]  # reused: the record installed
            _record_stage(store.cache, rel, weights, metrics)
            before_publish()
            return metrics  # computed here: its own numbers, as a stage's body returns them

        return through_store(store, store.cache / rel, body)

    first = stage(winner, b"w1", {"eval/blimp": 0.5, "seconds": 10})
    second = stage(
        loser,
        b"w1" if same_bytes else b"w2",
        {"eval/blimp": 0.5 if same_bytes else 0.75, "seconds": 12},
        before_publish=first,
    )  # the first commits while the second is still computing
    assert second() == {"eval/blimp": 0.5, "seconds": 10}
    assert read_manifest(loser.cache / rel)["metrics"] == {"eval/blimp": 0.5, "seconds": 10}
    assert (loser.cache / rel / "weights").read_bytes() == b"w1"
    assert stage(loser, b"", {})() == {"eval/blimp": 0.5, "seconds": 10}  # and so does every later walk
