"""The flat metric names the evaluation scores trials by, and their direction (`higher_is_better`).

Derived from the task table in `classit_ray.eval.tasks` (standard library only), not from
`classit_ray.eval.registry`, which imports the scorer and with it torch: the analysis, which
orients z-scores by this table, must stay plain pandas.
"""

from __future__ import annotations

from classit_ray.eval.tasks import GLUE_TASKS, TASK_SPECS, ZERO_SHOT_TASKS  # noqa: F401  (public here too)

# Every score the evaluation can produce, and its direction (for the analysis z-scores).
HIGHER_IS_BETTER: dict[str, bool] = {
    name: higher for spec in TASK_SPECS.values() for name, higher in spec.scores.items()
}
# The kind of task each score comes from, and the kinds the global z averages: what a model knows
# (zero-shot, reading, fine-tuning), not the interactive scores of what instruction tuning trains.
METRIC_KIND: dict[str, str] = {name: spec.kind for spec in TASK_SPECS.values() for name in spec.scores}
GLOBAL_KINDS = ("choice", "reading", "glue")


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of `metric` is better; ValueError for a metric the table lacks."""
    if metric not in HIGHER_IS_BETTER:
        raise ValueError(
            f"unknown metric {metric!r}: no task of classit_ray.eval.tasks.TASK_SPECS lists it among its scores "
            f"(known: {', '.join(sorted(HIGHER_IS_BETTER))})"
        )
    return HIGHER_IS_BETTER[metric]
