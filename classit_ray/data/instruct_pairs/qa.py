"""The question-writing prompt, and the parser that turns a generation into checked Q&A pairs.

The prompt (`PROMPT_TEMPLATE`, versioned by `PROMPT_VERSION`) asks for `n` pairs about one
passage, each on two lines, `Q: ...` then `A: ...`. An instruct model's chat template wraps it
when the model has one (`generate.py`).

Parsing is strict, since what is kept is trained on. A pair is a `Q:` line (also `Question:`,
optionally numbered, `1. Q:`) followed by an `A:` line (lines after an answer that carry no
marker continue it). A candidate is dropped, and counted by reason, when:

- `unpaired`: a question with no answer (the generation was cut off, or wandered), or an answer
  with no question;
- `not_a_question`: the question does not end with "?";
- `too_short` / `too_long`: question or answer words outside `QARules`' limits;
- `not_text`: control or replacement characters, or mostly non-letters (a model's gibberish);
- `ungrounded`: fewer than `min_grounding` of the answer's content words occur in the passage
  (an answer from the model's own knowledge, not from the text the pair is about);
- `duplicate`: the same question again for the same passage.

A generation with no marker at all is dropped whole, as `no_pairs`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from classit_ray.data.instruct_pairs.output import PairCounts

PROMPT_VERSION = 1
PROMPT_TEMPLATE = (
    'Read this passage from the Simple English Wikipedia article "{title}".\n\n'
    "{passage}\n\n"
    "Write {n} questions that a curious child might ask about the passage, each with its answer. "
    "Every answer must come from the passage and be one or two short, complete sentences.\n"
    "Write each pair on two lines, exactly like this:\n"
    "Q: <question>\n"
    "A: <answer>"
)

_MARKER = re.compile(
    r"^\s*(?:\d+\s*[.)]\s*)?(?:\*\*)?(Q|A|Question|Answer)\s*\d*\s*(?:\*\*)?\s*[:.]\s*(?:\*\*)?\s*(.*)$", re.IGNORECASE
)
_WORD = re.compile(r"[a-z0-9]+")
_BAD_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\ufffd]")
# Function words do not show that an answer is about the passage; content words do.
_STOPWORDS = frozenset(
    "a an the and or but if of to in on at by for with from as is are was were be been being it its "
    "this that these those they them their there here he she him her his we you i not no yes do does "
    "did has have had can could will would may might so than then what which who whom when where why "
    "how also very much many some any all one two".split()
)


@dataclass(frozen=True)
class QARules:
    min_question_words: int = 3
    max_question_words: int = 40
    min_answer_words: int = 2
    max_answer_words: int = 80
    min_grounding: float = 0.3  # share of the answer's content words found in the passage

    def __post_init__(self):
        if not (
            1 <= self.min_question_words <= self.max_question_words
            and 1 <= self.min_answer_words <= self.max_answer_words
        ):
            raise ValueError(f"QARules: expected 1 <= min <= max word limits, got {self}")
        if not 0 <= self.min_grounding <= 1:
            raise ValueError(f"QARules: min_grounding must be in [0, 1], got {self.min_grounding}")


def qa_prompt(title: str, passage: str, n_pairs: int) -> str:
    return PROMPT_TEMPLATE.format(title=title or "untitled", passage=passage, n=n_pairs)


def content_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS]


def grounding(answer: str, passage_words: set[str]) -> float:
    """Share of the answer's content words that occur in the passage (1.0 for none to check)."""
    words = content_words(answer)
    return sum(w in passage_words for w in words) / len(words) if words else 1.0


def _is_text(s: str) -> bool:
    if _BAD_CHARS.search(s):
        return False
    visible = [c for c in s if not c.isspace()]
    return bool(visible) and sum(c.isalpha() for c in visible) / len(visible) >= 0.6


def split_markers(generation: str) -> list[tuple[str, str]]:
    """("Q" | "A", text) for each marked line, continuation lines joined to the answer before them."""
    items: list[tuple[str, str]] = []
    for line in generation.splitlines():
        match = _MARKER.match(line)
        if match:
            kind = match.group(1)[0].upper()
            items.append((kind, match.group(2).strip().strip("*").strip()))
        elif line.strip() and items and items[-1][0] == "A":
            items[-1] = ("A", f"{items[-1][1]} {line.strip()}")
    return items


def parse_pairs(generation: str, passage: str, rules: QARules, counts: PairCounts) -> list[tuple[str, str]]:
    """The checked (question, answer) pairs of one generation; every rejection counted in `counts`."""
    items = split_markers(generation)
    if not items:
        counts.drop("no_pairs")
        return []
    passage_words = set(content_words(passage))
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    i = 0
    while i < len(items):
        kind, text = items[i]
        if kind == "A" or i + 1 == len(items) or items[i + 1][0] != "A":
            counts.drop("unpaired")  # an answer without a question, or a question without an answer
            i += 1
            continue
        question, answer = text, items[i + 1][1]
        i += 2
        reason = _rejection(question, answer, passage_words, rules)
        key = " ".join(_WORD.findall(question.lower()))
        if reason is None and key in seen:
            reason = "duplicate"
        if reason:
            counts.drop(reason)
            continue
        seen.add(key)
        pairs.append((question, answer))
    return pairs


def _rejection(question: str, answer: str, passage_words: set[str], rules: QARules) -> str | None:
    if not (_is_text(question) and _is_text(answer)):
        return "not_text"
    if not question.endswith("?"):
        return "not_a_question"
    nq, na = len(question.split()), len(answer.split())
    if nq < rules.min_question_words or na < rules.min_answer_words:
        return "too_short"
    if nq > rules.max_question_words or na > rules.max_answer_words:
        return "too_long"
    if grounding(answer, passage_words) < rules.min_grounding:
        return "ungrounded"
    return None
