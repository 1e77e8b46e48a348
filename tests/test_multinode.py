"""A study on a simulated multi-node Ray cluster (`ray.cluster_utils.Cluster`: several raylets on
this machine, each with resources of its own): trials spread over the nodes, a two-worker Ray
Train stage spans two nodes, and a training node removed mid-pretraining (then replaced, as an
autoscaler would) still ends the study with the results of an undisturbed run: the stage resumes
from its last checkpoint on the nodes left, and nothing finished is computed again.

The cluster and its driver run in a process of their own (this file run as a script), so the
test run's shared Ray session is untouched; the script writes what it saw as JSON for the test.
Every node binds to 127.0.0.1: with RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 Ray takes the loopback
address as the node's address instead of the machine's routable one.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow
TRAINER, TRIAL = "trainer", "trial"  # custom resources: the nodes that train, the nodes trials run on


@pytest.mark.timeout(600)
def test_a_study_across_nodes_survives_losing_a_training_node(tmp_path):
    out = tmp_path / "seen.json"
    env = {**{k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    proc = subprocess.run([sys.executable, __file__, str(tmp_path), str(out)], capture_output=True, text=True, timeout=580,
                          env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    seen = json.loads(out.read_text())
    assert seen["addresses"] == ["127.0.0.1"], seen["addresses"]  # no node listened beyond this machine
    assert len(seen["trial_nodes"]) == 2, seen  # the two trials, each on a node of its own
    assert len(seen["train_worker_nodes"]) == 2, seen  # the two workers of the pretraining, on two nodes
    assert seen["removed"], "no training node was removed mid-pretraining"
    calm, hit = seen["undisturbed"], seen["disturbed"]
    assert calm["status"] == hit["status"] == ["ok"] * 2
    assert hit["eval"] == calm["eval"]  # the same scores, cell by cell
    assert hit["pretrain_loss"] == calm["pretrain_loss"]  # the resumed pretraining ends where the calm one did
    assert hit["pretrainings_run"] == calm["pretrainings_run"] == 1  # once, resumed after the loss, never from the start
    assert hit["instruct_runs"] == calm["instruct_runs"] == 1


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _study(storage: Path, address: str):
    import dataclasses

    sys.path.insert(0, str(ROOT / "studies"))
    import curriculum_grid

    from classit_ray.config import apply_overrides

    study = curriculum_grid.build()
    base = apply_overrides(study.base, {
        "study.name": "multinode", "study.storage_path": str(storage), "study.ray_address": address, "study.toy_words": 40_000,
        "study.max_concurrent_trials": 2, "study.trial_resources": {TRIAL: 1}, "study.loggers": [],
        "budget.total_words": 12_000, "pretrain.seq_len": 64, "pretrain.epochs": 1, "pretrain.shard_rows": 100,
        "pretrain.num_workers": 2, "pretrain.batch_size": 16, "pretrain.micro_batch_size": 8, "pretrain.worker_resources": {TRAINER: 1},
        "instruct.epochs": 1, "instruct.batch_size": 16, "instruct.micro_batch_size": 8,
        "eval.tasks": ["blimp"], "eval.checkpoints": [],
    })
    # The merged curriculum and, added by the definition, the baseline: two trials, one pretraining.
    return dataclasses.replace(study, base=base, grid={"model.preset": ["tiny"], "seed": [0], "instruct.curriculum": ["merged"],
                                                       "budget.instruct_fraction": [0.1]})


def _watch(address: str, seen: dict, stop: threading.Event) -> None:
    """Which nodes ran trials and Ray Train workers, polled from this cluster's own state API."""
    from ray.util.state import list_actors

    while not stop.is_set():
        try:
            for actor in list_actors(address=address, filters=[("state", "=", "ALIVE")], limit=1000, raise_on_missing_output=False):
                if actor.class_name == "RayTrainWorker":
                    seen["train_worker_nodes"].add(actor.node_id)
                elif actor.class_name == "ImplicitFunc":  # a Tune function trial
                    seen["trial_nodes"].add(actor.node_id)
        except Exception:  # noqa: BLE001 - the state API can be busy while nodes come and go: look again
            pass
        time.sleep(0.5)


def _remove_a_training_node_mid_pretraining(cluster, storage: Path, nodes: list, removed: list) -> None:
    """Once the pretraining has written a checkpoint, remove a training node that runs one of its
    Ray Train workers and add a fresh one with the same resources (in the main thread: Ray's node
    objects install signal handlers)."""
    from ray.util.state import list_actors

    runs = storage / "artifacts" / "ray_results"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not removed:
        if any(runs.glob("pretrain-*/chck_*/classit_state.json")):
            try:
                workers = list_actors(address=cluster.address, filters=[("class_name", "=", "RayTrainWorker"), ("state", "=", "ALIVE")],
                                      raise_on_missing_output=False)
            except Exception:  # noqa: BLE001 - the state API can be busy: look again
                workers = []
            busy = {w.node_id for w in workers}
            node = next((n for n in nodes if n.node_id in busy), None)
            if node is not None:
                cluster.remove_node(node)
                cluster.add_node(num_cpus=2, resources={TRAINER: 1})
                removed.append(node.node_id)
        time.sleep(0.05)


def _summary(df) -> dict:
    df = df.sort_values("instruct.curriculum").reset_index(drop=True)
    evals = sorted(c for c in df.columns if c.startswith("eval/") and c != "eval/failed_tasks")
    return {"status": df["status"].tolist(), "eval": df[evals].astype(float).round(12).to_dict("list"),
            "pretrain_loss": df["pretrain/loss"].tolist(), "pretrainings_run": int(df["executed/pretrain"].sum()),
            "instruct_runs": int(df["executed/instruct"].sum())}


def main(root: Path, out: Path) -> None:
    import ray
    from ray.cluster_utils import Cluster

    from classit_ray.study.runner import run_study

    # The head holds the driver only. Two nodes for trials (one each), two for training (one Ray
    # Train worker each, and a CPU for Ray Data's tasks).
    # The state API needs the dashboard; on a port of its own, since the test run's shared Ray (or
    # any other Ray on this machine) may hold the default 8265, which Ray does not retry when a
    # node is started this way.
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": True,
                                                            "dashboard_port": _free_port()})
    seen = {"trial_nodes": set(), "train_worker_nodes": set(), "removed": []}
    try:
        for _ in range(2):
            cluster.add_node(num_cpus=1, resources={TRIAL: 1})
        trainers = [cluster.add_node(num_cpus=2, resources={TRAINER: 1}) for _ in range(2)]
        cluster.wait_for_nodes()
        ray.init(address=cluster.address)
        stop = threading.Event()
        watcher = threading.Thread(target=_watch, args=(cluster.address, seen, stop), daemon=True)
        watcher.start()
        undisturbed = run_study(_study(root / "calm", cluster.address))
        stop.set()
        watcher.join()

        result = {}
        study = threading.Thread(target=lambda: result.update(df=run_study(_study(root / "hit", cluster.address))), daemon=True)
        study.start()
        _remove_a_training_node_mid_pretraining(cluster, root / "hit", trainers, seen["removed"])
        study.join()
        addresses = sorted({n["NodeManagerAddress"] for n in ray.nodes()})
        out.write_text(json.dumps({"trial_nodes": sorted(seen["trial_nodes"]), "train_worker_nodes": sorted(seen["train_worker_nodes"]),
                                   "removed": seen["removed"], "addresses": addresses, "undisturbed": _summary(undisturbed),
                                   "disturbed": _summary(result["df"])}))
    finally:
        ray.shutdown()
        cluster.shutdown()


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
