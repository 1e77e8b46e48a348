"""A study's conditions compared, paired by pretraining, one question at a time.

The study asks four questions, each a family of tests corrected for multiplicity on its own
(Holm within the family, `inference.holm`), at two levels: the global z (the headline answer) and
the single tasks (where the effect lies):

- **baseline** — does instruction tuning help? Each curriculum against `none`, the pretrained
  model of the same size and seed;
- **curricula** — which order is better? Each pair of curricula, the one ahead on the global z first;
- **sizes** — is the answer the same at every model size? For each comparison of the first two
  questions, its difference at each size against the first size (the condition × size interaction);
- **dose** — how does the instruction proportion matter? Where `budget.instruct_fraction` varies,
  the slope of each measure against the proportion per curriculum, its zero point the all-pretraining
  cell (`none` at proportion 0) where the study has one.

A fifth, **interactive**, reads the metrics of what instruction tuning trains (reply NLL and
generation on held-out pairs) for the comparisons of the first two questions, as one family of its
own: they answer "did it learn its objective?", not "did the model learn language?", so they are
kept out of the global z and out of the other families.

Each test is a contrast of the block model of `inference` (blocks: trials that agree on
`pairing_columns`, i.e. one pretraining), with its 95% t-interval; beside it the exact sign-flip p of
the same pairs as a robustness check, and the pairs in which the first condition is better (the
paired probability of improvement). Every difference is oriented so that positive means the first
condition is better: a lower-is-better measure (a reply NLL) is compared as its decrease.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from classit_ray import metrics
from classit_ray.analysis import inference, table
from classit_ray.config import BASELINE  # "none": the pretrained model, no instruction tuning

FACTOR = "instruct.curriculum"
SIZE = "model.preset"
FRACTION = "budget.instruct_fraction"
GLOBAL = "global z"  # the measure name of the global score in the comparisons table
ALPHA = inference.ALPHA
DOSE_STEP = 0.1  # a dose slope is stated per +0.1 of the instruction proportion (10 points of the budget)
# The questions in report order, with the sentence that opens each.
QUESTIONS: dict[str, str] = {
    "baseline": "Does instruction tuning help?",
    "curricula": "Which curriculum is better?",
    "sizes": "Is the answer the same at every model size?",
    "dose": "How does the instruction proportion matter?",
    "interactive": "Did instruction tuning learn what it trains?",
}
# One row per test. `family`: the set of tests Holm's adjustment runs over (`question/global`,
# `question/tasks`, or `interactive`), `family_size` its number of tests; `contrast`: what `mean`
# estimates in words; `pairs`: pairs with both values of the measure; `unpaired`: trials of a or b
# without a partner; `df`: the t-test's degrees of freedom; `p`: unadjusted, `p_adj`: Holm within
# the family; `p_signflip`: the exact sign-flip p of the pairs (robustness check, unadjusted);
# `better`/`ties`: pairs in which a is better / tied; `scale`: the measure's between-trial SD (a
# difference / scale is in z units); `sigma_diff`: the SD of one pair's difference under the fitted
# model (for power); `note`: why there is no interval or test.
COMPARISON_COLUMNS = (
    "question",
    "family",
    "family_size",
    "a",
    "b",
    "contrast",
    "measure",
    "paired_by",
    "pairs",
    "unpaired",
    "mean",
    "ci_low",
    "ci_high",
    "df",
    "p",
    "p_adj",
    "p_signflip",
    "better",
    "ties",
    "scale",
    "sigma_diff",
    "note",
)


def pairing_columns(df: pd.DataFrame, factor: str = FACTOR, against_baseline: bool = False) -> list[str]:
    """The columns on which two trials must agree to be a pair: `model.preset` (where present), the
    seed columns, and every other varying config column except `factor`.

    Against the baseline, the other `instruct.*` settings are left out: a model without instruction
    tuning has none, and a study gives its baseline trials the base config's. A grid over one of them
    (say `instruct.lr`) then has several trials of a curriculum per baseline trial, which
    `pair_trials` refuses rather than reuse one baseline in several pairs.
    """
    cols = [SIZE] if SIZE in df.columns else []
    cols += [c for c in table.seed_columns(df) if c not in cols]
    cols += [
        c
        for c in table.config_columns(df)
        if c != factor and c not in cols and not (against_baseline and c.startswith("instruct."))
    ]
    return cols


def _block_keys(df: pd.DataFrame, columns: Sequence[str]) -> pd.Series:
    """One string per trial naming its block (its values of the pairing `columns`)."""
    keys = ["|".join(map(str, values)) for values in df[list(columns)].itertuples(index=False)] if columns else ""
    return pd.Series(keys, index=df.index, dtype=object)


def pair_trials(df: pd.DataFrame, factor: str, a, b, columns: Sequence[str]) -> tuple[pd.DataFrame, int]:
    """The pairs of trials (columns `a`, `b`: their row labels in `df`, one row per shared value of
    `columns`) and the number of trials of a or b that have no partner and are left out.

    ValueError when two trials of one condition agree on every column: they cannot be told apart,
    so a one-to-one pairing does not exist.
    """
    columns = list(columns)
    key = _block_keys(df, columns)
    sides = {}
    for side, level in (("a", a), ("b", b)):
        rows = key[df[factor] == level]
        if rows.duplicated().any():
            raise ValueError(
                f"not compared, since {int(rows.duplicated(keep=False).sum())} trials of {level} agree on "
                f"({', '.join(columns)}) and cannot be paired one to one"
            )
        sides[side] = pd.Series(rows.index, index=rows.to_numpy())
    pairs = pd.concat(sides, axis=1, join="inner")
    return pairs, len(sides["a"]) + len(sides["b"]) - 2 * len(pairs)


def measure_values(
    ok: pd.DataFrame, tasks: Sequence[str], directions: Mapping[str, bool] | None = None
) -> pd.DataFrame:
    """The measures compared, one column each: the global z, then every task's score in its own
    units oriented so that higher is better (a lower-is-better score negated: its decrease)."""
    z = table.zscores(ok, tasks, directions)
    return pd.concat([table.global_score(z).rename(GLOBAL), table.oriented_scores(ok, tasks, directions)], axis=1)


def _scale(values: pd.DataFrame) -> pd.Series:
    """Each measure's between-trial SD: a paired difference divided by it is in z units."""
    sd = values.std(ddof=1)
    sd[GLOBAL] = 1.0
    return sd


