"""Who hears of a long stage's progress while it runs, in the process that runs it.

A stage that runs for minutes inside one call (a GLUE fine-tuning: task after task, epoch after
epoch) would otherwise be silent until it ends. It calls `report(...)` as it goes; whoever runs the
stage (a study trial's stage host, `study/trial.py`) sets a listener around the call with
`reporting_to`, and forwards what it hears to the study's console. Without a listener `report` does
nothing. This module imports nothing, so a light process (a data stage, the driver) pays nothing
for it, and the layers above and below it (eval, study) meet here without importing each other.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

_listener: Callable[[dict[str, Any]], None] | None = None


def report(**fields: Any) -> None:
    """Tell this process's listener (if any) how far the running stage is, e.g.
    `report(task="mnli", epoch=2, epochs=3, items=4000, of=10000)`."""
    if _listener is not None:
        _listener(fields)


@contextlib.contextmanager
def reporting_to(listener: Callable[[dict[str, Any]], None]) -> Iterator[None]:
    """`report` calls inside the block go to `listener` (one stage at a time runs in a process)."""
    global _listener
    previous, _listener = _listener, listener
    try:
        yield
    finally:
        _listener = previous
