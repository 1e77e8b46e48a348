"""A finished study's results table and what is read from it: task and config columns, per-task
z-scores, the global score, per-condition summaries, stage gains and forgetting, learning curves.

A study's results table has one row per trial: config columns named by dotted path
(`instruct.curriculum`, `budget.instruct_fraction`, `seed`, ...), every flat `eval/*` metric, final
losses and artifact paths; it is `STUDY_DIR/results.parquet` (or `results.csv`).

Tasks are on different scales (accuracy, Spearman, ΔR²), so each is z-scored across the study's
trials (sample std), oriented so that positive is better. The **global z** of a trial is its mean z
over the *global tasks*, the zero-shot and fine-tuning tasks (`metrics.GLOBAL_KINDS`), and only for
a trial that scored every one of them: a mean over whichever tasks a trial happened to score would
compare different things. The interactive metrics (reply NLL on held-out pairs) are what
instruction tuning trains, so they are not in it; the comparisons report them as their own question.

Within a trial, the stages are compared in each task's own units: the instruction-tuning gain
(final score minus the score of the pretrained model the cell started from) and the forgetting of a
two-stage curriculum (score after stage 1 minus the final score), read from the row's
`eval/<task>@pretrain` and `eval/<task>@stage1` columns; and the pretraining's learning curve, read
from its JSON `curve` column.

Plain pandas / numpy / scipy: no Ray, no torch.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from classit_ray import metrics
from classit_ray.analysis.inference import t_interval
from classit_ray.study import row

AGGREGATE_METRICS = ("eval/glue_avg",)
# Config fields that name where things are rather than what was done (never a grouping variable).
_ARTIFACT_MARKERS = ("path", "dir", "artifact", "checkpoint", "uri")
# A task's score on an earlier model of the same trial (`study/row.py`'s endpoints): `eval/blimp@pretrain`
# is the pretrained model the cell started from, `eval/blimp@stage1` the end of instruction stage 1 of a
# two-stage curriculum. They are not in metrics.HIGHER_IS_BETTER, so they are never tasks.
AT_PRETRAIN, AT_STAGE1 = row.metric_name("", "pretrain"), row.metric_name("", "stage1")
KEY_PRETRAIN = row.key_name("pretrain")
# Columns of learning_curves()'s long table: one row per pretraining × checkpoint × task.
CURVE_COLUMNS = (KEY_PRETRAIN, "label", "model.preset", "pretrain.seed", "checkpoint", "words_seen", "task", "score")


def load_study(study_dir: str | Path) -> pd.DataFrame:
    """The study's results table, one row per trial (results.parquet preferred, else results.csv)."""
    study_dir = Path(study_dir)
    for name, read in (("results.parquet", pd.read_parquet), ("results.csv", pd.read_csv)):
        if (study_dir / name).is_file():
            return read(study_dir / name)
    raise FileNotFoundError(f"no results table in study dir {study_dir}: expected results.parquet or results.csv there")


def finished(df: pd.DataFrame) -> pd.DataFrame:
    """The trials with a result: `status` ok (`study/row.py`). A failed, interrupted or never
    started trial has no scores, and its config would still count as a condition."""
    return df[df[row.STATUS] == row.OK] if row.STATUS in df.columns else df


def task_columns(df: pd.DataFrame) -> list[str]:
    """The final model's per-task `eval/*` score columns (`row.metric_columns`) with a known
    direction and at least one value.

    Tie rates (`eval/ties/*`) are diagnostics and aggregates (`eval/glue_avg`) repeat their parts.
    """
    return [
        c
        for c in row.metric_columns(df)
        if c.startswith("eval/")
        and not c.startswith("eval/ties/")
        and c not in AGGREGATE_METRICS
        and c in metrics.HIGHER_IS_BETTER
        and df[c].notna().any()
    ]


def config_columns(df: pd.DataFrame, varying_only: bool = True) -> list[str]:
    """The config columns of the results row (`row.config_columns`: `section.field`, seeds aside)
    that are not paths; by default only those that take more than one value across trials, i.e.
    the conditions the study compares."""
    return [
        c
        for c in row.config_columns(df)
        if not any(m in c.lower() for m in _ARTIFACT_MARKERS) and (not varying_only or df[c].nunique(dropna=False) > 1)
    ]


