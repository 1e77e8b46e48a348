"""Analysis of a finished study: its results table, per-task z-scores, a global score, per-condition
summaries with bootstrap intervals, figures and a markdown report.

A study's results table has one row per trial: config columns named by dotted path
(`instruct.curriculum`, `budget.instruct_fraction`, `seed`, ...), every flat `eval/*` metric, final
losses and artifact paths; it is `STUDY_DIR/results.parquet` (or `results.csv`).

Tasks are on different scales (accuracy, Spearman, ΔR²), so each is z-scored across the study's
trials (sample std), oriented so that positive is better, and the global score of a trial is its
mean z. Conditions are compared by the median and IQR of that score over seeds, as the paper does.

Within a trial, the stages are compared in each task's own units: the instruction-tuning gain
(final score minus the score of the pretrained model the cell started from) and the forgetting of a
two-stage curriculum (score after stage 1 minus the final score), read from the row's
`eval/<task>@pretrain` and `eval/<task>@stage1` columns; and the pretraining's learning curve, read
from its JSON `curve` column. They live in this module rather than one of their own because they
share its condition labels, figure and table helpers and its report, and the whole stays under
~550 lines; a second module would have to import those back from here.

The report opens with the findings of `classit_ray.comparisons`: conditions compared paired by
pretraining (size and seed), with intervals, permutation p-values and Holm's adjustment, in words.

Plain pandas / numpy / matplotlib: no Ray, no torch (only `classit_ray.metrics` is imported, and
`classit_ray.comparisons` by the report), so the analysis runs on a laptop against a copied results file.

    python -m classit_ray.analysis STUDY_DIR [--by instruct.curriculum ...]
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

# Figures are built on `matplotlib.figure.Figure` directly, not through pyplot: no backend, no
# window and no global figure registry, so reports are written on headless nodes and a notebook
# shows a returned figure with its own inline backend.
from matplotlib.figure import Figure
from matplotlib.patches import Patch
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from classit_ray import metrics  # noqa: E402

# Metrics that are averages of other metrics; z-scoring them too would count GLUE twice.
AGGREGATE_METRICS = ("eval/glue_avg",)
# Column names that hold artifacts rather than configuration (never a grouping variable).
_ARTIFACT_MARKERS = ("path", "dir", "artifact", "checkpoint", "uri")
# Suffixes of a task's score on an earlier model of the same trial: `eval/blimp@pretrain` is the
# pretrained model the cell started from, `eval/blimp@stage1` the end of instruction stage 1 of a
# two-stage curriculum. They are not in metrics.HIGHER_IS_BETTER, so they are never tasks.
AT_PRETRAIN, AT_STAGE1 = "@pretrain", "@stage1"
# Columns of learning_curves()'s long table: one row per pretraining × checkpoint × task.
CURVE_COLUMNS = ("key/pretrain", "label", "model.preset", "pretrain.seed", "checkpoint", "words_seen", "task", "score")


def load_study(study_dir: str | Path) -> pd.DataFrame:
    """The study's results table, one row per trial (results.parquet preferred, else results.csv)."""
    study_dir = Path(study_dir)
    for name, read in (("results.parquet", pd.read_parquet), ("results.csv", pd.read_csv)):
        if (study_dir / name).is_file():
            return read(study_dir / name)
    raise FileNotFoundError(f"no results table in study dir {study_dir}: expected results.parquet or results.csv there")


def task_columns(df: pd.DataFrame) -> list[str]:
    """The per-task `eval/*` score columns with a known direction and at least one value.

    Tie rates (`eval/ties/*`) are diagnostics and aggregates (`eval/glue_avg`) repeat their parts.
    """
    return [c for c in df.columns
            if c.startswith("eval/") and not c.startswith("eval/ties/") and c not in AGGREGATE_METRICS
            and c in metrics.HIGHER_IS_BETTER and df[c].notna().any()]


