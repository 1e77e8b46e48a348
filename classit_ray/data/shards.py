"""Tokenize and pack text into parquet shards with Ray Data (the order training reads them in is
`train/rows.py`'s).

Pretraining: documents are tokenized by a Ray Data actor pool (each actor holds the tokenizer and
uses its Rust threads; without Ray, or for an input of one batch, in this process), framed as `<s> doc </s>`, and streamed — in order — to the driver, which
cuts the running token stream into `seq_len` rows. Packing is the cheap half, so it stays
sequential and exact: the shards equal a naive "concatenate everything, cut every seq_len tokens"
packer token for token; only the final partial row (< seq_len tokens) is dropped, and counted.

Instruction pairs: rendered by the template (`template.py`) into one row per pair with its reply
mask; packing or padding them is the training loop's choice.

A shard set is a directory of `part-NNNNN.parquet` files (`input_ids` list<int32>, and for pairs
`reply_mask` list<int8>) plus `manifest.json`, written atomically: a half-written set is never
taken as finished.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from classit_ray.atomic import atomic_dir, read_manifest
from classit_ray.data.template import PairRenderer
from classit_ray.data.tokenizer import BOS, EOS, TOKENIZER_FILE, file_sha256, load_tokenizer
from classit_ray.store import mirror_of

# Documents per Ray Data batch: large enough that the tokenizer's Rust threads stay busy and
# per-batch overhead is small, small enough to stream.
TOKENIZE_BATCH_DOCS = 2048
# Inputs of at most this many documents (pairs) are tokenized in process, Ray or not: Ray Data
# would hand their one batch to one actor, adding only its own start (`_mapped_batches`).
IN_PROCESS_MAX_ROWS = TOKENIZE_BATCH_DOCS


def read_parquet(path: str | Path | list[str], columns: list[str] | None = None, num_blocks: int | None = None):
    """`ray.data.read_parquet` through Ray's row-group reader rather than the 2.60 default, of a
    local path (or list of files, read in the order given with `preserve_order`) or, for paths in
    the cache of a remote artifact store, of their published copies.

    The default (datasource V2) starts a fresh FooterReader actor on every read — a process
    start each time — and packs a file of up to 128 MB into one block, so nothing downstream
    starts until the whole file is read. The row-group reader splits by row group and starts at
    once (bench/results/2026-11-24-tokenize-pack.md). The choice is scoped to this call.

    With the store on object storage, this node's cache holds the stage (the stage walk fetched
    it), but Ray Data's read tasks run on whichever node has a free CPU, whose cache may not: so
    they read the files the store published, which every node reaches. (Ray Data's `local://`,
    "read on this node", means the head node, and is deprecated.)
    """
    import ray

    paths = [str(p) for p in path] if isinstance(path, list) else [str(path)]
    filesystem, mirrored = None, [mirror_of(p) for p in paths]
    if all(m is not None for m in mirrored):
        paths, filesystem = [store.remote(rel) for store, rel in mirrored], mirrored[0][0].filesystem
    ctx = ray.data.DataContext.get_current()
    previous, ctx.use_datasource_v2 = ctx.use_datasource_v2, False
    try:
        ds = ray.data.read_parquet(
            paths if isinstance(path, list) else paths[0],
            file_extensions=["parquet"],
            override_num_blocks=num_blocks,
            filesystem=filesystem,
        )
    finally:
        ctx.use_datasource_v2 = previous
    return ds.select_columns(columns) if columns else ds


class ShardError(ValueError):
    """A shard set is missing, unfinished or empty; the message names the directory."""


def _flat_with_offsets(pieces: list[np.ndarray]) -> pa.ListArray:
    lengths = np.fromiter((len(p) for p in pieces), dtype=np.int32, count=len(pieces))
    offsets = np.zeros(len(pieces) + 1, dtype=np.int32)
    np.cumsum(lengths, out=offsets[1:])
    values = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(values))


# The tokenizer actors below get the tokenizer itself (its JSON), not its folder: they run on any
# node, and with the store on object storage only the caller's node has the folder in its cache.
class TokenizeDocuments:
    """Ray Data actor: `text` column -> `ids` list<int32> column, each `<s> doc </s>`."""

    def __init__(self, tokenizer_json: str):
        from tokenizers import Tokenizer

        self.tok = Tokenizer.from_str(tokenizer_json)
        self.bos, self.eos = self.tok.token_to_id(BOS), self.tok.token_to_id(EOS)

    def __call__(self, batch: pa.Table) -> pa.Table:
        encodings = self.tok.encode_batch_fast(batch.column("text").to_pylist(), add_special_tokens=False)
        docs = [np.asarray([self.bos, *e.ids, self.eos], dtype=np.int32) for e in encodings]
        return pa.table({"ids": _flat_with_offsets(docs)})


class RenderPairs:
    """Ray Data actor: `prompt`, `reply` -> `input_ids` list<int32>, `reply_mask` list<int8>."""

    def __init__(self, tokenizer_json: str, max_len: int):
        from tokenizers import Tokenizer

        self.renderer = PairRenderer(Tokenizer.from_str(tokenizer_json), max_len)

    def __call__(self, batch: pa.Table) -> pa.Table:
        ids, masks = self.renderer.render_batch(batch.column("prompt").to_pylist(), batch.column("reply").to_pylist())
        mask_col = _flat_with_offsets(masks)
        return pa.table({"input_ids": _flat_with_offsets(ids), "reply_mask": mask_col.cast(pa.list_(pa.int8()))})


class SequencePacker:
    """Cut a stream of token arrays into rows of exactly `seq_len`, carrying the remainder."""

    def __init__(self, seq_len: int):
        self.seq_len = seq_len
        self.carry = np.zeros(0, dtype=np.int32)

    def add(self, tokens: np.ndarray) -> np.ndarray:
        """Rows completed by `tokens`, shape (n, seq_len)."""
        stream = np.concatenate([self.carry, tokens]) if len(self.carry) else tokens
        n = len(stream) // self.seq_len
        self.carry = stream[n * self.seq_len :].copy()
        return stream[: n * self.seq_len].reshape(n, self.seq_len)


class ShardWriter:
    """Write rows to `part-NNNNN.parquet` files of at most `rows_per_shard` rows each."""

    def __init__(self, out_dir: Path, rows_per_shard: int):
        self.out_dir, self.rows_per_shard = out_dir, rows_per_shard
        self.pending: list[pa.Table] = []
        self.pending_rows = 0
        self.files = 0
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        self.pending.append(table)
        self.pending_rows += table.num_rows
        while self.pending_rows >= self.rows_per_shard:
            self._flush(self.rows_per_shard)

    def close(self) -> None:
        if self.pending_rows:
            self._flush(self.pending_rows)

    def _flush(self, n: int) -> None:
        table = pa.concat_tables(self.pending).combine_chunks()
        pq.write_table(table.slice(0, n), self.out_dir / f"part-{self.files:05d}.parquet")
        rest = table.slice(n)
        self.pending, self.pending_rows = ([rest] if rest.num_rows else []), rest.num_rows
        self.files += 1
        self.rows += n


def _packed_table(rows: np.ndarray) -> pa.Table:
    seq_len = rows.shape[1]
    offsets = np.arange(0, rows.size + 1, seq_len, dtype=np.int32)
    return pa.table({"input_ids": pa.ListArray.from_arrays(pa.array(offsets), pa.array(rows.reshape(-1)))})


def _mapped_batches(
    path: Path, columns: list[str], fn, kwargs: dict, num_actors: int = 1, progress: bool = False
) -> Iterator[pa.Table]:
    """`fn(**kwargs)` applied to `path`'s `columns` in batches of `TOKENIZE_BATCH_DOCS` documents,
    in input order, so shards are a deterministic function of their input: through a Ray Data
    actor pool when Ray is running and the input holds more than one batch, else in this process
    (a plain script, or an input of one batch: Ray Data would give its one batch to one actor and
    add only its own start; bench/results/2026-12-01-shards-one-batch.md). Both give the same
    shards: every document is tokenized on its own and packing follows the input order.
    `progress`: a bar of the rows done (Ray Data's own bars are off everywhere, runtime.py)."""
    if progress:
        from tqdm.auto import tqdm

        with tqdm(total=pq.ParquetFile(path).metadata.num_rows, desc=f"tokenizing {path.name}", unit="row") as bar:
            for table in _mapped_batches(path, columns, fn, kwargs, num_actors):
                bar.update(table.num_rows)
                yield table
        return
    import ray

    if not ray.is_initialized() or pq.ParquetFile(path).metadata.num_rows <= IN_PROCESS_MAX_ROWS:
        yield from _in_process(path, columns, fn, kwargs)
        return
    ds = read_parquet(path, columns).map_batches(
        fn,
        fn_constructor_kwargs=kwargs,
        batch_size=TOKENIZE_BATCH_DOCS,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=num_actors),
        num_cpus=1,
    )
    ds.context.execution_options.preserve_order = True
    yield from ds.iter_batches(batch_size=None, batch_format="pyarrow", prefetch_batches=2)