def seed_columns(df: pd.DataFrame) -> list[str]:
    """The seed columns (`cell.seed`, `pretrain.seed`, `instruct.seed`): replicates, not conditions."""
    return row.seed_columns(df)


def _higher(task: str, directions: Mapping[str, bool] | None) -> bool:
    if directions is None:
        return metrics.higher_is_better(task)
    if task not in directions:
        raise ValueError(f"no direction for metric {task!r} in the given directions mapping")
    return directions[task]


def zscores(
    df: pd.DataFrame, tasks: Sequence[str] | None = None, directions: Mapping[str, bool] | None = None
) -> pd.DataFrame:
    """Per task, (x - mean) / std across trials with the sample std (ddof=1), negated where lower is
    better, so positive always means better than the study's average trial.

    Guard: with fewer than two scored trials, or when all scored trials tie, the std is undefined or
    zero and the task says nothing about which trial is better; those trials get 0.0 ("average")
    instead of NaN/inf, so they stay in the global mean without moving it. NaN scores stay NaN.
    """
    tasks = list(task_columns(df) if tasks is None else tasks)
    z = pd.DataFrame(index=df.index)
    for t in tasks:
        higher = _higher(t, directions)
        x = pd.to_numeric(df[t], errors="coerce").astype(float)
        scored = x.dropna()
        if len(scored) < 2 or scored.nunique() < 2:  # exact tie test: no float-noise std
            col = x.where(x.isna(), 0.0)
        else:
            col = (x - scored.mean()) / scored.std(ddof=1)
        z[t] = col if higher else -col
    return z


def oriented_scores(
    df: pd.DataFrame, tasks: Sequence[str], directions: Mapping[str, bool] | None = None
) -> pd.DataFrame:
    """The tasks' scores in their own units, negated where lower is better (higher is always better)."""
    return pd.DataFrame(
        {t: _numeric(df[t], df.index) * (1.0 if _higher(t, directions) else -1.0) for t in tasks}, index=df.index
    )


def global_tasks(tasks: Sequence[str]) -> list[str]:
    """The tasks the global z averages: zero-shot and fine-tuning scores, not the interactive ones."""
    return [t for t in tasks if metrics.METRIC_KIND.get(t) in metrics.GLOBAL_KINDS]


def global_score(z: pd.DataFrame) -> pd.Series:
    """Each trial's mean z over the global tasks among `z`'s columns, NaN for a trial that lacks any
    of them (or when there is none): only trials that scored every task are compared on it."""
    cols = global_tasks(z.columns)
    if not cols:
        return pd.Series(np.nan, index=z.index, name="global_z")
    return z[cols].mean(axis=1, skipna=False).rename("global_z")


def condition_labels(df: pd.DataFrame, by: Sequence[str], short: bool = False) -> pd.Series:
    """One readable label per trial, e.g. `instruct.curriculum=easy_first, budget.instruct_fraction=0.1`;
    `short` keeps only the last part of each dotted name (`curriculum=easy_first`), for figure ticks."""
    if not by:
        return pd.Series("all trials", index=df.index)
    name = (lambda c: c.rsplit(".", 1)[-1]) if short else (lambda c: c)
    return df[list(by)].astype(str).apply(lambda r: ", ".join(f"{name(c)}={v}" for c, v in r.items()), axis=1)


def summarize(df: pd.DataFrame, by: Sequence[str], score: pd.Series) -> pd.DataFrame:
    """Per condition: n (scored seeds), median, q1, q3, iqr, mean and the **unpaired** 95% Student-t
    interval of the mean (`ci_low`, `ci_high`; NaN for a single seed). Unpaired: it ignores that
    conditions share pretrainings, so two conditions' intervals may overlap while their paired
    comparison is clear; the comparisons are read from the paired tests, never from these."""
    by = list(by)
    keys = [df[c] for c in by] if by else [pd.Series("all trials", index=df.index, name="condition")]
    rows = []
    for key, s in score.groupby(keys, dropna=False, sort=True):
        s = s.dropna()
        q1, med, q3 = s.quantile([0.25, 0.5, 0.75]).tolist() if len(s) else [np.nan] * 3
        low, high = t_interval(s.to_numpy())
        key = key if isinstance(key, tuple) else (key,)
        rows.append(
            {
                **dict(zip([k.name for k in keys], key)),
                "n": len(s),
                "median": med,
                "q1": q1,
                "q3": q3,
                "iqr": q3 - q1,
                "mean": s.mean() if len(s) else np.nan,
                "ci_low": low,
                "ci_high": high,
            }
        )
    return pd.DataFrame(rows)


