"""What one trial asks Ray for, and how many trials run at once.

A trial is a Tune function that runs its cell's stages, one after another, in its stage host
(`study/trial.py`, a process of 0 CPUs outside the trial's placement group). What it holds:

    the trial        1 CPU: the Tune function, in the placement group Tune makes for it
    a training stage its Ray Train workers, 1 CPU (+ 1 GPU on GPUs) each, in a placement group
                     of the run's own: Ray Train V2's controller makes it, whoever starts the run;
                     a stage of one CPU worker without Ray Train callbacks trains in the stage
                     host instead (`train/driver.py: launcher_for`)
    an evaluation    on GPUs a Ray task of 1 CPU + 1 GPU, between training stages; on CPUs the
                     stage host

Tune's placement group holds the trial's bundle alone. Bundles for the workers in it would be
held twice: Ray Train V2 never schedules its workers into the caller's group (Ray's Train + Tune
guide: the trial is only the run's driver), so each trial would sit on GPUs it never uses while
its run waited for others, and at the cluster's largest every GPU could be held by a trial whose
run can never start. Each run's own placement group is the demand instead: while no node fits
it, the autoscaler adds nodes, up to `max_workers`.

So what bounds the trials at once is GPUs (on GPUs) or cores (on CPUs), as Ray's guide says
(`max_concurrent_trials` = the limiting resource ÷ what a trial needs):
- CPUs: physical cores ÷ workers, each trial's torch getting cores ÷ trials threads, because
  oversubscribed cores cost far more than they give. Logical CPUs are Ray's tokens, not cores:
  a local Ray gets enough of them that every trial at once can hold its trial, its workers and
  one Data task; with fewer, a study deadlocks waiting for a CPU that no one frees.
- GPUs on this machine (a local Ray): its GPUs ÷ GPUs per trial.
- GPUs on a cluster (`study.ray_address`): the GPUs up when the study starts say nothing (an
  autoscaling cluster may start with none). With its YAML (`study.cluster_yaml`), the trials it
  holds at its largest (`study/cluster_nodes.py`); without, no cap: Tune starts every trial and
  each run waits for the GPUs the autoscaler adds. A cap matters: trials beyond what the
  cluster can ever run hold a CPU each, and enough of them leave no CPU beside any GPU.
`study.max_concurrent_trials` (`--max-concurrent`) overrides all of these.
"""

from __future__ import annotations

from dataclasses import dataclass

from classit_ray.config import Config
from classit_ray.runtime import default_logical_cpus, physical_cores
from classit_ray.study.cluster_nodes import Bundle, Cluster, bundle_text
from classit_ray.train.driver import launcher_for


@dataclass(frozen=True)
class TrialRequest:
    trial: Bundle  # the Tune function: the one bundle of the trial's placement group
    workers: tuple[
        Bundle, ...
    ]  # a training stage's Ray Train workers, in the run's own group; () = trains in the stage host
    evaluation: Bundle | None  # an evaluation's Ray task; None = runs in the stage host

    @property
    def bundles(self) -> list[Bundle]:
        """What one trial holds at once at most: itself and a training stage's workers (an
        evaluation, one worker's worth, runs between training stages, never beside them)."""
        return [self.trial, *(self.workers or ([self.evaluation] if self.evaluation else []))]

    @property
    def total(self) -> Bundle:
        out: Bundle = {}
        for bundle in self.bundles:
            for k, v in bundle.items():
                out[k] = out.get(k, 0) + v
        return out

    @property
    def gpus(self) -> float:
        return self.total.get("GPU", 0)

    def tune_resources(self):
        """The trial's placement group, for `tune.with_resources`: its own bundle alone (see the
        module docstring for why the workers' bundles are not in it)."""
        from ray import tune

        return tune.PlacementGroupFactory([self.trial])

    def describe(self) -> str:
        """ "1 CPU (trial) + 2 × (1 CPU + 1 GPU) (Ray Train workers) = 3 CPU + 2 GPU"."""
        parts = [f"{bundle_text(self.trial)} (trial)"]
        if self.workers:
            parts.append(f"{len(self.workers)} × ({bundle_text(self.workers[0])}) (Ray Train workers)")
        elif self.evaluation:
            parts.append(f"{bundle_text(self.evaluation)} (evaluation)")
        return " + ".join(parts) + (f" = {bundle_text(self.total)}" if len(self.bundles) > 1 else "")


