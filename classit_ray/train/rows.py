"""The order in which a training stage sees its rows, decided here once for every launcher.

A stage's rows are its shard files read in a seeded order (which file comes first), then passed
through a seeded shuffle buffer, then cut into micro-batches. Ray Train's workers receive the
files through Ray Data (`read_parquet` keeps the order it is given when `preserve_order` is
on); a stage run in one process (`train/session.py`, and the plain-script benchmark) reads the
same files with pyarrow. The buffer, the seeds and the batching are these functions in both
cases, so a one-worker stage trains on the same batches in the same order either way, and a
resumed stage can skip exactly the micro-batches it already trained on.

Why a buffer of our own rather than Ray Data's `local_shuffle_buffer_size` and
`random_shuffle`: their order is Ray's to change between versions and cannot be reproduced
without Ray; this one is ten lines and a seed.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from classit_ray.atomic import read_manifest

SHUFFLE_BUFFER_ROWS = 2048  # pretraining: rows mixed across this window, on top of the shuffled file order

Row = dict[str, Any]


def stage_files(shard_dirs: Iterable[str | Path], seed: int) -> list[str]:
    """Every parquet file of the stage's finished shard sets, in the stage's seeded order.

    Pretraining shards are in corpus order, whole sources one after another: shuffling which
    file comes first mixes sources at the scale of files, the buffer within them."""
    files = []
    for d in shard_dirs:
        read_manifest(d)  # a missing or unfinished shard set is a clear error naming it
        files.extend(str(p) for p in sorted(Path(d).glob("*.parquet")))
    random.Random(seed).shuffle(files)
    return files


def buffer_rows(stage: str, rows: int) -> int:
    """Pretraining mixes rows within `SHUFFLE_BUFFER_ROWS`. An instruction stage's buffer holds
    all its pairs, a uniform shuffle: pair sets are small, and the merged curriculum's two
    sources then meet in every batch."""
    return SHUFFLE_BUFFER_ROWS if stage == "pretrain" else max(rows, 1)


def epoch_seed(seed: int, epoch: int) -> int:
    return seed * 100_003 + epoch


def shuffled(rows: Iterable[Row], buffer: int, seed: int) -> Iterator[Row]:
    """`rows` in a seeded order: a buffer of `buffer` rows, each arrival swapped for a random one
    from it; what is left at the end comes out shuffled. With a buffer as large as the input
    this is a uniform permutation."""
    rng = random.Random(seed)
    pool: list[Row] = []
    for row in rows:
        if len(pool) < buffer:
            pool.append(row)
            continue
        i = rng.randrange(buffer)
        pool[i], row = row, pool[i]
        yield row
    rng.shuffle(pool)
    yield from pool


def micro_batches(rows: Iterable[Row], size: int, collate: Callable[[dict[str, list]], Any]) -> Iterator[Any]:
    """Consecutive `size`-row batches of `rows`, collated; a last partial batch is dropped."""
    batch: list[Row] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield collate({name: [r[name] for r in batch] for name in batch[0]})
            batch = []


def rows_of_batches(batches: Iterable[dict]) -> Iterator[Row]:
    """Column batches (Ray Data's numpy format) as rows."""
    for batch in batches:
        names = list(batch)
        for values in zip(*(batch[name] for name in names)):
            yield dict(zip(names, values))


def read_rows(files: Iterable[str], batch_rows: int = 1024) -> Iterator[Row]:
    """The rows of `files`, in that order, read with pyarrow (no Ray)."""
    import pyarrow.parquet as pq

    for path in files:
        for record_batch in pq.ParquetFile(path).iter_batches(batch_size=batch_rows):
            yield from rows_of_batches(
                [
                    {
                        name: column.to_numpy(zero_copy_only=False)
                        for name, column in zip(record_batch.schema.names, record_batch.columns)
                    }
                ]
            )
