"""The toy world's simulated reading times: a known surprisal process, so that the reading-time
regression (`classit_ray/eval/reading.py`) can be checked against it.

A `BigramLM` is estimated from the corpus
files (`corpus_dir/*.train`; from grammar-generated text if `corpus_dir` is None): words are
lower-cased with surrounding punctuation stripped (`normalize`), speaker labels and `= = =`
headers dropped, `<s>` starts each line, and

    p(w | v) = (c(v, w) + 2 · p1(w)) / (c(v) + 2),   p1(w) = (c(w) + 1) / (N + V + 1)

(N tokens, V types). For each word w_i (i >= 2) of a grammar-generated story passage:

    surprisal       = -ln p(w_i | w_{i-1})            (nats, normalized words)
    Subtlex_log10   = log10(10^6 · (c(w_i) + 1) / N)  (frequency per million, same counts)
    length          = letters of normalize(w_i); prev_length likewise; context_length = i
    RT[col]         = base + a · surprisal + b · length − c · Subtlex_log10
                      + s · surprisal(w_{i-1} | w_{i-2}) + Normal(0, sd)

with (base, a, b, c, s, sd) per column in `RT_PROCESS` (s, spill-over, only for self-paced
reading, whose baseline includes the previous word's surprisal). Each column gets its own noise.
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

from classit_ray.toyworld.grammar import story_paragraph, wiki_article

# column: (base, a·surprisal, b·length, c·Subtlex_log10, s·previous surprisal, noise sd), in ms.
RT_PROCESS = {
    "RTfirstfix": (190.0, 6.0, 4.0, 8.0, 0.0, 25.0),
    "RTfirstpass": (200.0, 12.0, 10.0, 12.0, 0.0, 35.0),
    "RTgopast": (230.0, 20.0, 12.0, 15.0, 0.0, 50.0),
    "RTrightbound": (210.0, 15.0, 11.0, 12.0, 0.0, 40.0),
    "self_paced_reading_time": (320.0, 14.0, 6.0, 10.0, 8.0, 45.0),
}

_LABEL = re.compile(r"^(\*[A-Z]+|[A-Z]):\t")
BOS = "<s>"


def normalize(token: str) -> str:
    """A word as the reading-time process counts it: lower case, surrounding punctuation stripped."""
    return token.strip(".,!?;:\"'()[]").lower()


def corpus_words(line: str) -> list[str]:
    """The normalized words of one corpus line; `= = = Title = = =` headers give none."""
    if line.startswith("= = = "):
        return []
    return [w for w in (normalize(t) for t in _LABEL.sub("", line).split()) if w]


class BigramLM:
    """The reading-time process's word bigram model (see the module docstring for the formula)."""

    ALPHA = 2.0

    def __init__(self, lines: Iterable[str]):
        self.unigrams: Counter[str] = Counter()
        self.bigrams: Counter[tuple[str, str]] = Counter()
        self.contexts: Counter[str] = Counter()
        for line in lines:
            words = corpus_words(line)
            if words:
                self.unigrams.update(words)
                pairs = list(zip([BOS, *words[:-1]], words))
                self.bigrams.update(pairs)
                self.contexts.update(v for v, _ in pairs)
        self.tokens = sum(self.unigrams.values())
        if not self.tokens:
            raise ValueError("no words to estimate the bigram model from")

    def unigram(self, word: str) -> float:
        return (self.unigrams[word] + 1) / (self.tokens + len(self.unigrams) + 1)

    def surprisal(self, prev: str, word: str) -> float:
        """-ln p(word | prev), in nats, of normalized words."""
        p = (self.bigrams[prev, word] + self.ALPHA * self.unigram(word)) / (self.contexts[prev] + self.ALPHA)
        return -math.log(p)

    def log10_per_million(self, word: str) -> float:
        return math.log10(1e6 * (self.unigrams[word] + 1) / self.tokens)


def corpus_lines(corpus_dir: Path | None, seed: int) -> Iterator[str]:
    if corpus_dir is not None:
        files = sorted(Path(corpus_dir).glob("*.train"))
        if not files:
            raise FileNotFoundError(f"{corpus_dir}: no *.train files to estimate reading-time surprisal from")
        for path in files:
            with open(path, encoding="utf-8") as f:
                yield from f
        return
    rng = random.Random(f"toyeval:{seed}:reading:corpus")  # the stream toyeval used before the split
    for _ in range(400):  # ~30K words of stories and encyclopedia text
        yield story_paragraph(rng)
        yield from wiki_article(rng)[1]


def reading_rows(lm: BigramLM, rng: random.Random, n: int) -> list[dict]:
    """`n` reading-data rows: words (from the third on) of generated stories, RTs per `RT_PROCESS`."""
    rows: list[dict] = []
    while len(rows) < n:
        raw = story_paragraph(rng).split()
        words = [normalize(w) for w in raw]
        if not all(words):
            continue
        for i in range(2, len(raw)):
            surprisal = lm.surprisal(words[i - 1], words[i])
            previous = lm.surprisal(words[i - 2], words[i - 1])
            frequency = lm.log10_per_million(words[i])
            row = {
                "item": " ".join(raw[:i]),
                "word": raw[i],
                "prev_item": " ".join(raw[: i - 1]),
                "prev_word": raw[i - 1],
            }
            for column, (base, a, b, c, s, sd) in RT_PROCESS.items():
                rt = base + a * surprisal + b * len(words[i]) - c * frequency + s * previous + rng.gauss(0, sd)
                row[column] = f"{rt:.2f}"
            row.update(
                Subtlex_log10=f"{frequency:.4f}", length=len(words[i]), context_length=i, prev_length=len(words[i - 1])
            )
            rows.append(row)
    return rows[:n]
