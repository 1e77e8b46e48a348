"""Split a word budget between pretraining text and instruction pairs, deterministically by seed.

instruction words = round(p · budget), pretraining words = the rest. Each split is drawn from its
sources in proportion to the words they hold (instruction configs may be weighted instead), in a
seeded random order of documents (pairs), taken until the next one would overshoot:

- pretraining: that next document is cut, inside a line, after the word that meets the quota
  (`corpus.cut_document`), so every source lands on its quota and the split on its target,
  exactly to the word, however long the source's lines are;
- instruction: a pair is never cut (half a reply is not an instruction pair), so a config stops
  at the pair that would overshoot and its shortfall passes to the next config; the split lands
  under its target by less than one pair. A config weighted 0 gets no pairs.

Before any draw, `budget.heldout_pairs` pairs of each instruction config are held out for the
interactive evaluation: the first ones of a fixed seeded order of that config's pairs, which
neither `budget.seed` nor the fraction moves, so every cell of a study is scored on the same pairs.
They, and every pair of identical text, are left out of the training draw (the rest of the order
is unchanged, so with no pairs held out the draw is the one it always was).

Sources that feed instruction pairs are held out of pretraining by default, so no word counts
twice. Nothing empty is written: a pretraining split of no words, or a weighted config that no
pair fits, is an error naming the folder, raised before the split is marked complete.

Output (one directory, written atomically): `pretrain.parquet` (source, doc, text, words),
`instruct/<config>.parquet` (prompt, reply, source, text, answer, words) for each config given
pairs, `heldout/<config>.parquet` (the same columns) for each config holding pairs out, the budget
table as `budget.md`, and `manifest.json` with the same table, the held-out counts, the targets
and the configs that made it. Held-out pairs are written even at fraction 0, so that the
pretrained baseline is scored on them too.

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
from classit_ray.data.class_it import instruct_data_named, read_pairs, read_provenance
from classit_ray.data.corpus import SourceStats, count_corpus, cut_document, find_corpus_dir, iter_documents

PRETRAIN_SCHEMA = pa.schema(
    [("source", pa.string()), ("doc", pa.int32()), ("text", pa.string()), ("words", pa.int32())]
)
_ROW_GROUP_DOCS = 2048
# The held-out pairs' own seed: fixed, so that no setting of a study moves them.
HELDOUT_SEED = 16


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


def write_pretrain_split(
    corpus: CorpusConfig, budget: BudgetConfig, stats: dict[str, SourceStats], target: int, path: Path
) -> dict[str, dict]:
    """Sample exactly `target` words from `stats`' sources and stream them to `path`; per-source rows."""
    corpus_dir = find_corpus_dir(corpus.data_dir)
    available = {s: st.usable_words for s, st in stats.items()}
    if target < 1:
        raise BudgetError(
            f"{corpus_dir}: the pretraining split would hold no words (target {target}); "
            "expected at least one: raise budget.total_words or lower budget.instruct_fraction"
        )
    if sum(available.values()) < target:
        detail = ", ".join(f"{s} {n:,}" for s, n in available.items())
        raise BudgetError(
            f"{corpus_dir}: budget asks for {target:,} pretraining words but the pretraining sources "
            f"hold only {sum(available.values()):,} ({detail}); lower budget.total_words or add sources"
        )
    # Quotas ∝ available words never exceed what a source holds, and each is met exactly.
    quotas = proportional_quotas(target, available)
    rows = {}
    with pq.ParquetWriter(path, PRETRAIN_SCHEMA) as writer:
        for source, st in stats.items():
            quota = quotas[source]
            doc_words = np.asarray(st.doc_words, dtype=np.int64)
            whole, partial, taken = take_in_order(
                doc_words, _source_rng(budget.seed, source).permutation(len(doc_words)), quota
            )
            keep = np.zeros(len(doc_words), dtype=bool)
            keep[whole] = True
            batch, docs, written = [], 0, 0
            for doc in iter_documents(st.path, source, corpus):
                if doc.index == partial:
                    doc = cut_document(doc, quota - taken)  # the words still owed: fewer than the document holds
                elif not keep[doc.index]:
                    continue
                if not doc.words:
                    continue
                batch.append((source, doc.index, "\n".join(doc.lines), sum(doc.words)))
                docs += 1
                written += sum(doc.words)
                if len(batch) >= _ROW_GROUP_DOCS:
                    writer.write_table(_pretrain_table(batch))
                    batch = []
            if batch:
                writer.write_table(_pretrain_table(batch))
            if written != quota:  # the two passes read different text
                raise BudgetError(
                    f"{st.path}: the split read {written:,} words of {source} where the count pass "
                    f"found {quota:,} to take; expected the file unchanged while the split is written"
                )
            rows[source] = {
                "words": written,
                "items": docs,
                "available": available[source],
                "raw_words": st.raw_words,
                "nul_bytes": st.nul_bytes,
            }
    return rows


