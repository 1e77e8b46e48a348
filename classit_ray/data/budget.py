"""Split a word budget between pretraining text and instruction pairs, deterministically by seed.

instruction words = round(p · budget), pretraining words = the rest. Each split is drawn from its
sources in proportion to the words they hold (instruction configs may be weighted instead):
documents (or pairs) are taken in a seeded random order until the next one would overshoot, then
the overshooting document is cut line by line. A source's shortfall carries to the next source,
so each split lands within one line (one pair) of its target. Sources that feed instruction
pairs are held out of pretraining by default, so no word counts twice.

Output (one directory, written atomically): `pretrain.parquet` (source, doc, text, words),
`instruct/<config>.parquet` (prompt, reply, source, text, words), the budget table as
`budget.md`, and `manifest.json` with the same table, the targets and the configs that made it.

Words a model wrote (Q&A pairs from `instruct_pairs/`, whose manifest says `"generated": true`)
count toward the instruction budget like any other, as BabyLM's rules require; the table shows
them in their own column so that a study reports how much of its budget was generated.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from classit_ray.atomic import atomic_dir, atomic_write_text
from classit_ray.config import BABYLM_SOURCES, INSTRUCT_SOURCES, BudgetConfig, CorpusConfig
from classit_ray.data.class_it import read_pairs, read_provenance
from classit_ray.data.corpus import SourceStats, count_corpus, find_corpus_dir, iter_documents

PRETRAIN_SCHEMA = pa.schema([("source", pa.string()), ("doc", pa.int32()), ("text", pa.string()), ("words", pa.int32())])
_ROW_GROUP_DOCS = 2048


class BudgetError(ValueError):
    """The budget cannot be met by the data; the message names the folder and the numbers."""


def pretrain_sources(corpus: CorpusConfig, budget: BudgetConfig) -> list[str]:
    """Corpus sources left for pretraining once instruction sources are held out."""
    # Held out whatever the fraction, so the pretraining mix stays the same along the p axis.
    held_out = {INSTRUCT_SOURCES[c] for c in budget.instruct_configs} if budget.holdout_instruct_sources else set()
    return [s for s in corpus.sources if s not in held_out]


def split_targets(budget: BudgetConfig) -> tuple[int, int]:
    """(pretraining words, instruction words) for the configured total and fraction."""
    instruct = round(budget.total_words * budget.instruct_fraction)
    return budget.total_words - instruct, instruct


def proportional_quotas(total: int, weights: dict[str, float]) -> dict[str, int]:
    """Integer quotas ∝ weights that sum exactly to `total` (largest remainder)."""
    norm = sum(weights.values())
    exact = {k: total * w / norm for k, w in weights.items()}
    quotas = {k: math.floor(v) for k, v in exact.items()}
    for k in sorted(exact, key=lambda k: quotas[k] - exact[k])[: total - sum(quotas.values())]:
        quotas[k] += 1
    return quotas


def take_in_order(words: np.ndarray, order: np.ndarray, quota: int) -> tuple[np.ndarray, int | None, int]:
    """Walk `order` taking items while they fit in `quota`.

    Returns (indices taken whole, the first index that did not fit or None, words taken). Items
    that do not fit are not skipped over: stopping at the first one keeps the draw a prefix of
    the seeded order, which is what makes a larger budget a superset of a smaller one.
    """
    cumulative = np.cumsum(words[order])
    n_whole = int(np.searchsorted(cumulative, quota, side="right"))
    taken = int(cumulative[n_whole - 1]) if n_whole else 0
    overflow = int(order[n_whole]) if n_whole < len(order) else None
    return order[:n_whole], overflow, taken


def _source_rng(seed: int, source: str) -> np.random.Generator:
    # Seeded per source by its fixed position, so adding a source never reshuffles another.
    return np.random.default_rng([seed, BABYLM_SOURCES.index(source) if source in BABYLM_SOURCES else 99])


def write_pretrain_split(corpus: CorpusConfig, budget: BudgetConfig, stats: dict[str, SourceStats], target: int, path: Path) -> dict[str, dict]:
    """Sample `target` words from `stats`' sources and stream them to `path`; per-source rows."""
    available = {s: st.usable_words for s, st in stats.items()}
    if sum(available.values()) < target:
        detail = ", ".join(f"{s} {n:,}" for s, n in available.items())
        raise BudgetError(
            f"{find_corpus_dir(corpus.data_dir)}: budget asks for {target:,} pretraining words but the pretraining sources "
            f"hold only {sum(available.values()):,} ({detail}); lower budget.total_words or add sources"
        )
    quotas = proportional_quotas(target, available) if target else {s: 0 for s in stats}
    rows, carry = {}, 0
    with pq.ParquetWriter(path, PRETRAIN_SCHEMA) as writer:
        for source, st in stats.items():
            quota = min(quotas[source] + carry, available[source])
            doc_words = np.asarray(st.doc_words, dtype=np.int64)
            whole, partial, taken = take_in_order(doc_words, _source_rng(budget.seed, source).permutation(len(doc_words)), quota)
            keep = np.zeros(len(doc_words), dtype=bool)
            keep[whole] = True
            batch, docs = [], 0
            for doc in iter_documents(st.path, source, corpus):
                if doc.index == partial:
                    # Cut the overshooting document line by line: the shortfall is < one line.
                    n_lines = int(np.searchsorted(np.cumsum(doc.words), quota - taken, side="right"))
                    doc.lines, doc.words = doc.lines[:n_lines], doc.words[:n_lines]
                    taken += sum(doc.words)
                elif not keep[doc.index]:
                    continue
                if not doc.lines:
                    continue
                batch.append((source, doc.index, "\n".join(doc.lines), sum(doc.words)))
                docs += 1
                if len(batch) >= _ROW_GROUP_DOCS:
                    writer.write_table(_pretrain_table(batch))
                    batch = []
            if batch:
                writer.write_table(_pretrain_table(batch))
            carry = quota - taken
            rows[source] = {"words": taken, "items": docs, "available": available[source], "raw_words": st.raw_words}
    return rows


