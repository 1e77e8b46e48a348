"""What an evaluation task is to the code that runs it: a `Task` (its light-table entry, reader,
aggregation and runner), the `TaskContext` a runner is given and the `TaskOutcome` it returns.

Its own module so that the runners (`eval/runners.py`, `eval/interactive.py`) and the registry that
pairs each task with its runner (`eval/registry.py`) import it from below, not from each other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from classit_ray.config import EvalConfig
from classit_ray.eval.scorer import LanguageModel
from classit_ray.eval.tasks import TaskSpec
from classit_ray.eval.zero_shot import ItemResult


@dataclass(frozen=True)
class TaskContext:
    """What a task may use: the model as a folder (GLUE fine-tunes it) and as a scorer (None when
    no chosen task needs one), the settings, and where predictions go (None: nowhere)."""

    model_dir: Path
    lm: LanguageModel | None
    cfg: EvalConfig
    device: str
    out: Path | None
    # (checkpoint name, words it saw) when the model is one point of a learning curve; the tasks
    # that only a curve can score (AoA) need it.
    checkpoint: tuple[str, int] | None = None


@dataclass
class TaskOutcome:
    """What one task run gives: its metrics, and the parts of it that failed or were skipped while
    the rest scored (`<task>/<part>` -> the one-line reason)."""

    metrics: dict[str, float]
    failed: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Task:
    spec: TaskSpec
    runner: Callable[[Task, Path, TaskContext], TaskOutcome]  # the runner of its kind
    read: Callable[[Path], object] | None = None  # choice, reading and AoA tasks
    aggregate: Callable[[list[ItemResult]], float] | None = None  # choice tasks
    # The files a task of several files needs in a full evaluation; a fast one skips the absent.
    parts: tuple[str, ...] = ()

    def run(self, folder: Path, context: TaskContext) -> TaskOutcome:
        """The task's metrics on the data in `folder`; EvalDataError if that data is missing or malformed."""
        return self.runner(self, folder, context)