def _pretrain_table(batch: list[tuple]) -> pa.Table:
    source, doc, text, words = zip(*batch)
    return pa.table([list(source), list(doc), list(text), list(words)], schema=PRETRAIN_SCHEMA)


def heldout_rows(frame: pd.DataFrame, n: int, config: str, where: str) -> tuple[np.ndarray, np.ndarray]:
    """(the rows of `frame` held out, in file order; a mask of the rows barred from training).

    The held-out rows are the first `n` of a fixed seeded order of the config's pairs: neither
    `budget.seed` nor the fraction moves them. Barred from training are those rows and every other
    pair of the same text, so that no held-out pair is trained on, not even as a duplicate.
    """
    if n > len(frame):
        raise BudgetError(
            f"{where}: budget.heldout_pairs {n:,} is more than the {len(frame):,} {config!r} pairs; "
            f"expected at most that many (lower budget.heldout_pairs)"
        )
    held = np.sort(
        np.random.default_rng([HELDOUT_SEED, list(INSTRUCT_SOURCES).index(config)]).permutation(len(frame))[:n]
    )
    barred = frame["text"].isin(set(frame["text"].iloc[held])).to_numpy()
    return held, barred


def sample_instruct_pairs(
    corpus: CorpusConfig, budget: BudgetConfig, target: int
) -> tuple[dict[str, pd.DataFrame], dict[str, int], dict[str, pd.DataFrame]]:
    """Seeded draw of whole pairs per instruction config, `target` words in all (less by under one pair).

    Returns the drawn pairs of each config given any (a config weighted 0 is left out), the words
    each config holds for training (held-out pairs and their duplicates excepted; {} when `target`
    is 0), and each config's held-out pairs (`heldout_rows`), read whenever pairs are held out and
    there is instruction data to hold them out of, whatever the fraction.
    """
    # At fraction 0 no instruction data is needed: a pretraining-only run without any holds nothing
    # out (its interactive task is then skipped) rather than failing on a folder it does not use.
    holding = (
        budget.heldout_pairs > 0
        and bool(corpus.instruct_dir)
        and (target > 0 or instruct_data_named(corpus.instruct_dir))
    )
    if target == 0 and not holding:
        return {}, {}, {}
    pairs = {c: read_pairs(corpus.instruct_dir, c) for c in budget.instruct_configs}
    heldout, trainable = {}, {}
    for config, frame in pairs.items():
        held, barred = heldout_rows(frame, budget.heldout_pairs if holding else 0, config, corpus.instruct_dir)
        if len(held):
            heldout[config] = frame.iloc[held].reset_index(drop=True)
        trainable[config] = ~barred
    if target == 0:
        return {}, {}, heldout
    available = {c: int(p["words"].to_numpy()[trainable[c]].sum()) for c, p in pairs.items()}
    weights = budget.instruct_weights or available
    quotas = proportional_quotas(target, {c: weights.get(c, 0.0) for c in pairs})
    sampled, carry = {}, 0
    for config, frame in pairs.items():
        if not weights.get(config, 0) > 0:
            continue  # weighted out: no pairs, and no shortfall passed to it
        quota = quotas[config] + carry
        if quota > available[config]:
            raise BudgetError(
                f"{corpus.instruct_dir}: instruct_fraction {budget.instruct_fraction} of {budget.total_words:,} words asks for "
                f"{quota:,} words of {config!r} pairs but they hold only {available[config]:,} "
                f"({int(trainable[config].sum()):,} pairs besides the held-out ones); "
                f"lower budget.instruct_fraction, budget.total_words or budget.heldout_pairs"
            )
        words = frame["words"].to_numpy(dtype=np.int64)
        order = _source_rng(budget.seed, config).permutation(len(words))
        order = order[trainable[config][order]]  # the seeded order without the held-out pairs
        whole, _, taken = take_in_order(words, order, quota)
        if not len(whole):
            raise BudgetError(
                f"{corpus.instruct_dir}: {config!r} gets {quota:,} instruction words but the first pair of its seeded order "
                f"has {int(words[order[0]]):,}, and pairs are not cut, so the split would hold no {config!r} pairs; "
                f"raise budget.instruct_fraction or budget.total_words, or weight {config!r} 0"
            )
        sampled[config] = frame.iloc[np.sort(whole)].reset_index(drop=True)
        carry = quota - taken
    return sampled, available, heldout


