"""Run a shared stage once, however many trials ask for it at the same moment.

The artifact store already makes a *finished* stage free to reuse (its directory is complete).
What it cannot do alone is stop two concurrent trials — the three curricula of one cell, started
together — from both starting the same pretraining. Ray coordinates that here: each stage key gets
a named actor, and every trial that needs the stage calls the same actor. An actor runs one call
at a time, so the first call does the work and later ones wait, then find the stage complete.

Why an actor rather than a lock file: it works on any storage (a lock on s3 is not a thing), and
it cannot go stale. The actor is owned by the trial that created it, so if that trial dies (a
crash, a stopped trial) the actor dies with it; the waiting trials get `RayActorError` and try
again with a fresh actor, and the stage resumes from its last checkpoint (Ray Train run names are
stage keys). The trial whose call ran the stage removes the actor afterwards, so no process is
left behind per stage; a caller still queued on it gets the same `RayActorError` and retries,
now finding the stage complete.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

NAMESPACE = "classit_ray"
_RETRIES = 20


class _Once:
    """The actor: runs the first call's function, reports later calls as joined."""

    def __init__(self):
        self.done = False

    def run(self, fn: Callable[[], Any]) -> tuple[bool, Any]:
        if self.done:
            return False, None
        value = fn()
        self.done = True
        return True, value


def run_once(stage: str, key: str, fn: Callable[[], Any], prefix: str = "once") -> Any:
    """`fn()` run once across every concurrent caller with the same `stage` and `key`.

    Callers never run `fn` at the same time: one runs it in the actor, the others wait, then run
    it again themselves, which finds the stage complete and returns the reused result. So `fn`
    must be idempotent — check its artifact and return early when complete — and each caller gets
    `fn`'s answer for itself (e.g. "reused", not "built").
    """
    import ray
    from ray.exceptions import RayActorError, RayTaskError

    name = f"{prefix}/{stage}/{key}"
    actor_cls = ray.remote(num_cpus=0, max_restarts=0, scheduling_strategy=outside_placement_group())(_Once)
    for attempt in range(_RETRIES):
        try:
            actor = actor_cls.options(name=name, namespace=NAMESPACE, get_if_exists=True, lifetime=None).remote()
            ran, value = ray.get(actor.run.remote(fn))
        except RayActorError:  # the owner died, or the runner removed it: try again with a fresh one
            time.sleep(min(0.2 * 2**attempt, 5.0))
            continue
        except RayTaskError as err:  # fn raised: hand the caller its own error, not Ray's wrapper
            raise (err.cause if isinstance(err.cause, Exception) else err) from None
        if ran:
            ray.kill(actor)
            return value
        return fn()  # another caller ran it: this finds the stage complete
    raise RuntimeError(f"stage {stage} {key}: its coordinating actor {name!r} died {_RETRIES} times; see the Ray logs")


def outside_placement_group():
    """A scheduling strategy that keeps a task or actor out of its caller's placement group.

    Tune runs each trial in a placement group and, by default, schedules what the trial starts
    into that group too. A trial's group holds one CPU, the trial's own: an evaluation task asking
    for another would wait for it forever while the node has CPUs free.
    """
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

    return PlacementGroupSchedulingStrategy(placement_group=None)

