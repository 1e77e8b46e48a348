"""Paired comparisons of a study's conditions, and the findings they support stated in words.

Trials that share a pretraining are not independent: they start from one model, so its luck is in
all of them. Conditions are therefore compared **paired**: a trial of condition a and one of
condition b form a pair when they agree on every pairing column (`pairing_columns`: the model
size, the seeds, and every other config column that varies and is not the compared factor, such as
the instruction fraction), and each comparison is read from the pairs' differences a - b:

- in each task's own units, oriented so that positive means a is better (negated for
  lower-is-better metrics), and on the global z (`analysis.zscores` over all ok trials, then
  paired), so "global z: +0.31" is a third of a between-trial standard deviation in a's favour;
- the mean difference with its 95% Student-t interval. The t interval is exact for normal
  differences; it is chosen over the percentile bootstrap because studies have a handful of pairs,
  and with 3 pairs the bootstrap's interval is far too narrow (its resampled means take 10 values);
- a two-sided paired permutation (sign-flip) test: with no difference each pair's difference is as
  likely to carry either sign, so p is the share of the 2^n sign assignments whose |mean| is at
  least the observed one, the observed one included. Exact up to EXACT_MAX_PAIRS pairs; beyond, it
  draws N_RANDOM_FLIPS assignments with a fixed seed and p = (1 + hits) / (1 + draws). With n pairs
  p >= 2 / 2^n: 5 pairs or fewer cannot reach p < 0.05 whatever the data, and Holm's adjustment
  over m comparisons needs m · 2 / 2^n < 0.05 (the report says so where that fails: `p_floor`);
- Holm's adjustment within the two families of one report: the global z of every comparison (the
  paper's questions), and every comparison × task (where the effect lies). Each family's chance
  of any false "detectable" is at most ALPHA.

Plain numpy / pandas / scipy (the t quantile): no Ray, no torch.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from pathlib import Path

from matplotlib.figure import Figure
import numpy as np
import pandas as pd
from scipy import stats

from classit_ray import analysis, metrics
from classit_ray.config import BASELINE  # "none": the pretrained model, no instruction tuning

FACTOR = "instruct.curriculum"
GLOBAL = "global z"  # the measure name of the global score in the comparisons table
ALPHA = 0.05
EXACT_MAX_PAIRS = 16  # 2^16 sign assignments: enumerated in well under a second
N_RANDOM_FLIPS = 20_000
# One row per comparison × measure. `question`: "baseline" (a curriculum against BASELINE) or
# "curricula" (two curricula, the one better on global z as a); `pairs`: pairs with both values of
# the measure; `unpaired`: trials of a or b without a partner, left out; `better`: pairs in which a
# is better, `ties`: pairs with a difference of exactly 0; `note`: why there is no interval or test.
COMPARISON_COLUMNS = ("a", "b", "question", "measure", "family", "paired_by", "pairs", "unpaired", "mean",
                      "ci_low", "ci_high", "p", "p_holm", "p_floor", "better", "ties", "note")


def smallest_p(n: int) -> float:
    """The smallest two-sided sign-flip p that n pairs can give, whatever the data: 2 / 2^n exact
    (only all-plus and all-minus reach the largest |mean|); 1 / (1 + draws) when drawn."""
    return 2.0 / 2 ** n if n <= EXACT_MAX_PAIRS else 1.0 / (1 + N_RANDOM_FLIPS)


def pairs_needed(m: int, alpha: float = ALPHA) -> int:
    """The fewest pairs with which one of `m` Holm-adjusted comparisons can reach p < alpha."""
    return next(n for n in range(2, EXACT_MAX_PAIRS + 2) if m * smallest_p(n) < alpha)


def _clean(diffs) -> np.ndarray:
    d = np.asarray(diffs, dtype=float)
    return d[~np.isnan(d)]


def sign_flip_p(diffs, n_random: int = N_RANDOM_FLIPS, seed: int = 0) -> float:
    """Two-sided p of the paired sign-flip test of mean(diffs) = 0 (NaNs dropped); NaN below 2 pairs.

    Exact over all 2^n assignments up to EXACT_MAX_PAIRS pairs, e.g. [1, 2, 3] -> 2/8 (only all-plus
    and all-minus reach |mean| 2); else `n_random` random assignments with `seed`, counting the
    observed one. A flipped mean equal to the observed one up to float rounding counts as reaching it.
    """
    d = _clean(diffs)
    n = len(d)
    if n < 2:
        return float("nan")
    # "At least the observed |mean|" up to float rounding, on the scale of the differences: sums that
    # are equal on paper (e.g. zero, from ±0.001s) differ in their last bits.
    reach = abs(d.sum()) / n - 1e-9 * np.abs(d).max()
    if n <= EXACT_MAX_PAIRS:
        bits = (np.arange(2 ** n)[:, None] >> np.arange(n)) & 1  # (2^n, n): every assignment once
        means = np.abs((1.0 - 2.0 * bits) @ d) / n
        return float(np.mean(means >= reach))
    signs = np.random.default_rng(seed).choice([-1.0, 1.0], size=(n_random, n))
    hits = int(np.sum(np.abs(signs @ d) / n >= reach))
    return (1 + hits) / (1 + n_random)


def t_interval(diffs, level: float = 0.95) -> tuple[float, float]:
    """Student-t interval of mean(diffs) (NaNs dropped): mean ± t(n-1) · sd / √n, sample sd.
    (NaN, NaN) below 2 pairs; (c, c) when every difference is c."""
    d = _clean(diffs)
    if len(d) < 2:
        return (float("nan"), float("nan"))
    half = stats.t.ppf(0.5 + level / 2, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    return (float(d.mean() - half), float(d.mean() + half))


def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjusted p-values (NaNs stay NaN and do not count among the m tests): the
    i-th smallest of m becomes max over j <= i of min(1, (m - j + 1) p_(j))."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    tested = np.flatnonzero(~np.isnan(p))
    order = tested[np.argsort(p[tested], kind="stable")]
    m = len(order)
    out[order] = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    return out


def pairing_columns(df: pd.DataFrame, factor: str = FACTOR, against_baseline: bool = False) -> list[str]:
    """The columns on which two trials must agree to be a pair: `model.preset` (where present), the
    seed columns, and every other varying config column except `factor`.

    Against the baseline, the other `instruct.*` settings are left out: a model without instruction
    tuning has none, and a study gives its baseline trials the base config's. A grid over one of them
    (say `instruct.lr`) then has several trials of a curriculum per baseline trial, which
    `pair_trials` refuses rather than reuse one baseline in several pairs.
    """
    cols = ["model.preset"] if "model.preset" in df.columns else []
    cols += [c for c in analysis.seed_columns(df) if c not in cols]
    cols += [c for c in analysis.config_columns(df) if c != factor and c not in cols
             and not (against_baseline and c.startswith("instruct."))]
    return cols


def pair_trials(df: pd.DataFrame, factor: str, a, b, columns: Sequence[str]) -> tuple[pd.DataFrame, int]:
    """The pairs of trials (columns `a`, `b`: their row labels in `df`, one row per shared value of
    `columns`) and the number of trials of a or b that have no partner and are left out.

    ValueError when two trials of one condition agree on every column: they cannot be told apart,
    so a one-to-one pairing does not exist.
    """
    columns = list(columns)
    key = df[columns].astype(str).agg("|".join, axis=1) if columns else pd.Series("", index=df.index)
    sides = {}
    for side, level in (("a", a), ("b", b)):
        rows = key[df[factor] == level]
        if rows.duplicated().any():
            raise ValueError(f"not compared, since {int(rows.duplicated(keep=False).sum())} trials of {level} agree on "
                             f"({', '.join(columns)}) and cannot be paired one to one")
        sides[side] = pd.Series(rows.index, index=rows.to_numpy())
    pairs = pd.concat(sides, axis=1, join="inner")
    return pairs, len(sides["a"]) + len(sides["b"]) - 2 * len(pairs)


def _measure_row(diffs: np.ndarray) -> dict:
    d = _clean(diffs)
    low, high = t_interval(d)
    note = ("" if len(d) >= 2 else "no pair has both scores" if not len(d)
            else "only 1 pair, and an interval or a test needs at least 2")
    return {"pairs": len(d), "mean": float(d.mean()) if len(d) else np.nan, "ci_low": low, "ci_high": high,
            "p": sign_flip_p(d), "better": int((d > 0).sum()), "ties": int((d == 0).sum()), "note": note}


def _compare(ok: pd.DataFrame, values: pd.DataFrame, factor: str, a, b, question: str) -> list[dict]:
    columns = pairing_columns(ok, factor, against_baseline=question == "baseline")
    base = {"a": a, "b": b, "question": question, "paired_by": ", ".join(columns)}
    try:
        pairs, unpaired = pair_trials(ok, factor, a, b, columns)
    except ValueError as e:
        return [{**base, "measure": GLOBAL, "family": "global", "pairs": 0, "unpaired": np.nan, "note": str(e)}]
    if pairs.empty:
        note = f"not compared, since no trial of {a} shares its ({', '.join(columns)}) with a trial of {b}"
        return [{**base, "measure": GLOBAL, "family": "global", "pairs": 0, "unpaired": unpaired, "note": note}]
    rows = []
    for measure in values.columns:
        diffs = values.loc[pairs["a"], measure].to_numpy() - values.loc[pairs["b"], measure].to_numpy()
        rows.append({**base, "measure": measure, "family": "global" if measure == GLOBAL else "tasks",
                     "unpaired": unpaired, **_measure_row(diffs)})
    return rows


def paired_comparisons(df: pd.DataFrame, factor: str = FACTOR, baseline=BASELINE, tasks: Sequence[str] | None = None,
                       directions: Mapping[str, bool] | None = None) -> pd.DataFrame:
    """Every paired comparison of the levels of `factor` among the `status == ok` trials: each level
    against `baseline` (where the study has it), then each pair of the other levels, the one with the
    higher mean paired global z as a. One row per comparison × measure (COMPARISON_COLUMNS; the
    global z first, then the tasks), with the Holm-adjusted p within its family. A comparison that
    cannot be paired has one row, its reason in `note`. Empty when `factor` has fewer than 2 levels.
    """
    ok = df[df["status"] == "ok"] if "status" in df.columns else df
    if factor not in ok.columns or ok[factor].nunique() < 2:
        return pd.DataFrame(columns=list(COMPARISON_COLUMNS))
    tasks = analysis.task_columns(ok) if tasks is None else list(tasks)
    z = analysis.zscores(ok, tasks, directions)
    values = pd.concat([analysis.global_score(z).rename(GLOBAL), analysis.oriented_scores(ok, tasks, directions)], axis=1)
    levels = sorted(ok[factor].dropna().unique(), key=str)
    others = [v for v in levels if v != baseline]
    rows = []
    for level in others if baseline in levels else []:
        rows += _compare(ok, values, factor, level, baseline, "baseline")
    for a, b in itertools.combinations(others, 2):
        first = _compare(ok, values[[GLOBAL]], factor, a, b, "curricula")[0]
        if first.get("mean", 0.0) < 0:  # NaN (no pairs) keeps the sorted order
            a, b = b, a
        rows += _compare(ok, values, factor, a, b, "curricula")
    table = pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))
    table["p_holm"] = np.nan
    for _, family in table.groupby("family"):
        table.loc[family.index, "p_holm"] = holm(family["p"].to_numpy(dtype=float))
        # The best this comparison could do: the family's smallest p, which Holm multiplies by its size.
        tested = family["p"].notna().sum()
        table.loc[family.index, "p_floor"] = [min(1.0, tested * smallest_p(int(n))) for n in family["pairs"]]
    return table


def _p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.2g}"


def _num(measure: str):
    """The global z to 2 decimals; a task's difference, in its own units, to 3 significant digits."""
    return (lambda x: f"{x:+.2f}") if measure == GLOBAL else (lambda x: f"{x:+.3g}")