def _signflip_row(diffs: np.ndarray, robustness: bool) -> dict:
    d = diffs[~np.isnan(diffs)]
    return {
        "pairs": len(d),
        "p_signflip": inference.sign_flip_p(d) if robustness else np.nan,
        "better": int((d > 0).sum()),
        "ties": int((d == 0).sum()),
    }


def _test_rows(
    sub: pd.DataFrame,
    values: pd.DataFrame,
    measures: list[str],
    x: np.ndarray,
    contrasts: np.ndarray,
    heads: list[dict],
) -> list[dict]:
    """One row per contrast × measure: the block model's estimate, interval and p (`heads` gives
    each contrast's identifying columns)."""
    fit = inference.block_contrasts(values.loc[sub.index, measures].to_numpy(), x, contrasts)
    tested = fit.t_test()
    rows = []
    for i, head in enumerate(heads):
        for j, measure in enumerate(measures):
            row = {
                **head,
                "measure": measure,
                "mean": fit.estimate[i, j],
                "ci_low": tested["ci_low"][i, j],
                "ci_high": tested["ci_high"][i, j],
                "df": fit.df[j],
                "p": tested["p"][i, j],
                "sigma_diff": np.sqrt(2.0) * fit.sigma[j],
            }
            rows.append(row)
    return rows


def _level_design(sub: pd.DataFrame, blocks: pd.Series, levels: list) -> np.ndarray:
    """A dummy per condition level and per block (rank deficient by one: contrasts of levels are
    estimable, the pseudo-inverse takes care of the rest)."""
    level_x, _ = inference.dummies(sub[FACTOR], levels)
    block_x, _ = inference.dummies(blocks)
    return np.hstack([level_x, block_x])