def _is_seed(column: str) -> bool:
    return "/" not in column and "seed" in column.rsplit(".", 1)[-1].lower()


def config_columns(df: pd.DataFrame, varying_only: bool = True) -> list[str]:
    """Config columns (dotted names, no `/`), without seeds and artifact paths; by default only those
    that take more than one value across trials, i.e. the conditions the study compares."""
    cols = []
    for c in df.columns:
        if "." not in c or "/" in c or _is_seed(c) or any(m in c.lower() for m in _ARTIFACT_MARKERS):
            continue
        if not varying_only or df[c].nunique(dropna=False) > 1:
            cols.append(c)
    return cols


def seed_columns(df: pd.DataFrame) -> list[str]:
    """The seed columns (`seed`, `pretrain.seed`, `instruct.seed`, ...): replicates, not conditions."""
    return [c for c in df.columns if _is_seed(c)]


def _higher(task: str, directions: Mapping[str, bool] | None) -> bool:
    if directions is None:
        return metrics.higher_is_better(task)
    if task not in directions:
        raise ValueError(f"no direction for metric {task!r} in the given directions mapping")
    return directions[task]


def zscores(df: pd.DataFrame, tasks: Sequence[str] | None = None,
            directions: Mapping[str, bool] | None = None) -> pd.DataFrame:
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


def oriented_scores(df: pd.DataFrame, tasks: Sequence[str], directions: Mapping[str, bool] | None = None) -> pd.DataFrame:
    """The tasks' scores in their own units, negated where lower is better (higher is always better)."""
    return pd.DataFrame({t: _numeric(df[t], df.index) * (1.0 if _higher(t, directions) else -1.0) for t in tasks},
                        index=df.index)


def global_score(z: pd.DataFrame) -> pd.Series:
    """Each trial's mean z over the tasks it has scores for (NaN when it has none)."""
    return z.mean(axis=1, skipna=True).rename("global_z")