def _label(measure: str) -> str:
    """The measure as a sentence names it. A lower-is-better score (a reply NLL) is compared
    oriented, so its difference is the decrease and a positive one is an improvement: say so."""
    return f"{measure} decrease" if metrics.HIGHER_IS_BETTER.get(measure, True) is False else measure


def _numbers(row: Mapping) -> str:
    num = _num(row["measure"])
    return (f"{num(row['mean'])} [{num(row['ci_low'])}, {num(row['ci_high'])}], {_p(row['p_holm'])} (Holm), "
            f"{int(row['pairs'])} pairs")


def describe(row: Mapping, alpha: float = ALPHA) -> str:
    """One comparison × measure in a sentence, e.g. "wiki>switchboard vs merged, global z: +0.31
    [+0.05, +0.58], p = 0.03 (Holm), 6 pairs: wiki>switchboard is better.", "no detectable
    difference (...)" when the Holm-adjusted p is not below `alpha`, or the reason there is no
    interval or test. The trials left out for want of a partner are counted."""
    head = f"{row['a']} vs {row['b']}, {_label(row['measure'])}"
    if row["note"]:
        return f"{head}: {row['note']}."
    numbers, n = _numbers(row), int(row["pairs"])
    if row["unpaired"]:
        numbers += f" ({int(row['unpaired'])} unpaired trial{'s' if row['unpaired'] != 1 else ''} left out)"
    if row["p_holm"] < alpha:
        return f"{head}: {numbers}: {row['a'] if row['mean'] > 0 else row['b']} is better."
    floor = (f"; with {n} pairs the smallest Holm-adjusted p this comparison could reach is {row['p_floor']:.2g}"
             if row["p_floor"] >= alpha else "")
    return f"{head}: no detectable difference ({numbers}{floor})."


