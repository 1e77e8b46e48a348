"""The analysis package's table layer and its report: z-scores, the global score, per-condition
summaries, stage gains, learning curves, the notebook and the command line, on hand-made tables
(fast, offline; no Ray, no torch). The tests and their words are in test_comparisons.py, the
statistics in test_inference.py."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from classit_ray import analysis, metrics
from classit_ray.analysis import (
    global_score,
    learning_curves,
    load_study,
    stage_deltas,
    stage_summary,
    summarize,
    task_columns,
    write_report,
    zscores,
)
from classit_ray.analysis.table import CURVE_COLUMNS

ROOT = Path(__file__).resolve().parents[1]


def test_metrics_table_is_the_task_table():
    from classit_ray.eval.tasks import TASK_SPECS

    assert metrics.HIGHER_IS_BETTER == {m: h for spec in TASK_SPECS.values() for m, h in spec.scores.items()}
    # The fast zero-shot tasks (learning curves): the choice tasks of the fast evaluation, not COMPS.
    assert metrics.ZERO_SHOT_TASKS == tuple(
        n for n, s in TASK_SPECS.items() if s.kind == "choice" and s.fast_source == "fast_eval"
    )
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
    df = pd.DataFrame(
        {
            "eval/blimp": [0.5, 0.5, 0.5],  # all trials tie: zero variance
            "eval/ewok": [0.7, np.nan, np.nan],  # one scored trial: n < 2
            "eval/wug_adj": [0.1, np.nan, 0.3],  # NaN stays NaN, the others use n = 2
        }
    )
    z = zscores(df)
    assert z["eval/blimp"].tolist() == [0.0, 0.0, 0.0]
    assert z["eval/ewok"].iloc[0] == 0.0 and z["eval/ewok"].iloc[1:].isna().all()
    # mean 0.2, sample std sqrt(0.02) -> ±0.1 / 0.1414
    assert z["eval/wug_adj"].iloc[[0, 2]].tolist() == pytest.approx([-1 / math.sqrt(2), 1 / math.sqrt(2)])
    assert math.isnan(z["eval/wug_adj"].iloc[1])


def test_task_columns_skip_ties_aggregates_unknown_and_empty():
    df = pd.DataFrame(
        {
            "eval/blimp": [0.5, 0.6],
            "eval/glue/rte": [0.5, 0.6],
            "eval/glue_avg": [0.5, 0.6],
            "eval/ties/blimp": [0.0, 0.1],
            "eval/ewok": [np.nan, np.nan],
            "instruct/loss": [1.0, 2.0],
            "instruct.curriculum": ["a", "b"],
            "eval/something_new": [1.0, 2.0],
        }
    )
    assert task_columns(df) == ["eval/blimp", "eval/glue/rte"]


def test_global_score_averages_the_global_tasks_of_trials_that_scored_all_of_them():
    z = pd.DataFrame(
        {
            "eval/blimp": [1.0, -1.0, np.nan],
            "eval/glue/rte": [0.0, np.nan, np.nan],
            "eval/interactive_gen": [5.0, 5.0, 5.0],
        }
    )  # what instruction tuning trains: not in it
    g = global_score(z)
    assert g.iloc[0] == 0.5 and math.isnan(g.iloc[1]) and math.isnan(g.iloc[2])
    assert analysis.global_tasks(list(z.columns)) == ["eval/blimp", "eval/glue/rte"]
    assert global_score(z[["eval/interactive_gen"]]).isna().all()


def test_summarize_medians_and_iqr_by_hand():
    df = pd.DataFrame({"instruct.curriculum": ["a"] * 4 + ["b"] * 3, "cell.seed": [0, 1, 2, 3, 0, 1, 2]})
    score = pd.Series([1.0, 2.0, 3.0, 4.0, 10.0, 20.0, np.nan])
    s = summarize(df, ["instruct.curriculum"], score).set_index("instruct.curriculum")
    # a: linear quantiles of 1..4 -> q1 1.75, median 2.5, q3 3.25
    assert s.loc["a", ["n", "median", "q1", "q3", "iqr", "mean"]].tolist() == pytest.approx(
        [4, 2.5, 1.75, 3.25, 1.5, 2.5]
    )
    # b: the NaN seed is not counted; q1 12.5, median 15, q3 17.5
    assert s.loc["b", ["n", "median", "q1", "q3", "iqr", "mean"]].tolist() == pytest.approx(
        [2, 15.0, 12.5, 17.5, 5.0, 15.0]
    )
    # the unpaired t-interval: 2.5 ± t(3, 0.975) · sd / √4, sd of 1..4 = 1.29
    half = 3.182446305284263 * np.std([1.0, 2.0, 3.0, 4.0], ddof=1) / 2
    assert s.loc["a", ["ci_low", "ci_high"]].tolist() == pytest.approx([2.5 - half, 2.5 + half])


def _synthetic_study(study_dir, seeds=3, fractions=(0.1, 0.3)):
    rng = np.random.default_rng(0)
    rows = []
    for curriculum in ("random", "easy_first"):
        for fraction in fractions:
            for seed in range(seeds):
                bonus = 0.05 if curriculum == "easy_first" else 0.0
                rows.append(
                    {
                        "model.preset": "tiny",
                        "instruct.curriculum": curriculum,
                        "budget.instruct_fraction": fraction,
                        "cell.seed": seed,
                        "eval/blimp": 0.6 + bonus + rng.normal(0, 0.01),
                        "eval/ewok": 0.5 + fraction / 10 + rng.normal(0, 0.01),
                        "eval/glue/rte": 0.55 + rng.normal(0, 0.02),
                        "eval/glue_avg": 0.55,
                        "eval/ties/blimp": 0.0,
                        "instruct/loss": 2.0,
                        "checkpoint_path": f"/store/ckpt/{curriculum}-{fraction}-{seed}",
                    }
                )
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
        curve = _curve(
            ("chck_1M", 1500, {"eval/blimp": 0.52 + seed / 100, "eval/ewok": 0.50}),
            ("chck_2M", 3000, {"eval/blimp": 0.56 + seed / 100, "eval/ewok": 0.51}),
        )
        for curriculum, gain in gains.items():
            pre = 0.60 + seed / 100
            rows.append(
                {
                    "model.preset": "tiny",
                    "instruct.curriculum": curriculum,
                    "budget.instruct_fraction": 0.1,
                    "pretrain.seed": seed,
                    "instruct.seed": seed,
                    "key/pretrain": f"pretrain-tiny-{seed}",
                    "eval/blimp": pre + gain,
                    "eval/blimp@pretrain": pre,
                    "eval/blimp@stage1": pre + gain + 0.02 if curriculum == "switchboard>wiki" else np.nan,
                    "eval/ewok": 0.55,
                    "eval/ewok@pretrain": 0.55,
                    "pretrain/words_seen": 4500,
                    "curve": curve,
                }
            )
    study_dir.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(study_dir / "results.csv", index=False)
    return study_dir


def test_stage_columns_are_not_tasks():
    df = pd.DataFrame(
        {
            "eval/blimp": [0.6, 0.7],
            "eval/blimp@pretrain": [0.5, 0.55],
            "eval/blimp@stage1": [0.65, np.nan],
            "eval/glue/rte@pretrain": [0.5, 0.6],
        }
    )
    assert task_columns(df) == ["eval/blimp"]
    assert list(zscores(df).columns) == ["eval/blimp"]
    # the direction table itself names no staged score, so task_columns can never pick one up
    assert not [m for m in metrics.HIGHER_IS_BETTER if "@" in m]


def test_stage_deltas_are_the_hand_differences_oriented_by_direction(monkeypatch):
    monkeypatch.setitem(metrics.HIGHER_IS_BETTER, "eval/perplexity", False)
    df = pd.DataFrame(
        {
            "instruct.curriculum": ["none", "merged", "switchboard>wiki", "wiki>switchboard"],
            "pretrain.seed": [0, 0, 0, 0],
            "eval/blimp": [0.60, 0.70, 0.65, 0.58],
            "eval/blimp@pretrain": [0.60, 0.60, 0.60, 0.60],
            "eval/blimp@stage1": [np.nan, np.nan, 0.72, 0.55],
            "eval/perplexity": [30.0, 25.0, 28.0, np.nan],
            "eval/perplexity@pretrain": [30.0, 30.0, 30.0, 30.0],
            "eval/perplexity@stage1": [np.nan, np.nan, 26.0, 27.0],
        }
    )
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
    a = _curve(
        ("chck_1M", 1500, {"eval/blimp": 0.5, "eval/ewok": 0.4, "eval/ties/blimp": 0.0}),
        ("chck_2M", 3000, {"eval/blimp": 0.6, "eval/ewok": 0.45, "eval/ties/blimp": 0.01}),
    )
    b = _curve(("chck_1M", 3000, {"eval/blimp": 0.55}))
    df = pd.DataFrame(
        {
            "model.preset": ["tiny"] * 5,
            "pretrain.seed": [0] * 5,
            "budget.instruct_fraction": [0.1, 0.1, 0.2, 0.2, 0.3],  # changes the pretraining's words, so its key
            "instruct.curriculum": ["merged", "switchboard>wiki", "merged", "switchboard>wiki", "merged"],
            "key/pretrain": ["pa", "pa", "pb", "pb", "pc"],
            "curve": [a, a, b, b, np.nan],
            "pretrain/words_seen": [4500, 4500, 3000, 3000, 9000],
            "eval/blimp@pretrain": [0.7, 0.7, 0.65, 0.65, 0.8],
            "eval/ewok@pretrain": [0.5, 0.5, np.nan, np.nan, 0.6],
        }
    )
    c = learning_curves(df)
    # pa: 2 checkpoints × 2 tasks + the pretrained model at 4500 words; pb: its only checkpoint already
    # sits at its 3000 words, so no final point; pc has no curve
    assert c[["key/pretrain", "task", "checkpoint", "words_seen", "score"]].values.tolist() == [
        ["pa", "eval/blimp", "chck_1M", 1500.0, 0.5],
        ["pa", "eval/blimp", "chck_2M", 3000.0, 0.6],
        ["pa", "eval/blimp", "final", 4500.0, 0.7],
        ["pa", "eval/ewok", "chck_1M", 1500.0, 0.4],
        ["pa", "eval/ewok", "chck_2M", 3000.0, 0.45],
        ["pa", "eval/ewok", "final", 4500.0, 0.5],
        ["pb", "eval/blimp", "chck_1M", 3000.0, 0.55],
    ]
    assert list(c.columns) == list(CURVE_COLUMNS)
    assert set(c["label"]) == {
        "preset=tiny, seed=0, instruct_fraction=0.1",
        "preset=tiny, seed=0, instruct_fraction=0.2",
    }
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
    assert (
        "| merged | eval/blimp | 3 | 0.050 |" in text
        and "| none | eval/blimp | 3 | 0.000 | 0.000 | 0.000 | nan |" in text
    )
    assert "| switchboard>wiki | eval/blimp | 3 | 0.030 |" in text and text.count("| 0.020 |") == 1
    for png in ("gain_forgetting.png", "learning_curves.png"):
        assert (study / png).stat().st_size > 0 and f"]({png})" in text
    assert "Tasks (2): `eval/blimp`, `eval/ewok`; the global z" in text  # the @ columns are not tasks


def _single_seed_study(study_dir):
    """One seed, one fraction, two curricula and no baseline: one pair, nothing to test."""
    return _synthetic_study(study_dir, seeds=1, fractions=(0.1,))


@pytest.mark.slow
@pytest.mark.parametrize(
    "make", [_synthetic_study, _staged_study, _single_seed_study], ids=["plain", "staged", "single"]
)
def test_notebook_runs_on_a_hand_made_study(make, tmp_path):
    import nbformat
    from nbclient import NotebookClient

    study = make(tmp_path / "study")
    nb = nbformat.read(ROOT / "analysis" / "trials.ipynb", as_version=4)
    os.environ["CLASSIT_STUDY_DIR"] = str(study)
    try:
        NotebookClient(
            nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
        ).execute()
    finally:
        del os.environ["CLASSIT_STUDY_DIR"]
    outputs = "".join(
        o.get("text", "") + json.dumps(o.get("data", {})) for c in nb.cells if c.cell_type == "code" for o in c.outputs
    )
    assert "Does instruction tuning help?" in outputs
    if make is _staged_study:
        # the two z figures (the fraction does not vary), consistency, gain/forgetting and the curves
        assert (
            "gain_ci_low" in outputs and "chck_2M" in outputs and outputs.count("image/png") == 6
        )  # + the forest plot
        # merged's gain is exactly +0.05 in every pair: no noise, so the test is exact
        assert "merged vs none, global z: merged is better" in outputs and "**Power.**" in outputs
    else:
        assert (
            "no gain or forgetting" in outputs
            and "no learning curves" in outputs
            and "no consistency figure" in outputs
        )
        assert "has no `instruct.curriculum` = `none` trials" in outputs
    if make is _synthetic_study:
        assert outputs.count("image/png") == 4 and "easy_first vs random, global z: " in outputs
    if make is _single_seed_study:  # no fraction figure either
        assert outputs.count("image/png") == 2 and "only 1 pair, and an interval or a test needs at least 2" in outputs


@pytest.mark.slow
def test_cli_writes_the_report_with_chosen_conditions(tmp_path):
    study = _synthetic_study(tmp_path / "study")
    out = subprocess.run(
        [sys.executable, "-m", "classit_ray.analysis", str(study), "--by", "instruct.curriculum"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(study / "report.md")
    assert "| instruct.curriculum | n |" in (study / "report.md").read_text()


def test_load_study_names_the_dir_and_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="results.parquet or results.csv"):
        load_study(tmp_path)


def test_importing_analysis_loads_neither_torch_nor_ray():
    code = (
        "import classit_ray.analysis, classit_ray.analysis.__main__, classit_ray.analysis.synthetic, sys; "
        "assert 'torch' not in sys.modules and 'ray' not in sys.modules"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
