"""Training on the toy world (tiny preset, CPU), in process and under Ray Train: stored per-step
losses, exact resume after a stop (either launcher) and after a killed Ray Train worker, the same
weights from both launchers, 2 workers vs 1, curricula, and bad inputs caught before any compute.

Regenerate the stored losses (after a deliberate change to the loop) with
`python tests/test_train.py`, and say why in the commit.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from classit_ray.train.checkpoint import CheckpointError, read_state
from classit_ray.train.driver import run_stage
from classit_ray.train.stage import StageSpec, check_tokenizer_fits, instruct_specs, pretrain_spec, resolve

STORED = Path(__file__).parent / "data" / "pretrain_tiny_losses.json"
pytestmark = pytest.mark.slow


def spec_for(prepared, **changes) -> StageSpec:
    cfg = prepared.config
    cfg = dataclasses.replace(
        cfg,
        pretrain=dataclasses.replace(
            cfg.pretrain, batch_size=16, micro_batch_size=8, lr=3e-3, warmup_steps=5, **changes
        ),
    )
    return pretrain_spec(cfg, prepared)


def losses_of(result) -> list[float]:
    return [row[1] for row in read_state(result.latest)["position"]["history"]]


def assert_same_weights(one, two) -> None:
    expected, got = load_file(f"{one.latest}/model.safetensors"), load_file(f"{two.latest}/model.safetensors")
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=0, atol=0, msg=name)


@pytest.fixture(scope="module")
def twenty_steps(prepared, tmp_path_factory):
    """The reference: 20 uninterrupted optimizer steps (2 accumulated micro-batches each), in process."""
    root = tmp_path_factory.mktemp("ref")
    return run_stage(spec_for(prepared, max_steps=20), root / "out", root / "ray")


def test_twenty_steps_reproduce_stored_losses(twenty_steps):
    assert not twenty_steps.complete and read_state(twenty_steps.latest)["position"]["step"] == 20
    losses = losses_of(twenty_steps)
    assert len(losses) == 20 and losses[-1] < losses[0]
    assert losses == pytest.approx(json.loads(STORED.read_text())["losses"], rel=1e-4)


def test_a_stage_stopped_in_process_resumes_to_the_uninterrupted_weights(prepared, twenty_steps, tmp_path):
    first = run_stage(spec_for(prepared, max_steps=10), tmp_path / "out", tmp_path / "ray")
    assert read_state(first.latest)["position"]["step"] == 10
    resumed = run_stage(spec_for(prepared, max_steps=20), tmp_path / "out", tmp_path / "ray")  # same run name: resumes
    assert losses_of(resumed) == losses_of(twenty_steps)
    assert_same_weights(twenty_steps, resumed)


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="the peak is reset through Linux's /proc")
def test_a_stage_reports_its_own_peak_memory_not_its_long_lived_processes(prepared, tmp_path):
    """A stage host runs one stage after another, for trial after trial: a stage's peak RSS is its own."""
    from classit_ray.runtime import peak_rss_mb

    ballast = b"x" * (512 * 2**20)  # a peak of half a GB more than this process holds now
    high = peak_rss_mb()
    del ballast
    result = run_stage(spec_for(prepared, max_steps=2), tmp_path / "out", tmp_path / "ray")  # in process
    assert result.metrics["pretrain/peak_rss_mb"] < high - 256


def test_a_stage_run_from_a_command_line_shows_a_progress_bar(prepared, tmp_path, capsys):
    run_stage(spec_for(prepared, max_steps=4), tmp_path / "out", tmp_path / "ray", progress=True)
    bar = capsys.readouterr().err
    assert "pretrain:" in bar and "4/" in bar and "step" in bar  # tqdm's "pretrain: ... 4/N [...step/s...]"


