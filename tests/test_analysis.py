"""The analysis module: z-scores, global score, bootstrap CIs, per-condition summaries and the
report, on hand-made tables (fast, offline; no Ray, no torch)."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from classit_ray import analysis, metrics
from classit_ray.analysis import bootstrap_ci, global_score, load_study, summarize, task_columns, write_report, zscores


def test_metrics_table_is_the_task_table():
    from classit_ray.eval.tasks import TASK_SPECS

    assert metrics.HIGHER_IS_BETTER == {m: h for spec in TASK_SPECS.values() for m, h in spec.scores.items()}
    assert metrics.ZERO_SHOT_TASKS == tuple(n for n, spec in TASK_SPECS.items() if spec.kind == "choice")
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


def _synthetic_study(study_dir):
    rng = np.random.default_rng(0)
    rows = []
    for curriculum in ("random", "easy_first"):
        for fraction in (0.1, 0.3):
            for seed in range(3):
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
    code = "import classit_ray.analysis, sys; assert 'torch' not in sys.modules and 'ray' not in sys.modules"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
