"""Where built pairs go, and what is counted on the way.

One config's output is one folder in the CLASS_IT layout, so `corpus.instruct_dir=OUT` reads it
like the hub release:

    OUT/<config>/train-00000-of-00001.parquet   prompt, reply, source, text
    OUT/<config>/_manifest.json                 what made it (input file and sha256, rules, generator),
                                                and the counts: pairs, words, drops by reason
    OUT/<config>/_words.md                      the word count table

(The `_` keeps them out of `pd.read_parquet("OUT/<config>")` and every pyarrow dataset read,
which skip names starting with `_` or `.`.)

The folder is built under a hidden name and swapped in whole when finished (`atomic.replace_dir`):
a crash mid-build never leaves half a config, and a rebuild with other settings replaces the old
output only once the new one is complete. A folder that holds parquet this tool did not write (a
downloaded CLASS_IT release, say) is never overwritten.
"""

from __future__ import annotations

import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from classit_ray.atomic import atomic_write_json, atomic_write_text, read_json, replace_dir, tmp_sibling
from classit_ray.data import class_it

KIND = "instruct_pairs"
MANIFEST = "_manifest.json"
WORD_TABLE = "_words.md"
_ROW_GROUP_PAIRS = 20_000  # pairs per parquet row group: bounded memory however long the input


@dataclass
class PairCounts:
    """Pairs kept and their words; candidates dropped, by reason; other things counted on the way."""

    source: str
    pairs: int = 0
    prompt_words: int = 0
    reply_words: int = 0
    drops: Counter = field(default_factory=Counter)  # reason -> dropped candidate pairs (or generations)
    seen: Counter = field(default_factory=Counter)  # e.g. passages, generations, unlabelled_lines

    @property
    def words(self) -> int:
        return self.prompt_words + self.reply_words

    @property
    def dropped(self) -> int:
        return sum(self.drops.values())

    def keep(self, prompt: str, reply: str) -> None:
        self.pairs += 1
        self.prompt_words += len(prompt.split())
        self.reply_words += len(reply.split())

    def drop(self, reason: str, n: int = 1) -> None:
        self.drops[reason] += n

    def count(self, name: str, n: int = 1) -> None:
        self.seen[name] += n

    def add(self, other: PairCounts) -> None:
        self.pairs += other.pairs
        self.prompt_words += other.prompt_words
        self.reply_words += other.reply_words
        self.drops.update(other.drops)
        self.seen.update(other.seen)

    def to_dict(self) -> dict:
        return {
            "pairs": self.pairs,
            "prompt_words": self.prompt_words,
            "reply_words": self.reply_words,
            "words": self.words,
            "dropped": self.dropped,
            "drops": dict(sorted(self.drops.items())),
            "seen": dict(sorted(self.seen.items())),
        }

    def summary(self) -> str:
        """One line: what a researcher reads at the end of a run."""
        drops = ", ".join(f"{k} {v:,}" for k, v in sorted(self.drops.items())) or "none"
        seen = "".join(f", {k} {v:,}" for k, v in sorted(self.seen.items()))
        return f"{self.source}: {self.pairs:,} pairs, {self.words:,} words{seen}; dropped {self.dropped:,} ({drops})"


def word_table(counts: PairCounts, generated: bool) -> str:
    """Markdown: the words a config adds to the instruction budget, and what was dropped."""
    c = counts
    lines = [
        "| config | pairs | prompt words | reply words | words | generated words | dropped |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| {c.source} | {c.pairs:,} | {c.prompt_words:,} | {c.reply_words:,} | {c.words:,} | "
        f"{c.words if generated else 0:,} | {c.dropped:,} |",
    ]
    if c.drops:
        lines += [
            "",
            "| dropped because | count |",
            "|---|---:|",
            *(f"| {k} | {v:,} |" for k, v in sorted(c.drops.items())),
        ]
    if c.seen:
        lines += ["", "| counted | count |", "|---|---:|", *(f"| {k} | {v:,} |" for k, v in sorted(c.seen.items()))]
    return "\n".join(lines) + "\n"


def check_writable(out_dir: str | Path, source: str) -> Path:
    """`OUT/<source>`, after checking that it is absent or a previous output of this tool."""
    final = Path(out_dir).expanduser() / source
    if final.exists():
        manifest = final / MANIFEST
        if not (manifest.is_file() and read_json(manifest).get("kind") == KIND):
            raise FileExistsError(
                f"{final}: already holds data this tool did not write (no {MANIFEST} of kind {KIND!r}); "
                "choose another --out so that it is not overwritten"
            )
    return final


class PairWriter:
    """Stream pairs into `OUT/<source>/` in the CLASS_IT layout; it appears whole or not at all.

    with PairWriter(out, "switchboard") as w:
        w.add(prompt, reply) ...
        w.finish(provenance, counts)      # without finish(), nothing appears
    """

    def __init__(self, out_dir: str | Path, source: str):
        self.source = source
        self.final = check_writable(out_dir, source)
        self.tmp: Path | None = None
        self._writer: pq.ParquetWriter | None = None
        self._prompts: list[str] = []
        self._replies: list[str] = []

    def __enter__(self) -> PairWriter:
        self.final.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = tmp_sibling(self.final)
        self.tmp.mkdir()
        self._writer = pq.ParquetWriter(self.tmp / class_it.PARQUET_NAME, class_it.SCHEMA)
        return self

    def add(self, prompt: str, reply: str) -> None:
        self._prompts.append(prompt)
        self._replies.append(reply)
        if len(self._prompts) >= _ROW_GROUP_PAIRS:
            self._flush()

    def _flush(self) -> None:
        if self._prompts:
            self._writer.write_table(class_it.pair_table(self._prompts, self._replies, self.source))
            self._prompts, self._replies = [], []

    def finish(self, provenance: dict, counts: PairCounts) -> Path:
        """Close the parquet, write the manifest and word table, and swap the folder into place."""
        self._flush()
        self._writer.close()
        self._writer = None
        generated = bool(provenance.get("generated"))
        manifest = {
            "kind": KIND,
            "config": self.source,
            **provenance,
            "counts": counts.to_dict(),
            "generated_words": counts.words if generated else 0,
        }
        atomic_write_text(self.tmp / WORD_TABLE, word_table(counts, generated))
        atomic_write_json(self.tmp / MANIFEST, manifest)
        replace_dir(self.tmp, self.final)
        self.tmp = None
        return self.final

    def __exit__(self, *exc) -> None:
        if self._writer is not None:
            self._writer.close()
        if self.tmp is not None:  # not finished: leave nothing behind
            shutil.rmtree(self.tmp, ignore_errors=True)