def budget_table(rows: dict[str, dict[str, dict]]) -> str:
    """Markdown table of words per source per split; `generated`: words a model wrote. NUL bytes
    stripped from a source file (`corpus.iter_lines`) are listed under the table."""
    lines = [
        "| split | source | words | docs/pairs | available | generated | share of split |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for split, per_source in rows.items():
        total = sum(r["words"] for r in per_source.values()) or 1
        for source, r in per_source.items():
            lines.append(
                f"| {split} | {source} | {r['words']:,} | {r['items']:,} | {r['available']:,} | {r.get('generated', 0):,} | "
                f"{100 * r['words'] / total:.1f}% |"
            )
        generated = sum(r.get("generated", 0) for r in per_source.values())
        lines.append(
            f"| **{split}** | all | **{sum(r['words'] for r in per_source.values()):,}** | | | {generated:,} | |"
        )
    nuls = {
        source: r["nul_bytes"] for per_source in rows.values() for source, r in per_source.items() if r.get("nul_bytes")
    }
    if nuls:
        lines.append("")
        lines.append("NUL bytes stripped from the source files: " + ", ".join(f"{s} {n:,}" for s, n in nuls.items()))
    return "\n".join(lines) + "\n"


def split_budget(corpus: CorpusConfig, budget: BudgetConfig, out_dir: str | Path) -> dict:
    """Write the budget split to `out_dir` (atomically) and return its manifest."""
    pretrain_target, instruct_target = split_targets(budget)
    # Read and check the (small) instruction data before the long corpus pass.
    instruct, instruct_available, heldout = sample_instruct_pairs(corpus, budget, instruct_target)
    stats = count_corpus(corpus, pretrain_sources(corpus, budget))
    manifest = {"kind": "budget_split", "corpus": asdict(corpus), "budget": asdict(budget)}
    with atomic_dir(out_dir, manifest) as tmp:
        rows = {"pretrain": write_pretrain_split(corpus, budget, stats, pretrain_target, tmp / "pretrain.parquet")}
        (tmp / "instruct").mkdir()
        rows["instruct"] = {}
        for config, available in instruct_available.items():
            frame = instruct.get(config)
            if frame is None:  # weighted out: a row of zeros in the table, no file
                rows["instruct"][config] = {"words": 0, "items": 0, "available": available, "generated": 0}
                continue
            frame.to_parquet(tmp / "instruct" / f"{config}.parquet", index=False)
            words = int(frame["words"].sum())
            generated = words if read_provenance(corpus.instruct_dir, config).get("generated") else 0
            rows["instruct"][config] = {
                "words": words,
                "items": len(frame),
                "available": available,
                "generated": generated,
            }
        (tmp / "heldout").mkdir()
        held_rows = {}
        for config, frame in heldout.items():
            frame.to_parquet(tmp / "heldout" / f"{config}.parquet", index=False)
            held_rows[config] = {
                "pairs": len(frame),
                "words": int(frame["words"].sum()),
                "answered": int((frame["answer"] != "").sum()),
            }
        manifest.update(
            heldout=held_rows,
            targets={"pretrain": pretrain_target, "instruct": instruct_target},
            words={split: sum(r["words"] for r in per.values()) for split, per in rows.items()},
            generated_words=sum(r.get("generated", 0) for r in rows["instruct"].values()),
            table=rows,
        )
        table = budget_table(rows)
        if held_rows:
            table += (
                "\nHeld out for the interactive evaluation (never trained on): "
                + ", ".join(
                    f"{c} {r['pairs']:,} pairs ({r['words']:,} words, {r['answered']:,} with a known answer)"
                    for c, r in held_rows.items()
                )
                + "\n"
            )
        atomic_write_text(tmp / "budget.md", table)
    return manifest
