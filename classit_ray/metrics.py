"""The flat metric names the evaluation produces and their direction (`higher_is_better`).

This table lives apart from `classit_ray.eval.registry` because the registry imports the scorer
(and with it torch), while the analysis, which orients z-scores by this table, must stay plain
pandas. Standard library only.
"""

from __future__ import annotations

GLUE_TASKS = ("boolq", "mnli", "mrpc", "multirc", "qqp", "rte", "wsc")

# The zero-shot (minimal-pair / choice) tasks; each reports one score under eval/<task>.
ZERO_SHOT_TASKS = ("blimp", "blimp_supplement", "ewok", "entity_tracking", "wug_adj", "wug_past")

# Every flat metric name the evaluation can produce, and its direction (for the analysis z-scores).
# Accuracies, Spearman correlations and reading-time ΔR² are all better when higher.
HIGHER_IS_BETTER: dict[str, bool] = {
    **{f"eval/{name}": True for name in ZERO_SHOT_TASKS},
    "eval/reading_eye": True,
    "eval/reading_spr": True,
    **{f"eval/glue/{t}": True for t in GLUE_TASKS},
    "eval/glue_avg": True,
}


def higher_is_better(metric: str) -> bool:
    """Whether a larger value of `metric` is better; ValueError for a metric the table lacks."""
    if metric not in HIGHER_IS_BETTER:
        raise ValueError(f"unknown metric {metric!r}: its direction is not in classit_ray.metrics.HIGHER_IS_BETTER "
                         f"(known: {', '.join(sorted(HIGHER_IS_BETTER))})")
    return HIGHER_IS_BETTER[metric]
