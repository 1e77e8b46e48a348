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

How the surprisals are scored and which rows each fit sees is `eval.convention`:

- **official** (`reading/run.py` and `evaluation_functions.get_p2` of the BabyLM 2025 pipeline):
  p(word | item), the word tokenized alone, without a leading space, subwords chained
  (`LanguageModel.word_loglikelihood`). A missing `item` is the context "None"; a missing
  `prev_item` leaves the previous word's surprisal missing. "Missing" is what pandas reads as
  missing (its default NA strings: "", "NA", "None", "null", ...), as the official script reads
  the CSV. Each OLS is fitted on the rows that have every column it uses, so the baseline may
  keep rows the full model drops.
- **clean**: p(" " + word | item) as the word reads in running text, and both models of a
  comparison fitted on the same rows (those with no NaN in any column either model uses);
  otherwise R²full and R²base describe different data.
"""

from __future__ import annotations

import math

import pandas as pd
import statsmodels.formula.api as smf
from pandas._libs.parsers import STR_NA_VALUES

from classit_ray.config import EvalConfig, EvalConvention
from classit_ray.eval.items import EvalDataError
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


def delta_r2(df: pd.DataFrame, predictor: str, baseline: list[str], response: str, same_rows: bool = True) -> float:
    """100 · (R²full − R²base) / (1 − R²base) of `predictor` over `baseline` (+ pairwise interactions).

    `same_rows`: rows with NaN in any used column are dropped first, so both fits see the same
    rows (clean). Otherwise each fit drops the rows with NaN in its own columns (official).
    """
    used = [response, *baseline, predictor]
    missing = [c for c in used if c not in df.columns]
    if missing:
        raise KeyError(f"delta_r2: columns {missing} not in the data ({list(df.columns)})")
    # Plain names for the formula: real column names may hold characters a formula cannot parse.
    names = {column: f"x{i}" for i, column in enumerate(dict.fromkeys(used))}
    data = df[list(names)].rename(columns=names)
    y, x, terms = names[response], names[predictor], " + ".join(names[c] for c in baseline)
    full_data = data.dropna()
    base_data = full_data if same_rows else data.drop(columns=[x]).dropna()
    # (a + b + c)**2 expands to the main effects and every pairwise interaction.
    base_formula = f"{y} ~ ({terms})**2" if len(baseline) > 1 else f"{y} ~ {terms}"
    r2_base = smf.ols(base_formula, data=base_data).fit().rsquared
    r2_full = smf.ols(f"{base_formula} + {x}", data=full_data).fit().rsquared
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


def _official_missing(value) -> bool:
    """A cell the official script's `pd.read_csv` reads as missing: NaN, or a default NA string."""
    return not isinstance(value, str) or value in STR_NA_VALUES


def official_surprisals(lm: LanguageModel, df: pd.DataFrame) -> tuple[list[float], list[float]]:
    """(surprisal, previous word's surprisal) per row, in nats, as the official script scores them
    (`LanguageModel.word_loglikelihood`): a missing `item` is the context "None", a missing
    `prev_item` a missing previous surprisal. A missing word with a context is an error (the
    official script stops on it)."""
    requests, owners = [], []  # owners: (row, 0 = the word, 1 = the previous word)
    columns = zip(df["item"], df["word"], df["prev_item"], df["prev_word"])
    for row, (item, word, prev_item, prev_word) in enumerate(columns):
        item = "None" if _official_missing(item) else item  # the official `fillna("None")`
        for which, context, target in ((0, item, word), (1, prev_item, prev_word)):
            if which == 1 and _official_missing(context):
                continue
            if _official_missing(target):
                column = ("word", "prev_word")[which]
                raise EvalDataError(
                    f"reading row {row}: {column} {target!r} is missing (the official script stops here)"
                )
            requests.append((context, target))
            owners.append((row, which))
    out = ([math.nan] * len(df), [math.nan] * len(df))
    for (row, which), logprob in zip(owners, lm.word_loglikelihood(requests)):
        out[which][row] = -logprob
    return out


def row_surprisals(lm: LanguageModel, df: pd.DataFrame, convention: EvalConvention) -> tuple[list[float], list[float]]:
    """(surprisal of the word, surprisal of the previous word) per row of `df`, in nats, by
    `convention`; NaN where there is no (previous) word. The official predictions file's `pred`
    and `prev_pred`."""
    if convention == "official":
        return official_surprisals(lm, df)
    return (
        _surprisals_where_present(lm, df["item"], df["word"]),
        _surprisals_where_present(lm, df["prev_item"], df["prev_word"]),
    )


def reading_scores(
    lm: LanguageModel, df: pd.DataFrame, convention: EvalConvention = EvalConfig.convention
) -> dict[str, float]:
    """`reading_eye` (mean over the four eye-tracking columns), `reading_spr`, and per-column
    `reading_eye/<column>` values, all in ΔR² percent points of unexplained variance, by `convention`."""
    return regression_scores(df, *row_surprisals(lm, df, convention), convention)


def regression_scores(
    df: pd.DataFrame, surprisal: list[float], prev_surprisal: list[float], convention: EvalConvention
) -> dict[str, float]:
    """`reading_scores` from surprisals already computed (`row_surprisals`)."""
    data = df.copy()
    data["surprisal"], data["prev_surprisal"] = surprisal, prev_surprisal
    same = convention == "clean"
    scores = {
        f"reading_eye/{column}": delta_r2(data, "surprisal", list(EYE_BASELINE), column, same)
        for column in EYE_TRACKING_COLUMNS
    }
    scores["reading_eye"] = sum(scores.values()) / len(EYE_TRACKING_COLUMNS)
    scores["reading_spr"] = delta_r2(data, "surprisal", list(SPR_BASELINE), SELF_PACED_COLUMN, same)
    return scores
