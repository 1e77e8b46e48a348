"""The comparisons table of `comparisons.py` stated in words: the report's findings.

Three rules keep a sentence from contradicting the numbers printed beside it:

1. "X is better" only where the Holm-adjusted p within the test's family is below ALPHA; the
   family and its number of tests are named.
2. Where the 95% interval excludes 0 but the adjusted p does not pass, the sentence says the
   difference is there before correction and not significant after it, with both p-values; it
   never says "no detectable difference".
3. "No detectable difference" only where the interval includes 0.

A lower-is-better measure is named as its decrease (`label`), so a positive number is an
improvement everywhere. Plain pandas: no Ray, no torch.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from classit_ray.analysis import inference
from classit_ray.analysis.comparisons import ALPHA, BASELINE, FACTOR, GLOBAL, QUESTIONS, label

# How a family is named in a sentence.
FAMILY_NAMES = {
    "baseline/global": "curricula against the baseline, global z",
    "baseline/tasks": "curricula against the baseline × tasks",
    "curricula/global": "pairs of curricula, global z",
    "curricula/tasks": "pairs of curricula × tasks",
    "sizes/global": "size dependence, global z",
    "sizes/tasks": "size dependence × tasks",
    "dose/global": "proportion slopes, global z",
    "dose/tasks": "proportion slopes × tasks",
    "interactive": "interactive metrics of every comparison",
}


def _p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.2g}"


def _num(measure: str):
    """The global z to 2 decimals; a task's difference, in its own units, to 3 significant digits."""
    return (lambda x: f"{x:+.2f}") if measure == GLOBAL else (lambda x: f"{x:+.3g}")


def interval(row: Mapping) -> str:
    num = _num(row["measure"])
    return f"{num(row['mean'])} [{num(row['ci_low'])}, {num(row['ci_high'])}]"


def excludes_zero(row: Mapping) -> bool:
    return bool(row["ci_low"] > 0 or row["ci_high"] < 0)


def significant(row: Mapping, alpha: float = ALPHA) -> bool:
    return bool(row["p_adj"] < alpha)


def _family(row: Mapping) -> str:
    return f"Holm over {int(row['family_size'])} tests: {FAMILY_NAMES.get(row['family'], row['family'])}"


def _pairs(row: Mapping) -> str:
    if row["question"] in ("sizes", "dose"):
        return f"{int(row['pairs'])} {'pairs' if row['question'] == 'sizes' else 'trials'}"
    text = f"{int(row['pairs'])} pairs"
    if row.get("unpaired"):
        text += f", {int(row['unpaired'])} unpaired trial{'s' if row['unpaired'] != 1 else ''} left out"
    return text


def _head(row: Mapping) -> str:
    if row["question"] == "sizes":
        return f"{row['contrast']}, {label(row['measure'])}"
    if row["question"] == "dose":
        return f"{row['a']}, {label(row['measure'])}, {row['contrast']}"
    return f"{row['a']} vs {row['b']}, {label(row['measure'])}"


def _verdict(row: Mapping) -> str:
    """Who is ahead, in the question's words."""
    up = row["mean"] > 0
    if row["question"] == "sizes":
        return "the difference is larger at the later size" if up else "the difference is smaller at the later size"
    if row["question"] == "dose":
        return "it rises with the proportion" if up else "it falls with the proportion"
    return f"{row['a'] if up else row['b']} is better"


def describe(row: Mapping, alpha: float = ALPHA) -> str:
    """One test in a sentence, by the three rules of this module, e.g. "merged vs none, blimp:
    none is better: -0.075 [-0.096, -0.054], p = 0.003 (Holm over 36 tests: ...), 6 pairs."."""
    head = f"{_head(row)}"
    if row["note"]:
        return f"{head}: {row['note']}."
    numbers = f"{interval(row)}, {_pairs(row)}"
    if significant(row, alpha):
        return f"{head}: {_verdict(row)}: {numbers}, {_p(row['p_adj'])} ({_family(row)})."
    if excludes_zero(row):
        return (
            f"{head}: {_verdict(row).replace(' is better', ' is ahead')} before correction ({numbers}, "
            f"unadjusted {_p(row['p'])}), but not significant after correction (adjusted {_p(row['p_adj'])}, "
            f"{_family(row)})."
        )
    none = {"sizes": "no detectable dependence on size", "dose": "no detectable slope"}.get(
        row["question"], "no detectable difference"
    )
    return f"{head}: {none} ({numbers}, adjusted {_p(row['p_adj'])}, {_family(row)})."