def _in_process(path: Path, columns: list[str], fn, kwargs: dict) -> Iterator[pa.Table]:
    mapper = fn(**kwargs)
    for batch in pq.ParquetFile(path).iter_batches(batch_size=TOKENIZE_BATCH_DOCS, columns=columns):
        yield mapper(pa.Table.from_batches([batch]))


def _tokenizer_manifest(tokenizer_dir: Path) -> dict:
    """Checked before any Ray work starts: a missing or unfinished tokenizer is a clear error."""
    read_manifest(tokenizer_dir)
    return {"tokenizer_dir": str(tokenizer_dir), "tokenizer_sha256": file_sha256(Path(tokenizer_dir) / TOKENIZER_FILE)}


def build_pretrain_shards(
    split_dir: str | Path,
    tokenizer_dir: str | Path,
    out_dir: str | Path,
    seq_len: int,
    rows_per_shard: int = 4096,
    num_actors: int = 1,
    progress: bool = False,
) -> dict:
    """Tokenize the split's pretraining text and pack it into `seq_len` rows; return the manifest.

    `num_actors` tokenizer actors each take one logical CPU and use every core their node gives
    their Rust threads: on a 2-core machine one actor saturates both cores (two deadlocked a
    2-CPU Ray and gained nothing on 4); on a cluster, use one per node.
    """
    split_dir, tokenizer_dir = Path(split_dir), Path(tokenizer_dir)
    split = read_manifest(split_dir)
    manifest = {
        "kind": "pretrain_shards",
        "seq_len": seq_len,
        "words": split["words"]["pretrain"],
        **_tokenizer_manifest(tokenizer_dir),
    }
    batches = _mapped_batches(
        split_dir / "pretrain.parquet",
        ["text"],
        TokenizeDocuments,
        {"tokenizer_json": load_tokenizer(tokenizer_dir).to_str()},
        num_actors,
        progress,
    )
    packer = SequencePacker(seq_len)
    documents = tokens = 0
    with atomic_dir(out_dir, manifest) as tmp:
        writer = ShardWriter(tmp, rows_per_shard)
        for batch in batches:
            column = batch.column("ids").combine_chunks()
            documents += len(column)
            flat = column.flatten().to_numpy()
            tokens += len(flat)
            rows = packer.add(flat)
            if len(rows):
                writer.write(_packed_table(rows))
        writer.close()
        if writer.rows == 0:
            raise ShardError(
                f"{split_dir}: {tokens} tokens make no full sequence of {seq_len}; the pretraining split is too small"
            )
        manifest.update(
            documents=documents,
            tokens=tokens,
            sequences=writer.rows,
            files=writer.files,
            dropped_tokens=len(packer.carry),
        )
    return manifest


