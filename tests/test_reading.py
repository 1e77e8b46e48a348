"""Reading-time evaluation: ΔR² matches its analytic value on synthetic data, is ≈0 for a noise
predictor, and `reading_scores` finds a surprisal that drives the reading times."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from classit_ray.eval.reading import EYE_TRACKING_COLUMNS, delta_r2, reading_scores, word_surprisals


class RecordingLM:
    """log p(continuation) = −(number of letters in it): surprisal is the word's letter count."""

    def __init__(self):
        self.requests: list[tuple[str, str]] = []

    def loglikelihood(self, requests: list[tuple[str, str]]) -> list[float]:
        self.requests.extend(requests)
        return [-float(len(continuation.strip())) for _, continuation in requests]


def synthetic_regression(n: int, k: float, noise_sd: float, seed: int = 0) -> pd.DataFrame:
    """y = a + 2b − c + 0.5·a·b + k·p + ε with independent standard-normal a, b, c, p."""
    rng = np.random.default_rng(seed)
    a, b, c, p = rng.standard_normal((4, n))
    y = a + 2 * b - c + 0.5 * a * b + k * p + noise_sd * rng.standard_normal(n)
    return pd.DataFrame({"a": a, "b": b, "c": c, "p": p, "noise": rng.standard_normal(n), "RT y": y})


def test_delta_r2_matches_the_analytic_value():
    # The baseline explains a, b, c and the a·b interaction; what is left is k²·Var(p) + σ², of
    # which the predictor explains k². Were the interaction missing from the baseline, the share
    # would be 1 / (1 + 1 + 0.25) = 44%, not 50%.
    df = synthetic_regression(n=20_000, k=1.0, noise_sd=1.0)
    assert delta_r2(df, "p", ["a", "b", "c"], "RT y") == pytest.approx(100 * 1 / (1 + 1), abs=1.5)
    df = synthetic_regression(n=20_000, k=0.5, noise_sd=1.5, seed=1)
    assert delta_r2(df, "p", ["a", "b", "c"], "RT y") == pytest.approx(100 * 0.25 / (0.25 + 2.25), abs=1.0)


def test_delta_r2_of_a_noise_predictor_is_near_zero():
    df = synthetic_regression(n=5_000, k=1.0, noise_sd=1.0)
    assert 0.0 <= delta_r2(df, "noise", ["a", "b", "c"], "RT y") < 0.2


def test_delta_r2_drops_rows_with_nan_in_used_columns():
    df = synthetic_regression(n=2_000, k=1.0, noise_sd=1.0)
    expected = delta_r2(df.iloc[100:], "p", ["a", "b", "c"], "RT y")
    df.loc[:49, "p"] = np.nan
    df.loc[50:99, "RT y"] = np.nan
    df["unused"] = np.nan  # a column no model uses must not drop anything
    assert delta_r2(df, "p", ["a", "b", "c"], "RT y") == pytest.approx(expected)


def test_word_surprisals_space_convention():
    lm = RecordingLM()
    assert word_surprisals(lm, ["The cat", "", "A dog "], ["sat", "Hello", "ran"]) == [3.0, 5.0, 3.0]
    assert lm.requests == [("The cat", " sat"), ("", "Hello"), ("A dog", " ran")]


def reading_frame(n: int, seed: int = 0) -> pd.DataFrame:
    """A reading_data.csv-shaped frame whose RTs depend on the words' letter counts (the fake
    LM's surprisal); `length` is an independent column here so that surprisal is not collinear."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghij"))
    words = ["".join(rng.choice(letters, size=rng.integers(1, 12))) for _ in range(n)]
    prev_words = [None if i % 10 == 0 else "".join(rng.choice(letters, size=rng.integers(1, 12))) for i in range(n)]
    surprisal = np.array([len(w) for w in words], dtype=float)
    prev_surprisal = np.array([np.nan if w is None else len(w) for w in prev_words], dtype=float)
    df = pd.DataFrame(
        {
            "item": [np.nan if i % 10 == 0 else f"context {i}" for i in range(n)],
            "word": words,
            "prev_item": [np.nan if w is None else f"before {i}" for i, w in enumerate(prev_words)],
            "prev_word": prev_words,
            "Subtlex_log10": rng.uniform(1, 5, n),
            "length": rng.integers(1, 12, n).astype(float),
            "context_length": rng.integers(0, 30, n).astype(float),
            "prev_length": rng.integers(1, 12, n).astype(float),
        }
    )
    base = 200 - 10 * df["Subtlex_log10"] + 5 * df["length"] + df["context_length"]
    for column in EYE_TRACKING_COLUMNS:
        df[column] = base + 8 * surprisal + rng.normal(0, 10, n)
    df["self_paced_reading_time"] = (
        base + 3 * df["prev_length"] + 4 * np.nan_to_num(prev_surprisal) + 8 * surprisal + rng.normal(0, 10, n)
    )
    return df


def test_reading_scores_find_a_surprisal_that_drives_reading_times():
    lm = RecordingLM()
    scores = reading_scores(lm, reading_frame(400), "clean")
    assert set(scores) == {"reading_eye", "reading_spr", *(f"reading_eye/{c}" for c in EYE_TRACKING_COLUMNS)}
    # Var(8·surprisal) ≈ 64·10 vs noise 100: surprisal explains ~85% of what the baseline leaves.
    assert all(scores[f"reading_eye/{c}"] > 70 for c in EYE_TRACKING_COLUMNS)
    assert scores["reading_eye"] == pytest.approx(np.mean([scores[f"reading_eye/{c}"] for c in EYE_TRACKING_COLUMNS]))
    assert scores["reading_spr"] > 70
    # A missing context is the empty context; a missing previous word is not scored.
    assert ("", lm.requests[0][1].strip()) == lm.requests[0]
    assert len(lm.requests) == 400 + 360


def test_reading_scores_near_zero_when_surprisal_does_not_drive_reading_times():
    df = reading_frame(400)
    rng = np.random.default_rng(1)
    for column in (*EYE_TRACKING_COLUMNS, "self_paced_reading_time"):
        df[column] = 200 - 10 * df["Subtlex_log10"] + rng.normal(0, 10, len(df))
    scores = reading_scores(RecordingLM(), df, "clean")
    assert abs(scores["reading_eye"]) < 2 and abs(scores["reading_spr"]) < 2