def _numeric(col: pd.Series | None, index: pd.Index) -> pd.Series:
    """A column as floats (NaN where absent or not a number)."""
    return pd.Series(np.nan, index=index) if col is None else pd.to_numeric(col, errors="coerce").astype(float)


def stage_deltas(
    df: pd.DataFrame, by: Sequence[str] | None = None, directions: Mapping[str, bool] | None = None
) -> pd.DataFrame:
    """Per trial and task, in the task's own units and oriented so that positive is better:

    - `gain` = `eval/<t>` - `eval/<t>@pretrain`: what instruction tuning added to the very model the
      cell started from (same size and seed), so no across-trial noise enters the difference;
    - `forgetting` = `eval/<t>@stage1` - `eval/<t>`: positive when the score dropped during
      instruction stage 2; NaN without a stage 1 (single-stage or no instruction tuning).

    Both are negated for lower-is-better metrics. Long format: `trial` (the row's index), the `by`
    columns (default: the varying config columns), the seed columns, `task`, `gain`, `forgetting`.
    Rows without an instruction stage (curriculum `none`, instruction fraction 0) are kept: their
    gain is exactly 0, the baseline the other conditions are read against (a nonzero one would say
    that the two scores came from different models). A trial with neither number for a task (no
    `@` columns, or a failed evaluation) has no row for it.
    """
    by = config_columns(df) if by is None else list(by)
    keep = list(dict.fromkeys([*by, *seed_columns(df)]))
    frames = []
    for t in task_columns(df):
        pretrain, stage1 = df.get(t + AT_PRETRAIN), df.get(t + AT_STAGE1)
        if pretrain is None and stage1 is None:
            continue
        sign = 1.0 if _higher(t, directions) else -1.0
        final = _numeric(df[t], df.index)
        frame = df[keep].assign(
            task=t,
            gain=sign * (final - _numeric(pretrain, df.index)),
            forgetting=sign * (_numeric(stage1, df.index) - final),
        )
        frames.append(frame.rename_axis("trial").reset_index())
    if not frames:
        return pd.DataFrame(columns=["trial", *keep, "task", "gain", "forgetting"])
    out = pd.concat(frames, ignore_index=True)
    return out[out[["gain", "forgetting"]].notna().any(axis=1)].reset_index(drop=True)


def stage_summary(deltas: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Per condition and task: n trials (seeds), mean gain with its 95% Student-t interval over the
    condition's trials (each gain is already paired within its trial), mean forgetting (over the
    trials that have a stage 1; NaN when none has)."""
    by = list(by)
    rows = []
    for key, g in deltas.groupby([*by, "task"], dropna=False, sort=True):
        gain, forgetting = g["gain"].dropna(), g["forgetting"].dropna()
        low, high = t_interval(gain.to_numpy())
        rows.append(
            {
                **dict(zip([*by, "task"], key)),
                "n": len(g),
                "gain": gain.mean() if len(gain) else np.nan,
                "gain_ci_low": low,
                "gain_ci_high": high,
                "forgetting": forgetting.mean() if len(forgetting) else np.nan,
            }
        )
    return pd.DataFrame(rows, columns=[*by, "task", "n", "gain", "gain_ci_low", "gain_ci_high", "forgetting"])


def _parse_curve(text: str, key: str) -> list[dict]:
    """A `curve` cell's JSON: a list of {checkpoint, words_seen, metrics: {task: score}} points."""
    try:
        points = json.loads(text)
        if not isinstance(points, list) or not all(
            isinstance(p, dict)
            and isinstance(p["checkpoint"], str)
            and isinstance(p["metrics"], dict)
            and float(p["words_seen"]) >= 0
            for p in points
        ):
            raise ValueError("not a list of points")
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(
            f"curve of pretraining {key!r} is not a JSON list of {{checkpoint, words_seen, metrics}} "
            f"points ({e}): {text[:200]!r}"
        ) from None
    return points