def _pretrain_table(batch: list[tuple]) -> pa.Table:
    source, doc, text, words = zip(*batch)
    return pa.table([list(source), list(doc), list(text), list(words)], schema=PRETRAIN_SCHEMA)


def sample_instruct_pairs(corpus: CorpusConfig, budget: BudgetConfig, target: int) -> tuple[dict[str, pd.DataFrame], dict[str, int]]:
    """Seeded draw of pairs per instruction config, `target` words in all (within one pair).

    Returns the drawn pairs and the words each config holds in all.
    """
    if target == 0:
        return {}, {}
    pairs = {c: read_pairs(corpus.instruct_dir, c) for c in budget.instruct_configs}
    available = {c: int(p["words"].sum()) for c, p in pairs.items()}
    weights = budget.instruct_weights or available
    quotas = proportional_quotas(target, {c: weights.get(c, 0.0) for c in pairs})
    sampled, carry = {}, 0
    for config, frame in pairs.items():
        quota = quotas[config] + carry
        if quota > available[config]:
            raise BudgetError(
                f"{corpus.instruct_dir}: instruct_fraction {budget.instruct_fraction} of {budget.total_words:,} words asks for "
                f"{quota:,} words of {config!r} pairs but they hold only {available[config]:,} ({len(frame):,} pairs); "
                f"lower budget.instruct_fraction or budget.total_words"
            )
        words = frame["words"].to_numpy(dtype=np.int64)
        whole, _, taken = take_in_order(words, _source_rng(budget.seed, config).permutation(len(words)), quota)
        sampled[config] = frame.iloc[np.sort(whole)].reset_index(drop=True)
        carry = quota - taken
    return sampled, available


def budget_table(rows: dict[str, dict[str, dict]]) -> str:
    """Markdown table of words per source per split; `generated`: words a model wrote."""
    lines = ["| split | source | words | docs/pairs | available | generated | share of split |", "|---|---|---:|---:|---:|---:|---:|"]
    for split, per_source in rows.items():
        total = sum(r["words"] for r in per_source.values()) or 1
        for source, r in per_source.items():
            lines.append(f"| {split} | {source} | {r['words']:,} | {r['items']:,} | {r['available']:,} | {r.get('generated', 0):,} | "
                         f"{100 * r['words'] / total:.1f}% |")
        generated = sum(r.get("generated", 0) for r in per_source.values())
        lines.append(f"| **{split}** | all | **{sum(r['words'] for r in per_source.values()):,}** | | | {generated:,} | |")
    return "\n".join(lines) + "\n"


def split_budget(corpus: CorpusConfig, budget: BudgetConfig, out_dir: str | Path) -> dict:
    """Write the budget split to `out_dir` (atomically) and return its manifest."""
    pretrain_target, instruct_target = split_targets(budget)
    # Read and check the (small) instruction data before the long corpus pass.
    instruct, instruct_available = sample_instruct_pairs(corpus, budget, instruct_target)
    stats = count_corpus(corpus, pretrain_sources(corpus, budget))
    manifest = {"kind": "budget_split", "corpus": asdict(corpus), "budget": asdict(budget)}
    with atomic_dir(out_dir, manifest) as tmp:
        rows = {"pretrain": write_pretrain_split(corpus, budget, stats, pretrain_target, tmp / "pretrain.parquet")}
        (tmp / "instruct").mkdir()
        rows["instruct"] = {}
        for config, frame in instruct.items():
            frame.to_parquet(tmp / "instruct" / f"{config}.parquet", index=False)
            words = int(frame["words"].sum())
            generated = words if read_provenance(corpus.instruct_dir, config).get("generated") else 0
            rows["instruct"][config] = {"words": words, "items": len(frame), "available": instruct_available[config], "generated": generated}
        manifest.update(
            targets={"pretrain": pretrain_target, "instruct": instruct_target},
            words={split: sum(r["words"] for r in per.values()) for split, per in rows.items()},
            generated_words=sum(r.get("generated", 0) for r in rows["instruct"].values()),
            table=rows,
            max_line_words=max((st.max_line_words for st in stats.values()), default=0),
        )
        atomic_write_text(tmp / "budget.md", budget_table(rows))
    return manifest
