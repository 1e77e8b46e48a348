"""The report's figures, each from the tables of `table.py`, `comparisons.py` and `findings.py`.

Figures are built on `matplotlib.figure.Figure` directly, not through pyplot: no backend, no
window and no global figure registry, so reports are written on headless nodes and a notebook
shows a returned figure with its own inline backend. Plain pandas / matplotlib: no Ray, no torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from classit_ray.analysis.comparisons import BASELINE, GLOBAL, QUESTIONS, label
from classit_ray.analysis.table import condition_labels, global_score, summarize
from classit_ray.analysis.wording import consistency, significant


def finish_figure(fig, path: str | Path | None):
    """Lay the figure out and, with a `path`, save it as every figure of a report is saved."""
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120, bbox_inches="tight")
    return fig


def plot_forest(table: pd.DataFrame, path: str | Path | None = None, alpha: float = 0.05) -> Figure:
    """The answer at a glance: one panel per question side by side (curricula against the baseline,
    curricula against each other, and where asked the size dependence and the proportion slope), a
    row per measure (the global z first) and in it a marker per comparison, each paired difference
    with its 95% interval in z units (the difference over the measure's between-trial SD, so tasks
    share an axis; the global z is already one). A filled marker is significant after Holm's
    correction within its family, a hollow one is not."""
    shown = table[table["question"].isin(["baseline", "curricula", "sizes", "dose"]) & (table["note"] == "")]
    if shown.empty:
        raise ValueError("no tested comparison to draw: the study has no two conditions with two pairs")
    questions = [q for q in QUESTIONS if (shown["question"] == q).any()]
    measures = list(dict.fromkeys(shown["measure"]))
    fig = Figure(figsize=(4.2 * len(questions), 0.42 * len(measures) + 2.2))
    axes = fig.subplots(1, len(questions), squeeze=False, sharey=True)[0]
    y_of = {m: len(measures) - 1 - i for i, m in enumerate(measures)}
    for ax, question in zip(axes, questions):
        rows = shown[shown["question"] == question].reset_index(drop=True)
        # A comparison's name without the size statement, which the panel's title carries.
        names = [f"{a} − {b}" if question == "sizes" else c for a, b, c in zip(rows["a"], rows["b"], rows["contrast"])]
        groups = list(dict.fromkeys(names))
        step = 0.8 / len(groups)
        scale = rows["scale"].where(rows["scale"] > 0)
        mean, low, high = (rows[c] / scale for c in ("mean", "ci_low", "ci_high"))
        sig = np.array([significant(r, alpha) for _, r in rows.iterrows()])
        for g, name in enumerate(groups):
            sel = np.array([n == name for n in names])
            y = rows["measure"].map(y_of).to_numpy(dtype=float) + (len(groups) - 1) / 2 * step - g * step
            color = f"C{g % 10}"
            ax.errorbar(mean[sel], y[sel], xerr=[(mean - low)[sel], (high - mean)[sel]], fmt="none", ecolor=color, lw=1)
            ax.scatter(mean[sel & sig], y[sel & sig], color=color, s=16, zorder=3)
            ax.scatter(mean[sel & ~sig], y[sel & ~sig], facecolors="white", edgecolors=color, s=16, zorder=3)
        for k in range(len(measures) - 1):
            ax.axhline(k + 0.5, color="0.9", lw=0.6)
        ax.axvline(0.0, color="grey", lw=0.8, ls="--")
        title = QUESTIONS[question]
        if question == "sizes":
            title += "\n" + rows["contrast"].iloc[0].split(") ", 1)[-1].replace("(", "")
        ax.set_title(title, fontsize=8, loc="left")
        handles = [Line2D([], [], color=f"C{g % 10}", marker="o", lw=1, label=n) for g, n in enumerate(groups)]
        ax.legend(handles=handles, fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.07), ncols=2, frameon=False)
        ax.tick_params(axis="x", labelsize=7)
    axes[0].set_yticks(
        [y_of[m] for m in measures], [("▶ " if m == GLOBAL else "") + label(m) for m in measures], fontsize=7
    )
    axes[0].set_ylim(-0.6, len(measures) - 0.4)
    fig.suptitle(
        "Paired differences in z units (between-trial SDs), 95% CIs; filled: significant after Holm "
        "within the question's family",
        fontsize=8,
        y=1.0,
    )
    return finish_figure(fig, path)


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
    ax.set_yticks(range(table.shape[0]), [label(t) for t in table.index])  # oriented z: "decrease"
    ax.set_xticks(range(table.shape[1]), [c.replace(", ", "\n") for c in table.columns], fontsize=7)
    for (i, j), v in np.ndenumerate(table.to_numpy(dtype=float)):
        if np.isfinite(v):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7, color="w" if abs(v) > 0.6 * m else "k")
    fig.colorbar(im, ax=ax, label="mean z")
    return finish_figure(fig, path)


def plot_score_vs_fraction(
    df: pd.DataFrame,
    score: pd.Series,
    fraction_col: str = "budget.instruct_fraction",
    hue: str | Sequence[str] | None = None,
    path: str | Path | None = None,
):
    """Mean score ± its unpaired 95% t-interval per instruction fraction, one line per `hue` condition
    (the paired slope and its test are in the findings: `comparisons`' dose question)."""
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
    ax.set_ylabel(f"{score.name or 'score'} (mean ± unpaired 95% CI)")
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
        raise ValueError(
            "no gain or forgetting to plot: the results table has no eval/<task>@pretrain or @stage1 columns"
        )
    # Short labels: the condition's values alone ("tiny / merged"), the columns being in the title.
    labels = deltas[list(by)].astype(str).agg(" / ".join, axis=1) if by else pd.Series("all", index=deltas.index)
    # A condition whose gain is 0 on every trial and task, with no stage 1 (the pretrained baseline,
    # by construction), is the reference line, not a bar.
    flat = deltas.groupby(labels).apply(
        lambda g: bool((g["gain"].fillna(0) == 0).all() and g["forgetting"].isna().all())
    )
    names = sorted(n for n in labels.unique() if not flat.get(n, False))
    if not names:
        raise ValueError("no gain or forgetting to plot: every condition is the pretrained baseline")
    tasks = list(dict.fromkeys(deltas["task"]))
    fig, axes = _panels(len(tasks), max(3.0, 0.6 * len(names) + 1.2), 3.4)
    x = np.arange(len(names))
    any_forgetting = deltas["forgetting"].notna().any()
    width = 0.38 if any_forgetting else 0.7
    for ax, task in zip(axes, tasks):
        sub = deltas["task"] == task
        for column, offset, style in (
            ("gain", -width / 2 if any_forgetting else 0.0, {"color": "C0"}),
            ("forgetting", width / 2, {"color": "C3", "hatch": "//", "alpha": 0.6}),
        ):
            values = [deltas.loc[sub & (labels == n), column].dropna().to_numpy() for n in names]
            if not any(len(v) for v in values):
                continue
            ax.bar(x + offset, [v.mean() if len(v) else np.nan for v in values], width, **style)
            for i, v in enumerate(values):
                ax.scatter(np.full(len(v), x[i] + offset), v, s=8, color="k", zorder=3)
        ax.axhline(0.0, color="grey", lw=0.8, ls="--")
        ax.set_title(label(task), fontsize=9)  # gains are oriented: a decrease where lower is better
        ax.set_xticks(x, names, fontsize=6, rotation=40, ha="right", rotation_mode="anchor")
        ax.set_ylabel("score difference", fontsize=8)
    if by:
        fig.suptitle(" / ".join(c.rsplit(".", 1)[-1] for c in by), fontsize=8, y=0.995)
    handles = [Patch(color="C0", label="gain: final − pretrained (+ = better)")]
    if any_forgetting:
        handles.append(
            Patch(facecolor="C3", hatch="//", alpha=0.6, label="forgetting: stage 1 − final (+ = lost in stage 2)")
        )
    fig.legend(handles=handles, loc="upper center", ncols=len(handles), fontsize=8, bbox_to_anchor=(0.5, 1.06))
    return finish_figure(fig, path)


def plot_learning_curves(curves: pd.DataFrame, path: str | Path | None = None) -> Figure:
    """Score against the words the model really saw (log x), one panel per task, one line per
    pretraining; a star marks the final pretrained model where the table has it."""
    if curves.empty:
        raise ValueError("no learning curve to plot: the results table has no curve column or it is empty")
    tasks = list(dict.fromkeys(curves["task"]))
    fig, axes = _panels(len(tasks), 4.0, 3.2)
    for ax, task in zip(axes, tasks):
        for i, (name, line) in enumerate(curves[curves["task"] == task].groupby("label", sort=True)):
            line = line.sort_values("words_seen")
            ax.plot(line["words_seen"], line["score"], marker="o", ms=3, color=f"C{i % 10}", label=name)
            final = line[line["checkpoint"] == "final"]
            ax.scatter(final["words_seen"], final["score"], marker="*", s=60, color=f"C{i % 10}", zorder=3)
        ax.set_xscale("log")
        ax.set_title(task.removeprefix("eval/"), fontsize=9)
        ax.set_xlabel("words actually seen (log; chck_* names scaled by budget)", fontsize=7)
        ax.set_ylabel("score", fontsize=8)
    axes[0].legend(fontsize=7)
    return finish_figure(fig, path)


def plot_consistency(table: pd.DataFrame, baseline=BASELINE, path: str | Path | None = None) -> Figure:
    """The consistency claim: per condition (column) and measure (row), the share of its pairs in
    which it beats the baseline, annotated `better/pairs` and the ties (a tie does not beat it)."""
    better, ties, pairs = consistency(table, baseline)
    if better.empty:
        raise ValueError(f"no comparison with the baseline {baseline!r} has a pair: no consistency figure")
    share = (better / pairs).to_numpy(dtype=float)  # (measures, conditions)
    fig = Figure(figsize=(max(4.0, 1.6 * share.shape[1] + 2.5), 0.45 * share.shape[0] + 1.5))
    ax = fig.subplots()
    im = ax.imshow(share, cmap="RdBu", vmin=0.0, vmax=1.0, aspect="auto")  # half the pairs = white
    ax.set_yticks(range(share.shape[0]), [label(m) for m in better.index])
    ax.set_xticks(range(share.shape[1]), list(better.columns), fontsize=8)
    for (i, j), v in np.ndenumerate(share):
        if np.isfinite(v):
            tied = f"\n{ties.iat[i, j]:.0f} tied" if ties.iat[i, j] else ""
            ax.text(
                j,
                i,
                f"{better.iat[i, j]:.0f}/{pairs.iat[i, j]:.0f}{tied}",
                ha="center",
                va="center",
                fontsize=7,
                color="w" if abs(v - 0.5) > 0.3 else "k",
            )
    ax.set_title(f"Pairs in which each condition beats {baseline}", fontsize=9)
    fig.colorbar(im, ax=ax, label=f"share of pairs better than {baseline}")
    return finish_figure(fig, path)