def _pretraining_labels(df: pd.DataFrame, first: pd.DataFrame) -> pd.Series:
    """A label per pretraining (`first`: one row per `key/pretrain`): `model.preset` and
    `pretrain.seed`, plus any other config column that is constant within each pretraining and
    varies across them (the instruction fraction changes the pretraining's words, for one)."""
    cols = [c for c in ("model.preset", "pretrain.seed") if c in df.columns]
    per_key = df.groupby(KEY_PRETRAIN, dropna=False)
    cols += [
        c
        for c in config_columns(df, varying_only=False)
        if c not in cols and first[c].nunique(dropna=False) > 1 and per_key[c].nunique(dropna=False).max() == 1
    ]
    return condition_labels(first, cols, short=True) if cols else first[KEY_PRETRAIN].astype(str)


def learning_curves(df: pd.DataFrame) -> pd.DataFrame:
    """The pretraining learning curves as a long table, one row per pretraining × checkpoint × task
    (columns CURVE_COLUMNS), sorted by pretraining, task and words seen.

    Each pretraining (`key/pretrain`) is read once: every trial that shares it carries the same
    `curve`, and a disagreement is a ValueError rather than a silent choice. With
    `pretrain/words_seen`, the pretrained model's own `eval/<t>@pretrain` is appended as checkpoint
    `final` at that x, for the curve's tasks, unless a checkpoint already sits there. `words_seen`
    is what the model really saw; checkpoint names are the BabyLM names scaled by the budget.
    Empty (same columns) when the table has no curve.
    """
    empty = pd.DataFrame(columns=list(CURVE_COLUMNS))
    if row.CURVE not in df.columns:
        return empty
    has_curve = df[row.CURVE].map(lambda v: isinstance(v, str) and v.strip() != "")
    if not has_curve.any():
        return empty
    if KEY_PRETRAIN not in df.columns:
        raise ValueError("the results table has a curve column but no key/pretrain to tell pretrainings apart")
    rows = df[has_curve]
    first = rows.groupby(KEY_PRETRAIN, sort=True).head(1).set_index(KEY_PRETRAIN, drop=False)
    labels = _pretraining_labels(df, first)
    points = []
    for key, group in rows.groupby(KEY_PRETRAIN, sort=True):
        curves = [_parse_curve(text, key) for text in group[row.CURVE]]
        if len({json.dumps(c, sort_keys=True) for c in curves}) > 1:
            raise ValueError(f"trials of pretraining {key!r} carry different curves (rows {list(group.index)})")
        point = first.loc[key]
        base = {
            KEY_PRETRAIN: key,
            "label": labels[key],
            "model.preset": point.get("model.preset"),
            "pretrain.seed": point.get("pretrain.seed"),
        }
        # Task scores only: a curve's points also carry diagnostics such as tie rates (`eval/ties/*`).
        for p in curves[0]:
            points += [
                {
                    **base,
                    "checkpoint": p["checkpoint"],
                    "words_seen": float(p["words_seen"]),
                    "task": t,
                    "score": float(v) if v is not None else np.nan,
                }
                for t, v in p["metrics"].items()
                if t in metrics.HIGHER_IS_BETTER
            ]
        final_words = pd.to_numeric(point.get("pretrain/words_seen"), errors="coerce")
        if pd.notna(final_words) and float(final_words) not in {float(p["words_seen"]) for p in curves[0]}:
            tasks = dict.fromkeys(t for p in curves[0] for t in p["metrics"] if t in metrics.HIGHER_IS_BETTER)
            points += [
                {
                    **base,
                    "checkpoint": "final",
                    "words_seen": float(final_words),
                    "task": t,
                    "score": float(point[t + AT_PRETRAIN]),
                }
                for t in tasks
                if pd.notna(pd.to_numeric(point.get(t + AT_PRETRAIN), errors="coerce"))
            ]
    out = pd.DataFrame(points, columns=list(CURVE_COLUMNS))
    return out.sort_values([KEY_PRETRAIN, "task", "words_seen"], kind="stable", ignore_index=True)
