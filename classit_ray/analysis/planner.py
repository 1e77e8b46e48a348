"""How many seeds a study needs: the power of its paired tests, planned from a finished study or a
pilot.

The noise is read from the pilot's own block model (`comparisons`, question "baseline", or
"curricula" where the study has no baseline): per measure, the SD of one pair's difference. The
planned design is the pilot's (its conditions and sizes) with another number of seeds; its t-test
has (pairs - 1)(conditions - 1) degrees of freedom, the complete block design's. Power is that of
one comparison after Holm's adjustment over its family in the best case (its p compared with
alpha / m, m the family's number of tests), so it is what a single true effect needs to be found.

    python -m classit_ray.analysis --plan STUDY_DIR [--seeds N] [--effect 0.01 --measure eval/blimp]

Plain pandas / scipy / statsmodels: no Ray, no torch.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from classit_ray.analysis import comparisons, inference
from classit_ray.analysis.comparisons import GLOBAL, label
from classit_ray.analysis.table import finished, load_study

MAX_SEEDS = 200  # the search for the seeds an effect needs stops here and says so

PLAN_COLUMNS = (
    "measure",
    "sigma_diff",
    "pairs",
    "df",
    "tests",
    "alpha_per_test",
    "mde",
    "effect",
    "seeds_needed",
    "pairs_needed",
)


def _design(table: pd.DataFrame) -> tuple[str, pd.DataFrame, int]:
    """The question the plan is for, its rows, and its number of conditions."""
    for question in ("baseline", "curricula"):
        rows = table[(table["question"] == question) & table["p"].notna()]
        if len(rows):
            return question, rows, len(set(rows["a"]) | set(rows["b"]))
    raise ValueError(
        "no paired test in this study to plan from: it needs two conditions with at least two pairs "
        "(a pilot of two seeds per size)"
    )


def _df(pairs: int, conditions: int) -> int:
    return (pairs - 1) * (conditions - 1)


def plan(
    table: pd.DataFrame,
    sizes: int,
    seeds: int | None = None,
    effect: float | None = None,
    measure: str = GLOBAL,
    alpha: float = inference.ALPHA,
) -> tuple[str, pd.DataFrame]:
    """Per measure (the global z, then the tasks): the pilot's noise (`sigma_diff`), the planned
    pairs (`sizes` × `seeds`, default the pilot's pairs), the t-test's df, the family's tests and the
    per-test level, and the smallest effect detected with 80% power (`mde`, in the measure's units).
    With `effect` (in `measure`'s units): the seeds, and pairs, that detect it with 80% power.
    Returns the question planned for and the table (PLAN_COLUMNS)."""
    question, rows, conditions = _design(table)
    by_measure = rows.groupby("measure", sort=False).first()
    if measure not in by_measure.index and effect is not None:
        raise ValueError(f"no measure {measure!r} in this study's tests; measures: {', '.join(by_measure.index)}")
    out = []
    for name, r in by_measure.iterrows():
        pairs = int(r["pairs"]) if seeds is None else sizes * seeds
        tests = int(r["family_size"])
        level = alpha / tests
        row = {
            "measure": name,
            "sigma_diff": r["sigma_diff"],
            "pairs": pairs,
            "df": _df(pairs, conditions),
            "tests": tests,
            "alpha_per_test": level,
            "mde": inference.minimal_detectable_effect(r["sigma_diff"], pairs, _df(pairs, conditions), level),
            "effect": np.nan,
            "seeds_needed": np.nan,
            "pairs_needed": np.nan,
        }
        if effect is not None and name == measure:
            row["effect"] = effect
            needed = next(
                (
                    s
                    for s in range(2, MAX_SEEDS + 1)
                    if inference.power(effect, r["sigma_diff"], sizes * s, _df(sizes * s, conditions), level)
                    >= inference.POWER
                ),
                None,
            )
            row["seeds_needed"] = needed if needed is not None else math.inf
            row["pairs_needed"] = sizes * needed if needed is not None else math.inf
        out.append(row)
    return question, pd.DataFrame(out, columns=list(PLAN_COLUMNS))


def describe_plan(question: str, planned: pd.DataFrame, sizes: int) -> list[str]:
    """The plan as lines of text for a console."""
    conditions = comparisons.QUESTIONS[question]
    lines = [
        f'Power plan for "{conditions}" ({question} comparisons), from the pilot\'s noise; '
        f"{inference.POWER:.0%} power at alpha / tests (Holm's first step), {sizes} size(s):",
        "",
        f"{'measure':<28} {'pair SD':>10} {'pairs':>6} {'df':>4} {'tests':>6} {'smallest effect':>16}",
    ]
    for _, r in planned.iterrows():
        unit = "" if r["measure"] == GLOBAL else " (own units)"
        lines.append(
            f"{label(r['measure']):<28} {r['sigma_diff']:>10.3g} {r['pairs']:>6.0f} {r['df']:>4.0f} "
            f"{r['tests']:>6.0f} {r['mde']:>16.3g}{unit}"
        )
    asked = planned[planned["effect"].notna()]
    for _, r in asked.iterrows():
        if math.isinf(r["seeds_needed"]):
            lines += [
                "",
                f"An effect of {r['effect']:g} on {label(r['measure'])} is not detected with "
                f"{inference.POWER:.0%} power within {MAX_SEEDS} seeds.",
            ]
        else:
            lines += [
                "",
                f"An effect of {r['effect']:g} on {label(r['measure'])} needs {r['seeds_needed']:.0f} seeds "
                f"({r['pairs_needed']:.0f} pairs over {sizes} size(s)) for {inference.POWER:.0%} power "
                f"(`--seeds {r['seeds_needed']:.0f}`).",
            ]
    return lines


def plan_lines(
    study_dir: str, seeds: int | None = None, effect: float | None = None, measure: str = GLOBAL
) -> list[str]:
    """The power plan of the design of a finished study (or pilot) in STUDY_DIR, with `seeds` seeds
    per size (default: its own), as console lines: `--plan`, and a study's dry run with `--pilot`."""
    df = load_study(study_dir)
    ok = finished(df)
    sizes = max(1, ok[comparisons.SIZE].nunique()) if comparisons.SIZE in ok.columns else 1
    question, planned = plan(comparisons.paired_comparisons(ok, robustness=False), sizes, seeds, effect, measure)
    return describe_plan(question, planned, sizes)
