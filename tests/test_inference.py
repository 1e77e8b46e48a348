"""The statistics of `classit_ray.analysis.inference`, each against statsmodels / scipy or a hand
computation: block-design contrasts, Holm, the sign-flip check, intervals, power."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats
from statsmodels.stats.multitest import multipletests

from classit_ray.analysis import inference


def _blocks(seed=0, blocks=6, levels=("none", "a", "b", "c")):
    rng = np.random.default_rng(seed)
    rows = [
        {"block": f"s{i}", "level": lv, "y": 0.3 * i + {"none": 0, "a": 0.5, "b": -0.2, "c": 0.1}[lv] + rng.normal()}
        for i in range(blocks)
        for lv in levels
    ]
    return pd.DataFrame(rows)


def _design(df):
    level_x, levels = inference.dummies(df["level"], ["none", "a", "b", "c"])
    block_x, _ = inference.dummies(df["block"])
    return np.hstack([level_x, block_x]), levels


def test_block_contrasts_equal_statsmodels_ols_t_test():
    df = _blocks()
    x, levels = _design(df)
    contrasts = np.zeros((2, x.shape[1]))
    contrasts[0, [1, 0]] = [1, -1]  # a - none
    contrasts[1, [1, 2]] = [1, -1]  # a - b
    fit = inference.block_contrasts(df[["y"]].to_numpy(), x, contrasts)
    tested = fit.t_test()
    ols = smf.ols("y ~ C(level, Treatment('none')) + C(block)", df).fit()
    a, b = "C(level, Treatment('none'))[T.a]", "C(level, Treatment('none'))[T.b]"
    for i, spec in enumerate([a, f"{a} - {b}"]):
        ref = ols.t_test(spec)
        assert fit.estimate[i, 0] == pytest.approx(float(ref.effect[0]))
        assert fit.se[i, 0] == pytest.approx(float(ref.sd[0, 0]))
        assert tested["p"][i, 0] == pytest.approx(float(ref.pvalue))
        assert [tested["ci_low"][i, 0], tested["ci_high"][i, 0]] == pytest.approx(list(ref.conf_int()[0]))
    assert fit.df[0] == ols.df_resid == (6 - 1) * (4 - 1)


def test_block_contrasts_fit_each_measure_on_its_own_rows():
    df = _blocks(1)
    df["y2"] = df["y"] * 2.0
    df.loc[3, "y2"] = np.nan  # one trial lacks the second measure
    x, _ = _design(df)
    contrast = np.zeros((1, x.shape[1]))
    contrast[0, [1, 0]] = [1, -1]
    fit = inference.block_contrasts(df[["y", "y2"]].to_numpy(), x, contrast)
    sub = df.dropna(subset=["y2"])
    ref = smf.ols("y2 ~ C(level, Treatment('none')) + C(block)", sub).fit().t_test("C(level, Treatment('none'))[T.a]")
    assert fit.estimate[0, 1] == pytest.approx(float(ref.effect[0])) and fit.df.tolist() == [15, 14]


def test_block_contrasts_of_a_level_with_no_trial_are_not_estimable():
    df = _blocks(2)
    x, _ = _design(df[df["level"] != "c"])
    contrast = np.zeros((1, x.shape[1]))
    contrast[0, [3, 0]] = [1, -1]  # c - none, but no c trial
    fit = inference.block_contrasts(df.loc[df["level"] != "c", ["y"]].to_numpy(), x, contrast)
    assert math.isnan(fit.estimate[0, 0]) and math.isnan(fit.t_test()["p"][0, 0])


def test_a_noiseless_difference_is_exact():
    # every block differs by exactly 0.05: zero residual, p = 0 and a zero-width interval
    y = np.array([0.6, 0.65, 0.61, 0.66, 0.62, 0.67])
    x = np.hstack([inference.dummies([0, 1] * 3)[0], inference.dummies([0, 0, 1, 1, 2, 2])[0]])
    tested = inference.block_contrasts(y[:, None], x, np.array([[-1, 1, 0, 0, 0]])).t_test()
    assert tested["p"][0, 0] == 0.0 and tested["ci_low"][0, 0] == pytest.approx(0.05) == tested["ci_high"][0, 0]


def test_holm_equals_statsmodels_and_skips_nan():
    p = np.array([0.01, 0.04, 0.03, 0.005, 0.2])
    assert inference.holm(p) == pytest.approx(multipletests(p, method="holm")[1])
    # sorted 0.005, 0.01, 0.03, 0.04 -> ×4, ×3, ×2, ×1 -> running max 0.02, 0.03, 0.06, 0.06
    assert inference.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    adjusted = inference.holm([0.02, np.nan, 0.04])  # m = 2: an untested comparison does not count
    assert adjusted[[0, 2]] == pytest.approx([0.04, 0.04]) and math.isnan(adjusted[1])


def test_sign_flip_p_enumerates_every_assignment():
    # [1, 2, 3]: of the 8 sign assignments only +++ and --- reach |mean| 2
    assert inference.sign_flip_p([1.0, 2.0, 3.0]) == pytest.approx(2 / 8)
    assert inference.sign_flip_p([1.0, 2.0, 3.0, 4.0, 5.0]) == pytest.approx(2 / 32)
    # [1, 2, 3, -0.5] sums to 5.5; ±1±2±3 reaches ±6 only with equal signs, and 6 ± 0.5 are both >= 5.5
    assert inference.sign_flip_p([1.0, 2.0, 3.0, -0.5]) == pytest.approx(4 / 16)
    assert inference.sign_flip_p([0.1, -0.1]) == 1.0 and inference.sign_flip_p([0.0, 0.0, 0.0]) == 1.0
    assert inference.sign_flip_p([np.nan, 0.2, 0.3, 0.1]) == pytest.approx(2 / 8)  # NaN pairs are dropped
    assert math.isnan(inference.sign_flip_p([0.3])) and math.isnan(inference.sign_flip_p([]))
    assert inference.smallest_sign_flip_p(6) == 2 / 64


def test_sign_flip_p_draws_beyond_the_exact_limit():
    d = np.arange(1.0, inference.EXACT_MAX_PAIRS + 5)  # 20 positive differences
    p = inference.sign_flip_p(d, n_random=2000)
    assert p < 0.002 and inference.sign_flip_p(d, n_random=2000) == p  # seeded: the same p twice


def test_t_interval_by_hand():
    # [1, 2, 3]: mean 2, sd 1, t(2, 0.975) = 4.302652729911275 -> 2 ± 4.3027 / √3
    low, high = inference.t_interval([1.0, 2.0, 3.0])
    assert (low, high) == pytest.approx((2 - 4.302652729911275 / math.sqrt(3), 2 + 4.302652729911275 / math.sqrt(3)))
    assert inference.t_interval([0.2, 0.2, 0.2]) == pytest.approx((0.2, 0.2))
    assert all(math.isnan(v) for v in inference.t_interval([0.5]))


def test_power_is_the_noncentral_t_tail_and_the_mde_inverts_it():
    # 6 pairs, df 15, alpha 0.05/3, effect = 1.2 SDs of a pair's difference: ncp = 1.2·√6
    crit = stats.t.ppf(1 - 0.05 / 6, 15)
    ncp = 1.2 * math.sqrt(6)
    by_hand = stats.nct.sf(crit, 15, ncp) + stats.nct.cdf(-crit, 15, ncp)
    assert inference.power(0.6, 0.5, 6, 15, 0.05 / 3) == pytest.approx(by_hand, rel=1e-6)
    mde = inference.minimal_detectable_effect(0.5, 6, 15, 0.05 / 3)
    assert inference.power(mde, 0.5, 6, 15, 0.05 / 3) == pytest.approx(0.8, abs=1e-6)
    assert math.isnan(inference.minimal_detectable_effect(0.5, 1, 0, 0.05))


def test_a_score_every_block_shares_is_no_difference():
    # a pretraining's own score (AoA, say): equal across the conditions of a block, varying between
    # blocks with values whose sums round; the contrast is 0 and its p 1, not 1e-16 called exact
    y = np.repeat([0.1, 0.7, 0.30000000000000004], 2) * 3.3
    x = np.hstack([inference.dummies([0, 1] * 3)[0], inference.dummies([0, 0, 1, 1, 2, 2])[0]])
    tested = inference.block_contrasts(y[:, None], x, np.array([[-1, 1, 0, 0, 0]])).t_test()
    assert tested["p"][0, 0] == 1.0 and tested["ci_low"][0, 0] == 0.0 == tested["ci_high"][0, 0]
