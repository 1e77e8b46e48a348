"""Read a BabyLM text folder: find the six source files, clean them, cut them into documents,
and count words exactly — streaming, so memory does not grow with file size.

A *word* is a whitespace-separated token of the raw line, as the BabyLM budget is counted. A line
is *charged* its raw word count (speaker labels included) even when cleaning removes the label,
so a sampled split never uses more of the budget than it reports. Header lines
(`= = = Title = = =`) are not text: they are dropped, not charged, and start a new document.

Bytes that are not text are settled when a line is read, before anything is counted: a UTF-8
byte-order mark opening the file is dropped (the first header is then a header), CRLF endings
read as LF, and NUL bytes are stripped and counted (`SourceStats.nul_bytes`, shown in the budget
table). Stripping, not refusing: see `iter_lines` for why.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

from classit_ray.config import BABYLM_SOURCES, CorpusConfig

SOURCE_SUFFIXES = (".train", ".txt")
# Release folder names, in order of preference when a parent folder holds several.
RELEASE_DIRS = ("train_100M", "babylm_100M", "train_10M", "babylm_10M")

HEADER_RE = re.compile(r"^= = = .* = = =$")
# Speaker labels by source, each one whitespace token followed by a tab. CHILDES uses CHAT
# speaker codes of any length: `*MOT:\t`, `*CHI:\t`, `*INV:\t`, `*A:\t`, `*R:\t`, `*CH1:\t`.
# Uppercase letters and digits, a colon and a tab, exactly as CHAT writes them, so that text
# which merely starts with `*` (`*sigh*`, `*Note: ...`, `** A: b`) is left alone.
# Switchboard: `A:\t` / `B:\t`.
SPEAKER_RE = {
    "childes": re.compile(r"^\*[A-Z0-9]+:\t"),
    "switchboard": re.compile(r"^[AB]:\t"),
}
_WORD_RE = re.compile(r"\S+")  # `\s` is `str.isspace`, so these are exactly the words of `str.split()`


class CorpusError(ValueError):
    """A corpus file or folder is not what a BabyLM release looks like; the message names it."""


@dataclass
class Document:
    source: str
    index: int  # position among the source's documents, stable across passes
    lines: list[str]  # cleaned lines
    words: list[int]  # raw words charged per line


@dataclass
class SourceStats:
    """One pass over a source: exact counts and each document's charged words (for sampling)."""

    path: Path
    raw_words: int = 0  # every whitespace token of the file (NULs stripped), headers included
    lines: int = 0
    headers: int = 0
    nul_bytes: int = 0  # NUL bytes stripped from the file's text (see `iter_lines`)
    doc_words: list[int] = field(default_factory=list)

    @property
    def usable_words(self) -> int:
        return sum(self.doc_words)


def find_corpus_dir(data_dir: str | Path) -> Path:
    """The folder holding the source files: `data_dir` itself, or its one BabyLM release folder."""
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise CorpusError(f"{root}: corpus folder not found; expected a BabyLM folder such as train_100M/")
    if _source_paths(root):
        return root
    releases = [root / name for name in RELEASE_DIRS if _source_paths(root / name)]
    others = sorted(p for p in root.iterdir() if p.is_dir() and p not in releases and _source_paths(p))
    found = releases + others
    if not found:
        raise CorpusError(
            f"{root}: no BabyLM source files; expected <source>.train or <source>.txt for "
            f"{', '.join(BABYLM_SOURCES)} here or in one of {', '.join(RELEASE_DIRS)}/"
        )
    if len(found) > 1 and not releases:
        raise CorpusError(f"{root}: several corpus folders ({', '.join(p.name for p in found)}); point data_dir at one")
    return found[0]


