"""The study's questions as families of paired tests (`analysis.comparisons`), their words
(`analysis.wording`), the power planner and the report's findings, on hand-made and synthetic
tables whose answers are known (fast, offline; no Ray, no torch)."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats

from classit_ray.analysis import comparisons, inference, planner, synthetic, wording, write_report
from classit_ray.analysis.comparisons import GLOBAL

ROOT = Path(__file__).resolve().parents[1]
THREE_TASKS = {k: synthetic.TOY_TASKS[k] for k in ("eval/blimp", "eval/ewok", "eval/entity_tracking")}


def test_pairing_matches_size_and_seed_and_counts_the_unpaired():
    df = pd.DataFrame(
        {
            "model.preset": ["small", "tiny", "tiny", "small", "small", "tiny", "tiny"],
            "pretrain.seed": [1, 0, 0, 1, 0, 1, 2],
            "instruct.curriculum": ["merged", "none", "merged", "none", "none", "merged", "none"],
        }
    )
    pairs, unpaired = comparisons.pair_trials(
        df, "instruct.curriculum", "merged", "none", ["model.preset", "pretrain.seed"]
    )
    # (tiny, 0): rows 2 and 1; (small, 1): rows 0 and 3; merged (tiny, 1), none (small, 0) and (tiny, 2) have no partner
    assert sorted(zip(pairs["a"], pairs["b"])) == [(0, 3), (2, 1)] and unpaired == 3
    twice = pd.concat([df, df.iloc[[2]]], ignore_index=True)
    with pytest.raises(ValueError, match=r"2 trials of merged agree on \(model.preset, pretrain.seed\)"):
        comparisons.pair_trials(twice, "instruct.curriculum", "merged", "none", ["model.preset", "pretrain.seed"])


def test_pairing_columns_hold_the_other_conditions_but_not_baseline_free_settings():
    df = pd.DataFrame(
        {
            "model.preset": ["tiny"] * 4,
            "pretrain.seed": [0, 0, 1, 1],
            "instruct.seed": [0, 0, 1, 1],
            "instruct.curriculum": ["merged", "none", "merged", "none"],
            "instruct.lr": [1e-4, 3e-4] * 2,
            "budget.instruct_fraction": [0.1, 0.1, 0.2, 0.2],
            "budget.seed": [0] * 4,
        }
    )
    assert comparisons.pairing_columns(df) == [
        "model.preset",
        "pretrain.seed",
        "instruct.seed",
        "budget.seed",
        "instruct.lr",
        "budget.instruct_fraction",
    ]
    # a baseline has no learning rate of its own: against it, only the pretraining side pairs
    assert "instruct.lr" not in comparisons.pairing_columns(df, against_baseline=True)


def _paired_study(study_dir=None):
    """2 sizes × 4 seeds = 8 pairs (k = 1..8), numbers chosen to be checked by hand.

    eval/blimp: `none` is the pretrained score; wiki>switchboard adds 0.01 k; merged adds +0.001 for odd k
    and -0.001 for even k. eval/ewok is 0.55 everywhere. One more wiki>switchboard trial (seed 7) has
    no partner, and a failed merged trial must not count.
    """
    rows = []
    for size in ("tiny", "small"):
        for seed in range(4):
            k = 4 * (size == "small") + seed + 1
            pre = 0.60 + 0.01 * seed + 0.05 * (size == "small")
            for curriculum, blimp in (
                ("none", pre),
                ("merged", pre + (0.001 if k % 2 else -0.001)),
                ("wiki>switchboard", pre + 0.01 * k),
            ):
                rows.append(
                    {
                        "model.preset": size,
                        "pretrain.seed": seed,
                        "instruct.seed": seed,
                        "instruct.curriculum": curriculum,
                        "status": "ok",
                        "eval/blimp": blimp,
                        "eval/ewok": 0.55,
                    }
                )
    rows.append(
        {
            "model.preset": "tiny",
            "pretrain.seed": 7,
            "instruct.seed": 7,
            "instruct.curriculum": "wiki>switchboard",
            "status": "ok",
            "eval/blimp": 0.7,
            "eval/ewok": 0.55,
        }
    )
    rows.append(
        {
            "model.preset": "tiny",
            "pretrain.seed": 0,
            "instruct.seed": 0,
            "instruct.curriculum": "merged",
            "status": "error",
            "eval/blimp": np.nan,
            "eval/ewok": np.nan,
        }
    )
    df = pd.DataFrame(rows)
    if study_dir is not None:
        study_dir.mkdir(parents=True, exist_ok=True)
        df.to_csv(study_dir / "results.csv", index=False)
    return df


def test_paired_comparisons_are_the_block_model_of_statsmodels():
    df = _paired_study()
    t = comparisons.paired_comparisons(df)
    assert list(dict.fromkeys(t["question"])) == ["baseline", "curricula", "sizes"]
    b = t[t["question"] == "baseline"].set_index(["a", "b", "measure"])
    # the better curriculum comes first among curricula, whatever the alphabet says
    assert t.loc[t["question"] == "curricula", ["a", "b"]].iloc[0].tolist() == ["wiki>switchboard", "merged"]
    wiki = b.loc[("wiki>switchboard", "none", "eval/blimp")]
    ok = df[df["status"] == "ok"].assign(block=lambda d: d["model.preset"] + d["pretrain.seed"].astype(str))
    ols = smf.ols("Q('eval/blimp') ~ C(Q('instruct.curriculum'), Treatment('none')) + C(block)", ok).fit()
    ref = ols.t_test("C(Q('instruct.curriculum'), Treatment('none'))[T.wiki>switchboard]")
    assert wiki["mean"] == pytest.approx(0.045)  # the mean of the 8 paired differences 0.01..0.08
    assert [wiki["mean"], wiki["ci_low"], wiki["ci_high"], wiki["p"]] == pytest.approx(
        [float(ref.effect[0]), *ref.conf_int()[0], float(ref.pvalue)]
    )
    assert [wiki["pairs"], wiki["unpaired"], wiki["better"], wiki["df"]] == [8, 1, 8, ols.df_resid]
    assert wiki["p_signflip"] == pytest.approx(2 / 256)  # the robustness check: exact, all 8 pairs agree
    # Holm within the family: baseline × tasks holds 2 comparisons × 2 tasks (ewok ties: p = 1)
    tasks = t[t["family"] == "baseline/tasks"]
    assert len(tasks) == 4 and (tasks["family_size"] == 4).all()
    assert wiki["p_adj"] == pytest.approx(
        inference.holm(tasks["p"].to_numpy())[list(tasks["a"]).index("wiki>switchboard")]
    )
    assert b.loc[("merged", "none", "eval/ewok"), "p"] == 1.0 and (t["note"] == "").all()


def test_the_size_question_is_the_interaction_by_hand():
    df = _paired_study()
    t = comparisons.paired_comparisons(df)
    row = t[
        (t["question"] == "sizes")
        & (t["a"] == "wiki>switchboard")
        & (t["b"] == "none")
        & (t["measure"] == "eval/blimp")
    ].iloc[0]
    # differences 0.05..0.08 at small minus 0.01..0.04 at tiny: 0.04, from the first size (sorted: small)
    assert row["contrast"] == "(wiki>switchboard − none) at tiny minus at small" and row["mean"] == pytest.approx(-0.04)
    d_small, d_tiny = np.arange(5, 9) / 100, np.arange(1, 5) / 100
    ref = stats.ttest_ind(d_tiny, d_small)  # the interaction of a two-level block model: a two-sample t on the pairs
    assert row["p"] == pytest.approx(ref.pvalue) and row["df"] == 6


def test_the_dose_question_is_the_paired_slope_of_statsmodels():
    rng = np.random.default_rng(3)
    rows = []
    for seed in range(3):
        block = rng.normal(0, 0.02)
        rows.append(
            {
                "model.preset": "tiny",
                "cell.seed": seed,
                "instruct.curriculum": "none",
                "budget.instruct_fraction": 0.0,
                "eval/blimp": 0.8 + block + rng.normal(0, 0.005),
            }
        )
        for f in (0.05, 0.1, 0.2, 0.4):
            rows.append(
                {
                    "model.preset": "tiny",
                    "cell.seed": seed,
                    "instruct.curriculum": "merged",
                    "budget.instruct_fraction": f,
                    "eval/blimp": 0.8 + block - 0.2 * f + rng.normal(0, 0.005),
                }
            )
    df = pd.DataFrame(rows)
    t = comparisons.paired_comparisons(df)
    dose = t[(t["question"] == "dose") & (t["measure"] == "eval/blimp")].iloc[0]
    data = df.rename(columns={"budget.instruct_fraction": "f", "eval/blimp": "y"})
    ref = smf.ols("y ~ f + C(seed)", data.rename(columns={"cell.seed": "seed"})).fit()
    assert dose["mean"] == pytest.approx(ref.params["f"] * 0.1) and dose["p"] == pytest.approx(ref.pvalues["f"])
    assert dose["mean"] < 0 and dose["p_adj"] < 0.05
    text = "\n".join(wording.findings(t))
    assert "**How does the instruction proportion matter?**" in text
    assert "- merged, global z, change per +0.1 of budget.instruct_fraction (0: the all-pretraining cell): " in text
    assert "it falls with the proportion" in text


def test_a_planted_blimp_effect_is_found_and_a_planted_null_is_not():
    """6 pairs (2 sizes × 3 seeds): BLiMP 6 noise SDs lower after `merged` is significant after Holm's
    correction on BLiMP and on the global z; with nothing planted nothing is."""
    df = synthetic.synthetic_study(tasks=THREE_TASKS, effects={("merged", "eval/blimp"): -6}, task_corr=0.0, rng=0)
    t = comparisons.paired_comparisons(df)
    merged = t[(t["question"] == "baseline") & (t["a"] == "merged")].set_index("measure")
    assert (merged.loc[[GLOBAL, "eval/blimp"], "p_adj"] < 0.05).all() and (
        merged.loc[[GLOBAL, "eval/blimp"], "mean"] < 0
    ).all()
    assert merged.loc[GLOBAL, "pairs"] == 6 and merged.loc[GLOBAL, "family_size"] == 3
    text = "\n".join(wording.findings(t))
    assert re.search(
        r"- merged vs none, global z: none is better: -\d\.\d\d \[-\d\.\d\d, -\d\.\d\d\], 6 pairs, p = [\d.]+ "
        r"\(Holm over 3 tests: curricula against the baseline, global z\)\. Significant on single tasks: blimp",
        text,
    )
    null = comparisons.paired_comparisons(synthetic.synthetic_study(tasks=THREE_TASKS, task_corr=0.0, rng=0))
    assert not (null["p_adj"] < 0.05).any()
    assert not [line for line in wording.findings(null) if line.startswith("- ") and "is better" in line]


def test_interactive_metrics_are_their_own_question_and_not_in_the_global_z():
    df = synthetic.synthetic_study(seeds=2, effects={("merged", "eval/interactive_nll/switchboard"): -8}, rng=1)
    t = comparisons.paired_comparisons(df)
    inter = t[t["question"] == "interactive"]
    assert (
        set(inter["measure"])
        == {"eval/interactive_nll/switchboard", "eval/interactive_nll/simple_wiki", "eval/interactive_gen"}
        and (inter["family"] == "interactive").all()
    )
    assert not t.loc[t["question"] != "interactive", "measure"].str.startswith("eval/interactive").any()
    nll = inter[(inter["a"] == "merged") & (inter["measure"] == "eval/interactive_nll/switchboard")].iloc[0]
    assert nll["mean"] > 0 and nll["p_adj"] < 0.05  # 8 SDs lower NLL: a positive decrease
    assert "interactive_nll/switchboard decrease +" in "\n".join(wording.findings(t))
    shown = wording.markdown_table(t)
    assert "interactive_nll/switchboard decrease" in set(shown["measure"])


def _row(**kw):
    row = {
        "question": "curricula",
        "family": "curricula/global",
        "family_size": 3,
        "a": "wiki>switchboard",
        "b": "merged",
        "contrast": "wiki>switchboard − merged",
        "measure": GLOBAL,
        "pairs": 6,
        "unpaired": 0,
        "mean": 0.31,
        "ci_low": 0.05,
        "ci_high": 0.58,
        "p": 0.01,
        "p_adj": 0.03,
        "note": "",
    }
    return {**row, **kw}


def test_describe_follows_the_three_rules():
    assert wording.describe(_row()) == (
        "wiki>switchboard vs merged, global z: wiki>switchboard is better: +0.31 [+0.05, +0.58], 6 pairs, p = 0.03 "
        "(Holm over 3 tests: pairs of curricula, global z)."
    )
    # the interval excludes 0 but the adjusted p does not pass: never "no detectable difference"
    nominal = wording.describe(_row(p=0.02, p_adj=0.06))
    assert "no detectable" not in nominal and nominal == (
        "wiki>switchboard vs merged, global z: wiki>switchboard is ahead before correction (+0.31 [+0.05, +0.58], "
        "6 pairs, unadjusted p = 0.02), but not significant after correction (adjusted p = 0.06, Holm over 3 tests: "
        "pairs of curricula, global z)."
    )
    assert wording.describe(_row(mean=0.1, ci_low=-0.2, ci_high=0.4, p=0.25, p_adj=0.75, unpaired=1)) == (
        "wiki>switchboard vs merged, global z: no detectable difference (+0.10 [-0.20, +0.40], 6 pairs, 1 unpaired "
        "trial left out, adjusted p = 0.75, Holm over 3 tests: pairs of curricula, global z)."
    )
    lower = wording.describe(
        _row(measure="eval/interactive_nll/switchboard", question="interactive", family="interactive")
    )
    assert lower.startswith("wiki>switchboard vs merged, interactive_nll/switchboard decrease: ")


@pytest.mark.parametrize("seed", range(5))
def test_no_sentence_contradicts_its_interval(seed):
    t = comparisons.paired_comparisons(synthetic.synthetic_study(effects={("merged", "*"): 1.5}, rng=seed))
    for _, row in t.iterrows():
        sentence = wording.describe(row)
        excludes = row["ci_low"] > 0 or row["ci_high"] < 0
        if excludes:
            assert "no detectable" not in sentence
        if "is better" in sentence:
            assert excludes and row["p_adj"] < 0.05


def test_findings_say_why_a_comparison_has_no_numbers(tmp_path):
    # merged and none never share a seed; switchboard>wiki shares one with merged: one pair
    df = pd.DataFrame(
        {
            "model.preset": "tiny",
            "pretrain.seed": [2, 3, 0, 1, 0],
            "instruct.curriculum": ["none", "none", "merged", "merged", "switchboard>wiki"],
            "eval/blimp": [0.60, 0.61, 0.62, 0.63, 0.64],
        }
    )
    text = "\n".join(wording.findings(comparisons.paired_comparisons(df)))
    assert (
        "merged vs none, global z: not compared, since no trial of merged shares its (model.preset, pretrain.seed) "
        "with one of none."
    ) in text
    assert "switchboard>wiki vs merged, global z: only 1 pair, and an interval or a test needs at least 2." in text
    assert "nan" not in text
    study = tmp_path / "study"
    study.mkdir()
    df.to_csv(study / "results.csv", index=False)
    report = write_report(study).read_text()
    assert "only 1 pair" in report and "No condition has a pair with the baseline" in report
    assert not (study / "consistency.png").exists()
    no_baseline = wording.findings(comparisons.paired_comparisons(df[df["instruct.curriculum"] != "none"]))
    assert "The study has no `instruct.curriculum` = `none` trials, so this is not answered here." in no_baseline
    assert wording.findings(comparisons.paired_comparisons(df[df["instruct.curriculum"] == "none"])) == [
        "The study has fewer than two values of `instruct.curriculum` among its ok trials: there is nothing to compare."
    ]


def test_consistency_counts_the_pairs_that_beat_the_baseline():
    better, ties, pairs = wording.consistency(comparisons.paired_comparisons(_paired_study()))
    assert list(better.index) == [GLOBAL, "eval/blimp", "eval/ewok"]
    assert better["wiki>switchboard"].tolist() == [8, 8, 0] and better["merged"].tolist() == [
        4,
        4,
        0,
    ]  # a tie is no win
    assert ties["merged"].tolist() == [0, 0, 8] and (pairs == 8).all().all()


def test_report_opens_with_the_forest_plot_and_the_findings(tmp_path):
    study = tmp_path / "study"
    _paired_study(study)
    text = write_report(study).read_text()
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings[0] == "## Findings" and "## Every test" in headings and "## Summary (unpaired)" in headings
    first_figure = re.search(r"!\[[^\]]*\]\(([^)]+)\)", text).group(1)
    assert first_figure == "forest.png" and (study / "forest.png").stat().st_size > 0
    assert "left out: 1 error" in text and "wiki>switchboard vs none, global z: wiki>switchboard is better" in text
    assert "| baseline/tasks | wiki>switchboard − none | blimp | 8 | +0.045 [" in text
    assert (study / "consistency.png").stat().st_size > 0 and "](consistency.png)" in text
    assert "**Power.**" in text and "cannot go below p = 0.0078 with 8 pairs" in text


def test_planner_on_a_table_whose_answer_is_known():
    """A pilot of 2 sizes × 3 seeds, 4 conditions (3 curricula and the baseline), the SD of a pair's
    difference 0.5 on the global z: 6 pairs, df (6 - 1)(4 - 1) = 15, 3 tests in the family."""
    rows = [
        {
            "question": "baseline",
            "family": f"baseline/{'global' if m == GLOBAL else 'tasks'}",
            "a": a,
            "b": "none",
            "measure": m,
            "pairs": 6,
            "p": 0.2,
            "family_size": 3 if m == GLOBAL else 6,
            "sigma_diff": s,
        }
        for a in ("merged", "switchboard>wiki", "wiki>switchboard")
        for m, s in ((GLOBAL, 0.5), ("eval/blimp", 0.01))
    ]
    question, plan = planner.plan(pd.DataFrame(rows), sizes=2, effect=0.6)
    assert question == "baseline"
    g = plan.set_index("measure").loc[GLOBAL]
    assert [g["pairs"], g["df"], g["tests"]] == [6, 15, 3]
    assert g["mde"] == pytest.approx(inference.minimal_detectable_effect(0.5, 6, 15, 0.05 / 3))

    def power_by_hand(pairs):  # the noncentral t, independently of statsmodels
        df, crit, ncp = (pairs - 1) * 3, stats.t.ppf(1 - 0.05 / 6, (pairs - 1) * 3), 0.6 / 0.5 * math.sqrt(pairs)
        return stats.nct.sf(crit, df, ncp) + stats.nct.cdf(-crit, df, ncp)

    seeds = next(s for s in range(2, 50) if power_by_hand(2 * s) >= 0.8)
    assert g["seeds_needed"] == seeds and g["pairs_needed"] == 2 * seeds and power_by_hand(2 * (seeds - 1)) < 0.8
    blimp = plan.set_index("measure").loc["eval/blimp"]
    assert blimp["mde"] == pytest.approx(inference.minimal_detectable_effect(0.01, 6, 15, 0.05 / 6))
    assert math.isnan(blimp["seeds_needed"])
    lines = planner.describe_plan(question, plan, 2)
    assert any(f"needs {seeds} seeds ({2 * seeds} pairs over 2 size(s))" in line for line in lines)
    with pytest.raises(ValueError, match="no measure 'eval/nope'"):
        planner.plan(pd.DataFrame(rows), sizes=2, effect=0.1, measure="eval/nope")


@pytest.mark.slow
def test_plan_and_the_dry_runs_pilot_print_the_seeds_an_effect_needs(tmp_path):
    pilot = tmp_path / "pilot"
    pilot.mkdir()
    synthetic.synthetic_study(rng=4).to_csv(pilot / "results.csv", index=False)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "classit_ray.analysis",
            "--plan",
            str(pilot),
            "--effect",
            "0.01",
            "--measure",
            "eval/blimp",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert 'Power plan for "Does instruction tuning help?"' in out.stdout
    needed = re.search(r"An effect of 0.01 on blimp needs (\d+) seeds", out.stdout)
    assert needed and int(needed.group(1)) >= 2
    dry = subprocess.run(
        [
            sys.executable,
            str(ROOT / "studies" / "curriculum_grid.py"),
            "--dry-run",
            "--seeds",
            "5",
            "--storage",
            str(tmp_path / "storage"),
            "--pilot",
            str(pilot),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert dry.returncode == 0, dry.stderr
    assert "Power plan for" in dry.stdout and re.search(r"global z\s+[\d.]+\s+10\s+27\s+3\s", dry.stdout)  # 2 sizes × 5
    bad = subprocess.run(
        [sys.executable, "-m", "classit_ray.analysis", "--plan", str(tmp_path / "nowhere")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 1 and "no results table" in bad.stderr


def test_the_age_of_acquisition_is_the_pretrainings_and_no_comparison(tmp_path):
    df = synthetic.synthetic_study(tasks=THREE_TASKS, task_corr=0.0, rng=2)
    df["key/pretrain"] = df["model.preset"] + "-" + df["cell.seed"].astype(str)
    df["eval/aoa"] = df["cell.seed"] * 0.1 + 0.3  # one value per pretraining, shared by its curricula
    t = comparisons.paired_comparisons(df)
    assert "eval/aoa" not in set(t["measure"]) and "interactive" not in set(t["question"])
    study = tmp_path / "study"
    study.mkdir()
    df.to_csv(study / "results.csv", index=False)
    text = write_report(study).read_text()
    assert "## Age of acquisition" in text and "| tiny | 2 | 0.5 |" in text
