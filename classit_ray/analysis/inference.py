"""The statistics the comparisons rest on: contrasts of a block design, intervals, multiplicity
adjustment, the sign-flip robustness check, and power.

**Why a block design.** Trials that share a pretraining (a model size and seed) are not
independent: its luck is in all of them. So a study is a randomized complete block design: each
block (one pretraining) holds one trial per condition, and a measure is modelled as

    y[block, condition] = block effect + condition effect + noise,

fitted by least squares with a dummy per block and per condition (OLS with fixed block effects;
for a complete design its contrasts equal those of the linear mixed model with a random block
intercept, and the t-test is exact under normal, equal-variance noise). A contrast such as
`merged - none` is then the mean paired difference, and its standard error pools the noise of
every condition in the blocks, which gives the t-test (n - 1)(k - 1) degrees of freedom for n
blocks and k conditions instead of the n - 1 of a lone paired t-test. Unlike the exact sign-flip
test, whose smallest p is 2 / 2^n whatever the data (0.031 with 6 pairs, so 0.19 after Holm over 6
comparisons), the t-test's p has no floor: a study of 6 pairs can detect an effect that the pairs
agree on. The sign-flip p is kept beside it as a robustness check that assumes no normality.

`block_contrasts` solves all measures of one design at once (the calibration benchmark runs it
thousands of times); tests check it against statsmodels' `OLS(...).t_test` on the same design.
Multiplicity is Holm's method (checked against statsmodels' `multipletests`), power is
statsmodels' `TTestPower` with the design's degrees of freedom. Plain numpy / scipy / statsmodels: no Ray, no torch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats
from statsmodels.stats.power import TTestPower

ALPHA = 0.05
POWER = 0.8
EXACT_MAX_PAIRS = 16  # 2^16 sign assignments: scipy enumerates them in well under a second
N_RANDOM_FLIPS = 20_000


@dataclass(frozen=True)
class Contrasts:
    """Per contrast (rows) and measure (columns) of one fitted design: the estimate, its standard
    error and the residual degrees of freedom; NaN where a contrast is not estimable from the rows
    that have the measure. `sigma` is each measure's residual SD."""

    estimate: np.ndarray  # (contrasts, measures)
    se: np.ndarray  # (contrasts, measures)
    df: np.ndarray  # (measures,)
    sigma: np.ndarray  # (measures,)

    def t_test(self, level: float = 0.95) -> dict[str, np.ndarray]:
        """Two-sided t-test of each contrast = 0 and its `level` interval. A contrast whose noise is
        exactly zero (every pair differs by the same amount) gets p = 0 unless it is 0 itself."""
        with np.errstate(divide="ignore", invalid="ignore"):
            t = self.estimate / self.se
            p = 2.0 * stats.t.sf(np.abs(t), self.df)
            half = stats.t.ppf(0.5 + level / 2, self.df) * self.se
        exact = (self.se == 0) & np.isfinite(self.estimate) & (self.df > 0)
        p = np.where(exact, np.where(self.estimate == 0, 1.0, 0.0), p)
        half = np.where(exact, 0.0, half)
        return {"t": t, "p": p, "ci_low": self.estimate - half, "ci_high": self.estimate + half}


def _fit_one(y: np.ndarray, x: np.ndarray, contrasts: np.ndarray):
    """OLS of the columns of `y` (rows, measures) on `x` (rows, params), all rows complete."""
    n = len(y)
    pinv = np.linalg.pinv(x)
    rank = np.linalg.matrix_rank(x)
    df = n - rank
    beta = pinv @ y  # (params, measures)
    resid = y - x @ beta
    sigma2 = (resid**2).sum(axis=0) / df if df > 0 else np.full(y.shape[1], np.nan)
    # Residuals at float rounding (differences equal on paper) are no noise: zero, so the test is exact.
    spread = np.abs(y - y.mean(axis=0)).max(axis=0)
    sigma2 = np.where(np.sqrt(sigma2) <= 1e-9 * spread, 0.0, sigma2)
    # A contrast is estimable when it lies in the row space of x: L · pinv(x) · x = L.
    estimable = np.all(np.isclose(contrasts @ pinv @ x, contrasts, atol=1e-8), axis=1)
    xtx_inv = pinv @ pinv.T  # (X'X)^+ for the minimum-norm solution
    var = np.einsum("ij,jk,ik->i", contrasts, xtx_inv, contrasts)  # (contrasts,)
    est = contrasts @ beta
    se = np.sqrt(np.clip(var, 0.0, None))[:, None] * np.sqrt(sigma2)[None, :]
    # A contrast at float rounding of the measure's spread is 0 (a score every block shares across its
    # conditions, or a constant one): otherwise an exact, noiseless fit would call 1e-16 a difference.
    est = np.where((np.abs(est) <= 1e-9 * spread[None, :]) | (spread[None, :] == 0), 0.0, est)
    est[~estimable], se[~estimable] = np.nan, np.nan
    if df <= 0:
        se[:] = np.nan
    return est, se, df, np.sqrt(sigma2)