def bootstrap_ci(values, n_boot: int = 10_000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile-bootstrap interval of the mean of `values` (NaNs dropped).

    With fewer than two values there is no spread to resample, and a zero-width interval would
    claim a certainty one seed cannot give, so the answer is (nan, nan). A constant sample returns
    (c, c) exactly (resampled means of equal floats can differ from c in the last bit).
    """
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if len(x) < 2:
        return (float("nan"), float("nan"))
    if np.all(x == x[0]):
        return (float(x[0]), float(x[0]))
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, len(x), size=(n_boot, len(x)))].mean(axis=1)  # (n_boot,)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return (float(low), float(high))


def condition_labels(df: pd.DataFrame, by: Sequence[str], short: bool = False) -> pd.Series:
    """One readable label per trial, e.g. `instruct.curriculum=easy_first, budget.instruct_fraction=0.1`;
    `short` keeps only the last part of each dotted name (`curriculum=easy_first`), for figure ticks."""
    if not by:
        return pd.Series("all trials", index=df.index)
    name = (lambda c: c.rsplit(".", 1)[-1]) if short else (lambda c: c)
    return df[list(by)].astype(str).apply(lambda r: ", ".join(f"{name(c)}={v}" for c, v in r.items()), axis=1)


def summarize(df: pd.DataFrame, by: Sequence[str], score: pd.Series) -> pd.DataFrame:
    """Per condition: n (scored seeds), median, q1, q3, iqr, mean and the bootstrap CI of the mean."""
    by = list(by)
    keys = [df[c] for c in by] if by else [pd.Series("all trials", index=df.index, name="condition")]
    rows = []
    for key, s in score.groupby(keys, dropna=False, sort=True):
        s = s.dropna()
        q1, med, q3 = (s.quantile([0.25, 0.5, 0.75]).tolist() if len(s) else [np.nan] * 3)
        low, high = bootstrap_ci(s.to_numpy())
        key = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip([k.name for k in keys], key)), "n": len(s), "median": med, "q1": q1,
                     "q3": q3, "iqr": q3 - q1, "mean": s.mean() if len(s) else np.nan,
                     "ci_low": low, "ci_high": high})
    return pd.DataFrame(rows)


def _numeric(col: pd.Series | None, index: pd.Index) -> pd.Series:
    """A column as floats (NaN where absent or not a number)."""
    return pd.Series(np.nan, index=index) if col is None else pd.to_numeric(col, errors="coerce").astype(float)


def stage_deltas(df: pd.DataFrame, by: Sequence[str] | None = None,
                 directions: Mapping[str, bool] | None = None) -> pd.DataFrame:
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
        frame = df[keep].assign(task=t, gain=sign * (final - _numeric(pretrain, df.index)),
                                forgetting=sign * (_numeric(stage1, df.index) - final))
        frames.append(frame.rename_axis("trial").reset_index())
    if not frames:
        return pd.DataFrame(columns=["trial", *keep, "task", "gain", "forgetting"])
    out = pd.concat(frames, ignore_index=True)
    return out[out[["gain", "forgetting"]].notna().any(axis=1)].reset_index(drop=True)


def stage_summary(deltas: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """Per condition and task: n trials (seeds), mean gain with its 95% bootstrap CI, mean forgetting
    (over the trials that have a stage 1; NaN when none has)."""
    by = list(by)
    rows = []
    for key, g in deltas.groupby([*by, "task"], dropna=False, sort=True):
        gain, forgetting = g["gain"].dropna(), g["forgetting"].dropna()
        low, high = bootstrap_ci(gain.to_numpy())
        rows.append({**dict(zip([*by, "task"], key)), "n": len(g), "gain": gain.mean() if len(gain) else np.nan,
                     "gain_ci_low": low, "gain_ci_high": high,
                     "forgetting": forgetting.mean() if len(forgetting) else np.nan})
    return pd.DataFrame(rows, columns=[*by, "task", "n", "gain", "gain_ci_low", "gain_ci_high", "forgetting"])


def _parse_curve(text: str, key: str) -> list[dict]:
    """A `curve` cell's JSON: a list of {checkpoint, words_seen, metrics: {task: score}} points."""
    try:
        points = json.loads(text)
        if not isinstance(points, list) or not all(
                isinstance(p, dict) and isinstance(p["checkpoint"], str) and isinstance(p["metrics"], dict)
                and float(p["words_seen"]) >= 0 for p in points):
            raise ValueError("not a list of points")
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"curve of pretraining {key!r} is not a JSON list of {{checkpoint, words_seen, metrics}} "
                         f"points ({e}): {text[:200]!r}") from None
    return points