def _findings_of(table: pd.DataFrame, alpha: float) -> list[str]:
    """A bullet per comparison: the global z, then the tasks with a detectable difference."""
    lines = []
    for (a, b), comparison in table.groupby(["a", "b"], sort=False):
        line = f"- {describe(comparison.iloc[0], alpha)}"  # the global z comes first
        tasks = comparison[comparison["measure"] != GLOBAL]
        detected = tasks[tasks["p_holm"] < alpha]
        if len(detected):
            line += " Detectable on single tasks: " + "; ".join(
                f"{_label(r['measure'])} {_numbers(r)} ({a if r['mean'] > 0 else b} better)" for _, r in detected.iterrows()) + "."
        elif tasks["p"].notna().any():
            line += " No single task shows a detectable difference."
        lines.append(line)
    return lines


def _power(table: pd.DataFrame, alpha: float) -> list[str]:
    """A paragraph when no global comparison could be detectable whatever the data: too few pairs
    for the sign-flip test under Holm's adjustment, and how many it would take."""
    tested = table[(table["measure"] == GLOBAL) & table["p"].notna()]
    if tested.empty or (tested["p_floor"] < alpha).any():
        return []
    n, m = int(tested["pairs"].max()), len(tested)
    return [f"**Power.** With {n} pairs per comparison and {m} comparisons, the smallest Holm-adjusted p any "
            f"comparison could reach is {tested['p_floor'].min():.2g}, so none can be detectable whatever the data; "
            f"it takes at least {pairs_needed(m, alpha)} pairs (more seeds: `--seeds`). The intervals still bound "
            "each effect.", ""]