def build_instruct_shards(
    pairs_parquet: str | Path,
    tokenizer_dir: str | Path,
    out_dir: str | Path,
    max_len: int,
    rows_per_shard: int = 4096,
    progress: bool = False,
) -> dict:
    """Render one instruction config's pairs, one row per pair with its reply mask."""
    pairs_parquet, tokenizer_dir = Path(pairs_parquet), Path(tokenizer_dir)
    manifest = {
        "kind": "instruct_shards",
        "config": pairs_parquet.stem,
        "max_len": max_len,
        **_tokenizer_manifest(tokenizer_dir),
    }
    words = int(pq.read_table(pairs_parquet, columns=["words"]).column("words").to_numpy().sum())
    batches = _mapped_batches(
        pairs_parquet,
        ["prompt", "reply"],
        RenderPairs,
        {"tokenizer_json": load_tokenizer(tokenizer_dir).to_str(), "max_len": max_len},
        progress=progress,
    )
    manifest["words"] = words
    tokens = reply_tokens = 0
    with atomic_dir(out_dir, manifest) as tmp:
        writer = ShardWriter(tmp, rows_per_shard)
        for batch in batches:
            tokens += len(batch.column("input_ids").combine_chunks().flatten())
            reply_tokens += int(batch.column("reply_mask").combine_chunks().flatten().to_numpy().sum())
            writer.write(batch)
        writer.close()
        if writer.rows == 0:
            raise ShardError(f"{pairs_parquet}: no instruction pairs to shard")
        manifest.update(
            pairs=writer.rows, sequences=writer.rows, tokens=tokens, reply_tokens=reply_tokens, files=writer.files
        )
    return manifest
