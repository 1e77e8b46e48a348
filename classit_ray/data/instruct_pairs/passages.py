"""Simple Wikipedia articles cut into passages, the unit a generator writes Q&A pairs about.

`simple_wiki.train` is articles, each opened by a `= = = Title = = =` header line and made of
paragraph lines. An article's paragraphs are packed, in order, into passages of at most
`max_words` words; a paragraph longer than that is cut at word boundaries (a sentence end when
there is one in the second half of the window). A passage under `min_words` — a stub article, or
the tail of one — is too thin to ask about and is skipped (counted as `passages_too_short`).

The passages are written once to `passages.parquet` (passage, article, chunk, title, text, words),
which is what generation reads and what a resumed run checks it is continuing: `passage` is the
row number, a pure function of the input file and the rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from classit_ray.atomic import tmp_sibling
from classit_ray.data.corpus import HEADER_RE, iter_lines
from classit_ray.data.instruct_pairs.output import PairCounts

PASSAGE_SCHEMA = pa.schema(
    [
        ("passage", pa.int64()),
        ("article", pa.int64()),
        ("chunk", pa.int32()),
        ("title", pa.string()),
        ("text", pa.string()),
        ("words", pa.int32()),
    ]
)
# Passages per parquet row group, and so per Ray Data block: small enough that a few replicas
# all get work on a small file, large enough that a 100M-word corpus is not ten thousand blocks.
ROW_GROUP_PASSAGES = 64
_SENTENCE_END = re.compile(r"[.!?][\"')\]]?$")


@dataclass(frozen=True)
class PassageRules:
    max_words: int = 200  # a passage and the prompt around it fit a 1K-token context with room for answers
    min_words: int = 30  # fewer: stub articles and tails, too thin for three questions

    def __post_init__(self):
        if self.min_words < 1 or self.max_words < self.min_words:
            raise ValueError(
                f"PassageRules: expected 1 <= min_words <= max_words, got min_words={self.min_words}, max_words={self.max_words}"
            )


def iter_articles(path: Path) -> Iterator[tuple[str, list[str]]]:
    """(title, paragraphs) per article; text before the first header is an untitled article."""
    title, paragraphs = "", []
    for _, line in iter_lines(path):
        if HEADER_RE.match(line):
            if paragraphs:
                yield title, paragraphs
            title, paragraphs = line.strip("= ").strip(), []
        elif line.strip():
            paragraphs.append(line.strip())
    if paragraphs:
        yield title, paragraphs


def _cut_long(words: list[str], max_words: int) -> Iterator[list[str]]:
    """A paragraph of more than `max_words` words in pieces, preferring to cut after a sentence."""
    while len(words) > max_words:
        cut = max_words
        for i in range(max_words, max_words // 2, -1):
            if _SENTENCE_END.search(words[i - 1]):
                cut = i
                break
        yield words[:cut]
        words = words[cut:]
    if words:
        yield words


def chunk_article(paragraphs: list[str], rules: PassageRules) -> Iterator[str]:
    """An article's passages: whole paragraphs packed up to `max_words`, long ones cut."""
    current: list[str] = []
    n = 0
    for paragraph in paragraphs:
        for piece in _cut_long(paragraph.split(), rules.max_words):
            if current and n + len(piece) > rules.max_words:
                yield "\n".join(current)
                current, n = [], 0
            current.append(" ".join(piece))
            n += len(piece)
    if current:
        yield "\n".join(current)


def iter_passages(path: Path, rules: PassageRules, counts: PairCounts) -> Iterator[tuple[int, int, str, str, int]]:
    """(article, chunk, title, text, words) for each passage long enough to keep."""
    for article, (title, paragraphs) in enumerate(iter_articles(path)):
        counts.count("articles")
        for chunk, text in enumerate(chunk_article(paragraphs, rules)):
            words = len(text.split())
            if words < rules.min_words:
                counts.count("passages_too_short")
                continue
            yield article, chunk, title, text, words


def write_passages(path: str | Path, out_file: Path, rules: PassageRules) -> PairCounts:
    """Stream the passages of `path` to `out_file` (parquet, written atomically); return the counts."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: Simple Wikipedia file not found; expected simple_wiki.train from a BabyLM release"
        )
    counts = PairCounts("simple_wiki")
    out_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_sibling(out_file)
    rows: list[tuple] = []
    n = 0
    try:
        with pq.ParquetWriter(tmp, PASSAGE_SCHEMA) as writer:
            for passage in iter_passages(path, rules, counts):
                rows.append((n, *passage))
                n += 1
                if len(rows) == ROW_GROUP_PASSAGES:
                    writer.write_table(_passage_table(rows))
                    rows = []
            if rows:
                writer.write_table(_passage_table(rows))
        if n == 0:
            raise ValueError(
                f"{path}: no passage of at least {rules.min_words} words ({counts.seen['articles']:,} articles); "
                "expected Simple Wikipedia text with `= = = Title = = =` headers"
            )
        tmp.rename(out_file)
    finally:
        tmp.unlink(missing_ok=True)
    counts.count("passages", n)
    return counts


def _passage_table(rows: list[tuple]) -> pa.Table:
    return pa.Table.from_arrays(
        [pa.array(col, t) for col, t in zip(zip(*rows), PASSAGE_SCHEMA.types)], schema=PASSAGE_SCHEMA
    )
