"""`classit-ray store ls | du | gc`: a store holding two studies' stages, gc keeping one of them;
and its bad input (a study that does not exist, a store that cannot be opened)."""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path

import pandas as pd
import pytest

from classit_ray.atomic import atomic_dir, is_complete
from classit_ray.cell.graph import build_graph
from classit_ray.config import Config
from classit_ray.store_tools import main


def _cell(curriculum: str, seed: int) -> Config:
    cfg = Config()
    return dataclasses.replace(
        cfg,
        instruct=dataclasses.replace(cfg.instruct, curriculum=curriculum),
        pretrain=dataclasses.replace(cfg.pretrain, seed=seed),
    )


def _study(storage: Path, name: str, cells: list[Config]) -> list:
    """A finished study as the store sees it: every stage its cells' graphs have, complete in the
    store, and a results table whose rows list them (`keys/graph`)."""
    rows, nodes = [], []
    for cfg in cells:
        graph = build_graph(cfg, storage / "artifacts")
        for node in graph.nodes:
            if not is_complete(node.path):
                with atomic_dir(node.path, {"kind": node.kind}) as tmp:
                    (tmp / "data.bin").write_bytes(b"x" * 1000)
        rows.append(
            {"status": "ok", "keys/graph": json.dumps([n.key for n in graph.nodes]), "key/pretrain": graph.pretrain.key}
        )
        nodes += graph.nodes
    (storage / name).mkdir(parents=True)
    pd.DataFrame(rows).to_parquet(storage / name / "results.parquet")
    return nodes


def _age_everything(folder: Path, seconds: float) -> None:
    then = time.time() - seconds
    for path in folder.rglob("*"):
        os.utime(path, (then, then))


def test_gc_keeping_one_study_keeps_exactly_what_it_needs(tmp_path, capsys):
    kept = _study(tmp_path, "kept", [_cell("merged", 0), _cell("none", 0)])
    other = _study(tmp_path, "other", [_cell("merged", 1)])  # another pretraining: its own stages after the data
    leftover = tmp_path / "artifacts" / "pretrain" / ".abc.tmp-1234"  # a killed writer's
    leftover.mkdir()
    (leftover / "part").write_bytes(b"y" * 10)
    _age_everything(tmp_path / "artifacts", 48 * 3600)
    young = [n for n in other if n.kind == "eval"][0]
    os.utime(Path(young.path) / "manifest.json")  # just written: within the grace period
    only_other = {n.path for n in other} - {n.path for n in kept}
    assert only_other and any(n.kind == "pretrain" for n in other if n.path in only_other)

    storage = str(tmp_path)
    assert main(["ls", "--storage", storage]) == 0
    listing = capsys.readouterr().out
    assert "kept, other" in listing and "studies: kept, other" in listing
    assert main(["du", "--storage", storage]) == 0
    assert "pretrain" in capsys.readouterr().out

    assert main(["gc", "--storage", storage, "--keep", "kept"]) == 0  # without --yes: said, not done
    said = capsys.readouterr().out
    assert "would delete pretrain/" in said and "used only by other" in said and "run again with --yes" in said
    assert all(is_complete(p) for p in only_other) and leftover.exists()

    assert main(["gc", "--storage", storage, "--keep", "kept", "--yes"]) == 0
    assert all(is_complete(n.path) for n in kept)  # the kept study's graph is whole: a rerun reuses every stage
    assert {p for p in only_other if Path(p).exists()} == {young.path}  # the rest gone, but the young stage
    assert not leftover.exists()

    assert main(["gc", "--storage", storage, "--yes"]) == 0  # keeping every study: nothing more to delete
    assert "0 folder(s)" in capsys.readouterr().out.splitlines()[-1]


def test_gc_asked_to_keep_a_study_that_does_not_exist_is_one_line_and_deletes_nothing(tmp_path, capsys):
    nodes = _study(tmp_path, "real", [_cell("none", 0)])
    _age_everything(tmp_path / "artifacts", 48 * 3600)
    assert main(["gc", "--storage", str(tmp_path), "--keep", "typo", "--yes"]) == 1
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and err.startswith("error: --keep typo: no such study in ")
    assert "studies there: real" in err
    assert all(is_complete(n.path) for n in nodes)


