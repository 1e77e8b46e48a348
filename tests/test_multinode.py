"""A study on a simulated multi-node Ray cluster (`ray.cluster_utils.Cluster`: several raylets on
this machine, each with resources of its own): trials spread over the nodes, a two-worker Ray
Train stage spans two nodes, and a training node removed mid-pretraining (then replaced, as an
autoscaler would) still ends the study as an undisturbed run ends it: the stage resumes from its
last checkpoint on the nodes left, is computed once, and ends on the weights and per-step losses
that the same stage gives when it is run again, alone and undisturbed, on the same cluster. (The
evaluations downstream are a deterministic function of those weights; tests/test_study.py checks
that a stage's scores are reproduced exactly.)

The cluster and its driver run in a process of their own (this file run as a script), so the
test run's shared Ray session is untouched; the script writes what it saw as JSON for the test.
Every node binds to 127.0.0.1: with RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 Ray takes the loopback
address as the node's address instead of the machine's routable one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import MULTINODE_RUN, free_port, kill_ray_session_of

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow
TRAINER, TRIAL = "trainer", "trial"  # custom resources: the nodes that train, the nodes trials run on


TIMEOUT_S = 580  # the script's own limit, from its start (the test's is 600)


def start_study(root: Path) -> tuple[subprocess.Popen, Path, float]:
    """This file as a script, in a session of its own (its cluster's processes are killed by that
    session's name), writing what it saw to `root/seen.json` and its output to `root/script.log`.
    conftest.py starts it as soon as a run collects this test: the script is mostly processes
    starting and waiting on each other, and the rest of the suite runs beside it."""
    root.mkdir(parents=True, exist_ok=True)
    # Ray Train's controller takes a worker's report every 2 s by default, and a worker's next
    # report waits for it: with a checkpoint at each of this small pretraining's steps, every step
    # cost 2 s (the study and its reference run: 23 s of the test). Every node the script starts,
    # and so every process of its cluster, inherits the setting. At 0.5 s a step still takes long
    # enough that the node is removed seconds before the pretraining could end.
    env = {
        **{k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"},
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
        "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.5",
    }
    with open(root / "script.log", "w") as log:
        proc = subprocess.Popen(
            [sys.executable, __file__, str(root), str(root / "seen.json")],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
            start_new_session=True,
        )
    return proc, root, time.monotonic()


def stop_study(proc: subprocess.Popen) -> None:
    """The script and every process of its cluster, killed if still running; nothing outlives the run."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    kill_ray_session_of(proc.pid)


@pytest.mark.timeout(600)
def test_a_study_across_nodes_survives_losing_a_training_node(request, tmp_path):
    proc, root, started = request.config.stash.get(MULTINODE_RUN, None) or start_study(tmp_path)
    try:
        returncode = proc.wait(timeout=max(1.0, started + TIMEOUT_S - time.monotonic()))
    finally:
        stop_study(proc)
    assert returncode == 0, (root / "script.log").read_text()[-6000:]
    seen = json.loads((root / "seen.json").read_text())
    assert seen["addresses"] == ["127.0.0.1"], seen["addresses"]  # no node listened beyond this machine
    assert len(seen["trial_nodes"]) == 2, seen  # the two trials, each on a node of its own
    assert len(seen["spanned"]) == 2, seen  # the two workers of the pretraining, on two nodes when one was removed
    assert seen["removed"], "no training node was removed mid-pretraining"
    assert seen["status"] == ["ok"] * 2 and all(seen["scored"]), seen  # both trials ended with their scores
    assert seen["pretrainings_run"] == 1  # once, resumed after the loss, never from the start
    assert seen["resumed"], "the pretraining did not resume after losing its node"
    # The resumed pretraining ends where the undisturbed one does: the same steps, losses and weights, to the bit.
    assert seen["same_history"] and seen["same_weights"], seen


def _study(storage: Path, name: str, address: str):
    import dataclasses

    sys.path.insert(0, str(ROOT / "studies"))
    import curriculum_grid

    from classit_ray.config_load import apply_overrides

    study = curriculum_grid.build()
    base = apply_overrides(
        study.base,
        {
            "study.name": name,
            "study.storage_path": str(storage),
            "study.ray_address": address,
            "study.toy_words": 40_000,
            "study.max_concurrent_trials": 2,
            "study.trial_resources": {TRIAL: 1},
            "study.loggers": [],
            "budget.total_words": 5_000,
            "pretrain.seq_len": 64,
            "pretrain.epochs": 1,
            "pretrain.shard_rows": 100,
            "pretrain.num_workers": 2,
            "pretrain.batch_size": 16,
            "pretrain.micro_batch_size": 8,
            "pretrain.worker_resources": {TRAINER: 1},
            "instruct.batch_size": 16,
            "instruct.micro_batch_size": 8,  # checked against the two workers, though no cell tunes
            "eval.tasks": ["blimp"],
            "eval.checkpoints": [],
        },
    )
    # Two trials that share one pretraining (run once, by the trial that leases it first) and
    # differ in their evaluation's batch size only: both start at once, each on a trial node of its
    # own. No instruction stage: what a node's loss tests is the Ray Train stage it interrupts.
    return dataclasses.replace(
        study,
        base=base,
        baseline=False,
        grid={
            "model.preset": ["tiny"],
            "seed": [0],
            "instruct.curriculum": ["none"],
            "budget.instruct_fraction": [0.0],
            "eval.batch_size": [32, 64],
        },
    )


def _watch(address: str, seen: dict, stop: threading.Event) -> None:
    """Which nodes ran trials, polled from this cluster's own state API."""
    from ray.util.state import list_actors

    while not stop.is_set():
        try:
            for actor in list_actors(
                address=address, filters=[("state", "=", "ALIVE")], limit=1000, raise_on_missing_output=False
            ):
                if actor.class_name == "ImplicitFunc":  # a Tune function trial
                    seen["trial_nodes"].add(actor.node_id)
        except Exception:  # noqa: BLE001 - the state API can be busy while nodes come and go: look again
            pass
        time.sleep(2)  # a trial lives a minute or more; every look costs the dashboard and the GCS


def _remove_a_training_node_mid_pretraining(cluster, storage: Path, nodes: list, seen: dict) -> None:
    """Once Ray Train has registered a checkpoint of the pretraining, remove the one of `nodes`
    that runs one of its Ray Train workers and add a fresh one with the same resources (in the main
    thread: Ray's node objects install signal handlers). `seen` gets the node removed and the
    nodes the workers were on at that moment.

    Registered, not only written: the checkpoint manager's snapshot is written when Ray Train
    registers a checkpoint, the one a restarted worker group resumes from. A checkpoint folder
    may exist before that, and a run hit then starts over (which ends on the same weights, so
    only the step log tells)."""
    from ray.train.v2._internal.constants import CHECKPOINT_MANAGER_SNAPSHOT_FILENAME
    from ray.util.state import list_actors

    removed = seen["removed"]

    runs = storage / "artifacts" / "ray_results"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not removed:
        if any(runs.glob(f"pretrain-*/{CHECKPOINT_MANAGER_SNAPSHOT_FILENAME}")):
            try:
                workers = list_actors(
                    address=cluster.address,
                    filters=[("class_name", "=", "RayTrainWorker"), ("state", "=", "ALIVE")],
                    raise_on_missing_output=False,
                )
            except Exception:  # noqa: BLE001 - the state API can be busy: look again
                workers = []
            busy = {w.node_id for w in workers}
            node = next((n for n in nodes if n.node_id in busy), None)
            if node is not None:
                seen["spanned"] = sorted(busy)
                cluster.remove_node(node)
                cluster.add_node(num_cpus=2, resources={TRAINER: 1})
                removed.append(node.node_id)
        time.sleep(0.05)


def _step_printers(log: Path) -> tuple[set[str], set[str]]:
    """The Ray Train worker processes that printed a pretraining step in the study's workers'
    log, and those that printed its first step. A worker group restarted after the node's loss
    prints steps from new processes; if it resumed rather than started over, none prints step 1."""
    import re

    printed, first = set(), set()
    for pid, step in re.findall(r"\(RayTrainWorker pid=(\d+)[^)]*\) \[pretrain\] step (\d+)/", log.read_text()):
        printed.add(pid)
        if step == "1":
            first.add(pid)
    return printed, first


def _undisturbed(study, root: Path) -> Path:
    """The study's pretraining run again, alone, on the same cluster (its two trainer nodes, one of
    them the replacement), with the trials' torch threads, into a store of its own; its `final`."""
    import dataclasses

    from classit_ray.cell.graph import build_graph
    from classit_ray.study.definition import cell_config, grid_cells
    from classit_ray.study.resources import plan_resources
    from classit_ray.train.driver import run_stage

    graph = build_graph(
        cell_config(study.base, grid_cells(study)[0]), root / "artifacts"
    )  # its data stages: the study's
    spec = dataclasses.replace(graph.pretrain.spec, torch_threads=plan_resources(study.base).torch_threads)
    return run_stage(spec, root / "undisturbed" / "pretrain", root / "undisturbed" / "ray_results").final


def main(root: Path, out: Path) -> None:
    import ray
    from ray.cluster_utils import Cluster

    from classit_ray.study.runner import run_study
    from classit_ray.train.checkpoint import read_state

    # The head holds the driver and one trial; a second node the other trial and one Ray Train
    # worker; a third node the other worker, and it is the one removed (a node with a trial on it
    # would take that trial along, which is not what this test is about). Each training node has
    # a CPU for Ray Data's tasks. (Every node is a raylet and its agents on this machine's two
    # cores: no more of them than the test needs.)
    # The state API needs the dashboard; on a port of its own, since the test run's shared Ray (or
    # any other Ray on this machine) may hold the default 8265, which Ray does not retry when a
    # node is started this way.
    cluster = Cluster(
        initialize_head=True,
        head_node_args={
            "num_cpus": 1,
            "resources": {TRIAL: 1},
            "include_dashboard": True,
            "dashboard_port": free_port(),
        },
    )
    seen = {"trial_nodes": set(), "removed": []}
    try:
        cluster.add_node(num_cpus=3, resources={TRIAL: 1, TRAINER: 1})
        removable = cluster.add_node(num_cpus=2, resources={TRAINER: 1})
        cluster.wait_for_nodes()
        ray.init(address=cluster.address)
        stop = threading.Event()
        watcher = threading.Thread(target=_watch, args=(cluster.address, seen, stop), daemon=True)
        watcher.start()
        definition, result = _study(root, "multinode", cluster.address), {}
        study = threading.Thread(target=lambda: result.update(df=run_study(definition)), daemon=True)
        study.start()
        _remove_a_training_node_mid_pretraining(cluster, root, [removable], seen)
        study.join()
        stop.set()
        watcher.join()
        df = result["df"]
        printed, printed_first = _step_printers(
            root / "multinode" / "logs" / "workers.log"
        )  # before another run writes there
        hit = Path(df["artifact/pretrain"].iloc[0]) / "final"
        calm = _undisturbed(definition, root)
        history = read_state(hit)["position"]["history"]
        addresses = sorted({n["NodeManagerAddress"] for n in ray.nodes()})
        out.write_text(
            json.dumps(
                {
                    "trial_nodes": sorted(seen["trial_nodes"]),
                    "spanned": seen.get("spanned", []),
                    "removed": seen["removed"],
                    "addresses": addresses,
                    "status": df["status"].tolist(),
                    "scored": df["eval/blimp"].notna().tolist(),
                    "pretrainings_run": int(df["executed/pretrain"].sum()),
                    "resumed": len(printed) > 1 and len(printed_first) == 1,
                    "same_history": history == read_state(calm)["position"]["history"] and len(history) > 1,
                    "same_weights": (hit / "model.safetensors").read_bytes()
                    == (calm / "model.safetensors").read_bytes(),
                }
            )
        )
    finally:
        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
