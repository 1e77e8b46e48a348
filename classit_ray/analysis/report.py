"""A study's `report.md`: the findings first, with the forest plot that shows them, then the
tables and figures they rest on. Plain pandas / matplotlib: no Ray, no torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from classit_ray.analysis import comparisons, plots, wording
from classit_ray.analysis.table import (
    KEY_PRETRAIN,
    config_columns,
    finished,
    global_score,
    global_tasks,
    learning_curves,
    load_study,
    stage_deltas,
    stage_summary,
    summarize,
    task_columns,
    zscores,
)
from classit_ray.atomic import atomic_write_text
from classit_ray.study import row

# Columns a markdown table rounds to 3 decimals; any other value is shown as given.
_ROUNDED = {
    "median",
    "q1",
    "q3",
    "iqr",
    "mean",
    "ci_low",
    "ci_high",
    "gain",
    "gain_ci_low",
    "gain_ci_high",
    "forgetting",
}


def markdown(df: pd.DataFrame) -> str:
    """A GitHub markdown table (pandas' to_markdown needs tabulate, which is not a dependency)."""

    def fmt(column, value):
        return f"{value:.3f}" if column in _ROUNDED else str(value)

    lines = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    lines += [
        "| " + " | ".join(fmt(c, v) for c, v in zip(df.columns, values)) + " |" for values in df.itertuples(index=False)
    ]
    return "\n".join(lines)


def summary_table(df: pd.DataFrame) -> str:
    """The per-condition summary of the global z as markdown (the console prints it at a study's
    end): n, median, IQR, mean and its unpaired t-interval, over the `status == ok` trials."""
    ok = finished(df)
    tasks = task_columns(ok)
    if len(ok) == 0 or not global_tasks(tasks):
        return "(no finished trials with evaluation metrics)"
    return markdown(summarize(ok, config_columns(ok), global_score(zscores(ok, tasks))))


def aoa_section(df: pd.DataFrame) -> list[str]:
    """Age of acquisition per pretraining (`eval/aoa`, a score of the learning curve: Pearson's r of
    the model's AoA against the children's), as markdown lines; none without the column."""
    aoa = "eval/aoa"
    if aoa not in df.columns or KEY_PRETRAIN not in df.columns or df[aoa].isna().all():
        return []
    per = df.groupby(KEY_PRETRAIN, sort=True).first()
    cols = [c for c in ("model.preset", "pretrain.seed") if c in per.columns]
    shown = per[[*cols, aoa]].reset_index(drop=True).rename(columns={aoa: "aoa r"})
    return [
        "## Age of acquisition",
        "",
        "Per pretraining, Pearson's r between the age at which the model acquires each CDI word (the",
        "midpoint of a sigmoid fitted to its surprisal over the checkpoints) and the children's; each fit",
        "and every word whose fit failed are in the curve's `aoa_fits.json` (docs/evaluation.md).",
        "",
        markdown(shown.round(3)),
        "",
    ]


def write_report(study_dir: str | Path, by: Sequence[str] | None = None, out: str | Path | None = None) -> Path:
    """Write `report.md` (default in STUDY_DIR) with its figures beside it, from the `status == ok`
    trials: the findings and the forest plot, the study, the per-condition summary, the z figures,
    the table of every test, the consistency figure, and the stage sections.

    `by` (the summary's conditions) defaults to the config columns that vary across trials, seeds
    excluded; the comparisons are always of `instruct.curriculum`, paired by pretraining.
    """
    df = load_study(study_dir)
    ok = finished(df)
    statuses = df.loc[df.index.difference(ok.index), row.STATUS].value_counts().to_dict() if len(ok) < len(df) else {}
    left = len(df) - len(ok)
    df = ok.reset_index(drop=True)
    out = Path(out) if out is not None else Path(study_dir) / "report.md"
    by = config_columns(df) if by is None else list(by)
    missing = [c for c in by if c not in df.columns]
    if missing:
        raise ValueError(
            f"--by columns not in the results table: {missing}; config columns: {config_columns(df, False)}"
        )
    tasks = task_columns(df)
    if not tasks:
        raise ValueError(f"no eval/* task columns with values in {study_dir}; columns: {list(df.columns)}")
    z = zscores(df, tasks)
    score = global_score(z)
    summary = summarize(df, by, score)
    table = comparisons.paired_comparisons(df, tasks=tasks)

    out.parent.mkdir(parents=True, exist_ok=True)
    text = [f"# Study report: {Path(study_dir).name}", "", "## Findings", ""]
    if not table.empty and (table["note"] == "").any() and table["question"].isin(["baseline", "curricula"]).any():
        plots.plot_forest(table, out.parent / "forest.png")
        text += [
            "![Paired differences per question and task, 95% CIs; filled: significant after correction](forest.png)",
            "",
        ]
    text += [*wording.findings(table), ""]
    left_out = ("; left out: " + ", ".join(f"{n} {s}" for s, n in sorted(statuses.items()))) if left else ""
    text += [
        "## The study",
        "",
        f"{len(df)} finished trials{left_out}; conditions by {', '.join(f'`{c}`' for c in by) or '(none: all pooled)'}.",
        f"Tasks ({len(tasks)}): {', '.join(f'`{t}`' for t in tasks)}; the global z averages "
        f"{len(global_tasks(tasks))} of them (zero-shot and fine-tuning).",
        "",
        "## Summary (unpaired)",
        "",
        "Per condition: n scored seeds, median and IQR of the global z, and its mean with an **unpaired** 95%",
        "Student-t interval (NaN for a single seed). Unpaired intervals ignore the shared pretrainings, so they",
        "can overlap where the paired findings above are clear: read the comparisons from those.",
        "",
        markdown(summary),
        "",
    ]
    figures = {"Global z per condition": "global_z_boxplot.png", "Mean z per task and condition": "task_heatmap.png"}
    plots.plot_z_boxplots(df, z, by, out.parent / figures["Global z per condition"])
    plots.plot_task_heatmap(df, z, by, out.parent / figures["Mean z per task and condition"])
    fraction = comparisons.FRACTION
    if fraction in df.columns and df[fraction].nunique() > 1:
        figures["Global z against the instruction fraction"] = "score_vs_fraction.png"
        hue = [c for c in by if c != fraction] or None
        plots.plot_score_vs_fraction(
            df, score, fraction, hue, out.parent / figures["Global z against the instruction fraction"]
        )
    for title, name in figures.items():
        text += [f"## {title}", "", f"![{title}]({name})", ""]
    if not table.empty:
        text += [
            "## Every test",
            "",
            "Each row of the findings, every task too, with the family its Holm adjustment runs over and that",
            "family's number of tests; `*`: significant after correction; `sign-flip p`: the exact",
            "permutation check of the same pairs (unadjusted); `better in`: pairs in which the first is better.",
            "",
            markdown(wording.markdown_table(table)),
            "",
        ]
    text += ["## Consistency against the baseline", ""]
    if wording.consistency(table)[0].empty:
        text += [
            f"No condition has a pair with the baseline (`{comparisons.FACTOR}` = `{comparisons.BASELINE}`): "
            "no consistency figure.",
            "",
        ]
    else:
        plots.plot_consistency(table, path=out.parent / "consistency.png")
        text += [
            "Per condition and task, the share of its pairs in which it beats the baseline (a tie does not).",
            "",
            "![Share of pairs beating the baseline](consistency.png)",
            "",
        ]
    deltas = stage_deltas(df, by)
    if not deltas.empty:
        text += [
            "## Instruction-tuning gain and forgetting",
            "",
            "Gain is a trial's final score minus the score of the pretrained model it started from (same",
            "size and seed); forgetting is its score at the end of instruction stage 1 minus the final score,",
            "so a positive forgetting is what stage 2 lost; both in each task's own units, oriented so that",
            "a positive gain is better. Per condition and task: n trials, mean gain with its 95% t-interval",
            "over the trials, mean forgetting (NaN without a stage 1).",
            "",
            markdown(stage_summary(deltas, by)),
            "",
        ]
        try:
            plots.plot_gain_forgetting(deltas, by, out.parent / "gain_forgetting.png")
            text += ["![Gain and forgetting per task and condition](gain_forgetting.png)", ""]
        except ValueError as e:  # only the baseline has stage columns: the table says it all
            text += [f"(No figure: {e}.)", ""]
    text += aoa_section(df)
    curves = learning_curves(df)
    if not curves.empty:
        plots.plot_learning_curves(curves, out.parent / "learning_curves.png")
        text += [
            "## Learning curves of pretraining",
            "",
            "The fast zero-shot tasks on each pretraining's intermediate checkpoints (a star: the final",
            "pretrained model), against the words it actually saw; checkpoint names are the BabyLM ones",
            "scaled by the budget (total words / 100M), so `chck_1M` may have seen far fewer words.",
            "",
            "![Learning curves](learning_curves.png)",
            "",
        ]
    atomic_write_text(out, "\n".join(text))
    return out