def clause(row: Mapping, alpha: float = ALPHA) -> str:
    """One measure of a comparison in a clause, by the same three rules as `describe`."""
    head = f"{label(row['measure'])} {interval(row)}"
    if significant(row, alpha):
        return f"{head} ({_verdict(row)}, adjusted {_p(row['p_adj'])})"
    if excludes_zero(row):
        return f"{head} (excludes 0 before correction: unadjusted {_p(row['p'])}, adjusted {_p(row['p_adj'])})"
    return f"{head} (no detectable difference, adjusted {_p(row['p_adj'])})"


def _task_clause(tasks: pd.DataFrame, alpha: float) -> str:
    """What the single tasks add to a comparison's global sentence: the significant ones, then
    those whose interval excludes 0 only before correction."""
    tested = tasks[tasks["note"] == ""]
    if tested.empty:
        return ""
    found = [r for _, r in tested.iterrows() if significant(r, alpha)]
    nominal = [r for _, r in tested.iterrows() if not significant(r, alpha) and excludes_zero(r)]
    text = ""
    if found:
        text += " Significant on single tasks: " + "; ".join(clause(r, alpha) for r in found) + "."
    if nominal:
        text += (
            " Intervals that exclude 0 before correction but not after it: "
            + "; ".join(clause(r, alpha) for r in nominal)
            + "."
        )
    if not found and not nominal:
        text += " No single task's interval excludes 0."
    elif not found:
        text += " No single task is significant after correction."
    return text


def _question_lines(rows: pd.DataFrame, alpha: float) -> list[str]:
    """A bullet per comparison: its global z, then the tasks; for the interactive question, whose
    metrics are each an answer of their own, every metric in a clause."""
    lines = []
    for (a, b, _), comparison in rows.groupby(["a", "b", "contrast"], sort=False, dropna=False):
        if (comparison["question"] == "interactive").all():
            first = comparison.iloc[0]
            tail = f" ({_family(first)}; {_pairs(first)})" if not first["note"] else ""
            lines.append(
                f"- {a} vs {b}: "
                + "; ".join(
                    clause(r, alpha) if not r["note"] else f"{label(r['measure'])}: {r['note']}"
                    for _, r in comparison.iterrows()
                )
                + tail
                + "."
            )
        else:
            lines.append(f"- {describe(comparison.iloc[0], alpha)}" + _task_clause(comparison.iloc[1:], alpha))
    return lines


def power_lines(table: pd.DataFrame, alpha: float = ALPHA) -> list[str]:
    """What the design can detect: per question's global family, the smallest global-z difference
    its t-test detects with 80% power after Holm's adjustment (in the best case: the family's
    smallest p compared with alpha / m), and the sign-flip check's floor at this number of pairs."""
    lines = []
    for question in ("baseline", "curricula"):
        rows = table[(table["family"] == f"{question}/global") & table["p"].notna()]
        if rows.empty:
            continue
        r = rows.iloc[0]
        m = int(r["family_size"])
        mde = inference.minimal_detectable_effect(r["sigma_diff"], int(r["pairs"]), r["df"], alpha / m)
        lines.append(
            f"{QUESTIONS[question]} With {int(r['pairs'])} pairs and {m} test{'s' if m > 1 else ''} in the "
            f"family, this design detects a global-z difference of {mde:.2f} with {inference.POWER:.0%} power "
            f"(t-test with {r['df']:.0f} degrees of freedom at {alpha:g}/{m})."
        )
    n = table.loc[table["question"].isin(["baseline", "curricula"]) & (table["note"] == ""), "pairs"]
    if len(n):
        k = int(n.max())
        lines.append(
            f"The sign-flip check of each row cannot go below p = {inference.smallest_sign_flip_p(k):.2g} "
            f"with {k} pairs, whatever the data: it guards against non-normal noise and is not the test. "
            "`python -m classit_ray.analysis --plan STUDY_DIR` gives the smallest effect per task and the "
            "seeds a stated effect needs."
        )
    return [f"**Power.** {' '.join(lines)}", ""] if lines else []