def test_a_stopped_run_resumes_under_ray_train_and_a_killed_worker_restarts_with_the_in_process_weights(
    prepared, twenty_steps, tmp_path
):
    """Two interruptions, one run: it stops at max_steps 10 (in process, as a trial's stage host
    runs it) and is started again to 20 under Ray Train (the same run name resumes, whichever
    launcher wrote the checkpoint); during that second run its Ray Train worker is SIGKILLed once
    a new checkpoint exists, Train restarts it (FailureConfig) from that checkpoint and its data
    position. The losses and final weights equal the uninterrupted in-process run's, bit for bit:
    both launchers train on the same batches in the same order."""
    import os
    import signal
    import threading
    import time

    import ray
    from ray.util.state import list_actors

    first = run_stage(spec_for(prepared, max_steps=10, launcher="in_process"), tmp_path / "out", tmp_path / "ray")
    assert read_state(first.latest)["position"]["step"] == 10
    spec = spec_for(prepared, max_steps=20, launcher="ray_train")
    run_dir = tmp_path / "ray" / spec.run_name
    before = {d.name for d in run_dir.glob("chck_*")}
    killed: dict = {}
    gcs = ray.get_runtime_context().gcs_address

    def kill_after_a_new_checkpoint() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not killed:
            new = {d.name for d in run_dir.glob("chck_*") if d.is_dir()} - before
            if new:
                # This session's own cluster, by address: another Ray may run on the same machine.
                workers = list_actors(
                    address=gcs,
                    filters=[("class_name", "=", "RayTrainWorker"), ("state", "=", "ALIVE")],
                    raise_on_missing_output=False,
                )
                if workers:
                    os.kill(workers[0].pid, signal.SIGKILL)
                    killed.update(pid=workers[0].pid, after=sorted(new), ended=(run_dir / "step_20").exists())
            time.sleep(0.02)

    killer = threading.Thread(target=kill_after_a_new_checkpoint, daemon=True)
    killer.start()
    resumed = run_stage(spec, tmp_path / "out", tmp_path / "ray", max_failures=2)  # same run name: resumes
    killer.join(timeout=1)
    assert killed and not killed["ended"], f"the worker was not killed mid-run: {killed}"
    assert read_state(resumed.latest)["position"]["step"] == 20
    assert losses_of(resumed) == losses_of(twenty_steps)
    assert_same_weights(twenty_steps, resumed)


def test_two_workers_follow_one_worker(prepared, twenty_steps, tmp_path):
    spec = spec_for(prepared, max_steps=10, num_workers=2)  # micro-batches of 8; auto launches Ray Train
    two = run_stage(spec, tmp_path / "out", tmp_path / "ray")
    assert spec.accumulation == 1  # same global batch of 16: 2 workers × 8
    one = losses_of(twenty_steps)[:10]
    # Different workers see the rows in a different order, so curves agree in trend, not bit for bit.
    assert losses_of(two) == pytest.approx(one, rel=0.05)


def test_pretraining_then_sequential_curriculum(prepared):
    """The `instruct` part of a sequential cell's graph (what `python -m classit_ray.train.instruct`
    runs): the data stages are reused, pretraining runs, then the two stages, each from the last."""
    from classit_ray.cell.execute import execute
    from classit_ray.cell.graph import build_graph

    cfg = prepared.config
    cfg = dataclasses.replace(
        cfg,
        pretrain=dataclasses.replace(cfg.pretrain, epochs=1, batch_size=16, micro_batch_size=16),
        instruct=dataclasses.replace(
            cfg.instruct, curriculum="switchboard>wiki", epochs=1, batch_size=16, micro_batch_size=16
        ),
    )
    graph = build_graph(cfg, prepared.split_dir.parent.parent)  # the store the fixture's data stages are in
    done = execute(graph, graph.upto("instruct"))
    assert [r.node.kind for r in done.runs.values() if r.executed] == [
        "pretrain",
        "instruct",
        "instruct",
    ]  # data reused
    pretrained, *stages = [r.result for r in done.runs.values() if r.node.spec is not None]
    assert pretrained.complete and (pretrained.final / "model.safetensors").is_file()
    names = json.loads((pretrained.out_dir / "manifest.json").read_text())["checkpoints"]
    assert "final" in names and any(n.startswith("chck_") for n in names)  # the scaled BabyLM schedule
    assert [s.spec.name for s in stages] == [
        "instruct-switchboard-then-wiki-1-switchboard",
        "instruct-switchboard-then-wiki-2-simple_wiki",
    ]
    assert all(s.complete and (s.final / "model.safetensors").is_file() for s in stages)
    assert stages[1].spec.init_from == str(stages[0].final)  # stage 2 starts where stage 1 ended
    assert all(s.metrics["instruct/loss"] > 0 for s in stages)
    again = execute(graph, graph.upto("pretrain"))
    assert not any(r.executed for r in again.runs.values())  # a finished stage is never run twice