def _paired_question(
    ok: pd.DataFrame,
    values: pd.DataFrame,
    measures: list[str],
    question: str,
    comparisons: list[tuple],
    levels: list,
    robustness: bool = True,
) -> list[dict]:
    """Tests of `comparisons` (pairs of levels) on `measures` under one block model of `levels`."""
    columns = pairing_columns(ok, FACTOR, against_baseline=question == "baseline")
    sub = ok[ok[FACTOR].isin(levels)]
    blocks = _block_keys(sub, columns)
    base = {"question": question, "paired_by": ", ".join(columns)}
    rows = []
    try:
        pairs = {(a, b): pair_trials(sub, FACTOR, a, b, columns) for a, b in comparisons}
    except ValueError as e:
        return [{**base, "a": a, "b": b, "measure": GLOBAL, "pairs": 0, "note": str(e)} for a, b in comparisons]
    x = _level_design(sub, blocks, levels)
    contrasts = np.zeros((len(comparisons), x.shape[1]))
    for i, (a, b) in enumerate(comparisons):
        contrasts[i, levels.index(a)], contrasts[i, levels.index(b)] = 1.0, -1.0
    heads = [{**base, "a": a, "b": b, "contrast": f"{a} − {b}", "unpaired": pairs[(a, b)][1]} for a, b in comparisons]
    for row in _test_rows(sub, values, measures, x, contrasts, heads):
        ab = pairs[(row["a"], row["b"])][0]
        m = row["measure"]
        row.update(_signflip_row(values.loc[ab["a"], m].to_numpy() - values.loc[ab["b"], m].to_numpy(), robustness))
        if not len(ab):
            row["note"] = (
                f"not compared, since no trial of {row['a']} shares its ({base['paired_by']}) with one of {row['b']}"
            )
        elif row["pairs"] < 2:
            row["note"] = (
                "no pair has both scores"
                if not row["pairs"]
                else "only 1 pair, and an interval or a test needs at least 2"
            )
        elif not np.isfinite(row["p"]):
            row["note"] = "no degrees of freedom left for the noise: more seeds are needed for a test"
        rows.append(row)
    return rows


def _size_rows(ok: pd.DataFrame, values: pd.DataFrame, measures: list[str], comparisons: list[tuple]) -> list[dict]:
    """The condition × size interaction of each comparison: its difference at each size minus its
    difference at the first size, within a block model of the two conditions' trials."""
    if SIZE not in ok.columns or ok[SIZE].nunique() < 2:
        return []
    rows = []
    for (a, b), question in comparisons:
        columns = pairing_columns(ok, FACTOR, against_baseline=question == "baseline")
        sub = ok[ok[FACTOR].isin([a, b])]
        sizes = sorted(sub[SIZE].unique(), key=str)
        if len(sizes) < 2:
            continue
        cells = sub[FACTOR].astype(str) + " @ " + sub[SIZE].astype(str)
        names = [f"{level} @ {s}" for s in sizes for level in (a, b)]
        cell_x, _ = inference.dummies(cells, names)
        block_x, _ = inference.dummies(_block_keys(sub, columns))
        x = np.hstack([cell_x, block_x])
        contrasts, heads = [], []
        for s in sizes[1:]:
            c = np.zeros(x.shape[1])
            for level, sign in ((a, 1.0), (b, -1.0)):
                c[names.index(f"{level} @ {s}")] += sign
                c[names.index(f"{level} @ {sizes[0]}")] -= sign
            contrasts.append(c)
            heads.append(
                {
                    "question": "sizes",
                    "a": a,
                    "b": b,
                    "paired_by": ", ".join(columns),
                    "contrast": f"({a} − {b}) at {s} minus at {sizes[0]}",
                    "pairs": int(len(pair_trials(sub, FACTOR, a, b, columns)[0])),
                    "unpaired": np.nan,
                }
            )
        rows += _test_rows(sub, values, measures, x, np.array(contrasts), heads)
    return rows


def _dose_rows(ok: pd.DataFrame, values: pd.DataFrame, measures: list[str], baseline) -> list[dict]:
    """Per curriculum, the slope of each measure against the instruction proportion (per DOSE_STEP),
    within blocks of one size and seed, over its trials and the all-pretraining trials (`baseline`
    at proportion 0) where the study has them."""
    if FRACTION not in ok.columns:
        return []
    fraction = pd.to_numeric(ok[FRACTION], errors="coerce")
    rows = []
    for level in sorted(ok.loc[ok[FACTOR] != baseline, FACTOR].dropna().unique(), key=str):
        sub = ok[(ok[FACTOR] == level) | ((ok[FACTOR] == baseline) & (fraction == 0))]
        if fraction[sub.index].nunique() < 3:  # a slope through two points has no noise to test against
            continue
        columns = [c for c in pairing_columns(ok, FACTOR, against_baseline=True) if c != FRACTION]
        block_x, _ = inference.dummies(_block_keys(sub, columns))
        x = np.hstack([fraction[sub.index].to_numpy()[:, None] * (1.0 / DOSE_STEP), block_x])
        contrasts = np.zeros((1, x.shape[1]))
        contrasts[0, 0] = 1.0
        zero = " (0: the all-pretraining cell)" if (sub[FACTOR] == baseline).any() else ""
        head = {
            "question": "dose",
            "a": level,
            "b": f"{FRACTION} slope",
            "paired_by": ", ".join(columns),
            "contrast": f"change per +{DOSE_STEP:g} of {FRACTION}{zero}",
            "pairs": int(len(sub)),
            "unpaired": np.nan,
        }
        rows += _test_rows(sub, values, measures, x, contrasts, [head])
    return rows


