"""The evaluation task registry: every task of the light table in `classit_ray.eval.tasks`, with
the code it takes to run it (the reader of its folder's format, how its item scores aggregate,
and the runner of its kind), as `eval.task.Task` entries.

The names, folders, kinds and metrics are decided in the light table; this module only attaches
code to them, so adding a task is its entry there plus its reader (and aggregation) here, not
editing a chain of ifs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from classit_ray.eval import aoa, formats
from classit_ray.eval.interactive import run_interactive
from classit_ray.eval.runners import run_aoa_task, run_choice_task, run_glue, run_reading_task
from classit_ray.eval.task import Task, TaskContext, TaskOutcome
from classit_ray.eval.tasks import TASK_SPECS, TaskKind
from classit_ray.eval.zero_shot import entity_tracking_accuracy, macro_accuracy, wug_spearman

_RUNNERS: dict[TaskKind, Callable[[Task, Path, TaskContext], TaskOutcome]] = {
    "choice": run_choice_task,
    "reading": run_reading_task,
    "glue": run_glue,
    "interactive": run_interactive,
    "aoa": run_aoa_task,
}

# The reader, aggregation and parts of each task. GLUE reads its subtasks' files itself (run_glue).
_CODE: dict[str, tuple] = {
    "blimp": (formats.read_blimp, macro_accuracy),
    "blimp_supplement": (formats.read_supplement, macro_accuracy),
    "ewok": (formats.read_ewok, macro_accuracy),
    "entity_tracking": (
        formats.read_entity_tracking,
        entity_tracking_accuracy,
        tuple(f"{stem}.jsonl" for stem in formats.ENTITY_TRACKING_FILES),
    ),
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
