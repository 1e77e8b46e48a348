"""Run a shared stage once, however many trials ask for it at the same moment.

The artifact store already makes a *finished* stage free to reuse (its directory is complete).
What it cannot do alone is stop two concurrent trials — the three curricula of one cell, started
together — from both starting the same pretraining. Ray coordinates that here with a lease: a
named actor per stage key. The caller that creates it holds the lease and runs the stage in its
own process; a caller that finds the name taken waits on the holder, then runs the stage itself,
which now finds it complete and returns at once.

Why an actor rather than a lock file: it works on any storage (a lock on s3 is not a thing), and
it cannot go stale. The lease is owned by the caller that created it, so if that caller dies (a
crash, a stopped trial) the lease dies with it; its waiters get `RayActorError`, one of them takes
a fresh lease, and the stage resumes from its last checkpoint (Ray Train run names are stage
keys). The holder removes the lease when the stage is done, so no process is left behind.

Why the stage runs in the caller and not in the actor: the actor then imports nothing (it holds
an event), and the stage reuses the caller's warm imports and Ray objects. Running every stage in
its own actor cost a process start plus `ray.data`/`torch`/`transformers` imports each
(bench/results/2026-11-25-study-overhead.md).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from classit_ray.runtime import on_this_node

NAMESPACE = "classit_ray"
_RETRIES = 20


class _Lease:
    """The actor: an event the holder sets when its stage call has ended (ok or not)."""

    def __init__(self):
        self._ended = asyncio.Event()
        self._ok = False

    async def wait(self) -> bool:
        await self._ended.wait()
        return self._ok

    async def release(self, ok: bool) -> None:
        self._ok = ok
        self._ended.set()


def run_once(stage: str, key: str, fn: Callable[[], Any], prefix: str = "once") -> Any:
    """`fn()` run once across every concurrent caller with the same `stage` and `key`.

    Callers never run `fn` at the same time: the lease holder runs it, the others wait, then run
    it again themselves, which finds the stage complete and returns the reused result. So `fn`
    must be idempotent — check its artifact and return early when complete — and each caller gets
    `fn`'s answer for itself (e.g. "reused", not "built"). If the holder's `fn` raised, or the
    holder died, a waiter takes the lease and runs `fn` in its turn.
    """
    import ray
    from ray.exceptions import RayActorError

    name = f"{prefix}/{stage}/{key}"
    # On the holder's node: the lease lives and dies with its holder (its owner), and with no
    # other node, whose loss would otherwise let waiters take over a stage that is still running.
    lease_cls = ray.remote(num_cpus=0, max_restarts=0, scheduling_strategy=on_this_node())(_Lease)
    for attempt in range(_RETRIES):
        try:
            lease = lease_cls.options(name=name, namespace=NAMESPACE, lifetime=None).remote()
        except ValueError:  # taken: another caller runs the stage now
            try:
                if ray.get(ray.get_actor(name, namespace=NAMESPACE).wait.remote()):
                    return fn()  # it finished: this finds the stage complete
            except (ValueError, RayActorError):  # released and gone, or its holder died: look again
                pass
            time.sleep(min(0.1 * 2**attempt, 2.0))
            continue
        ok = False
        try:
            value = fn()
            ok = True
            return value
        finally:
            try:
                ray.get(lease.release.remote(ok))
            finally:
                ray.kill(lease)
    raise RuntimeError(f"stage {stage} {key}: its lease {name!r} was lost {_RETRIES} times; see the Ray logs")