def paired_comparisons(
    df: pd.DataFrame,
    factor: str = FACTOR,
    baseline=BASELINE,
    tasks: Sequence[str] | None = None,
    directions: Mapping[str, bool] | None = None,
    robustness: bool = True,
) -> pd.DataFrame:
    """Every test of the study's questions among its `status == ok` trials (COMPARISON_COLUMNS, in
    QUESTIONS order, the global z first within each comparison), with Holm's adjustment within each
    family. A comparison that cannot be paired has one row, its reason in `note`. Empty when
    `factor` has fewer than 2 levels. `robustness=False` leaves out the sign-flip check (NaN), which
    no decision reads: the calibration benchmark runs the rule thousands of times."""
    if factor != FACTOR:
        raise ValueError(f"the comparisons are of {FACTOR}; got factor {factor!r}")
    ok = table.finished(df)
    if factor not in ok.columns or ok[factor].nunique() < 2:
        return pd.DataFrame(columns=list(COMPARISON_COLUMNS))
    tasks = table.task_columns(ok) if tasks is None else list(tasks)
    values = measure_values(ok, tasks, directions)
    knowledge = [GLOBAL, *table.global_tasks(tasks)]
    # A curve's own score (AoA) belongs to the pretraining: every curriculum of a block shares it,
    # so it is no comparison of curricula (the report lists it per pretraining).
    interactive = [t for t in tasks if metrics.METRIC_KIND.get(t) == "interactive"]
    levels = sorted(ok[factor].dropna().unique(), key=str)
    others = [v for v in levels if v != baseline]
    rows, compared = [], []
    if baseline in levels and others:
        against = [(level, baseline) for level in others]
        rows += _paired_question(ok, values, knowledge, "baseline", against, levels, robustness)
        compared += [(c, "baseline") for c in against]
    between = []
    for a, b in itertools.combinations(others, 2):
        ab, _ = pair_trials(ok, factor, a, b, pairing_columns(ok, factor))
        mean = (
            np.nanmean(values.loc[ab["a"], GLOBAL].to_numpy() - values.loc[ab["b"], GLOBAL].to_numpy())
            if len(ab)
            else 0
        )
        between.append((b, a) if mean < 0 else (a, b))  # the one ahead on the global z first
    if between:
        rows += _paired_question(ok, values, knowledge, "curricula", between, others, robustness)
        compared += [(c, "curricula") for c in between]
    rows += _size_rows(ok, values, knowledge, compared)
    rows += _dose_rows(ok, values, knowledge, baseline)
    if interactive and compared:
        for question, pairs in (
            ("baseline", [c for c, q in compared if q == "baseline"]),
            ("curricula", [c for c, q in compared if q == "curricula"]),
        ):
            if pairs:
                found = _paired_question(
                    ok, values, interactive, question, pairs, levels if question == "baseline" else others, robustness
                )
                rows += [{**r, "question": "interactive"} for r in found]
    out = pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))
    scale = _scale(values)
    out["scale"] = out["measure"].map(scale)
    out["note"] = out["note"].astype(object).where(out["note"].notna(), "")
    out["family"] = [
        q if q == "interactive" else f"{q}/{'global' if m == GLOBAL else 'tasks'}"
        for q, m in zip(out["question"], out["measure"])
    ]
    out.loc[out["note"] != "", "p"] = np.nan
    for _, family in out.groupby("family"):
        out.loc[family.index, "p_adj"] = inference.holm(family["p"].to_numpy(dtype=float))
        out.loc[family.index, "family_size"] = int(family["p"].notna().sum())
    order = {q: i for i, q in enumerate(QUESTIONS)}
    out = out.sort_values("question", key=lambda s: s.map(order), kind="stable", ignore_index=True)
    return out


def label(measure: str) -> str:
    """The measure as the report names it: without `eval/`, and a lower-is-better score (compared
    oriented) as its decrease, so a positive difference is an improvement everywhere."""
    name = measure.removeprefix("eval/")
    return f"{name} decrease" if metrics.HIGHER_IS_BETTER.get(measure, True) is False else name
