"""The toy world's age-of-acquisition data, in the release's format (`classit_ray/eval/aoa.py`):

    OUT/evaluation_data/full_eval/aoa/cdi_childes.json   {word: [{"context", "word_in_context_stats"}]}
    OUT/evaluation_data/full_eval/aoa/child_aoa.tsv      word <TAB> aoa (months)

As in the release, AoA is in `full_eval/` alone. The target words are `TARGET_WORDS` words (fewer in a small world) of the toy
child-directed speech (the adults' lines of the CHILDES-style corpus file), function words and
content words alike as on the CDI, spread evenly over the range of their log frequency there; each gets its `CONTEXTS` most frequent
sentence-initial contexts from the whole toy corpus, as the release takes its contexts from C4 (the
words of a sentence before the target, `word_in_context_stats` counted as the official
`prepare_dataset.py` counts them).

The children's AoA follows one stated principle: a child learns a word by hearing it. A word's AoA
is `FIRST_MONTHS` for the most frequent target word of the child-directed speech, and
`MONTHS_PER_DECADE` months later for every factor of ten it is rarer:

    aoa = FIRST_MONTHS + MONTHS_PER_DECADE · (log10 f_max − log10 f_word)     f: count in child-directed speech

A model pretrained on the toy corpus hears the same words in the same proportions (the child-directed
file is part of its corpus), so its AoA can follow the children's: the task is learnable.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path

from classit_ray.eval.aoa import CHILD_AOA_COLUMNS, CHILD_AOA_FILE, WORDS_FILE
from classit_ray.toyworld.evalfiles import FULL
from classit_ray.toyworld.reading import corpus_lines, normalize

TARGET_WORDS = 24  # few, so that scoring every chck_* checkpoint stays cheap (a few hundred surprisals)
CONTEXTS = 4  # per word
MIN_CONTEXT_WORDS = 2  # a context of one word says too little about what comes next
FIRST_MONTHS, MONTHS_PER_DECADE = 16.0, 6.0
CHILD_DIRECTED_FILE = "childes.train"
# A corpus line's speaker label (`*MOT:\t`, `A:\t`) and a sentence end inside a line.
_SPEAKER = re.compile(r"^(\*[A-Z]+|[A-Z]):\t")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def child_directed_lines(corpus_dir: Path | None, seed: int) -> Iterable[str]:
    """The adults' utterances of the toy CHILDES file; without a corpus, the grammar's own text
    (what the reading data is estimated from then too)."""
    path = None if corpus_dir is None else Path(corpus_dir) / CHILD_DIRECTED_FILE
    if path is None or not path.is_file():
        return corpus_lines(corpus_dir, seed)
    with open(path, encoding="utf-8") as f:
        return [line for line in f if line.startswith("*") and not line.startswith("*CHI:")]


def sentences(lines: Iterable[str]) -> Iterable[list[str]]:
    """Each sentence of each line as its whitespace tokens, the speaker label and headers dropped."""
    for line in lines:
        if line.startswith("= = = "):
            continue
        for sentence in _SENTENCE_END.split(_SPEAKER.sub("", line.strip())):
            if sentence:
                yield sentence.split()


def child_aoa(counts: dict[str, int]) -> dict[str, float]:
    """The children's AoA in months of each word from its child-directed count (the principle above)."""
    top = math.log10(max(counts.values()))
    return {w: round(FIRST_MONTHS + MONTHS_PER_DECADE * (top - math.log10(c)), 2) for w, c in counts.items()}


def toy_aoa_data(corpus_dir: Path | None, seed: int) -> tuple[dict[str, list[dict]], dict[str, float]]:
    """(the `cdi_childes.json` object, word -> children's AoA) of the toy world."""
    heard = Counter(w for s in sentences(child_directed_lines(corpus_dir, seed)) for w in map(normalize, s))
    # Sentence-initial contexts of each word where it is written as itself (lower case, nothing
    # attached: the official reader appends the bare word after a space).
    contexts: dict[str, Counter] = defaultdict(Counter)
    context_counts: Counter = Counter()
    for tokens in sentences(corpus_lines(corpus_dir, seed)):
        for i in range(MIN_CONTEXT_WORDS, len(tokens)):
            context = " ".join(tokens[:i])
            context_counts[context] += 1
            if tokens[i].isalpha() and tokens[i].islower() and len(tokens[i]) > 1:
                contexts[tokens[i]][context] += 1
    candidates = {w: math.log10(heard[w]) for w in sorted(contexts) if heard[w] > 1 and len(contexts[w]) >= CONTEXTS}
    # A small world has fewer words with enough contexts: all of them then.
    n = min(TARGET_WORDS, len(candidates))
    if n < 2:
        raise ValueError(f"only {n} words of the toy corpus have {CONTEXTS} contexts; the AoA data needs at least 2")
    # Evenly spaced over log frequency, the rarest and the most frequent included: at each step the
    # word nearest to it that is not taken yet.
    lo, hi = min(candidates.values()), max(candidates.values())
    picked: list[str] = []
    for i in range(n):
        at = lo + i * (hi - lo) / (n - 1)
        picked.append(min((w for w in candidates if w not in picked), key=lambda w: (abs(candidates[w] - at), w)))
    words: dict[str, list[dict]] = {}
    for word in sorted(picked):
        chosen = sorted(contexts[word].items(), key=lambda kv: (-kv[1], kv[0]))[:CONTEXTS]
        words[word] = [
            {
                "context": context,
                "word_in_context_stats": {
                    "count": n,
                    "frequency": n / context_counts[context],
                    "log_freq_per_million": math.log10(1e6 * n / context_counts[context]),
                },
            }
            for context, n in chosen
        ]
    return words, child_aoa({w: heard[w] for w in words})


def write_toy_aoa(root: Path, seed: int, corpus_dir: Path | None) -> None:
    """Write `root/full_eval/aoa/{cdi_childes.json, child_aoa.tsv}` (`root`: the evaluation_data/ folder)."""
    words, aoa = toy_aoa_data(corpus_dir, seed)
    folder = root / FULL / "aoa"
    folder.mkdir(parents=True)
    (folder / WORDS_FILE).write_text(json.dumps(words, indent=2) + "\n", encoding="utf-8")
    with open(folder / CHILD_AOA_FILE, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, delimiter="\t", lineterminator="\n")
        writer.writerow(CHILD_AOA_COLUMNS)
        writer.writerows([word, f"{months:.2f}"] for word, months in sorted(aoa.items()))
