"""Age of acquisition (AoA) of words by a language model, the way Chang & Bergen (2022) measure it and
the BabyLM 2025 pipeline (`evaluation_pipeline/AoA_word`) writes it.

The data, `full_eval/aoa/` of the release (eval_aoa.sh reads `full_eval/aoa/cdi_childes.json`):

    cdi_childes.json   {word: [{"context": str, "word_in_context_stats": {...}}, ...]}  the release's file
    child_aoa.tsv      word <TAB> aoa                                                     children's AoA, months

The release's file holds the target words and their contexts only; the children's AoA the model's is
correlated with (Wordbank's, as Chang & Bergen's `child_aoa.tsv`) is a second file of this project's,
one row per word of `cdi_childes.json` (a word it lacks is left out of the correlation, not an error).

Per checkpoint, the surprisal of each word in each of its contexts: −ln p(word | <s> context) in nats,
the word read as the official causal backend reads it (`context.strip() + " " + word`, every token of
the word summed). Written as the official output, one entry per (step, word, context):

    {"metadata": {"model_name", "use_bos_only", "total_steps", "completed_steps"},
     "results": [{"step": "chck_1M", "word_count", "target_word", "context_id", "context", "surprisal"}]}

`word_count` is what the checkpoint really saw (a toy `chck_1M` may have seen 1,500 words). Then, per
word, the mean surprisal over its contexts at each checkpoint, and a sigmoid fitted to it over
log10(words seen) with `scipy.optimize.curve_fit`:

    s(x) = lo + (hi − lo) / (1 + exp(k · (x − x0)))          k > 0: surprisal falls as the model learns

The word's AoA is where the fit crosses its midpoint, (hi + lo) / 2, i.e. x0, in log10 words. A fit
fails (and is counted and reported with its reason, never dropped silently) when curve_fit does not
converge, the surprisal does not fall, or the midpoint lies outside the checkpoints' range (learnt
before the first or not by the last). The score `eval/aoa` is Pearson's r between the model's AoA
and the children's over the words fitted (better higher: words children learn early, the model learns
early); Spearman's ρ and every word's fit and R² are kept beside it.

    python -m classit_ray.eval.aoa FOLDER     check an AoA data folder (exit 1 and one line if bad)
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit
from scipy.stats import pearsonr, spearmanr

from classit_ray.eval.items import EvalDataError

if TYPE_CHECKING:  # the scorer imports torch; this module is read by light processes too
    from classit_ray.eval.scorer import LanguageModel

WORDS_FILE = "cdi_childes.json"
CHILD_AOA_FILE = "child_aoa.tsv"
CHILD_AOA_COLUMNS = ("word", "aoa")
# The official output: <model>/<revision>/zero_shot/<backend>/AoA_word/surprisal.json; the per-word
# fits are this project's, beside it.
OUTPUT_DIR = "AoA_word"
OUTPUT_FILE = "surprisal.json"
FITS_FILE = "aoa_fits.json"
MIN_CHECKPOINTS = 4  # a four-parameter sigmoid needs at least as many points
MIN_DROP = 0.05  # nats: a fitted fall of surprisal smaller than this is no learning at all


@dataclass(frozen=True)
class AoAData:
    contexts: dict[str, list[str]]  # target word -> its contexts, in the file's order
    child_aoa: dict[str, float]  # word -> children's AoA in months (a subset of the target words)


def _fail(path: Path, message: str) -> EvalDataError:
    return EvalDataError(f"{path}: {message}")


def read_words(path: str | Path) -> dict[str, list[str]]:
    """The target words and their contexts of a `cdi_childes.json` (the release's format above)."""
    path = Path(path)
    if not path.is_file():
        raise _fail(path, "file not found")
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except UnicodeDecodeError:
        raise _fail(path, "not UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise _fail(path, f"not valid JSON ({e.msg} at line {e.lineno})") from None
    if not isinstance(data, dict) or not data:
        raise _fail(path, "expected a JSON object of target word -> list of contexts")
    words: dict[str, list[str]] = {}
    for word, entries in data.items():
        if not word.strip():
            raise _fail(path, f"word {word!r}: a target word must be non-empty")
        if not isinstance(entries, list) or not entries:
            raise _fail(path, f'word {word!r}: no contexts; expected a non-empty list of {{"context": ...}} objects')
        contexts = []
        for i, entry in enumerate(entries):
            where = f"word {word!r}, context {i}"
            if not isinstance(entry, dict) or "context" not in entry:
                raise _fail(path, f"{where}: missing field 'context'")
            if not isinstance(entry["context"], str):
                raise _fail(path, f"{where}: field 'context' must be a string; got {entry['context']!r}")
            contexts.append(entry["context"])
        words[word] = contexts
    return words


def read_child_aoa(path: str | Path, words: dict[str, list[str]]) -> dict[str, float]:
    """`child_aoa.tsv`: word and AoA in months per row; every word must be a target word of `words`."""
    path = Path(path)
    if not path.is_file():
        raise _fail(
            path,
            f"file not found; the children's AoA ({', '.join(CHILD_AOA_COLUMNS)}, tab-separated) "
            f"that the model's is correlated with",
        )
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f, delimiter="\t")
        missing = [c for c in CHILD_AOA_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise _fail(path, f"missing column {missing[0]!r}; expected columns {', '.join(CHILD_AOA_COLUMNS)}")
        aoa: dict[str, float] = {}
        for lineno, row in enumerate(reader, 2):
            word = (row["word"] or "").strip()
            if word not in words:
                raise EvalDataError(
                    f"{path}:{lineno}: field 'word': unknown word {word!r}, not a target word of {WORDS_FILE}"
                )
            try:
                months = float(row["aoa"])
            except (TypeError, ValueError):
                months = math.nan
            if not math.isfinite(months):
                raise EvalDataError(
                    f"{path}:{lineno}: field 'aoa' must be a finite number of months; got {row['aoa']!r}"
                )
            aoa[word] = months
    if not aoa:
        raise _fail(path, "no rows")
    return aoa


def read_aoa(folder: str | Path) -> AoAData:
    """The AoA task's data in `folder` (the release's `full_eval/aoa/`)."""
    folder = Path(folder)
    words = read_words(folder / WORDS_FILE)
    return AoAData(words, read_child_aoa(folder / CHILD_AOA_FILE, words))


def surprisal_rows(lm: LanguageModel, data: AoAData, step: str, word_count: int) -> list[dict[str, Any]]:
    """One checkpoint's official result entries: the surprisal of every word in every context."""
    keys = [(word, i, context) for word, contexts in data.contexts.items() for i, context in enumerate(contexts)]
    # As the official causal backend: the stripped context, one space, the word; a context of
    # nothing leaves the word right after <s>.
    requests = [(context.strip(), (" " if context.strip() else "") + word.strip()) for word, _, context in keys]
    logprobs = lm.loglikelihood(requests)
    return [
        {
            "step": step,
            "word_count": int(word_count),
            "target_word": word,
            "context_id": i,
            "context": context,
            "surprisal": -float(lp),
        }
        for (word, i, context), lp in zip(keys, logprobs)
    ]


def official_output(model_name: str, rows: list[dict[str, Any]], total_steps: int) -> dict[str, Any]:
    """`surprisal.json` as the official pipeline writes it."""
    return {
        "metadata": {
            "model_name": model_name,
            "use_bos_only": False,
            "total_steps": total_steps,
            "completed_steps": len({r["step"] for r in rows}),
        },
        "results": rows,
    }


def sigmoid(x, lo: float, hi: float, k: float, x0: float):
    """Surprisal that falls from `hi` to `lo` around `x0` (log10 words); `k` > 0 is its steepness."""
    return lo + (hi - lo) / (1.0 + np.exp(np.clip(k * (x - x0), -60.0, 60.0)))


@dataclass(frozen=True)
class WordFit:
    word: str
    aoa_log10_words: float  # NaN when the fit failed
    r2: float  # the fit's R² over the word's mean surprisals (NaN when it failed)
    params: dict[str, float]  # lo, hi, k, x0 of the fit (empty when curve_fit failed)
    failed: str = ""  # why there is no AoA; "" for a good fit


def fit_word(word: str, log_words: np.ndarray, surprisal: np.ndarray) -> WordFit:
    """The sigmoid fit of one word's mean surprisal over log10(words seen), and its AoA (the midpoint)."""
    nan = float("nan")
    finite = np.isfinite(surprisal)
    if finite.sum() < MIN_CHECKPOINTS:
        return WordFit(
            word,
            nan,
            nan,
            {},
            f"{int(finite.sum())} checkpoints with a finite surprisal; a sigmoid needs at least {MIN_CHECKPOINTS}",
        )
    x, y = log_words[finite], surprisal[finite]
    span = float(x.max() - x.min())
    guess = (float(y.min()), float(y.max()), 4.0 / max(span, 1e-6), float(np.median(x)))
    bounds = (
        [-np.inf, -np.inf, 0.0, float(x.min()) - span],
        [np.inf, np.inf, 100.0 / max(span, 1e-6), float(x.max()) + span],
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizeWarning)
            popt, _ = curve_fit(sigmoid, x, y, p0=guess, bounds=bounds, maxfev=20_000)
    except (RuntimeError, ValueError) as e:
        return WordFit(word, nan, nan, {}, f"curve_fit did not converge ({e})")
    lo, hi, k, x0 = (float(v) for v in popt)
    params = {"lo": lo, "hi": hi, "k": k, "x0": x0}
    residual = float(np.sum((y - sigmoid(x, *popt)) ** 2))
    total = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - residual / total if total > 0 else nan
    if hi - lo < MIN_DROP or k <= 0:
        return WordFit(word, nan, r2, params, f"surprisal does not fall (fitted drop {hi - lo:.3f} nats)")
    if not x.min() <= x0 <= x.max():
        when = "before the first checkpoint" if x0 < x.min() else "after the last checkpoint"
        return WordFit(word, nan, r2, params, f"midpoint {x0:.2f} (log10 words) lies {when}")
    return WordFit(word, x0, r2, params)


def mean_curves(rows: list[dict[str, Any]]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(log10 words seen per step, word -> its mean surprisal over contexts per step), steps in
    training order (by words seen)."""
    steps = sorted({(r["word_count"], r["step"]) for r in rows})
    index = {step: i for i, (_, step) in enumerate(steps)}
    sums: dict[str, np.ndarray] = {}
    counts: dict[str, np.ndarray] = {}
    for r in rows:
        word, i = r["target_word"], index[r["step"]]
        sums.setdefault(word, np.zeros(len(steps)))[i] += r["surprisal"]
        counts.setdefault(word, np.zeros(len(steps)))[i] += 1
    log_words = np.log10(np.array([max(count, 1) for count, _ in steps], dtype=float))
    with np.errstate(invalid="ignore", divide="ignore"):
        return log_words, {w: sums[w] / counts[w] for w in sums}


def acquisition(rows: list[dict[str, Any]], child_aoa: dict[str, float]) -> dict[str, Any]:
    """Every word's fit and AoA, and the model-child correlation over the words fitted:
    {"metrics": {"eval/aoa": r}, "pearson", "spearman", "words", "fitted", "failed": {word: why}, "fits": [...]}."""
    log_words, curves = mean_curves(rows)
    fits = [fit_word(word, log_words, curve) for word, curve in curves.items()]
    paired = [(f.aoa_log10_words, child_aoa[f.word]) for f in fits if not f.failed and f.word in child_aoa]
    pearson = spearman = float("nan")
    if len(paired) >= 3:
        model, child = np.array(paired).T
        if np.ptp(model) > 0 and np.ptp(child) > 0:
            pearson, spearman = float(pearsonr(model, child)[0]), float(spearmanr(model, child)[0])
    return {
        "metrics": {"eval/aoa": pearson},
        "pearson": pearson,
        "spearman": spearman,
        "words": len(fits),
        "fitted": sum(not f.failed for f in fits),
        "correlated": len(paired),
        "failed": {f.word: f.failed for f in fits if f.failed},
        "steps_log10_words": [float(v) for v in log_words],
        "fits": [
            {
                "word": f.word,
                "aoa_log10_words": f.aoa_log10_words,
                "child_aoa_months": child_aoa.get(f.word),
                "r2": f.r2,
                **f.params,
                "failed": f.failed,
            }
            for f in fits
        ],
    }


def main(argv: list[str] | None = None) -> int:
    """`python -m classit_ray.eval.aoa FOLDER`: check an AoA data folder (`full_eval/aoa/`) and say
    what it holds; a bad file is one line naming the file and the field, and exit status 1."""
    parser = argparse.ArgumentParser(prog="python -m classit_ray.eval.aoa", description=main.__doc__.split("\n")[0])
    parser.add_argument(
        "folder", help=f"the folder of {WORDS_FILE} and {CHILD_AOA_FILE} (the release's full_eval/aoa/)"
    )
    args = parser.parse_args(argv)
    try:
        data = read_aoa(args.folder)
    except EvalDataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    contexts = sum(map(len, data.contexts.values()))
    print(
        f"{args.folder}: {len(data.contexts)} target words, {contexts} contexts, "
        f"children's AoA for {len(data.child_aoa)} of them"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