def test_merged_curriculum_interleaves_both_sources(prepared):
    cfg = dataclasses.replace(
        prepared.config, instruct=dataclasses.replace(prepared.config.instruct, curriculum="merged")
    )
    from classit_ray.train.rows import buffer_rows, epoch_seed, read_rows, shuffled, stage_files

    (spec,) = instruct_specs(cfg, prepared)
    rows_of = {
        c: {tuple(r["input_ids"]) for r in read_rows(stage_files([d], 0))} for c, d in prepared.instruct_shards.items()
    }
    spec = resolve(spec)
    rows = shuffled(
        read_rows(stage_files(spec.shard_dirs, spec.optim.seed)),
        buffer_rows("instruct", spec.rows),
        epoch_seed(spec.optim.seed, 0),
    )
    first = [tuple(r["input_ids"]) for _, r in zip(range(40), rows)]
    sources = {c for row in first for c, rows in rows_of.items() if row in rows}
    assert sources == {"switchboard", "simple_wiki"}


def test_bad_inputs_fail_before_compute(prepared, tmp_path):
    fake = tmp_path / "big_tokenizer"
    fake.mkdir()
    (fake / "manifest.json").write_text(json.dumps({"vocab_size": 50_000}))
    with pytest.raises(
        ValueError,
        match=r"big_tokenizer: tokenizer has 50,000 tokens but model preset 'tiny' has a vocabulary of 2,048",
    ):
        check_tokenizer_fits(fake, "tiny")
    with pytest.raises(FileNotFoundError, match=r"empty_shards: no manifest\.json"):
        resolve(
            pretrain_spec(prepared.config, dataclasses.replace(prepared, pretrain_shards=tmp_path / "empty_shards"))
        )
    other = tmp_path / "other_model"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"vocab_size": 8192}))
    (other / "classit_state.json").write_text(json.dumps({"preset": "small", "tokenizer_sha256": "x"}))
    spec = dataclasses.replace(spec_for(prepared), init_from=str(other))
    with pytest.raises(
        CheckpointError, match=r"other_model: checkpoint from another model: model preset 'small', expected 'tiny'"
    ):
        run_stage(spec, tmp_path / "out", tmp_path / "ray")


if __name__ == "__main__":  # regenerate the stored losses through the same code path
    import tempfile

    from classit_ray.runtime import init_ray
    from classit_ray.toyworld.world import write_toy_world

    init_ray(num_cpus=4)
    with tempfile.TemporaryDirectory() as tmp:
        from conftest import build_data, prepared_config

        toy = write_toy_world(Path(tmp) / "world", words=40_000, seed=0)
        data = build_data(prepared_config(toy), Path(tmp) / "work")
        result = run_stage(spec_for(data, max_steps=20), Path(tmp) / "out", Path(tmp) / "ray")
        STORED.parent.mkdir(exist_ok=True)
        STORED.write_text(json.dumps({"preset": "tiny", "steps": 20, "losses": losses_of(result)}, indent=1) + "\n")
        print(f"wrote {STORED}")
