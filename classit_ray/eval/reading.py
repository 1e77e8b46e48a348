"""Reading-time evaluation: how much word surprisal adds to a regression of human reading times.

For each row of the BabyLM `reading/reading_data.csv` (columns in /work/shared/FORMATS.md) the
model scores the surprisal of `word` after `item` and of `prev_word` after `prev_item`. Then,
per reading-time column, two OLS models are fitted:

    baseline:  RT ~ (Subtlex_log10 + length + context_length)**2          # main effects + pairwise
    full:      baseline + surprisal
    score:     100 · (R²full − R²base) / (1 − R²base)                   # % of unexplained variance

Eye tracking (`RTfirstfix`, `RTfirstpass`, `RTgopast`, `RTrightbound`) reports the mean over the
four columns. Self-paced reading (`self_paced_reading_time`) adds `prev_length` and the previous
word's surprisal (spillover) to the baseline, with their pairwise interactions.

Unlike the official script, both models of a comparison are fitted on the same rows (those with
no NaN in any column either model uses); otherwise R²full and R²base describe different data.
"""

from __future__ import annotations

import math

import pandas as pd
import statsmodels.formula.api as smf

from classit_ray.eval.scorer import LanguageModel

EYE_TRACKING_COLUMNS = ("RTfirstfix", "RTfirstpass", "RTgopast", "RTrightbound")
SELF_PACED_COLUMN = "self_paced_reading_time"
EYE_BASELINE = ("Subtlex_log10", "length", "context_length")
SPR_BASELINE = (*EYE_BASELINE, "prev_length", "prev_surprisal")


def word_surprisals(lm: LanguageModel, contexts: list[str], words: list[str]) -> list[float]:
    """Surprisal −ln p(word | context) in nats, one per (context, word).

    Space convention: the word follows its context as in running text, i.e. the continuation is
    `" " + word` after `context` (trailing whitespace of the context is dropped so the word gets
    exactly one space). With an empty context the word starts the text right after `<s>`, so no
    space is added. A word of several tokens gets the chained log-probability of all of them,
    which is what the scorer's summed continuation log-probability is.
    """
    if len(contexts) != len(words):
        raise ValueError(f"{len(contexts)} contexts but {len(words)} words")
    requests = []
    for context, word in zip(contexts, words):
        context, word = context.rstrip(), word.strip()
        requests.append((context, " " + word if context else word))
    return [-logprob for logprob in lm.loglikelihood(requests)]


def delta_r2(df: pd.DataFrame, predictor: str, baseline: list[str], response: str) -> float:
    """100 · (R²full − R²base) / (1 − R²base) of `predictor` over `baseline` (+ pairwise interactions).

    Rows with NaN in any used column are dropped first, so both fits see the same rows.
    """
    used = [response, *baseline, predictor]
    missing = [c for c in used if c not in df.columns]
    if missing:
        raise KeyError(f"delta_r2: columns {missing} not in the data ({list(df.columns)})")
    # Plain names for the formula: real column names may hold characters a formula cannot parse.
    names = {column: f"x{i}" for i, column in enumerate(dict.fromkeys(used))}
    data = df[list(names)].rename(columns=names).dropna()
    y, x, terms = names[response], names[predictor], " + ".join(names[c] for c in baseline)
    # (a + b + c)**2 expands to the main effects and every pairwise interaction.
    base_formula = f"{y} ~ ({terms})**2" if len(baseline) > 1 else f"{y} ~ {terms}"
    r2_base = smf.ols(base_formula, data=data).fit().rsquared
    r2_full = smf.ols(f"{base_formula} + {x}", data=data).fit().rsquared
    return float(100.0 * (r2_full - r2_base) / (1.0 - r2_base))


def _surprisals_where_present(lm: LanguageModel, contexts: pd.Series, words: pd.Series) -> list[float]:
    """Surprisal of each present word; NaN where the word is missing (no previous word)."""
    present = [i for i, w in enumerate(words) if isinstance(w, str) and w.strip()]
    # A missing context (the word opens the text) is the empty context.
    context_list = ["" if not isinstance(c, str) else c for c in contexts]
    scores = word_surprisals(lm, [context_list[i] for i in present], [words.iloc[i] for i in present])
    out = [math.nan] * len(words)
    for i, s in zip(present, scores):
        out[i] = s
    return out


def reading_scores(lm: LanguageModel, df: pd.DataFrame) -> dict[str, float]:
    """`reading_eye` (mean over the four eye-tracking columns), `reading_spr`, and per-column
    `reading_eye/<column>` values, all in ΔR² percent points of unexplained variance."""
    data = df.copy()
    data["surprisal"] = _surprisals_where_present(lm, data["item"], data["word"])
    data["prev_surprisal"] = _surprisals_where_present(lm, data["prev_item"], data["prev_word"])
    scores = {f"reading_eye/{column}": delta_r2(data, "surprisal", list(EYE_BASELINE), column) for column in EYE_TRACKING_COLUMNS}
    scores["reading_eye"] = sum(scores.values()) / len(EYE_TRACKING_COLUMNS)
    scores["reading_spr"] = delta_r2(data, "surprisal", list(SPR_BASELINE), SELF_PACED_COLUMN)
    return scores
