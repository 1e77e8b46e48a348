"""The evaluation task registry: every task of the light table in `classit_ray.eval.tasks`, with
the code it takes to run it (the reader of its folder's format, how its item scores aggregate,
and the runner of its kind).

The names, folders, kinds and metrics are decided in the light table; this module only attaches
code to them, so adding a task is its entry there plus its reader (and aggregation) here, not
editing a chain of ifs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from classit_ray.eval import aoa, formats
from classit_ray.eval.interactive import run_interactive
from classit_ray.eval.runners import TaskContext, TaskOutcome, run_aoa_task, run_choice_task, run_glue, run_reading_task
from classit_ray.eval.tasks import TASK_SPECS, TaskKind, TaskSpec
from classit_ray.eval.zero_shot import ItemResult, entity_tracking_accuracy, macro_accuracy, wug_spearman


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


_RUNNERS: dict[TaskKind, Callable[[Task, Path, TaskContext], TaskOutcome]] = {
    "choice": run_choice_task, "reading": run_reading_task, "glue": run_glue, "interactive": run_interactive,
    "aoa": run_aoa_task,
}

# The reader, aggregation and parts of each task. GLUE reads its subtasks' files itself (run_glue).
_CODE: dict[str, tuple] = {
    "blimp": (formats.read_blimp, macro_accuracy),
    "blimp_supplement": (formats.read_supplement, macro_accuracy),
    "ewok": (formats.read_ewok, macro_accuracy),
    "entity_tracking": (formats.read_entity_tracking, entity_tracking_accuracy,
                        tuple(f"{stem}.jsonl" for stem in formats.ENTITY_TRACKING_FILES)),
    "wug_adj": (lambda d: formats.read_wug(d, "wug_adj"), wug_spearman),
    "wug_past": (lambda d: formats.read_wug(d, "wug_past"), wug_spearman),
    "comps": (formats.read_comps, macro_accuracy, tuple(f"{stem}.jsonl" for stem in formats.COMPS_FILES)),
    "reading": (formats.read_reading, None),
    "glue": (None, None),
    "interactive": (None, None),  # reads the split's held-out pairs itself (eval/interactive.py)
    "aoa": (aoa.read_aoa, None),  # the curve fits the sigmoids over its checkpoints (eval/aoa.py)
}

# A task of the light table without its code here fails at import, not when it is first evaluated.
TASKS: dict[str, Task] = {name: Task(spec, _RUNNERS[spec.kind], *_CODE[name]) for name, spec in TASK_SPECS.items()}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise ValueError(f"unknown evaluation task {name!r}; expected one of {', '.join(TASKS)}")
    return TASKS[name]