def _pretraining_labels(df: pd.DataFrame, first: pd.DataFrame) -> pd.Series:
    """A label per pretraining (`first`: one row per `key/pretrain`): `model.preset` and
    `pretrain.seed`, plus any other config column that is constant within each pretraining and
    varies across them (the instruction fraction changes the pretraining's words, for one)."""
    cols = [c for c in ("model.preset", "pretrain.seed") if c in df.columns]
    per_key = df.groupby("key/pretrain", dropna=False)
    cols += [c for c in config_columns(df, varying_only=False) if c not in cols
             and first[c].nunique(dropna=False) > 1 and per_key[c].nunique(dropna=False).max() == 1]
    return condition_labels(first, cols, short=True) if cols else first["key/pretrain"].astype(str)


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
    if "curve" not in df.columns:
        return empty
    has_curve = df["curve"].map(lambda v: isinstance(v, str) and v.strip() != "")
    if not has_curve.any():
        return empty
    if "key/pretrain" not in df.columns:
        raise ValueError("the results table has a curve column but no key/pretrain to tell pretrainings apart")
    rows = df[has_curve]
    first = rows.groupby("key/pretrain", sort=True).head(1).set_index("key/pretrain", drop=False)
    labels = _pretraining_labels(df, first)
    points = []
    for key, group in rows.groupby("key/pretrain", sort=True):
        curves = [_parse_curve(text, key) for text in group["curve"]]
        if len({json.dumps(c, sort_keys=True) for c in curves}) > 1:
            raise ValueError(f"trials of pretraining {key!r} carry different curves (rows {list(group.index)})")
        row = first.loc[key]
        base = {"key/pretrain": key, "label": labels[key], "model.preset": row.get("model.preset"),
                "pretrain.seed": row.get("pretrain.seed")}
        # Task scores only: a curve's points also carry diagnostics such as tie rates (`eval/ties/*`).
        for p in curves[0]:
            points += [{**base, "checkpoint": p["checkpoint"], "words_seen": float(p["words_seen"]), "task": t,
                        "score": float(v) if v is not None else np.nan} for t, v in p["metrics"].items() if t in metrics.HIGHER_IS_BETTER]
        final_words = pd.to_numeric(row.get("pretrain/words_seen"), errors="coerce")
        if pd.notna(final_words) and float(final_words) not in {float(p["words_seen"]) for p in curves[0]}:
            tasks = dict.fromkeys(t for p in curves[0] for t in p["metrics"] if t in metrics.HIGHER_IS_BETTER)
            points += [{**base, "checkpoint": "final", "words_seen": float(final_words), "task": t,
                        "score": float(row[t + AT_PRETRAIN])}
                       for t in tasks if pd.notna(pd.to_numeric(row.get(t + AT_PRETRAIN), errors="coerce"))]
    out = pd.DataFrame(points, columns=list(CURVE_COLUMNS))
    return out.sort_values(["key/pretrain", "task", "words_seen"], kind="stable", ignore_index=True)


def finish_figure(fig, path: str | Path | None):
    """Lay the figure out and, with a `path`, save it as every figure of a report is saved."""
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120, bbox_inches="tight")
    return fig


def plot_z_boxplots(df: pd.DataFrame, z: pd.DataFrame, by: Sequence[str], path: str | Path | None = None):
    """Box plot of the global z per condition, seeds drawn as points over the boxes."""
    score, labels = global_score(z), condition_labels(df, by, short=True)
    names = sorted(labels.unique())
    data = [score[labels == n].dropna().to_numpy() for n in names]
    fig = Figure(figsize=(max(4.0, 1.8 * len(names) + 1), 4))
    ax = fig.subplots()
    ax.boxplot(data, tick_labels=[n.replace(", ", "\n") for n in names])
    for i, d in enumerate(data, start=1):  # the seeds themselves: a box of 3 points hides little
        ax.scatter(np.full(len(d), i) + np.linspace(-0.08, 0.08, len(d)), d, s=12, color="k", zorder=3)
    ax.axhline(0.0, color="grey", lw=0.8, ls="--")
    ax.set_ylabel("global z (mean over tasks)")
    ax.tick_params(axis="x", labelsize=7)
    return finish_figure(fig, path)


def plot_task_heatmap(df: pd.DataFrame, z: pd.DataFrame, by: Sequence[str], path: str | Path | None = None):
    """Mean z per task (rows) and condition (columns): which tasks a condition wins or loses."""
    table = z.groupby(condition_labels(df, by, short=True)).mean().T  # (tasks, conditions)
    m = float(np.nanmax(np.abs(table.to_numpy()))) if table.size else 1.0
    m = m if np.isfinite(m) and m > 0 else 1.0
    fig = Figure(figsize=(max(4.0, 1.8 * table.shape[1] + 2), 0.45 * table.shape[0] + 1.5))
    ax = fig.subplots()
    im = ax.imshow(table.to_numpy(dtype=float), cmap="RdBu", vmin=-m, vmax=m, aspect="auto")  # 0 = white
    ax.set_yticks(range(table.shape[0]), table.index)
    ax.set_xticks(range(table.shape[1]), [c.replace(", ", "\n") for c in table.columns], fontsize=7)
    for (i, j), v in np.ndenumerate(table.to_numpy(dtype=float)):
        if np.isfinite(v):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7, color="w" if abs(v) > 0.6 * m else "k")
    fig.colorbar(im, ax=ax, label="mean z")
    return finish_figure(fig, path)


