"""Benchmark: tokenize-and-pack-and-write throughput of the shard pipeline, in one run against
(a) the limit — the same tokenizer's bare `encode_batch` over the same text, writing nothing — and
(b) the obvious baseline — `datasets.map` with the same tokenizer, then Python packing and a
parquet write.

    python bench/tokenize_pack.py [--words 10000000] [--out bench/out]

The baseline needs `datasets`, from the project's `bench` extra (`pip install -e '.[bench]'`).

Prints a markdown block for a new dated file under bench/results/. Targets: >= 0.8x the limit,
>= 1.5x the baseline, 100M words in under 10 minutes (extrapolated linearly from the measured words/s).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import time
from pathlib import Path

import pyarrow.parquet as pq

from classit_ray.config import BudgetConfig, CorpusConfig
from classit_ray.data.budget import split_budget
from classit_ray.data.tokenizer import BOS, EOS, load_tokenizer, train_tokenizer
from classit_ray.runtime import init_ray, physical_cores
from classit_ray.toyworld.world import write_toy_world

SEQ_LEN = 512


def prepare_inputs(out: Path, words: int) -> tuple[Path, Path]:
    """A toy corpus with >= `words` pretraining words, its split (all of it) and a tokenizer."""
    # Pretraining sources hold ~84% of the toy corpus; no instruction data here.
    toy = write_toy_world(out / "toyworld", words=int(words / 0.80), seed=0)
    corpus = CorpusConfig(data_dir=str(toy["corpus_dir"]))
    budget = BudgetConfig(total_words=words, instruct_fraction=0.0)
    split_dir, tok_dir = out / "split", out / "tokenizer"
    if not split_dir.exists():
        split_budget(corpus, budget, split_dir)
    if not tok_dir.exists():
        train_tokenizer(split_dir, 8192, tok_dir, max_train_words=2_000_000)
    return split_dir, tok_dir


def bare_encode(texts: list[str], tok_dir: Path) -> float:
    """The limit: encode_batch over the same documents, in memory, nothing written."""
    tok = load_tokenizer(tok_dir)
    t0 = time.perf_counter()
    for i in range(0, len(texts), 2048):
        tok.encode_batch_fast(texts[i : i + 2048], add_special_tokens=False)
    return time.perf_counter() - t0


def ours(split_dir: Path, tok_dir: Path, out_dir: Path) -> tuple[float, dict]:
    from classit_ray.data.shards import build_pretrain_shards

    shutil.rmtree(out_dir, ignore_errors=True)
    t0 = time.perf_counter()
    manifest = build_pretrain_shards(split_dir, tok_dir, out_dir, SEQ_LEN)
    return time.perf_counter() - t0, manifest


def baseline(split_dir: Path, tok_dir: Path, out_dir: Path) -> float:
    """`datasets.map` (batched, HF fast tokenizer) + Python packing + one parquet write."""
    import datasets
    import pyarrow as pa
    from transformers import AutoTokenizer

    datasets.disable_progress_bars()
    hf = AutoTokenizer.from_pretrained(str(tok_dir))
    bos, eos = hf.convert_tokens_to_ids(BOS), hf.convert_tokens_to_ids(EOS)
    t0 = time.perf_counter()
    ds = datasets.Dataset.from_parquet(str(split_dir / "pretrain.parquet"), keep_in_memory=True)
    ds = ds.map(
        lambda b: {"ids": hf(b["text"], add_special_tokens=False)["input_ids"]},
        batched=True,
        remove_columns=ds.column_names,
        keep_in_memory=True,
    )
    stream: list[int] = []
    for ids in ds["ids"]:
        stream.extend([bos, *ids, eos])
    n = len(stream) // SEQ_LEN
    rows = [stream[i * SEQ_LEN : (i + 1) * SEQ_LEN] for i in range(n)]
    out_dir.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({"input_ids": pa.array(rows, type=pa.list_(pa.int32()))}), out_dir / "part-00000.parquet")
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--words", type=int, default=10_000_000)
    parser.add_argument("--out", default="bench/out/tokenize_pack")
    args = parser.parse_args()
    out = Path(args.out)
    split_dir, tok_dir = prepare_inputs(out, args.words)
    texts = pq.read_table(split_dir / "pretrain.parquet", columns=["text"]).column("text").to_pylist()
    words = sum(len(t.split()) for t in texts)
    mb = sum(len(t.encode()) for t in texts) / 1e6

    init_ray()
    # Cold: the first dataset after ray.init pays for starting worker processes. Warm: the same
    # build again, as every data stage after the first one in a running study sees it.
    t_cold, manifest = ours(split_dir, tok_dir, out / "shards_ours")
    t_ours, _ = ours(split_dir, tok_dir, out / "shards_ours")
    t_limit = bare_encode(texts, tok_dir)
    t_base = baseline(split_dir, tok_dir, out / "shards_baseline")

    rate = lambda t: words / t
    print(
        f"\n## Tokenize-and-pack ({time.strftime('%Y-%m-%d')}, {platform.processor() or platform.machine()}, {physical_cores()} cores, {os.cpu_count()} logical)"
    )
    print(f"{words:,} words ({mb:.1f} MB), {manifest['tokens']:,} tokens, seq_len {SEQ_LEN}, vocab 8192\n")
    print("| pipeline | seconds | words/s | MB/s | vs limit | vs baseline |")
    print("|---|---:|---:|---:|---:|---:|")
    rows = [
        ("limit: bare encode_batch, no write", t_limit),
        ("ours, warm Ray: Ray Data actor + packer + parquet", t_ours),
        ("ours, cold (first dataset after ray.init)", t_cold),
        ("baseline: datasets.map + Python pack + parquet", t_base),
    ]
    for name, t in rows:
        print(f"| {name} | {t:.1f} | {rate(t):,.0f} | {mb / t:.2f} | {t_limit / t:.2f}x | {t_base / t:.2f}x |")
    print(f"\n100M words at our warm rate: {100e6 / rate(t_ours) / 60:.1f} min")


if __name__ == "__main__":
    main()
