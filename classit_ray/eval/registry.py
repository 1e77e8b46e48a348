"""The evaluation tasks, one registry entry each: its folder in the BabyLM evaluation data, the
reader of that folder's format, how its scores aggregate, its metric and `higher_is_better`.
Adding a task is adding an entry here (and its reader), not editing a chain of ifs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from classit_ray.eval import formats
from classit_ray.eval.zero_shot import ItemResult, entity_tracking_accuracy, macro_accuracy, wug_spearman
# The metric names and directions live in classit_ray.metrics (no torch, so analysis can use them);
# re-exported here for the evaluation code.
from classit_ray.metrics import GLUE_TASKS, HIGHER_IS_BETTER, ZERO_SHOT_TASKS  # noqa: F401


@dataclass(frozen=True)
class Task:
    name: str
    subdir: str  # folder under full_eval/ or fast_eval/; also the <dataset> of the results layout
    kind: str  # "choice" (zero-shot candidates), "reading" (ΔR²) or "glue" (fine-tuning)
    metric: str
    higher_is_better: bool = True
    read: Callable[[Path], object] | None = None  # choice and reading tasks
    aggregate: Callable[[list[ItemResult]], float] | None = None  # choice tasks


TASKS: dict[str, Task] = {
    "blimp": Task("blimp", "blimp_filtered", "choice", "accuracy", read=formats.read_blimp, aggregate=macro_accuracy),
    "blimp_supplement": Task("blimp_supplement", "supplement_filtered", "choice", "accuracy", read=formats.read_supplement, aggregate=macro_accuracy),
    "ewok": Task("ewok", "ewok_filtered", "choice", "accuracy", read=formats.read_ewok, aggregate=macro_accuracy),
    "entity_tracking": Task("entity_tracking", "entity_tracking", "choice", "accuracy", read=formats.read_entity_tracking, aggregate=entity_tracking_accuracy),
    "wug_adj": Task("wug_adj", "wug_adj_nominalization", "choice", "spearman", read=lambda d: formats.read_wug(d, "wug_adj"), aggregate=wug_spearman),
    "wug_past": Task("wug_past", "wug_past_tense", "choice", "spearman", read=lambda d: formats.read_wug(d, "wug_past"), aggregate=wug_spearman),
    "reading": Task("reading", "reading", "reading", "delta_r2", read=formats.read_reading),
    "glue": Task("glue", "glue_filtered", "glue", "accuracy (F1 for mrpc, qqp)"),
}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise ValueError(f"unknown evaluation task {name!r}; expected one of {', '.join(TASKS)}")
    return TASKS[name]
