"""The analysis and comparisons modules: z-scores, global score, bootstrap CIs, per-condition
summaries, paired comparisons and their findings, and the report, on hand-made tables (fast,
offline; no Ray, no torch)."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from classit_ray import analysis, comparisons, metrics
from classit_ray.analysis import (bootstrap_ci, global_score, learning_curves, load_study, stage_deltas, stage_summary,
                                  summarize, task_columns, write_report, zscores)

ROOT = Path(__file__).resolve().parents[1]


def test_metrics_table_is_the_task_table():
    from classit_ray.eval.tasks import TASK_SPECS

    assert metrics.HIGHER_IS_BETTER == {m: h for spec in TASK_SPECS.values() for m, h in spec.scores.items()}
    # The fast zero-shot tasks (learning curves): the choice tasks of the fast evaluation, not COMPS.
    assert metrics.ZERO_SHOT_TASKS == tuple(n for n, s in TASK_SPECS.items() if s.kind == "choice" and s.fast_source == "fast_eval")
    assert "comps" not in metrics.ZERO_SHOT_TASKS and metrics.higher_is_better("eval/comps") is True
    assert {"eval/glue_avg", *(f"eval/glue/{t}" for t in metrics.GLUE_TASKS)} <= TASK_SPECS["glue"].scores.keys()
    assert metrics.higher_is_better("eval/blimp") is True
    with pytest.raises(ValueError, match="eval/nope"):
        metrics.higher_is_better("eval/nope")


def test_zscores_match_hand_computed_sample_std():
    df = pd.DataFrame({"eval/blimp": [0.6, 0.7, 0.8]})
    # mean 0.7; sample std sqrt((0.01 + 0 + 0.01) / 2) = 0.1
    z = zscores(df)
    assert z["eval/blimp"].tolist() == pytest.approx([-1.0, 0.0, 1.0])


def test_zscores_flip_the_sign_of_a_lower_is_better_metric(monkeypatch):
    df = pd.DataFrame({"eval/blimp": [0.6, 0.7, 0.8], "eval/perplexity": [10.0, 20.0, 30.0]})
    monkeypatch.setitem(metrics.HIGHER_IS_BETTER, "eval/perplexity", False)
    z = zscores(df)
    assert z["eval/perplexity"].tolist() == pytest.approx([1.0, 0.0, -1.0])
    # the same through an explicit mapping
    z2 = zscores(df, directions={"eval/blimp": True, "eval/perplexity": False})
    assert z2["eval/perplexity"].tolist() == pytest.approx([1.0, 0.0, -1.0])


def test_zscores_refuse_a_metric_of_unknown_direction():
    with pytest.raises(ValueError, match="eval/mystery"):
        zscores(pd.DataFrame({"eval/mystery": [1.0, 2.0]}), tasks=["eval/mystery"])


def test_zscores_guards_and_nan():
    df = pd.DataFrame({
        "eval/blimp": [0.5, 0.5, 0.5],          # all trials tie: zero variance
        "eval/ewok": [0.7, np.nan, np.nan],     # one scored trial: n < 2
        "eval/wug_adj": [0.1, np.nan, 0.3],     # NaN stays NaN, the others use n = 2
    })
    z = zscores(df)
    assert z["eval/blimp"].tolist() == [0.0, 0.0, 0.0]
    assert z["eval/ewok"].iloc[0] == 0.0 and z["eval/ewok"].iloc[1:].isna().all()
    # mean 0.2, sample std sqrt(0.02) -> ±0.1 / 0.1414
    assert z["eval/wug_adj"].iloc[[0, 2]].tolist() == pytest.approx([-1 / math.sqrt(2), 1 / math.sqrt(2)])
    assert math.isnan(z["eval/wug_adj"].iloc[1])


def test_task_columns_skip_ties_aggregates_unknown_and_empty():
    df = pd.DataFrame({
        "eval/blimp": [0.5, 0.6], "eval/glue/rte": [0.5, 0.6], "eval/glue_avg": [0.5, 0.6],
        "eval/ties/blimp": [0.0, 0.1], "eval/ewok": [np.nan, np.nan], "instruct/loss": [1.0, 2.0],
        "instruct.curriculum": ["a", "b"], "eval/something_new": [1.0, 2.0],
    })
    assert task_columns(df) == ["eval/blimp", "eval/glue/rte"]


def test_global_score_is_the_mean_over_scored_tasks():
    z = pd.DataFrame({"a": [1.0, -1.0, np.nan], "b": [0.0, np.nan, np.nan]})
    g = global_score(z)
    assert g.iloc[0] == 0.5 and g.iloc[1] == -1.0 and math.isnan(g.iloc[2])


def test_bootstrap_ci_brackets_the_mean_and_is_deterministic():
    values = [0.1, 0.4, 0.35, 0.8, 0.5, 0.2]
    low, high = bootstrap_ci(values, n_boot=2000, seed=3)
    assert low < np.mean(values) < high
    assert bootstrap_ci(values, n_boot=2000, seed=3) == (low, high)
    assert bootstrap_ci(values, n_boot=2000, seed=4) != (low, high)
    assert min(values) <= low and high <= max(values)


def test_bootstrap_ci_of_constant_and_tiny_samples():
    assert bootstrap_ci([0.1, 0.1, 0.1]) == (0.1, 0.1)
    assert all(math.isnan(v) for v in bootstrap_ci([0.3]))
    assert all(math.isnan(v) for v in bootstrap_ci([np.nan, 0.3]))
    assert all(math.isnan(v) for v in bootstrap_ci([]))


def test_summarize_medians_and_iqr_by_hand():
    df = pd.DataFrame({"instruct.curriculum": ["a"] * 4 + ["b"] * 3, "seed": [0, 1, 2, 3, 0, 1, 2]})
    score = pd.Series([1.0, 2.0, 3.0, 4.0, 10.0, 20.0, np.nan])
    s = summarize(df, ["instruct.curriculum"], score).set_index("instruct.curriculum")
    # a: linear quantiles of 1..4 -> q1 1.75, median 2.5, q3 3.25
    assert s.loc["a", ["n", "median", "q1", "q3", "iqr", "mean"]].tolist() == pytest.approx([4, 2.5, 1.75, 3.25, 1.5, 2.5])
    # b: the NaN seed is not counted; q1 12.5, median 15, q3 17.5
    assert s.loc["b", ["n", "median", "q1", "q3", "iqr", "mean"]].tolist() == pytest.approx([2, 15.0, 12.5, 17.5, 5.0, 15.0])
    assert s.loc["a", "ci_low"] <= 2.5 <= s.loc["a", "ci_high"]


def _synthetic_study(study_dir, seeds=3, fractions=(0.1, 0.3)):
    rng = np.random.default_rng(0)
    rows = []
    for curriculum in ("random", "easy_first"):
        for fraction in fractions:
            for seed in range(seeds):
                bonus = 0.05 if curriculum == "easy_first" else 0.0
                rows.append({
                    "model.preset": "tiny", "instruct.curriculum": curriculum, "budget.instruct_fraction": fraction,
                    "seed": seed, "eval/blimp": 0.6 + bonus + rng.normal(0, 0.01),
                    "eval/ewok": 0.5 + fraction / 10 + rng.normal(0, 0.01), "eval/glue/rte": 0.55 + rng.normal(0, 0.02),
                    "eval/glue_avg": 0.55, "eval/ties/blimp": 0.0, "instruct/loss": 2.0,
                    "checkpoint_path": f"/store/ckpt/{curriculum}-{fraction}-{seed}",
                })
    study_dir.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(study_dir / "results.csv", index=False)
    return study_dir


def test_write_report_on_a_synthetic_study(tmp_path):
    study = _synthetic_study(tmp_path / "study")
    assert analysis.config_columns(load_study(study)) == ["instruct.curriculum", "budget.instruct_fraction"]
    report = write_report(study)
    assert report == study / "report.md"
    text = report.read_text()
    for png in ("global_z_boxplot.png", "task_heatmap.png", "score_vs_fraction.png"):
        assert (study / png).stat().st_size > 0 and f"]({png})" in text
    assert "| instruct.curriculum | budget.instruct_fraction | n | median |" in text
    assert text.count("| easy_first |") == 2 and "eval/glue_avg`" not in text
    # no @pretrain/@stage1 or curve columns: no such sections and no such figures, and no error
    assert "gain and forgetting" not in text and "Learning curves" not in text
    assert not (study / "gain_forgetting.png").exists() and not (study / "learning_curves.png").exists()


def _curve(*points: tuple[str, int, dict]) -> str:
    return json.dumps([{"checkpoint": c, "words_seen": w, "metrics": m} for c, w, m in points])


def _staged_study(study_dir):
    """Three curricula × three seeds with every stage-wise column, numbers chosen to be checked by hand.

    Per seed s: blimp@pretrain 0.60 + 0.01 s; final = that + 0.05 (merged) or + 0.03 (switchboard>wiki),
    stage 1 of switchboard>wiki 0.02 above its final; `none` is the pretrained model itself.
    """
    gains = {"none": 0.0, "merged": 0.05, "switchboard>wiki": 0.03}
    rows = []
    for seed in range(3):
        curve = _curve(("chck_1M", 1500, {"eval/blimp": 0.52 + seed / 100, "eval/ewok": 0.50}),
                       ("chck_2M", 3000, {"eval/blimp": 0.56 + seed / 100, "eval/ewok": 0.51}))
        for curriculum, gain in gains.items():
            pre = 0.60 + seed / 100
            rows.append({
                "model.preset": "tiny", "instruct.curriculum": curriculum, "budget.instruct_fraction": 0.1,
                "pretrain.seed": seed, "instruct.seed": seed, "key/pretrain": f"pretrain-tiny-{seed}",
                "eval/blimp": pre + gain, "eval/blimp@pretrain": pre,
                "eval/blimp@stage1": pre + gain + 0.02 if curriculum == "switchboard>wiki" else np.nan,
                "eval/ewok": 0.55, "eval/ewok@pretrain": 0.55, "pretrain/words_seen": 4500, "curve": curve,
            })
    study_dir.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(study_dir / "results.csv", index=False)
    return study_dir


def test_stage_columns_are_not_tasks():
    df = pd.DataFrame({"eval/blimp": [0.6, 0.7], "eval/blimp@pretrain": [0.5, 0.55], "eval/blimp@stage1": [0.65, np.nan],
                       "eval/glue/rte@pretrain": [0.5, 0.6]})
    assert task_columns(df) == ["eval/blimp"]
    assert list(zscores(df).columns) == ["eval/blimp"]
    # the direction table itself names no staged score, so task_columns can never pick one up
    assert not [m for m in metrics.HIGHER_IS_BETTER if "@" in m]


def test_stage_deltas_are_the_hand_differences_oriented_by_direction(monkeypatch):
    monkeypatch.setitem(metrics.HIGHER_IS_BETTER, "eval/perplexity", False)
    df = pd.DataFrame({
        "instruct.curriculum": ["none", "merged", "switchboard>wiki", "wiki>switchboard"],
        "pretrain.seed": [0, 0, 0, 0],
        "eval/blimp": [0.60, 0.70, 0.65, 0.58], "eval/blimp@pretrain": [0.60, 0.60, 0.60, 0.60],
        "eval/blimp@stage1": [np.nan, np.nan, 0.72, 0.55],
        "eval/perplexity": [30.0, 25.0, 28.0, np.nan], "eval/perplexity@pretrain": [30.0, 30.0, 30.0, 30.0],
        "eval/perplexity@stage1": [np.nan, np.nan, 26.0, 27.0],
    })
    d = stage_deltas(df)
    assert list(d.columns) == ["trial", "instruct.curriculum", "pretrain.seed", "task", "gain", "forgetting"]
    blimp = d[d["task"] == "eval/blimp"].set_index("instruct.curriculum")
    assert blimp["gain"].tolist() == pytest.approx([0.0, 0.10, 0.05, -0.02])
    assert blimp.loc["none", "gain"] == 0.0  # the pretrained baseline is kept, its gain exactly 0
    assert blimp["forgetting"].iloc[:2].isna().all()  # no stage 1
    # switchboard>wiki: 0.72 after stage 1, 0.65 at the end -> 0.07 lost; wiki>switchboard rose 0.03
    assert blimp["forgetting"].iloc[2:].tolist() == pytest.approx([0.07, -0.03])
    ppl = d[d["task"] == "eval/perplexity"].set_index("instruct.curriculum")
    # lower is better: 30 -> 25 is a gain of +5; 26 after stage 1 -> 28 at the end is a forgetting of +2
    assert ppl["gain"].tolist() == pytest.approx([0.0, 5.0, 2.0])
    assert ppl.loc["switchboard>wiki", "forgetting"] == pytest.approx(2.0)
    # the wiki>switchboard perplexity was never scored at the end: no row rather than a NaN gain
    assert "wiki>switchboard" not in ppl.index and d["trial"].tolist() == [0, 1, 2, 3, 0, 1, 2]


def test_stage_deltas_without_stage_columns_are_empty():
    d = stage_deltas(pd.DataFrame({"instruct.curriculum": ["a", "b"], "eval/blimp": [0.5, 0.6]}))
    assert d.empty and list(d.columns) == ["trial", "instruct.curriculum", "task", "gain", "forgetting"]


def test_stage_summary_means_over_seeds(tmp_path):
    df = load_study(_staged_study(tmp_path / "study"))
    s = stage_summary(stage_deltas(df, ["instruct.curriculum"]), ["instruct.curriculum"])
    s = s.set_index(["instruct.curriculum", "task"])
    assert s.loc[("merged", "eval/blimp"), ["n", "gain"]].tolist() == pytest.approx([3, 0.05])
    assert s.loc[("switchboard>wiki", "eval/blimp"), ["gain", "forgetting"]].tolist() == pytest.approx([0.03, 0.02])
    assert math.isnan(s.loc[("merged", "eval/blimp"), "forgetting"])
    assert s.loc[("none", "eval/blimp"), ["gain", "gain_ci_low", "gain_ci_high"]].tolist() == [0.0, 0.0, 0.0]
    assert s.loc[("merged", "eval/ewok"), "gain"] == 0.0 and len(s) == 6


def test_learning_curves_parse_the_json_once_per_pretraining():
    # tie rates travel with the scores (as the harness reports them) but are no task of the curve
    a = _curve(("chck_1M", 1500, {"eval/blimp": 0.5, "eval/ewok": 0.4, "eval/ties/blimp": 0.0}),
               ("chck_2M", 3000, {"eval/blimp": 0.6, "eval/ewok": 0.45, "eval/ties/blimp": 0.01}))
    b = _curve(("chck_1M", 3000, {"eval/blimp": 0.55}))
    df = pd.DataFrame({
        "model.preset": ["tiny"] * 5, "pretrain.seed": [0] * 5,
        "budget.instruct_fraction": [0.1, 0.1, 0.2, 0.2, 0.3],  # changes the pretraining's words, so its key
        "instruct.curriculum": ["merged", "switchboard>wiki", "merged", "switchboard>wiki", "merged"],
        "key/pretrain": ["pa", "pa", "pb", "pb", "pc"], "curve": [a, a, b, b, np.nan],
        "pretrain/words_seen": [4500, 4500, 3000, 3000, 9000],
        "eval/blimp@pretrain": [0.7, 0.7, 0.65, 0.65, 0.8], "eval/ewok@pretrain": [0.5, 0.5, np.nan, np.nan, 0.6],
    })
    c = learning_curves(df)
    # pa: 2 checkpoints × 2 tasks + the pretrained model at 4500 words; pb: its only checkpoint already
    # sits at its 3000 words, so no final point; pc has no curve
    assert c[["key/pretrain", "task", "checkpoint", "words_seen", "score"]].values.tolist() == [
        ["pa", "eval/blimp", "chck_1M", 1500.0, 0.5], ["pa", "eval/blimp", "chck_2M", 3000.0, 0.6],
        ["pa", "eval/blimp", "final", 4500.0, 0.7],
        ["pa", "eval/ewok", "chck_1M", 1500.0, 0.4], ["pa", "eval/ewok", "chck_2M", 3000.0, 0.45],
        ["pa", "eval/ewok", "final", 4500.0, 0.5],
        ["pb", "eval/blimp", "chck_1M", 3000.0, 0.55],
    ]
    assert list(c.columns) == list(analysis.CURVE_COLUMNS)
    assert set(c["label"]) == {"preset=tiny, seed=0, instruct_fraction=0.1", "preset=tiny, seed=0, instruct_fraction=0.2"}
    assert learning_curves(df.drop(columns="curve")).empty


def test_learning_curves_refuse_bad_json_and_disagreeing_trials():
    good = _curve(("chck_1M", 1500, {"eval/blimp": 0.5}))
    df = pd.DataFrame({"key/pretrain": ["pa", "pa"], "curve": [good, _curve(("chck_1M", 1500, {"eval/blimp": 0.6}))]})
    with pytest.raises(ValueError, match="pretraining 'pa' carry different curves"):
        learning_curves(df)
    with pytest.raises(ValueError, match="curve of pretraining 'pa' is not a JSON list"):
        learning_curves(pd.DataFrame({"key/pretrain": ["pa"], "curve": ['[{"checkpoint": "chck_1M"}]']}))


def test_write_report_adds_the_stage_sections_and_figures(tmp_path):
    study = _staged_study(tmp_path / "study")
    text = write_report(study).read_text()
    assert "## Instruction-tuning gain and forgetting" in text and "## Learning curves of pretraining" in text
    assert "Gain is a trial's final score minus the score of the pretrained model" in text
    assert "| instruct.curriculum | task | n | gain | gain_ci_low | gain_ci_high | forgetting |" in text
    assert "| merged | eval/blimp | 3 | 0.050 |" in text and "| none | eval/blimp | 3 | 0.000 | 0.000 | 0.000 | nan |" in text
    assert "| switchboard>wiki | eval/blimp | 3 | 0.030 |" in text and text.count("| 0.020 |") == 1
    for png in ("gain_forgetting.png", "learning_curves.png"):
        assert (study / png).stat().st_size > 0 and f"]({png})" in text
    assert "Tasks (2): `eval/blimp`, `eval/ewok`." in text  # the @ columns are not tasks


def _single_seed_study(study_dir):
    """One seed, one fraction, two curricula and no baseline: one pair, nothing to test."""
    return _synthetic_study(study_dir, seeds=1, fractions=(0.1,))


@pytest.mark.parametrize("make", [_synthetic_study, _staged_study, _single_seed_study], ids=["plain", "staged", "single"])
def test_notebook_runs_on_a_hand_made_study(make, tmp_path):
    import nbformat
    from nbclient import NotebookClient

    study = make(tmp_path / "study")
    nb = nbformat.read(ROOT / "analysis" / "trials.ipynb", as_version=4)
    os.environ["CLASSIT_STUDY_DIR"] = str(study)
    try:
        NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    finally:
        del os.environ["CLASSIT_STUDY_DIR"]
    outputs = "".join(o.get("text", "") + json.dumps(o.get("data", {})) for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "Does instruction tuning help?" in outputs
    if make is _staged_study:
        # the two z figures (the fraction does not vary), consistency, gain/forgetting and the curves
        assert "gain_ci_low" in outputs and "chck_2M" in outputs and outputs.count("image/png") == 5
        assert "merged vs none, global z: no detectable difference" in outputs and "could reach is 0.75)" in outputs and "**Power.**" in outputs
    else:
        assert "no gain or forgetting" in outputs and "no learning curves" in outputs and "no consistency figure" in outputs
        assert "has no `instruct.curriculum` = `none` trials" in outputs
    if make is _synthetic_study:
        assert outputs.count("image/png") == 3 and "easy_first vs random, global z: " in outputs
    if make is _single_seed_study:  # no fraction figure either
        assert outputs.count("image/png") == 2 and "only 1 pair, and an interval or a test needs at least 2" in outputs


def test_cli_writes_the_report_with_chosen_conditions(tmp_path):
    study = _synthetic_study(tmp_path / "study")
    out = subprocess.run([sys.executable, "-m", "classit_ray.analysis", str(study), "--by", "instruct.curriculum"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(study / "report.md")
    assert "| instruct.curriculum | n |" in (study / "report.md").read_text()


def test_load_study_names_the_dir_and_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="results.parquet or results.csv"):
        load_study(tmp_path)


def test_importing_analysis_loads_neither_torch_nor_ray():
    code = ("import classit_ray.analysis, classit_ray.comparisons, sys; "
            "assert 'torch' not in sys.modules and 'ray' not in sys.modules")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr


# --- paired comparisons -------------------------------------------------------------------------

T_975_7 = 2.3646242510102993  # Student t, 7 degrees of freedom, 97.5% quantile (from a table)


def test_sign_flip_p_enumerates_every_assignment():
    # [1, 2, 3]: of the 8 sign assignments only +++ and --- reach |mean| 2
    assert comparisons.sign_flip_p([1.0, 2.0, 3.0]) == 2 / 8
    assert comparisons.sign_flip_p([1.0, 2.0, 3.0, 4.0, 5.0]) == 2 / 32
    # [1, 2, 3, -0.5] sums to 5.5; ±1±2±3 reaches ±6 only with equal signs, and 6 ± 0.5 are both >= 5.5
    assert comparisons.sign_flip_p([1.0, 2.0, 3.0, -0.5]) == 4 / 16
    assert comparisons.sign_flip_p([0.1, -0.1]) == 1.0 and comparisons.sign_flip_p([0.0, 0.0, 0.0]) == 1.0
    assert comparisons.sign_flip_p([np.nan, 0.2, 0.3, 0.1]) == 2 / 8  # NaN pairs are dropped
    assert math.isnan(comparisons.sign_flip_p([0.3])) and math.isnan(comparisons.sign_flip_p([]))


def test_sign_flip_p_draws_beyond_the_exact_limit():
    d = np.arange(1.0, comparisons.EXACT_MAX_PAIRS + 5)  # 20 positive differences
    p = comparisons.sign_flip_p(d, n_random=2000)
    # an all-equal-sign draw has chance 2^-19: almost surely only the observed one counts
    assert p == 1 / 2001 and comparisons.sign_flip_p(d, n_random=2000) == p
    assert comparisons.sign_flip_p(np.r_[d, -d], n_random=2000) == 1.0


def test_t_interval_by_hand():
    # [1, 2, 3]: mean 2, sd 1, t(2, 0.975) = 4.302652729911275 -> 2 ± 4.3027 / √3 = 2 ± 2.4841
    low, high = comparisons.t_interval([1.0, 2.0, 3.0])
    assert (low, high) == pytest.approx((2 - 4.302652729911275 / math.sqrt(3), 2 + 4.302652729911275 / math.sqrt(3)))
    assert comparisons.t_interval([0.2, 0.2, 0.2]) == pytest.approx((0.2, 0.2))
    assert all(math.isnan(v) for v in comparisons.t_interval([0.5]))


def test_holm_by_hand():
    # sorted 0.005, 0.01, 0.03, 0.04 -> ×4, ×3, ×2, ×1 = 0.02, 0.03, 0.06, 0.04 -> running max 0.02, 0.03, 0.06, 0.06
    assert comparisons.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    adjusted = comparisons.holm([0.02, np.nan, 0.04])  # m = 2: an untested comparison does not count
    assert adjusted[[0, 2]] == pytest.approx([0.04, 0.04]) and math.isnan(adjusted[1])
    assert comparisons.holm([0.5, 0.6]).tolist() == [1.0, 1.0]


def test_pairing_matches_size_and_seed_and_counts_the_unpaired():
    df = pd.DataFrame({
        "model.preset": ["small", "tiny", "tiny", "small", "small", "tiny", "tiny"],
        "pretrain.seed": [1, 0, 0, 1, 0, 1, 2],
        "instruct.curriculum": ["merged", "none", "merged", "none", "none", "merged", "none"],
    })
    pairs, unpaired = comparisons.pair_trials(df, "instruct.curriculum", "merged", "none", ["model.preset", "pretrain.seed"])
    # (tiny, 0): rows 2 and 1; (small, 1): rows 0 and 3; merged (tiny, 1), none (small, 0) and (tiny, 2) have no partner
    assert sorted(zip(pairs["a"], pairs["b"])) == [(0, 3), (2, 1)] and unpaired == 3
    twice = pd.concat([df, df.iloc[[2]]], ignore_index=True)
    with pytest.raises(ValueError, match=r"2 trials of merged agree on \(model.preset, pretrain.seed\)"):
        comparisons.pair_trials(twice, "instruct.curriculum", "merged", "none", ["model.preset", "pretrain.seed"])


def test_pairing_columns_hold_the_other_conditions_but_not_baseline_free_settings():
    df = pd.DataFrame({"model.preset": ["tiny"] * 4, "pretrain.seed": [0, 0, 1, 1], "instruct.seed": [0, 0, 1, 1],
                       "instruct.curriculum": ["merged", "none", "merged", "none"], "instruct.lr": [1e-4, 3e-4] * 2,
                       "budget.instruct_fraction": [0.1, 0.1, 0.2, 0.2], "budget.seed": [0] * 4})
    assert comparisons.pairing_columns(df) == ["model.preset", "pretrain.seed", "instruct.seed", "budget.seed",
                                               "instruct.lr", "budget.instruct_fraction"]
    # a baseline has no learning rate of its own: against it, only the pretraining side pairs
    assert "instruct.lr" not in comparisons.pairing_columns(df, against_baseline=True)


def _paired_study(study_dir=None):
    """2 sizes × 4 seeds = 8 pairs (k = 1..8), numbers chosen to be checked by hand.

    eval/blimp: `none` is the pretrained score; wiki>switchboard adds 0.01 k; merged adds +0.001 for odd k
    and -0.001 for even k (no difference). eval/ewok is 0.55 everywhere (all z = 0). One more
    wiki>switchboard trial (seed 7) has no partner, and a failed merged trial must not count.
    """
    rows = []
    for size in ("tiny", "small"):
        for seed in range(4):
            k = 4 * (size == "small") + seed + 1
            pre = 0.60 + 0.01 * seed + 0.05 * (size == "small")
            for curriculum, blimp in (("none", pre), ("merged", pre + (0.001 if k % 2 else -0.001)),
                                      ("wiki>switchboard", pre + 0.01 * k)):
                rows.append({"model.preset": size, "pretrain.seed": seed, "instruct.seed": seed,
                             "instruct.curriculum": curriculum, "status": "ok", "eval/blimp": blimp, "eval/ewok": 0.55})
    rows.append({"model.preset": "tiny", "pretrain.seed": 7, "instruct.seed": 7, "instruct.curriculum": "wiki>switchboard",
                 "status": "ok", "eval/blimp": 0.7, "eval/ewok": 0.55})
    rows.append({"model.preset": "tiny", "pretrain.seed": 0, "instruct.seed": 0, "instruct.curriculum": "merged",
                 "status": "error", "eval/blimp": np.nan, "eval/ewok": np.nan})
    df = pd.DataFrame(rows)
    if study_dir is not None:
        study_dir.mkdir(parents=True, exist_ok=True)
        df.to_csv(study_dir / "results.csv", index=False)
    return df


def test_paired_comparisons_by_hand():
    df = _paired_study()
    t = comparisons.paired_comparisons(df).set_index(["a", "b", "measure"])
    # the better curriculum comes first, whatever the alphabet says
    assert list(dict.fromkeys(zip(t.index.get_level_values("a"), t.index.get_level_values("b")))) == [
        ("merged", "none"), ("wiki>switchboard", "none"), ("wiki>switchboard", "merged")]
    wiki = t.loc[("wiki>switchboard", "none", "eval/blimp")]
    # differences 0.01..0.08: mean 0.045, sd 0.01·√6, 8 pairs; exact p = 2/256
    half = T_975_7 * 0.01 * math.sqrt(6) / math.sqrt(8)
    assert [wiki["pairs"], wiki["unpaired"], wiki["better"]] == [8, 1, 8]
    assert [wiki["mean"], wiki["ci_low"], wiki["ci_high"]] == pytest.approx([0.045, 0.045 - half, 0.045 + half])
    assert wiki["p"] == 2 / 256
    # Holm over the 6 task tests (p 2/256, 2/256, then four 1.0): 6 × 2/256; over the 3 global ones: 3 × 2/256
    assert wiki["p_holm"] == pytest.approx(6 * 2 / 256)
    assert t.loc[("wiki>switchboard", "none", comparisons.GLOBAL), "p_holm"] == pytest.approx(3 * 2 / 256)
    # the global z is the blimp z halved (ewok ties everywhere): its std over the 25 ok trials
    ok_blimp = df.loc[df["status"] == "ok", "eval/blimp"]
    assert t.loc[("wiki>switchboard", "none", comparisons.GLOBAL), "mean"] == pytest.approx(0.045 / (2 * ok_blimp.std()))
    merged = t.loc[("merged", "none", "eval/blimp")]
    assert merged["unpaired"] == 0 and merged["mean"] == pytest.approx(0.0, abs=1e-12) and merged["p"] == 1.0
    assert merged["better"] == 4 and (t["note"] == "").all()


def test_describe_states_the_numbers_or_no_detectable_difference():
    row = {"a": "wiki>switchboard", "b": "merged", "measure": comparisons.GLOBAL, "pairs": 6, "unpaired": 0,
           "mean": 0.31, "ci_low": 0.05, "ci_high": 0.58, "p": 0.01, "p_holm": 0.03, "p_floor": 0.03, "note": ""}
    assert comparisons.describe(row) == ("wiki>switchboard vs merged, global z: +0.31 [+0.05, +0.58], p = 0.03 (Holm), "
                                         "6 pairs: wiki>switchboard is better.")
    row.update(pairs=3, unpaired=1, mean=0.1, ci_low=-0.2, ci_high=0.4, p=0.25, p_holm=0.75, p_floor=0.75)
    assert comparisons.describe(row) == ("wiki>switchboard vs merged, global z: no detectable difference (+0.10 "
                                         "[-0.20, +0.40], p = 0.75 (Holm), 3 pairs (1 unpaired trial left out); "
                                         "with 3 pairs the smallest Holm-adjusted p this comparison could reach is 0.75).")


def test_power_says_when_no_comparison_can_be_detectable():
    """With n pairs the sign-flip p is at least 2 / 2^n, and Holm multiplies the smallest of m by m:
    6 pairs (2 sizes × 3 seeds) over 6 comparisons reach 6 · 2/64 = 0.19 at best; 8 pairs reach 0.047."""
    assert comparisons.smallest_p(6) == 2 / 64 and comparisons.pairs_needed(6) == 8 and comparisons.pairs_needed(1) == 6
    table = pd.DataFrame([{"measure": comparisons.GLOBAL, "p": 1 / 32, "pairs": 6, "p_floor": 6 * 2 / 64}] * 6)
    [line, _] = comparisons._power(table, 0.05)
    assert "With 6 pairs per comparison and 6 comparisons, the smallest Holm-adjusted p any comparison could reach is 0.19" in line
    assert "at least 8 pairs" in line
    assert comparisons._power(table.assign(pairs=8, p_floor=6 * 2 / 256), 0.05) == []


def test_findings_answer_the_questions_in_sentences():
    df = _paired_study()
    text = "\n".join(comparisons.findings(comparisons.paired_comparisons(df)))
    assert text.index("Does instruction tuning help?") < text.index("Which curriculum is better?")
    # global z differences are the blimp ones over twice blimp's std (ewok ties): 0.045 ± the t half-width
    scale = 2 * df.loc[df["status"] == "ok", "eval/blimp"].std()
    g, half = 0.045 / scale, T_975_7 * 0.01 * math.sqrt(6) / math.sqrt(8) / scale
    assert (f"- wiki>switchboard vs none, global z: +{g:.2f} [+{g - half:.2f}, +{g + half:.2f}], p = 0.023 (Holm), "
            "8 pairs (1 unpaired trial left out): wiki>switchboard is better. Detectable on single tasks: "
            "eval/blimp +0.045 [+0.0245, +0.0655], p = 0.047 (Holm), 8 pairs (wiki>switchboard better).\n") in text
    assert re.search(r"- merged vs none, global z: no detectable difference \([+-]0\.00 \[-0\.\d\d, \+0\.\d\d\], "
                     r"p = 1 \(Holm\), 8 pairs\)\. No single task shows a detectable difference\.$", text, re.M)
    assert "- wiki>switchboard vs merged, global z: +" in text and "nan" not in text


def test_findings_say_why_a_comparison_has_no_numbers(tmp_path):
    # merged and none never share a seed; switchboard>wiki shares one with merged: one pair
    df = pd.DataFrame({"model.preset": "tiny", "pretrain.seed": [2, 3, 0, 1, 0],
                       "instruct.curriculum": ["none", "none", "merged", "merged", "switchboard>wiki"],
                       "eval/blimp": [0.60, 0.61, 0.62, 0.63, 0.64]})
    text = "\n".join(comparisons.findings(comparisons.paired_comparisons(df)))
    assert ("merged vs none, global z: not compared, since no trial of merged shares its (model.preset, pretrain.seed) "
            "with a trial of none.") in text
    assert "switchboard>wiki vs merged, global z: only 1 pair, and an interval or a test needs at least 2." in text
    assert "nan" not in text
    study = tmp_path / "study"
    study.mkdir()
    df.to_csv(study / "results.csv", index=False)
    report = write_report(study).read_text()
    assert "not compared, since no trial of switchboard>wiki shares" in report
    assert "No condition has a pair with the baseline" in report
    assert not (study / "consistency.png").exists()
    no_baseline = comparisons.findings(comparisons.paired_comparisons(df[df["instruct.curriculum"] != "none"]))
    assert "The study has no `instruct.curriculum` = `none` trials, so this is not answered here." in no_baseline
    assert comparisons.findings(comparisons.paired_comparisons(df[df["instruct.curriculum"] == "none"])) == [
        "The study has fewer than two values of `instruct.curriculum` among its ok trials: there is nothing to compare."]


def test_consistency_counts_the_pairs_that_beat_the_baseline():
    better, ties, pairs = comparisons.consistency(comparisons.paired_comparisons(_paired_study()))
    assert list(better.index) == [comparisons.GLOBAL, "eval/blimp", "eval/ewok"]
    assert better["wiki>switchboard"].tolist() == [8, 8, 0] and better["merged"].tolist() == [4, 4, 0]  # a tie is no win
    assert ties["merged"].tolist() == [0, 0, 8] and (pairs == 8).all().all()


def test_report_opens_with_the_findings_and_draws_the_consistency_figure(tmp_path):
    study = tmp_path / "study"
    _paired_study(study)
    text = write_report(study).read_text()
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings[0] == "## Findings" and "## Paired comparisons" in headings
    assert "(1 failed trial left out)" in text and "wiki>switchboard vs none, global z: +" in text
    assert "| wiki>switchboard vs none | eval/blimp | 8 | +0.045 [+0.0245, +0.0655] | 0.0078 | 0.047 | 8/8 |" in text
    assert (study / "consistency.png").stat().st_size > 0 and "](consistency.png)" in text
