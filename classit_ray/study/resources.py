"""How many trials run at once, and what each holds.

A trial is a Tune function (1 logical CPU) that starts Ray Train workers (1 CPU each, plus a GPU
each on GPUs), Ray Data tasks that feed them, and an evaluation task. On GPUs the GPUs are the
limit: trials at once = GPUs ÷ GPUs per trial. On CPUs the physical cores are: each trial's
torch gets cores ÷ trials threads, because oversubscribed cores cost far more than they give
(two processes of 2 threads each on 2 cores ran 10× slower than one).

Logical CPUs are Ray's tokens, not cores; a local Ray gets enough of them that every trial at
once can hold its trial, its workers and one Data task — with fewer, a study deadlocks waiting
for a CPU that no one frees.
"""

from __future__ import annotations

from dataclasses import dataclass

from classit_ray.config import Config
from classit_ray.runtime import default_logical_cpus, physical_cores


@dataclass
class Plan:
    concurrent: int  # trials at once
    torch_threads: int  # per training worker and per evaluation (CPU); 0 = torch's default (GPU)
    logical_cpus: int  # for a local Ray (ignored when joining a cluster)

    def trial_resources(self) -> dict:
        return {"CPU": 1}

    def describe(self, cfg: Config) -> dict[str, str]:
        gpu = " + 1 GPU" if cfg.pretrain.use_gpu else ""
        workers = cfg.pretrain.num_workers
        return {
            "trial": "1 CPU (the Tune function: data stages, stage drivers)",
            "training stage": f"{workers} Ray Train worker(s) × (1 CPU{gpu}) + Ray Data read tasks",
            "evaluation": f"1 Ray task × (1 CPU{gpu})",
            "at once": f"{self.concurrent} trial(s), {self.torch_threads or 'default'} torch thread(s) each",
        }


def plan_resources(cfg: Config, cluster_gpus: float = 0.0) -> Plan:
    """Concurrency and threads for trials of `cfg` (a study's cells share these settings)."""
    workers = cfg.pretrain.num_workers
    if cfg.pretrain.use_gpu:
        auto = max(1, int(cluster_gpus // workers))
    else:
        auto = max(1, physical_cores() // workers)
    concurrent = cfg.study.max_concurrent_trials or auto
    threads = 0 if cfg.pretrain.use_gpu else max(1, physical_cores() // (concurrent * workers))
    logical = cfg.study.num_cpus or max(default_logical_cpus(), concurrent * (2 + workers))
    return Plan(concurrent, threads, logical)