def trial_request(cfg: Config, asha: bool = False) -> TrialRequest:
    """What one trial of `cfg` asks Ray for (`asha`: its instruction stages report to Tune,
    which takes a Ray Train run even for one CPU worker)."""
    p = cfg.pretrain
    worker: Bundle = {"CPU": 1.0, **({"GPU": 1.0} if p.use_gpu else {})}
    ray_train = {launcher_for(p.launcher, p.num_workers, p.use_gpu, callbacks) for callbacks in (False, asha)}
    workers = ({**worker, **p.worker_resources},) * p.num_workers if "ray_train" in ray_train else ()
    return TrialRequest(
        trial={"CPU": 1.0, **cfg.study.trial_resources}, workers=workers, evaluation=dict(worker) if p.use_gpu else None
    )


@dataclass
class Plan:
    request: TrialRequest
    concurrent: int | None  # trials at once; None = no cap (Tune starts every trial; each waits for its resources)
    torch_threads: int  # per training worker and per evaluation (CPU); 0 = torch's default (GPU)
    logical_cpus: int  # for a local Ray (ignored when joining a cluster)
    why: str  # how `concurrent` was decided, in words
    cluster: Cluster | None = None  # the cluster YAML the plan counted on

    def trial_resources(self):
        return self.request.tune_resources()

    @property
    def at_once(self) -> str:
        return str(self.concurrent) if self.concurrent else "no cap on trials"

    def describe(self, cfg: Config) -> dict[str, str]:
        workers, gpu = cfg.pretrain.num_workers, " + 1 GPU" if cfg.pretrain.use_gpu else ""
        req = self.request
        training = (
            f"{workers} Ray Train worker(s) × ({bundle_text(req.workers[0]) if req.workers else ''}): the run's own placement group, made by Ray Train's "
            "controller (pending until a node fits it: what the autoscaler adds nodes for) + Ray Data read tasks"
            if req.workers
            else "in the trial's stage host (one CPU worker: no Ray Train run)"
        )
        lines = {
            "trial": f"{bundle_text(req.trial)}: the Tune function, alone in the placement group Tune makes for it",
            "training stage": training,
            "evaluation": f"1 Ray task × (1 CPU{gpu})" if req.evaluation else "in the trial's stage host",
            "one trial": f"at most {req.describe()} at once",
        }
        if self.cluster is not None:
            lines["cluster"] = f"{self.cluster.path}: {self.cluster.describe()}"
        threads = f"{self.torch_threads} torch thread(s) each" if self.torch_threads else "torch's default threads"
        lines["at once"] = f"{self.at_once} ({self.why}), {threads}"
        return lines


def plan_resources(cfg: Config, cluster_gpus: float = 0.0, cluster: Cluster | None = None, asha: bool = False) -> Plan:
    """The trial request, concurrency and threads for trials of `cfg` (a study's cells share these
    settings). `cluster_gpus`: the GPUs of a local Ray; `cluster`: the cluster YAML of the cluster
    the study joins (or, for a dry run, describes)."""
    request = trial_request(cfg, asha)
    workers = cfg.pretrain.num_workers
    if not cfg.pretrain.use_gpu:
        auto, why = (
            max(1, physical_cores() // workers),
            f"this machine's {physical_cores()} core(s) ÷ {workers} worker(s)",
        )
    elif cluster is not None:
        auto = cluster.trials_at_once(request.bundles)
        why = f"what {cluster.path} holds at its largest"
    elif cfg.study.ray_address:
        auto, why = (
            None,
            (
                "joining a cluster without its YAML: Tune starts every trial, each run waits for the GPUs the "
                "autoscaler adds; --cluster FILE caps them at what it holds at its largest"
            ),
        )
    else:
        auto = max(1, int(cluster_gpus // request.gpus))
        why = f"this machine's {cluster_gpus:g} GPU(s) ÷ {request.gpus:g} per trial"
    if cfg.study.max_concurrent_trials:
        concurrent, why = cfg.study.max_concurrent_trials, "study.max_concurrent_trials"
    else:
        concurrent = auto
    threads = 0 if cfg.pretrain.use_gpu else max(1, physical_cores() // (concurrent * workers))
    logical = cfg.study.num_cpus or max(default_logical_cpus(), (concurrent or 1) * (2 + workers))
    return Plan(request, concurrent, threads, logical, why, cluster)