def plot_score_vs_fraction(df: pd.DataFrame, score: pd.Series, fraction_col: str = "budget.instruct_fraction",
                           hue: str | Sequence[str] | None = None, path: str | Path | None = None):
    """Mean score ± 95% bootstrap CI per instruction fraction, one line per `hue` condition."""
    hue_cols = [hue] if isinstance(hue, str) else list(hue or [])
    groups = condition_labels(df, hue_cols, short=True) if hue_cols else pd.Series("", index=df.index)
    fig = Figure(figsize=(5.5, 4))
    ax = fig.subplots()
    for name in sorted(groups.unique()):
        sub = summarize(df[groups == name], [fraction_col], score[groups == name]).sort_values(fraction_col)
        # A CI is NaN for a single seed: draw no bar rather than a misleading zero-width one.
        err = np.nan_to_num(np.vstack([sub["mean"] - sub["ci_low"], sub["ci_high"] - sub["mean"]]))
        ax.errorbar(sub[fraction_col], sub["mean"], yerr=err, marker="o", capsize=3, label=name or None)
    ax.set_xlabel(fraction_col)
    ax.set_ylabel(f"{score.name or 'score'} (mean ± 95% CI)")
    if hue_cols:
        ax.legend(fontsize=7)
    return finish_figure(fig, path)


def _panels(n: int, width: float, height: float, ncols: int = 3) -> tuple[Figure, list]:
    """A figure of `n` panels in rows of `ncols`, the unused ones hidden."""
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(width * ncols, height * nrows))
    axes = list(fig.subplots(nrows, ncols, squeeze=False).ravel())
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def plot_gain_forgetting(deltas: pd.DataFrame, by: Sequence[str], path: str | Path | None = None) -> Figure:
    """One panel per task (its own units and y scale): per condition, the mean gain (solid) and, where
    the condition has a stage 1, the mean forgetting (hatched); the seeds are the dots."""
    if deltas.empty:
        raise ValueError("no gain or forgetting to plot: the results table has no eval/<task>@pretrain or @stage1 columns")
    labels = condition_labels(deltas, by, short=True)
    names = sorted(labels.unique())
    tasks = list(dict.fromkeys(deltas["task"]))
    fig, axes = _panels(len(tasks), max(3.0, 0.6 * len(names) + 1.2), 3.4)
    x = np.arange(len(names))
    any_forgetting = deltas["forgetting"].notna().any()
    width = 0.38 if any_forgetting else 0.7
    for ax, task in zip(axes, tasks):
        sub = deltas["task"] == task
        for column, offset, style in (("gain", -width / 2 if any_forgetting else 0.0, {"color": "C0"}),
                                      ("forgetting", width / 2, {"color": "C3", "hatch": "//", "alpha": 0.6})):
            values = [deltas.loc[sub & (labels == n), column].dropna().to_numpy() for n in names]
            if not any(len(v) for v in values):
                continue
            ax.bar(x + offset, [v.mean() if len(v) else np.nan for v in values], width, **style)
            for i, v in enumerate(values):
                ax.scatter(np.full(len(v), x[i] + offset), v, s=8, color="k", zorder=3)
        ax.axhline(0.0, color="grey", lw=0.8, ls="--")
        ax.set_title(task.removeprefix("eval/"), fontsize=9)
        ax.set_xticks(x, names, fontsize=6, rotation=40, ha="right", rotation_mode="anchor")
        ax.set_ylabel("score difference", fontsize=8)
    handles = [Patch(color="C0", label="gain: final − pretrained (+ = better)")]
    if any_forgetting:
        handles.append(Patch(facecolor="C3", hatch="//", alpha=0.6, label="forgetting: stage 1 − final (+ = lost in stage 2)"))
    fig.legend(handles=handles, loc="upper center", ncols=len(handles), fontsize=8, bbox_to_anchor=(0.5, 1.04))
    return finish_figure(fig, path)