def block_contrasts(y: np.ndarray, x: np.ndarray, contrasts: np.ndarray) -> Contrasts:
    """Least-squares `contrasts` (k, params) of the linear model y = x · beta + noise, for each column
    of `y` (rows, measures) on the rows where that column is not NaN: columns that share their
    missing rows are solved together. `x` may be rank deficient (a dummy for every block and every
    condition): estimates come from the pseudo-inverse, and the degrees of freedom are rows - rank."""
    y = np.asarray(y, dtype=float).reshape(len(x), -1)
    x = np.asarray(x, dtype=float)
    contrasts = np.atleast_2d(np.asarray(contrasts, dtype=float))
    k, m = len(contrasts), y.shape[1]
    est, se = np.full((k, m), np.nan), np.full((k, m), np.nan)
    df, sigma = np.full(m, np.nan), np.full(m, np.nan)
    present = ~np.isnan(y)
    patterns: dict[bytes, list[int]] = {}
    for j in range(m):
        patterns.setdefault(present[:, j].tobytes(), []).append(j)
    for cols in patterns.values():
        rows = present[:, cols[0]]
        if rows.sum() == 0:
            continue
        e, s, d, sg = _fit_one(y[rows][:, cols], x[rows], contrasts)
        est[:, cols], se[:, cols], df[cols], sigma[cols] = e, s, d, sg
    return Contrasts(est, se, df, sigma)


def dummies(values: Sequence, levels: Sequence | None = None) -> tuple[np.ndarray, list]:
    """One 0/1 column per level of `values` (in `levels` order, default sorted by str)."""
    values = list(values)
    levels = sorted(set(values), key=str) if levels is None else list(levels)
    return np.array([[v == level for level in levels] for v in values], dtype=float).reshape(len(values), -1), levels


def t_interval(diffs, level: float = 0.95) -> tuple[float, float]:
    """Student-t interval of the mean of `diffs` (NaNs dropped): mean ± t(n-1) · sd / √n, sample sd.
    (NaN, NaN) below 2 values; (c, c) when every value is c."""
    d = np.asarray(diffs, dtype=float)
    d = d[~np.isnan(d)]
    if len(d) < 2:
        return (float("nan"), float("nan"))
    half = stats.t.ppf(0.5 + level / 2, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    return (float(d.mean() - half), float(d.mean() + half))


def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjusted p-values (NaNs stay NaN and do not count among the m tests): the
    i-th smallest of m becomes max over j <= i of min(1, (m - j + 1) p_(j)).

    The same numbers as statsmodels' `multipletests(method="holm")` (a test checks), written out
    because that function runs a full `gc.collect()` on every call, which grows with everything a
    process holds (matplotlib, say), and the calibration benchmark adjusts tens of thousands of families."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    tested = np.flatnonzero(~np.isnan(p))
    order = tested[np.argsort(p[tested], kind="stable")]
    m = len(order)
    out[order] = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    return out


def smallest_sign_flip_p(n: int) -> float:
    """The smallest two-sided sign-flip p that n pairs can give, whatever the data: 2 / 2^n when
    exact (only all-plus and all-minus reach the largest |mean|), 1 / (1 + draws) when drawn."""
    return 2.0 / 2**n if n <= EXACT_MAX_PAIRS else 1.0 / (1 + N_RANDOM_FLIPS)


def sign_flip_p(diffs, n_random: int = N_RANDOM_FLIPS, seed: int = 0) -> float:
    """Two-sided p of the paired sign-flip test of mean(diffs) = 0 (NaNs dropped; NaN below 2
    pairs), by scipy's `permutation_test` with one sample (each difference's sign is flipped):
    exact over all 2^n assignments up to EXACT_MAX_PAIRS pairs, e.g. [1, 2, 3] -> 2/8; else
    `n_random` random assignments with `seed`."""
    d = np.asarray(diffs, dtype=float)
    d = d[~np.isnan(d)]
    if len(d) < 2:
        return float("nan")
    if np.all(d == 0):
        return 1.0
    resamples = np.inf if len(d) <= EXACT_MAX_PAIRS else n_random
    result = stats.permutation_test(
        (d,), np.mean, permutation_type="samples", n_resamples=resamples, alternative="two-sided", random_state=seed
    )
    return float(result.pvalue)


def power(effect: float, sigma_diff: float, pairs: int, df: float, alpha: float) -> float:
    """Power of the two-sided t-test of one contrast with `pairs` blocks: effect / sigma_diff is the
    standardized effect (sigma_diff: the SD of one pair's difference) and `df` the design's
    residual degrees of freedom (statsmodels' TTestPower with its df)."""
    if not (pairs >= 2 and df >= 1 and sigma_diff > 0):
        return float("nan")
    reached = TTestPower().power(abs(effect) / sigma_diff, pairs, alpha, df=df)
    return 1.0 if np.isnan(reached) else float(reached)  # NaN: the noncentral t's far tail


def minimal_detectable_effect(sigma_diff: float, pairs: int, df: float, alpha: float, target: float = POWER) -> float:
    """The smallest |effect| the t-test detects with probability `target` at level `alpha`, in the
    units of `sigma_diff` (NaN when the design has no test)."""
    if not (pairs >= 2 and df >= 1 and sigma_diff > 0):
        return float("nan")

    def shortfall(e: float) -> float:
        reached = TTestPower().power(e, pairs, alpha, df=df)
        return (1.0 if np.isnan(reached) else reached) - target  # NaN: the noncentral t's far tail, power 1

    d = optimize.brentq(shortfall, 1e-6, 100.0)
    return float(d * sigma_diff)