def findings(table: pd.DataFrame, factor: str = FACTOR, baseline=BASELINE, alpha: float = ALPHA) -> list[str]:
    """The findings as markdown lines: what the numbers are, then "does instruction tuning help?"
    (each curriculum against the baseline) and "which curriculum is better?" (pairs of curricula),
    each comparison's global z first. A question the study cannot answer says why."""
    if table.empty:
        return [f"The study has fewer than two values of `{factor}` among its ok trials: there is nothing to compare."]
    paired_by = table.drop_duplicates("question").set_index("question")["paired_by"]
    lines = [f"Trials that agree on ({paired_by.iloc[-1]}) form a pair: they share a pretraining"
             + (f" (against the baseline, ({paired_by['baseline']}))" if paired_by.nunique() > 1 else "") + ". "
             "Each number is a mean paired difference, positive when the first condition is better (global z in "
             "between-trial standard deviations, tasks in their own units), then its 95% t-interval, the two-sided "
             "sign-flip p-value with Holm's adjustment (over the global z of all comparisons, and separately over all "
             f"comparisons × tasks) and the number of pairs. \"Detectable\" means an adjusted p < {alpha:g}.", "",
             *_power(table, alpha),
             f"**Does instruction tuning help?** Each curriculum against `{baseline}`, the pretrained model.", ""]
    against = table[table["question"] == "baseline"]
    lines += _findings_of(against, alpha) if len(against) else [
        f"The study has no `{factor}` = `{baseline}` trials, so this is not answered here."]
    between = table[table["question"] == "curricula"]
    lines += ["", "**Which curriculum is better?** Each pair of curricula, the one with the higher mean global z first.", ""]
    lines += _findings_of(between, alpha) if len(between) else ["The study has a single curriculum: no pair to compare."]
    return lines


