"""Analysis of a finished study: its results table, the paired tests of its questions, their
findings in words, a power planner, figures and a markdown report.

    python -m classit_ray.analysis STUDY_DIR [--by instruct.curriculum ...]   # report.md and figures
    python -m classit_ray.analysis --plan STUDY_DIR [--seeds N] [--effect X --measure eval/blimp]

The modules, in the order data flows through them:

- `table` — the results table: task and config columns, z-scores, the global z, per-condition
  summaries (unpaired), stage gains and forgetting, learning curves;
- `inference` — the statistics: block-design contrasts and t-tests, Holm, the sign-flip check, power;
- `comparisons` — the study's questions as families of paired tests (one table);
- `wording` — that table in words that never contradict its numbers;
- `plots`, `report` — the figures and `report.md`;
- `planner` — the seeds a design needs; `synthetic` — results with planted effects, for calibration.

Plain pandas / numpy / scipy / statsmodels / matplotlib: no Ray, no torch, so a notebook or a
laptop reads a copied results file. The names below are this package's public API.
"""

from classit_ray.analysis.comparisons import (
    BASELINE,
    FACTOR,
    GLOBAL,
    QUESTIONS,
    pair_trials,
    paired_comparisons,
    pairing_columns,
)
from classit_ray.analysis.plots import (
    plot_consistency,
    plot_forest,
    plot_gain_forgetting,
    plot_learning_curves,
    plot_score_vs_fraction,
    plot_task_heatmap,
    plot_z_boxplots,
)
from classit_ray.analysis.report import markdown, summary_table, write_report
from classit_ray.analysis.table import (
    AT_PRETRAIN,
    AT_STAGE1,
    condition_labels,
    config_columns,
    global_score,
    global_tasks,
    learning_curves,
    load_study,
    oriented_scores,
    seed_columns,
    stage_deltas,
    stage_summary,
    summarize,
    task_columns,
    zscores,
)
from classit_ray.analysis.wording import consistency, describe, findings, markdown_table

__all__ = [
    "AT_PRETRAIN",
    "AT_STAGE1",
    "BASELINE",
    "FACTOR",
    "GLOBAL",
    "QUESTIONS",
    "condition_labels",
    "config_columns",
    "consistency",
    "describe",
    "findings",
    "global_score",
    "global_tasks",
    "learning_curves",
    "load_study",
    "markdown",
    "markdown_table",
    "oriented_scores",
    "pair_trials",
    "paired_comparisons",
    "pairing_columns",
    "plot_consistency",
    "plot_forest",
    "plot_gain_forgetting",
    "plot_learning_curves",
    "plot_score_vs_fraction",
    "plot_task_heatmap",
    "plot_z_boxplots",
    "seed_columns",
    "stage_deltas",
    "stage_summary",
    "summarize",
    "summary_table",
    "task_columns",
    "write_report",
    "zscores",
]
