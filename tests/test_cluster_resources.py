"""What a trial asks Ray for, how many trials run at once (on this machine, on a cluster that
grows, on the cluster a YAML describes), a YAML that cannot hold a trial, and the GPU-hours the
paper-scale dry run states. All as data or a dry run: no Ray cluster starts."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from classit_ray.config import Config, ConfigError
from classit_ray.config_load import apply_overrides
from classit_ray.study import resources
from classit_ray.study.cluster_nodes import read_cluster

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "cluster.yaml"
ONE, TWO = {"CPU": 1.0}, {"CPU": 1.0, "GPU": 1.0}


def paper_dry_run(storage: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            str(ROOT / "studies" / "curriculum_grid.py"),
            "--dry-run",
            "--scale",
            "paper",
            "--storage",
            str(storage),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def _cfg(gpu: bool, workers: int, **more) -> Config:
    batch = {f"{s}.{k}": v for s in ("pretrain", "instruct") for k, v in (("batch_size", 16), ("micro_batch_size", 8))}
    return apply_overrides(Config(), {"pretrain.use_gpu": gpu, "pretrain.num_workers": workers, **batch, **more})


@pytest.mark.parametrize(
    "gpu, workers, asha, expected",
    [
        # One CPU worker trains in the trial's stage host: no Ray Train run, nothing but the trial to place...
        (False, 1, False, ((), None, {"CPU": 1.0})),
        # ...unless ASHA's callbacks need a Ray Train run for the instruction stages.
        (False, 1, True, ((ONE,), None, {"CPU": 2.0})),
        (False, 2, False, ((ONE, ONE), None, {"CPU": 3.0})),
        # On GPUs every stage is a Ray Train run of 1 CPU + 1 GPU per worker; evaluations a task of the same.
        (True, 1, False, ((TWO,), TWO, {"CPU": 2.0, "GPU": 1.0})),
        (True, 2, False, ((TWO, TWO), TWO, {"CPU": 3.0, "GPU": 2.0})),
    ],
)
def test_what_a_trial_requests_on_cpus_and_gpus(gpu, workers, asha, expected):
    request = resources.trial_request(_cfg(gpu, workers), asha=asha)
    assert (request.workers, request.evaluation, request.total) == expected
    assert request.trial == ONE and request.bundles == [ONE, *request.workers]


def test_tunes_placement_group_holds_the_trial_alone():
    # Ray Train V2 puts a run's workers in a placement group of its own: bundles for them in the
    # trial's group would hold every GPU twice.
    request = resources.trial_request(_cfg(True, 2))
    assert request.tune_resources().bundles == [ONE]
    assert request.describe() == "1 CPU (trial) + 2 × (1 CPU + 1 GPU) (Ray Train workers) = 3 CPU + 2 GPU"


def test_custom_resources_of_trials_and_workers_are_part_of_the_request(tmp_path):
    # study.trial_resources keeps trials on the nodes that declare them (tests/test_multinode.py),
    # pretrain.worker_resources the workers: both are what a cluster YAML's nodes must hold.
    cfg = _cfg(True, 2, **{"study.trial_resources": {"small_node": 1}, "pretrain.worker_resources": {"trainer": 1}})
    request = resources.trial_request(cfg)
    assert request.tune_resources().bundles == [{"CPU": 1.0, "small_node": 1.0}]
    assert request.workers == ({"CPU": 1.0, "GPU": 1.0, "trainer": 1.0},) * 2
    assert request.describe() == (
        "1 CPU + 1 small_node (trial) + 2 × (1 CPU + 1 GPU + 1 trainer) (Ray Train workers) "
        "= 3 CPU + 1 small_node + 2 GPU + 2 trainer"
    )
    # The shipped YAML declares neither resource: no node can hold such a trial.
    with pytest.raises(ConfigError, match="its nodes cannot hold one trial"):
        read_cluster(SHIPPED).check(request.bundles, request.describe())


def test_trials_at_once_follow_gpus_or_cores(monkeypatch):
    gpu = _cfg(True, 2)
    assert resources.plan_resources(gpu, cluster_gpus=8).concurrent == 4  # a local Ray: 8 GPUs ÷ 2 per trial
    assert resources.plan_resources(gpu, cluster_gpus=1).concurrent == 1
    monkeypatch.setattr(resources, "physical_cores", lambda: 8)
    cpu = resources.plan_resources(Config())
    assert (cpu.concurrent, cpu.torch_threads) == (8, 1) and cpu.logical_cpus >= 8 * 3
    two = resources.plan_resources(apply_overrides(Config(), {"study.max_concurrent_trials": 2}))
    assert (two.concurrent, two.torch_threads) == (2, 4)  # the cores are shared out, never oversubscribed


def test_on_a_cluster_trials_at_once_follow_what_it_can_grow_to_not_what_is_up():
    joined = _cfg(True, 1, **{"study.ray_address": "auto"})
    # The shipped cluster starts with no GPU worker: the GPUs up at the start cap nothing...
    assert resources.plan_resources(joined, cluster_gpus=0).concurrent is None
    # ...its YAML does: 8 g5.2xlarge at most (max_workers), one GPU each.
    cluster = read_cluster(SHIPPED)
    assert resources.plan_resources(joined, cluster_gpus=0, cluster=cluster).concurrent == 8
    assert resources.plan_resources(_cfg(True, 2), cluster=cluster).concurrent == 4  # 2 GPUs a trial, spread over nodes
    capped = apply_overrides(joined, {"study.max_concurrent_trials": 3})
    assert resources.plan_resources(capped, cluster=cluster).concurrent == 3  # --max-concurrent stays a cap


def test_the_shipped_yaml_reads_as_its_instance_types_hold(tmp_path):
    head, worker = read_cluster(SHIPPED).nodes
    assert (head.name, head.resources, head.count) == (
        "head",
        {"CPU": 0.0},
        1,
    )  # `resources:` wins over the instance type's 8
    assert (worker.instance, worker.resources, worker.count, worker.gpu) == (
        "g5.2xlarge",
        {"CPU": 8.0, "GPU": 1.0},
        8,
        "A10G",
    )
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text(SHIPPED.read_text().replace("g5.2xlarge", "g9.huge"))
    with pytest.raises(
        ConfigError, match=r"gpu_worker: instance type 'g9.huge' is not in .*expected resources: \{.CPU.: n, .GPU.: m\}"
    ):
        read_cluster(unknown)


@pytest.mark.slow
def test_a_cluster_that_cannot_hold_one_trial_is_one_error_before_anything_runs(tmp_path):
    small = tmp_path / "small.yaml"
    small.write_text(SHIPPED.read_text().replace("max_workers: 8", "max_workers: 1"))
    out = paper_dry_run(tmp_path, "--cluster", str(small), "--set", "pretrain.num_workers=2")
    assert out.returncode == 2 and "Traceback" not in out.stderr and out.stdout == ""
    assert out.stderr.strip() == (
        f"error: {small}: its nodes cannot hold one trial: a trial needs 1 CPU (trial) + 2 × (1 CPU + 1 GPU) (Ray Train workers) "
        "= 3 CPU + 2 GPU at once; the largest node is gpu_worker (g5.2xlarge: 8 CPU, 1 GPU (A10G)), of which the cluster runs at "
        "most 1; expected a node type (and max_workers) that holds a trial, or fewer pretrain.num_workers"
    )


@pytest.mark.slow
def test_dry_run_on_a_cluster_yaml_shows_a_trials_request_trials_at_once_and_gpu_hours(tmp_path):
    out = paper_dry_run(tmp_path, "--cluster", str(SHIPPED))
    assert out.returncode == 0, out.stderr
    text = " ".join(out.stdout.split())
    assert "one trial at most 1 CPU (trial) + 1 × (1 CPU + 1 GPU) (Ray Train workers) = 2 CPU + 1 GPU at once" in text
    assert "up to 8 × gpu_worker (g5.2xlarge: 8 CPU, 1 GPU (A10G))" in text
    assert f"at once 8 (what {SHIPPED} holds at its largest)" in text
    # The paper grid's 6 pretrainings and 30 instruction stages, counted: about 57 A10G-hours.
    hours = re.search(
        r"GPU-hours on g5\.2xlarge \(1 × A10G, node type gpu_worker of \S+\): ≈ (\d+) for the training stages", text
    )
    assert hours and 50 <= int(hours.group(1)) <= 65, text
    assert "an estimate, not a measurement" in text and "35% MFU of the A10G's 70 TFLOP/s bf16 peak" in text


def test_gpu_hours_count_each_unique_training_stage_once():
    from classit_ray.cell.graph import build_graph
    from classit_ray.model import flops_per_token, get_preset
    from classit_ray.study.gpu_hours import TOKENS_PER_WORD, training_flops

    cfg = apply_overrides(
        Config(),
        {
            "model.preset": "140m",
            "budget.total_words": 1_000_000,
            "budget.instruct_fraction": 0.1,
            "pretrain.seq_len": 512,
            "pretrain.epochs": 2,
            "instruct.epochs": 3,
        },
    )
    merged = build_graph(cfg, "/store")
    sequential = build_graph(apply_overrides(cfg, {"instruct.curriculum": "switchboard>wiki"}), "/store")
    dense, attention = flops_per_token(get_preset("140m"), 512)
    pretrain = 900_000 * 2 * TOKENS_PER_WORD * (dense + attention)
    instruct = 100_000 * 3 * TOKENS_PER_WORD * dense  # a curriculum's stages share its instruction words
    assert training_flops([merged, merged]) == pytest.approx((pretrain + instruct, pretrain))
    assert training_flops([merged, sequential]) == pytest.approx(
        (pretrain + 2 * instruct, pretrain)
    )  # one pretraining, shared


def test_a_cluster_yaml_without_a_cluster_to_join_is_refused_before_ray_starts(tmp_path):
    from classit_ray.study.definition import StudyDefinition
    from classit_ray.study.runner import run_study

    base = apply_overrides(Config(), {"study.storage_path": str(tmp_path), "study.cluster_yaml": str(SHIPPED)})
    with pytest.raises(ConfigError, match="describes the cluster a study joins, but study.ray_address is empty"):
        run_study(StudyDefinition(base, grid={"seed": [0]}))