def _source_paths(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        return {}
    paths = {}
    for source in BABYLM_SOURCES:
        for suffix in SOURCE_SUFFIXES:
            if (folder / f"{source}{suffix}").is_file():
                paths[source] = folder / f"{source}{suffix}"
                break
    return paths


def source_files(corpus_dir: Path, sources: list[str]) -> dict[str, Path]:
    """The file of each requested source; a missing one is an error naming the folder."""
    paths = _source_paths(corpus_dir)
    missing = [s for s in sources if s not in paths]
    if missing:
        raise CorpusError(f"{corpus_dir}: missing source file(s) {', '.join(f'{s}.train' for s in missing)}")
    return {s: paths[s] for s in sources}


def iter_lines(path: Path, stats: SourceStats | None = None) -> Iterator[tuple[int, str]]:
    """(line number, text) for each line, decoded strictly so a bad byte names its line.

    A byte-order mark opening the file is dropped (as the evaluation readers do) and a CRLF
    ending reads as LF. NUL bytes are stripped and counted in `stats.nul_bytes`, not refused.
    Why: a NUL is never text (no researcher wants one learned as a token), and a stray NUL in
    a file of the official release is not the user's to fix, since editing the release would
    leave their word counts unlike everybody else's. So the release is read as published,
    minus what cannot be text, and the count is reported in the budget table, where a damaged
    file (a zero-filled tail, a UTF-16 export) stands out as thousands of them.
    """
    empty = True
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")
            except UnicodeDecodeError as e:
                raise CorpusError(
                    f"{path}:{lineno}: not UTF-8 ({e.reason} at byte {e.start}); BabyLM files are UTF-8 text"
                ) from None
            if "\0" in line:
                if stats is not None:
                    stats.nul_bytes += line.count("\0")
                line = line.replace("\0", "")
            if empty and line.strip():
                empty = False
            yield lineno, line.rstrip("\r\n")
    if empty:
        raise CorpusError(f"{path}: empty file; expected lines of BabyLM text")


def iter_documents(path: Path, source: str, cfg: CorpusConfig, stats: SourceStats | None = None) -> Iterator[Document]:
    """Cleaned documents of one source file; if `stats` is given, it is filled on the way.

    A header starts a new document; header-less text is cut every `cfg.max_doc_lines` lines so
    that budget sampling has document granularity in every source. The document order and
    indices are a pure function of the file and `cfg`, so two passes agree.
    """
    speaker = None if cfg.keep_speaker_labels else SPEAKER_RE.get(source)
    index, lines, words = 0, [], []
    for _, line in iter_lines(path, stats):
        n = len(line.split())
        if stats is not None:
            stats.raw_words += n
            stats.lines += 1
        if HEADER_RE.match(line):
            if stats is not None:
                stats.headers += 1
            if lines:
                yield Document(source, index, lines, words)
                index, lines, words = index + 1, [], []
            continue
        if n == 0:
            continue
        lines.append(speaker.sub("", line) if speaker else line)
        words.append(n)
        if len(lines) >= cfg.max_doc_lines:
            yield Document(source, index, lines, words)
            index, lines, words = index + 1, [], []
    if lines:
        yield Document(source, index, lines, words)


def first_words(text: str, n: int) -> str:
    """`text` up to the end of its `n`-th word, whitespace inside kept as it was ("" for n <= 0)."""
    if n <= 0:
        return ""
    match = next(islice(_WORD_RE.finditer(text), n - 1, None), None)
    return text[: match.end()] if match else text


def cut_document(doc: Document, words: int) -> Document:
    """The first `words` charged words of `doc`: whole lines, then the next line cut after a word.

    What a cut line keeps is what its charge pays for, in the raw line's order: a speaker label
    removed by cleaning was the raw line's first word, so it is paid for first.
    """
    lines, charged, left = [], [], words
    for line, n in zip(doc.lines, doc.words):
        if left <= 0:
            break
        if n <= left:
            lines.append(line)
            charged.append(n)
        else:
            removed = n - len(line.split())  # label words cleaning took from the line's start
            lines.append(first_words(line, left - removed))
            charged.append(left)
        left -= charged[-1]
    return Document(doc.source, doc.index, lines, charged)


def count_source(path: Path, source: str, cfg: CorpusConfig) -> SourceStats:
    """One streaming pass: raw word count of the whole file, and charged words per document."""
    stats = SourceStats(path)
    stats.doc_words = [sum(doc.words) for doc in iter_documents(path, source, cfg, stats)]
    return stats


def count_corpus(cfg: CorpusConfig, sources: list[str] | None = None) -> dict[str, SourceStats]:
    """Exact counts for each configured source of the corpus folder."""
    corpus_dir = find_corpus_dir(cfg.data_dir)
    files = source_files(corpus_dir, sources if sources is not None else cfg.sources)
    return {source: count_source(path, source, cfg) for source, path in files.items()}