def test_a_store_that_cannot_be_opened_is_one_line(tmp_path, capsys):
    assert main(["ls", "--storage", str(tmp_path / "nowhere")]) == 1
    assert capsys.readouterr().err == f"error: {tmp_path / 'nowhere' / 'artifacts'}: no such store folder\n"
    assert main(["du", "--storage", str(tmp_path), "--work-dir", "nosuchscheme://bucket/x"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: nosuchscheme://bucket/x: cannot open the store") and err.count("\n") == 1


def test_gc_on_object_storage_removes_an_upload_that_lost_its_commit(tmp_path, capsys):
    pytest.importorskip("moto")
    import pyarrow.fs
    from moto.server import ThreadedMotoServer

    from classit_ray.store import ArtifactStore

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        query = f"endpoint_override={host}:{port}&scheme=http&region=us-east-1"
        fs, _ = pyarrow.fs.FileSystem.from_uri(f"s3://test:test@gc-bucket?{query}&allow_bucket_creation=true")
        fs.create_dir("gc-bucket")
        storage = f"s3://test:test@gc-bucket/results?{query}"
        store = ArtifactStore(f"s3://test:test@gc-bucket/results/artifacts?{query}", tmp_path / "cache")
        with atomic_dir(store.cache / "pretrain" / "k1", {"kind": "pretrain"}) as tmp:
            (tmp / "w").write_bytes(b"w" * 100)
        assert store.publish(store.cache / "pretrain" / "k1")
        with store.filesystem.open_output_stream(f"{store.remote('pretrain/k1')}/.uploads/lost/w") as f:
            f.write(b"v" * 100)
        with store.filesystem.open_output_stream("gc-bucket/results/s/results.parquet") as f:
            f.write(pd.DataFrame([{"status": "ok", "keys/graph": json.dumps(["k1"])}]).to_parquet())
        assert main(["gc", "--storage", storage, "--grace-hours", "0", "--yes"]) == 0
        out = capsys.readouterr().out
        assert "delete pretrain/k1/.uploads/lost" in out and "(an upload that lost its commit)" in out
        assert "s3://test:test@" not in out
        again = ArtifactStore(store.uri, tmp_path / "cache2")
        assert again.fetch("pretrain/k1") and (again.cache / "pretrain/k1/w").read_bytes() == b"w" * 100
    finally:
        server.stop()


def test_gc_never_plans_a_stage_a_running_study_holds_a_lease_on():
    from classit_ray.store_tools import Stage, gc_plan

    stages = {
        "pretrain/a": Stage("pretrain/a", "pretrain", "a", size=10, newest=0.0, complete=True),
        "pretrain/b": Stage("pretrain/b", "pretrain", "b", size=10, newest=0.0, complete=True),
    }
    plan = gc_plan(
        stages, {"s": {"x"}}, ["s"], grace_s=3600, leased={"b"}, leftovers={}, committed=lambda s: None, now=10_000.0
    )
    assert plan == [("pretrain/a", 10, "used by no study")]


def test_gc_that_may_not_delete_says_so_in_one_line(tmp_path, capsys, monkeypatch):
    from classit_ray.store_tools import StoreView

    nodes = _study(tmp_path, "gone", [_cell("none", 0)])
    (tmp_path / "gone" / "results.parquet").unlink()  # no study uses its stages any more
    _age_everything(tmp_path / "artifacts", 48 * 3600)

    def refuse(self, rel):
        raise PermissionError(f"AccessDenied: {rel}")

    monkeypatch.setattr(StoreView, "delete", refuse)
    assert main(["gc", "--storage", str(tmp_path), "--yes"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot delete" in err and "PermissionError" in err and "0 of " in err
    assert all(is_complete(n.path) for n in nodes)


def _built(cfg: Config, store: Path) -> list:
    """Every stage of `cfg`'s graph, complete in the store; its nodes."""
    graph = build_graph(cfg, store)
    for node in graph.nodes:
        if not is_complete(node.path):
            with atomic_dir(node.path, {"kind": node.kind}) as tmp:
                (tmp / "data.bin").write_bytes(b"x" * 100)
    return graph.nodes


def test_gc_keeps_the_stages_of_a_studys_unfinished_cells(tmp_path, capsys):
    """A study stopped with one cell done, one interrupted, one never started and one failed:
    every row of its results table (as the runner writes it) lists its cell's stage keys, so
    `gc --keep` it keeps what a resumed study will reuse, not only the finished cell's stages."""
    from types import SimpleNamespace

    from classit_ray.config_load import apply_overrides
    from classit_ray.study.definition import CELL, StudyDefinition, cell_config
    from classit_ray.study.row import INTERRUPTED, NOT_STARTED
    from classit_ray.study.runner import results_table, write_results
    from classit_ray.study.trial import planned_keys

    base = apply_overrides(Config(), {"study.storage_path": str(tmp_path), "study.name": "stopped"})
    cells = {
        status: {"instruct.curriculum": curriculum, "seed": seed}
        for status, curriculum, seed in (
            ("ok", "merged", 0),
            (INTERRUPTED, "none", 1),
            (NOT_STARTED, "merged", 2),
            ("error", "none", 3),
        )
    }
    study = StudyDefinition(base, grid={"instruct.curriculum": ["merged", "none"], "seed": [0, 1, 2, 3]})
    store = tmp_path / "artifacts"
    nodes = {status: _built(cell_config(base, cell), store) for status, cell in cells.items()}
    orphan = _built(_cell("merged", 9), store)  # no row of any study lists it
    finished = planned_keys(cell_config(base, cells["ok"]), store)  # what the finished trial's own row reported
    grid = [
        SimpleNamespace(
            config={CELL: cell},
            path=status,
            metrics=finished if status == "ok" else {},
            error=RuntimeError("boom") if status == "error" else None,
        )
        for status, cell in cells.items()
    ]  # Tune's results: a failed or stopped trial reported nothing
    df = results_table(study, grid, {INTERRUPTED: INTERRUPTED, NOT_STARTED: NOT_STARTED})
    for _, row in df.iterrows():
        cell = {"instruct.curriculum": row["instruct.curriculum"], "seed": row["cell.seed"]}
        assert json.loads(row["keys/graph"]) == [n.key for n in build_graph(cell_config(base, cell), store).nodes]
    assert sorted(df["status"]) == sorted(cells)
    write_results(df, str(tmp_path / "stopped"))
    _age_everything(store, 48 * 3600)

    assert main(["gc", "--storage", str(tmp_path), "--keep", "stopped", "--yes"]) == 0
    assert all(is_complete(n.path) for cell_nodes in nodes.values() for n in cell_nodes)
    only_orphan = {n.path for n in orphan} - {n.path for cell_nodes in nodes.values() for n in cell_nodes}
    assert only_orphan and not any(Path(p).exists() for p in only_orphan)
    assert "used by no study" in capsys.readouterr().out