def plot_learning_curves(curves: pd.DataFrame, path: str | Path | None = None) -> Figure:
    """Score against the words the model really saw (log x), one panel per task, one line per
    pretraining; a star marks the final pretrained model where the table has it."""
    if curves.empty:
        raise ValueError("no learning curve to plot: the results table has no curve column or it is empty")
    tasks = list(dict.fromkeys(curves["task"]))
    fig, axes = _panels(len(tasks), 4.0, 3.2)
    for ax, task in zip(axes, tasks):
        for i, (label, line) in enumerate(curves[curves["task"] == task].groupby("label", sort=True)):
            line = line.sort_values("words_seen")
            ax.plot(line["words_seen"], line["score"], marker="o", ms=3, color=f"C{i % 10}", label=label)
            final = line[line["checkpoint"] == "final"]
            ax.scatter(final["words_seen"], final["score"], marker="*", s=60, color=f"C{i % 10}", zorder=3)
        ax.set_xscale("log")
        ax.set_title(task.removeprefix("eval/"), fontsize=9)
        ax.set_xlabel("words actually seen (log; chck_* names scaled by budget)", fontsize=7)
        ax.set_ylabel("score", fontsize=8)
    axes[0].legend(fontsize=7)
    return finish_figure(fig, path)


def _markdown_table(df: pd.DataFrame) -> str:
    """A GitHub markdown table (pandas' to_markdown needs tabulate, which is not a dependency)."""
    stats = {"median", "q1", "q3", "iqr", "mean", "ci_low", "ci_high",  # rounded; config values as given
             "gain", "gain_ci_low", "gain_ci_high", "forgetting"}
    fmt = lambda c, v: f"{v:.3f}" if c in stats else str(v)  # noqa: E731
    lines = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(fmt(c, v) for c, v in zip(df.columns, row)) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def write_report(study_dir: str | Path, by: Sequence[str] | None = None, out: str | Path | None = None) -> Path:
    """Write `report.md` (default in STUDY_DIR) with its figures beside it, from the `status == ok`
    trials: first the findings (`comparisons.findings`), then the per-condition summary, the z
    figures, the table of paired comparisons, the consistency figure, and the stage sections.

    `by` (the summary's conditions) defaults to the config columns that vary across trials, seeds
    excluded; the comparisons are always of `instruct.curriculum`, paired by pretraining.
    """
    df = load_study(study_dir)
    failed = int((df["status"] != "ok").sum()) if "status" in df.columns else 0
    if failed:  # a failed trial has no scores; its config would still count as a condition
        df = df[df["status"] == "ok"].reset_index(drop=True)
    out = Path(out) if out is not None else Path(study_dir) / "report.md"
    by = config_columns(df) if by is None else list(by)
    missing = [c for c in by if c not in df.columns]
    if missing:
        raise ValueError(f"--by columns not in the results table: {missing}; config columns: {config_columns(df, False)}")
    tasks = task_columns(df)
    if not tasks:
        raise ValueError(f"no eval/* task columns with values in {study_dir}; columns: {list(df.columns)}")
    z = zscores(df, tasks)
    score = global_score(z)
    summary = summarize(df, by, score)

    out.parent.mkdir(parents=True, exist_ok=True)
    figures = {"Global z per condition": "global_z_boxplot.png", "Mean z per task and condition": "task_heatmap.png"}
    plot_z_boxplots(df, z, by, out.parent / figures["Global z per condition"])
    plot_task_heatmap(df, z, by, out.parent / figures["Mean z per task and condition"])
    fraction = "budget.instruct_fraction"
    if fraction in df.columns and df[fraction].nunique() > 1:
        figures["Global z against the instruction fraction"] = "score_vs_fraction.png"
        hue = [c for c in by if c != fraction] or None
        plot_score_vs_fraction(df, score, fraction, hue, out.parent / figures["Global z against the instruction fraction"])

    # Imported here, not at the top: the comparisons build on this module's z-scores and columns.
    from classit_ray import comparisons

    table = comparisons.paired_comparisons(df, tasks=tasks)
    left_out = f" ({failed} failed trial{'s' if failed > 1 else ''} left out)" if failed else ""
    text = [f"# Study report: {Path(study_dir).name}", "", "## Findings", "", *comparisons.findings(table), "",
            "## The study", "",
            f"{len(df)} trials{left_out}; conditions by {', '.join(f'`{c}`' for c in by) or '(none: all trials pooled)'}.",
            f"Tasks ({len(tasks)}): {', '.join(f'`{t}`' for t in tasks)}.", "",
            "Each task is z-scored across all trials (sample std, oriented so that higher is better); a",
            "trial's global z is its mean over tasks. Per condition: n scored seeds, median and IQR of the",
            "global z, and the mean with its 95% percentile-bootstrap CI (NaN for a single seed).", "",
            "## Summary", "", _markdown_table(summary), ""]
    for title, name in figures.items():
        text += [f"## {title}", "", f"![{title}]({name})", ""]
    if not table.empty:
        text += ["## Paired comparisons", "", "Every comparison of the findings, each task too (tasks in their own units;",
                 "`better in`: the pairs in which the first condition is better).", "",
                 _markdown_table(comparisons.markdown_table(table)), ""]
    text += ["## Consistency against the baseline", ""]
    if comparisons.consistency(table)[0].empty:
        text += [f"No condition has a pair with the baseline (`{comparisons.FACTOR}` = `{comparisons.BASELINE}`): "
                 "no consistency figure.", ""]
    else:
        comparisons.plot_consistency(table, path=out.parent / "consistency.png")
        text += ["Per condition and task, the share of its pairs in which it beats the baseline (a tie does not).", "",
                 "![Share of pairs beating the baseline](consistency.png)", ""]

    deltas = stage_deltas(df, by)
    if not deltas.empty:
        plot_gain_forgetting(deltas, by, out.parent / "gain_forgetting.png")
        text += ["## Instruction-tuning gain and forgetting", "",
                 "Gain is a trial's final score minus the score of the pretrained model it started from (same",
                 "size and seed); forgetting is its score at the end of instruction stage 1 minus the final score,",
                 "so a positive forgetting is what stage 2 lost; both in each task's own units, oriented so that",
                 "a positive gain is better. Per condition and task: n trials, mean gain with its 95%",
                 "bootstrap CI, mean forgetting (NaN without a stage 1).", "",
                 _markdown_table(stage_summary(deltas, by)), "",
                 "![Gain and forgetting per task and condition](gain_forgetting.png)", ""]
    curves = learning_curves(df)
    if not curves.empty:
        plot_learning_curves(curves, out.parent / "learning_curves.png")
        text += ["## Learning curves of pretraining", "",
                 "The fast zero-shot tasks on each pretraining's intermediate checkpoints (a star: the final",
                 "pretrained model), against the words it actually saw; checkpoint names are the BabyLM ones",
                 "scaled by the budget (total words / 100M), so `chck_1M` may have seen far fewer words.", "",
                 "![Learning curves](learning_curves.png)", ""]
    out.write_text("\n".join(text))
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m classit_ray.analysis", description=__doc__.split("\n\n")[0])
    parser.add_argument("study_dir", help="folder holding results.parquet or results.csv")
    parser.add_argument("--by", nargs="+", default=None, help="condition columns (default: the varying config columns)")
    parser.add_argument("--out", default=None, help="report path (default: STUDY_DIR/report.md)")
    args = parser.parse_args(argv)
    print(write_report(args.study_dir, by=args.by, out=args.out))


if __name__ == "__main__":
    main()
