"""Process-level settings for Ray and torch on small machines and on clusters.

Ray counts *logical* CPUs. A study holds several at once: a Tune trial, a Ray Train worker and the
Ray Data tasks that feed it each take one, so with logical CPUs = physical cores (2 here) the
study deadlocks waiting for a CPU nobody frees. We therefore give a local Ray more logical CPUs
than cores (4 on a 2-core machine: measured to run a trial + one Train worker + Data tasks) and
keep the real compute honest by pinning each process's torch threads to the cores it owns:
oversubscribed cores cost far more than they give.
"""

from __future__ import annotations

import os

# Ray's dashboard stays on (`ray[default]`): Ray Train frees stopped trials' placement groups through it.
_RAY_ENV = {
    # Each process sets its own torch thread count (set_torch_threads); stop OpenMP spawning one
    # thread per core in every worker. The tokenizer actors keep their Rust threads on purpose.
    "OMP_NUM_THREADS": "1",
    # Workers' logs are read by people: no progress bars redrawn into them.
    "RAY_DATA_DISABLE_PROGRESS_BARS": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
}
# Only for a Ray this process starts on its own machine: nothing there is preempted, so Ray Train's
# preemption watcher (one more actor per stage) has nothing to watch; and Ray Train's controller
# polls its workers every 2 s by default, which a stage pays about once at its start and once at
# its end. Both cut a stage's fixed cost on 2 cores (bench/study_overhead.py); a cluster keeps
# Ray Train's defaults.
_LOCAL_RAY_ENV = {
    "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER": "0",
    "RAY_TRAIN_HEALTH_CHECK_INTERVAL_S": "0.25",
}


def physical_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def default_logical_cpus() -> int:
    """Logical CPUs for a local Ray: twice the cores, at least 4 (see the module docstring)."""
    return max(4, 2 * physical_cores())


def init_ray(address: str = "", num_cpus: int = 0, **kwargs):
    """Start (or join, with `address="auto"`) Ray with the settings this project relies on."""
    import ray

    if ray.is_initialized():
        return ray.get_runtime_context()
    if address:
        return ray.init(address=address, **kwargs)
    return ray.init(
        # "local": always a Ray of our own. Without an address, ray.init joins the cluster named in
        # /tmp/ray/ray_current_cluster, which any `ray start` or test cluster on this machine writes.
        address="local",
        num_cpus=num_cpus or default_logical_cpus(),
        include_dashboard=True,
        runtime_env={"env_vars": {**_RAY_ENV, **_LOCAL_RAY_ENV}},
        **kwargs,
    )


def set_torch_threads(n: int | None = None) -> int:
    """Pin this process's torch intra-op threads to the cores it really owns (default: all)."""
    import torch

    n = n or physical_cores()
    torch.set_num_threads(n)
    return n


def outside_placement_group():
    """A scheduling strategy that keeps a task or actor out of its caller's placement group.

    Tune runs each trial in a placement group and, by default, schedules what the trial starts
    into that group too. A trial's group holds one CPU, the trial's own: an evaluation task asking
    for another would wait for it forever while the node has CPUs free.
    """
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    return PlacementGroupSchedulingStrategy(placement_group=None)


def on_this_node():
    """A scheduling strategy that puts an actor on its creator's node and nowhere else (outside
    the creator's placement group too): for the small actors a process keeps for itself (a
    trial's stage host, the driver's event queue, a stage's lease), which must live and die with
    their creator. Left to the scheduler, one lands on any node, and that node's loss then breaks
    a creator that is itself alive (a driver whose event queue is gone, a lease whose holder is
    still running while its waiters take over)."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    return NodeAffinitySchedulingStrategy(ray.get_runtime_context().get_node_id(), soft=False)


def reset_peak_rss() -> None:
    """Count this process's peak RSS again from its present RSS (Linux: `/proc/self/clear_refs`),
    so that a stage run in a long-lived process (a trial's stage host, which also runs the stages
    of the trials after it) reports its own peak, not the process's. Where /proc does not allow
    it, nothing changes and the peak stays the process's."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # 5: reset the peak RSS (VmHWM) to the current RSS; nothing else
    except OSError:
        pass


def peak_rss_mb() -> float:
    """This process's peak RSS in MB since `reset_peak_rss` (VmHWM), or since it started
    (`ru_maxrss`) where /proc has no VmHWM."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