def findings(table: pd.DataFrame, factor: str = FACTOR, baseline=BASELINE, alpha: float = ALPHA) -> list[str]:
    """The findings as markdown lines: how to read them, the power of the design, then each
    question of `comparisons.QUESTIONS` the study can ask, a bullet per comparison. A question
    the study cannot answer says why."""
    if table.empty:
        return [f"The study has fewer than two values of `{factor}` among its ok trials: there is nothing to compare."]
    paired = table[table["question"].isin(["baseline", "curricula"])].drop_duplicates("question")
    paired_by = paired.set_index("question")["paired_by"] if len(paired) else pd.Series(dtype=str)
    lines = [
        f"Trials that agree on ({paired_by.iloc[-1] if len(paired_by) else 'their pretraining'}) share a "
        "pretraining and form a block. Each number is a difference in a block model (trials = block + condition "
        "+ noise), positive when the first condition is better (global z in between-trial standard deviations, "
        "tasks in their own units, a lower-is-better score as its decrease), with its 95% t-interval. Each "
        "question is a family of tests: p-values are adjusted by Holm's method within the family named beside "
        f'them, and "better" means an adjusted p < {alpha:g}. The global z averages the zero-shot and '
        "fine-tuning tasks of trials that scored all of them.",
        "",
        *power_lines(table, alpha),
    ]
    for question, title in QUESTIONS.items():
        rows = table[table["question"] == question]
        if question == "baseline" and rows.empty:
            lines += [
                f"**{title}**",
                "",
                f"The study has no `{factor}` = `{baseline}` trials, so this is not answered here.",
                "",
            ]
        elif question == "curricula" and rows.empty:
            lines += [f"**{title}**", "", "The study has a single curriculum: no pair to compare.", ""]
        elif len(rows):
            lines += [f"**{title}**", "", *_question_lines(rows, alpha), ""]
    return lines[:-1] if lines and lines[-1] == "" else lines


def markdown_table(table: pd.DataFrame) -> pd.DataFrame:
    """The comparisons as display strings, for the report: each measure by its `label` (a decrease
    where lower is better, as in the findings); a test without numbers shows its note."""

    def fmt(r):
        comparison = r["contrast"] if isinstance(r["contrast"], str) and r["contrast"] else f"{r['a']} vs {r['b']}"
        head = {"family": r["family"], "comparison": comparison, "measure": label(r["measure"]), "n": r["pairs"]}
        if r["note"]:
            return {
                **head,
                "difference [95% CI]": r["note"],
                "p": "",
                "p (Holm)": "",
                "sign-flip p": "",
                "better in": "",
            }
        better = (
            ""
            if np.isnan(r["better"])
            else f"{r['better']:.0f}/{r['pairs']:.0f}" + (f" ({r['ties']:.0f} tied)" if r["ties"] else "")
        )
        flip = "" if np.isnan(r["p_signflip"]) else f"{r['p_signflip']:.2g}"
        mark = " *" if significant(r) else ""
        return {
            **head,
            "difference [95% CI]": interval(r),
            "p": f"{r['p']:.2g}",
            "p (Holm)": f"{r['p_adj']:.2g} (of {r['family_size']:.0f}){mark}",
            "sign-flip p": flip,
            "better in": better,
        }

    return pd.DataFrame([fmt(r) for _, r in table.iterrows()])


def consistency(table: pd.DataFrame, baseline=BASELINE) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Per measure (rows: global z, then tasks) and condition (columns) compared with `baseline`: the
    pairs in which the condition is better, the tied pairs, and all its pairs. Empty without such a
    comparison."""
    rows = table[(table["question"] == "baseline") & (table["b"] == baseline) & (table["pairs"] > 0)]
    measures = list(dict.fromkeys(rows["measure"]))
    return tuple(
        rows.pivot(index="measure", columns="a", values=v).reindex(measures) for v in ("better", "ties", "pairs")
    )