def consistency(table: pd.DataFrame, baseline=BASELINE) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Per measure (rows: global z, then tasks) and condition (columns) compared with `baseline`: the
    pairs in which the condition is better, the tied pairs, and all its pairs. Empty without such a
    comparison."""
    rows = table[(table["b"] == baseline) & (table["pairs"] > 0)]
    measures = list(dict.fromkeys(rows["measure"]))
    return tuple(rows.pivot(index="measure", columns="a", values=v).reindex(measures) for v in ("better", "ties", "pairs"))


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
    ax.set_yticks(range(share.shape[0]), [m.removeprefix("eval/") for m in better.index])
    ax.set_xticks(range(share.shape[1]), list(better.columns), fontsize=8)
    for (i, j), v in np.ndenumerate(share):
        if np.isfinite(v):
            tied = f"\n{ties.iat[i, j]:.0f} tied" if ties.iat[i, j] else ""
            ax.text(j, i, f"{better.iat[i, j]:.0f}/{pairs.iat[i, j]:.0f}{tied}", ha="center", va="center", fontsize=7,
                    color="w" if abs(v - 0.5) > 0.3 else "k")
    ax.set_title(f"Pairs in which each condition beats {baseline}", fontsize=9)
    fig.colorbar(im, ax=ax, label=f"share of pairs better than {baseline}")
    return analysis.finish_figure(fig, path)


def markdown_table(table: pd.DataFrame) -> pd.DataFrame:
    """The comparisons as display strings, for the report: a comparison without numbers shows its
    note in their place rather than `nan`."""
    def fmt(r):
        head = {"comparison": f"{r['a']} vs {r['b']}", "measure": r["measure"], "pairs": r["pairs"]}
        if r["note"]:
            return {**head, "difference [95% CI]": r["note"], "p": "", "p (Holm)": "", "better in": ""}
        num = _num(r["measure"])
        return {**head, "difference [95% CI]": f"{num(r['mean'])} [{num(r['ci_low'])}, {num(r['ci_high'])}]",
                "p": f"{r['p']:.2g}", "p (Holm)": f"{r['p_holm']:.2g}",
                "better in": f"{r['better']}/{r['pairs']}" + (f" ({r['ties']} tied)" if r["ties"] else "")}
    return pd.DataFrame([fmt(r) for _, r in table.iterrows()])
