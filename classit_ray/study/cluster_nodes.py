"""The nodes a `ray up` cluster YAML can start, what each holds, and how many trials fit on them.

    cluster = read_cluster("cluster.yaml")     # ConfigError naming the file for what it cannot tell
    cluster.check(bundles, need)               # ConfigError when not even one trial fits
    cluster.trials_at_once(bundles)            # trials the cluster holds at its largest

A node type holds the Ray resources `ray up` gives it: its `resources:` entries, key by key over
what its instance type holds (Ray's AWS provider asks EC2; offline, `hardware.INSTANCE_TYPES`).
At its largest the cluster runs its head and, of each worker type, up to that type's `max_workers`
(default: the top-level one), all worker types together up to the top-level `max_workers`. That
is the size the autoscaler may grow to, so it, not the nodes up when a study starts, bounds how
many trials can ever run at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from classit_ray.config import ConfigError
from classit_ray.hardware import INSTANCE_TYPES

Bundle = dict[str, float]
SHIPPED_CLUSTER_YAML = (
    Path(__file__).resolve().parents[2] / "cluster.yaml"
)  # this checkout's; absent from an installed wheel
DEFAULT_MAX_WORKERS = 2  # the top-level `max_workers` Ray's provider defaults give when a YAML has none


@dataclass(frozen=True)
class NodeType:
    name: str
    instance: str  # the instance type, "" when the YAML names none
    resources: dict[str, float]  # CPU, GPU (and whatever else `resources:` declares)
    count: int  # how many of it the cluster runs at its largest
    gpu: str = ""  # the GPU's name ("A10G"); "" without GPUs or when the YAML does not say

    def holds(self) -> str:
        """ "g5.2xlarge: 8 CPU, 1 GPU (A10G)"."""
        cpu, gpu = self.resources.get("CPU", 0), self.resources.get("GPU", 0)
        what = f"{cpu:g} CPU" + (f", {gpu:g} GPU" + (f" ({self.gpu})" if self.gpu else "") if gpu else "")
        return f"{self.instance}: {what}" if self.instance else what


def bundle_text(bundle: Bundle) -> str:
    """{"CPU": 1, "GPU": 1} -> "1 CPU + 1 GPU"."""
    return " + ".join(f"{v:g} {k}" for k, v in bundle.items()) or "nothing"


@dataclass(frozen=True)
class Cluster:
    path: str  # the YAML, as the user named it
    nodes: tuple[NodeType, ...]  # the head first, then the worker types in the YAML's order

    def describe(self) -> str:
        """ "head (m6i.2xlarge: 0 CPU) + up to 8 × gpu_worker (g5.2xlarge: 8 CPU, 1 GPU (A10G))"."""
        head, *workers = self.nodes
        return " + ".join(
            [
                f"{head.name} ({head.holds()})",
                *(f"up to {n.count} × {n.name} ({n.holds()})" for n in workers if n.count),
            ]
        )

    @property
    def largest(self) -> NodeType:
        """The node type with the most GPUs, then CPUs (what an error compares a trial with)."""
        return max(self.nodes, key=lambda n: (n.resources.get("GPU", 0), n.resources.get("CPU", 0)))

    @property
    def gpu_types(self) -> list[NodeType]:
        return [n for n in self.nodes if n.resources.get("GPU", 0) > 0 and n.count]

    def trials_at_once(self, bundles: list[Bundle], limit: int = 100_000) -> int:
        """How many trials, each holding `bundles` at once, the cluster at its largest fits: each
        trial's bundles go first-fit onto nodes, GPU bundles first (a bundle never spans nodes, a
        trial's bundles may: Ray Train's placement group packs them where it can, softly)."""
        free = [dict(n.resources) for n in self.nodes for _ in range(n.count)]
        order = sorted(bundles, key=lambda b: (-b.get("GPU", 0), -b.get("CPU", 0)))
        trials = 0
        while trials < limit and _place(order, free):
            trials += 1
        return trials

    def check(self, bundles: list[Bundle], need: str) -> None:
        """A ConfigError naming the YAML, what one trial needs (`need`, in words) and the largest
        node, when the cluster at its largest cannot hold one trial."""
        if self.trials_at_once(bundles, limit=1):
            return
        big = self.largest
        runs = "the head" if big is self.nodes[0] else f"of which the cluster runs at most {big.count}"
        raise ConfigError(
            [
                f"its nodes cannot hold one trial: a trial needs {need} at once; the largest node is {big.name} "
                f"({big.holds()}), {runs}; expected a node type (and max_workers) that holds a trial, "
                "or fewer pretrain.num_workers"
            ],
            source=self.path,
        )


def _place(bundles: list[Bundle], free: list[dict[str, float]]) -> bool:
    """Place every bundle of one trial first-fit on `free` (updated in place), or none of them."""
    taken = []
    for bundle in bundles:
        node = next((f for f in free if all(f.get(k, 0) >= v for k, v in bundle.items())), None)
        if node is None:
            for node, b in taken:  # undo this trial's partial placement
                for k, v in b.items():
                    node[k] += v
            return False
        for k, v in bundle.items():
            node[k] -= v
        taken.append((node, bundle))
    return True


def _node_type(name: str, spec: dict, count: int) -> tuple[NodeType | None, str | None]:
    """(the node type, None) or (None, why its resources are unknown)."""
    spec = spec or {}
    instance = str((spec.get("node_config") or {}).get("InstanceType", ""))
    given = {k: float(v) for k, v in (spec.get("resources") or {}).items()}
    known = INSTANCE_TYPES.get(instance)
    if known is None and not {"CPU", "GPU"} <= set(given):
        what = (
            f"instance type {instance!r} is not in classit_ray/hardware.py's table" if instance else "no InstanceType"
        )
        return None, (
            f"available_node_types.{name}: {what} and its `resources:` do not say how many CPUs and GPUs it holds; "
            'expected resources: {"CPU": n, "GPU": m}'
        )
    resources = {"CPU": float(known.cpus), **({"GPU": float(known.gpus)} if known.gpus else {})} if known else {}
    resources.update(given)  # `resources:` wins key by key, as `ray up` fills them in
    accelerator = next((k.split(":", 1)[1] for k in resources if k.startswith("accelerator_type:")), "")
    gpu = (accelerator or (known.gpu if known else "")) if resources.get("GPU", 0) else ""
    return NodeType(name, instance, resources, count, gpu), None


def read_cluster(path: str | Path) -> Cluster:
    """The node types of the `ray up` YAML at `path`; one ConfigError (naming the file) listing
    everything that keeps it from saying what its nodes hold."""
    import yaml

    shown = str(path)
    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigError(["cluster YAML not found"], source=shown)
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        raise ConfigError([f"not valid YAML ({str(e).splitlines()[0]})"], source=shown) from None
    types = config.get("available_node_types") if isinstance(config, dict) else None
    head = config.get("head_node_type") if isinstance(config, dict) else None
    if not isinstance(types, dict) or head not in types:
        raise ConfigError(
            [
                "expected available_node_types with the head_node_type among them: without them the file does not say what "
                "its nodes hold (a local provider's machines report theirs at `ray start`)"
            ],
            source=shown,
        )
    budget = int(config.get("max_workers", DEFAULT_MAX_WORKERS))
    nodes, problems = [], []
    head_type, why = _node_type(head, types[head], 1)
    nodes.append(head_type)
    problems += [why] if why else []
    workers = []
    for name, spec in types.items():
        if name == head:
            continue
        node, why = _node_type(name, spec, 0)
        problems += [why] if why else []
        if node is not None:
            workers.append((node, int((spec or {}).get("max_workers", budget))))
    if problems:
        raise ConfigError(problems, source=shown)
    # At its largest: the worker types with the most GPUs per node first, within the global budget.
    counts = {}
    for node, most in sorted(workers, key=lambda w: (-w[0].resources.get("GPU", 0), -w[0].resources.get("CPU", 0))):
        counts[node.name] = min(most, budget)
        budget -= counts[node.name]
    nodes += [NodeType(n.name, n.instance, n.resources, counts[n.name], n.gpu) for n, _ in workers]
    return Cluster(shown, tuple(nodes))
