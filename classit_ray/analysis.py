"""Analysis of a finished study: its results table, per-task z-scores, a global score, per-condition
summaries with bootstrap intervals, figures and a markdown report.

A study's results table has one row per trial: config columns named by dotted path
(`instruct.curriculum`, `budget.instruct_fraction`, `seed`, ...), every flat `eval/*` metric, final
losses and artifact paths; it is `STUDY_DIR/results.parquet` (or `results.csv`).

Tasks are on different scales (accuracy, Spearman, ΔR²), so each is z-scored across the study's
trials (sample std), oriented so that positive is better, and the global score of a trial is its
mean z. Conditions are compared by the median and IQR of that score over seeds, as the paper does.

Plain pandas / numpy / matplotlib: no Ray, no torch (only `classit_ray.metrics` is imported), so the
analysis runs on a laptop against a copied results file.

    python -m classit_ray.analysis STUDY_DIR [--by instruct.curriculum ...]
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path

# Figures are built on `matplotlib.figure.Figure` directly, not through pyplot: no backend, no
# window and no global figure registry, so reports are written on headless nodes and a notebook
# shows a returned figure with its own inline backend.
from matplotlib.figure import Figure
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from classit_ray import metrics  # noqa: E402

# Metrics that are averages of other metrics; z-scoring them too would count GLUE twice.
AGGREGATE_METRICS = ("eval/glue_avg",)
# Column names that hold artifacts rather than configuration (never a grouping variable).
_ARTIFACT_MARKERS = ("path", "dir", "artifact", "checkpoint", "uri")


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


def config_columns(df: pd.DataFrame, varying_only: bool = True) -> list[str]:
    """Config columns (dotted names, no `/`), without seeds and artifact paths; by default only those
    that take more than one value across trials, i.e. the conditions the study compares."""
    cols = []
    for c in df.columns:
        leaf = c.rsplit(".", 1)[-1].lower()
        if "." not in c or "/" in c or "seed" in leaf or any(m in c.lower() for m in _ARTIFACT_MARKERS):
            continue
        if not varying_only or df[c].nunique(dropna=False) > 1:
            cols.append(c)
    return cols


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
        if directions is None:
            higher = metrics.higher_is_better(t)
        elif t in directions:
            higher = directions[t]
        else:
            raise ValueError(f"no direction for metric {t!r} in the given directions mapping")
        x = pd.to_numeric(df[t], errors="coerce").astype(float)
        scored = x.dropna()
        if len(scored) < 2 or scored.nunique() < 2:  # exact tie test: no float-noise std
            col = x.where(x.isna(), 0.0)
        else:
            col = (x - scored.mean()) / scored.std(ddof=1)
        z[t] = col if higher else -col
    return z


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


def _finish(fig, path: str | Path | None):
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
    return _finish(fig, path)


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
    return _finish(fig, path)


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
    return _finish(fig, path)


def _markdown_table(df: pd.DataFrame) -> str:
    """A GitHub markdown table (pandas' to_markdown needs tabulate, which is not a dependency)."""
    stats = {"median", "q1", "q3", "iqr", "mean", "ci_low", "ci_high"}  # rounded; config values as given
    fmt = lambda c, v: f"{v:.3f}" if c in stats else str(v)  # noqa: E731
    lines = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(fmt(c, v) for c, v in zip(df.columns, row)) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def write_report(study_dir: str | Path, by: Sequence[str] | None = None, out: str | Path | None = None) -> Path:
    """Write `report.md` (default in STUDY_DIR) with the per-condition summary and figures beside it.

    `by` defaults to the config columns that vary across trials, seeds excluded.
    """
    df = load_study(study_dir)
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

    text = [f"# Study report: {Path(study_dir).name}", "",
            f"{len(df)} trials; conditions by {', '.join(f'`{c}`' for c in by) or '(none: all trials pooled)'}.",
            f"Tasks ({len(tasks)}): {', '.join(f'`{t}`' for t in tasks)}.", "",
            "Each task is z-scored across all trials (sample std, oriented so that higher is better); a",
            "trial's global z is its mean over tasks. Per condition: n scored seeds, median and IQR of the",
            "global z, and the mean with its 95% percentile-bootstrap CI (NaN for a single seed).", "",
            "## Summary", "", _markdown_table(summary), ""]
    for title, name in figures.items():
        text += [f"## {title}", "", f"![{title}]({name})", ""]
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
