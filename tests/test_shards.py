"""Shards: packed rows equal a naive packer token for token, with Ray Data or without; pairs carry
their reply mask; a stage reads the same rows in the same order through Ray Data as through
pyarrow, shuffled by its own seeded buffer; unfinished sets are never read."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest

from classit_ray.atomic import read_manifest
from classit_ray.data.shards import SequencePacker, build_pretrain_shards
from classit_ray.data.tokenizer import BOS, EOS, REPLY, load_tokenizer


def naive_pack(texts: list[str], tok, seq_len: int) -> np.ndarray:
    """Reference: encode each document alone, frame <s> doc </s>, concatenate, cut every seq_len."""
    stream = []
    for text in texts:
        stream += [tok.token_to_id(BOS), *tok.encode(text, add_special_tokens=False).ids, tok.token_to_id(EOS)]
    n = len(stream) // seq_len
    return np.asarray(stream[: n * seq_len], dtype=np.int32).reshape(n, seq_len)


def read_rows(shard_dir) -> np.ndarray:
    files = sorted(shard_dir.glob("part-*.parquet"))
    return np.asarray([row for f in files for row in pq.read_table(f).column("input_ids").to_pylist()], dtype=np.int32)


def test_packed_shards_equal_naive_packer(prepared):
    texts = pq.read_table(prepared.split_dir / "pretrain.parquet").column("text").to_pylist()
    tok = load_tokenizer(prepared.tokenizer_dir)
    expected = naive_pack(texts, tok, 64)
    np.testing.assert_array_equal(read_rows(prepared.pretrain_shards), expected)
    m = read_manifest(prepared.pretrain_shards)
    assert m["sequences"] == len(expected) and m["documents"] == len(texts)
    assert m["tokens"] == expected.size + m["dropped_tokens"] and m["dropped_tokens"] < 64
    assert m["files"] == -(-len(expected) // 50)  # shard_rows=50 rows per file


def test_packer_carries_remainder_across_batches():
    packer = SequencePacker(4)
    assert packer.add(np.arange(3, dtype=np.int32)).shape == (0, 4)
    np.testing.assert_array_equal(packer.add(np.arange(3, 9, dtype=np.int32)), [[0, 1, 2, 3], [4, 5, 6, 7]])
    np.testing.assert_array_equal(packer.carry, [8])


def test_instruct_shards_carry_reply_mask(prepared):
    tok = load_tokenizer(prepared.tokenizer_dir)
    for config, shard_dir in prepared.instruct_shards.items():
        m = read_manifest(shard_dir)
        pairs = pq.read_table(prepared.split_dir / "instruct" / f"{config}.parquet").to_pandas()
        table = pq.read_table(sorted(shard_dir.glob("part-*.parquet"))[0]).to_pandas()
        assert m["pairs"] == len(pairs)
        ids, mask = np.asarray(table["input_ids"][0]), np.asarray(table["reply_mask"][0])
        assert len(ids) == len(mask)
        assert ids[int(np.argmax(mask)) - 1] == tok.token_to_id(REPLY)
        assert tok.decode(ids[mask == 1].tolist()).strip() == pairs["reply"][0].strip()


def test_a_stage_reads_the_same_rows_in_the_same_order_through_ray_data_and_pyarrow(prepared):
    import torch

    from classit_ray.train.batches import collate_packed
    from classit_ray.train.driver import stage_dataset
    from classit_ray.train.rows import micro_batches, read_rows, rows_of_batches, stage_files
    from classit_ray.train.stage import pretrain_spec, resolve

    spec = resolve(pretrain_spec(prepared.config, prepared))
    files = stage_files(spec.shard_dirs, spec.optim.seed)
    assert len(files) > 2 and files != sorted(files)  # several files, in the stage's seeded order
    through_ray = [
        r["input_ids"].tolist()
        for r in rows_of_batches(stage_dataset(spec).iter_batches(batch_size=37, batch_format="numpy"))
    ]
    plain = [r["input_ids"].tolist() for r in read_rows(files)]
    assert through_ray == plain and len(plain) == read_manifest(prepared.pretrain_shards)["sequences"]
    batches = list(micro_batches(read_rows(files), 8, collate_packed))
    assert len(batches) == len(plain) // 8  # the partial last batch is dropped
    assert all(b["input_ids"].shape == (8, 64) and b["input_ids"].dtype == torch.long for b in batches)


def test_the_shuffle_buffer_is_a_seeded_permutation():
    from classit_ray.train.rows import shuffled

    rows = [{"i": i} for i in range(100)]
    once, again, other = (list(shuffled(rows, 10, seed)) for seed in (1, 1, 2))
    assert sorted(r["i"] for r in once) == list(range(100)) and once == again and once != other
    window = list(shuffled(rows, 10, 1))
    # A buffer of 10 brings no row out more than 10 places early.
    assert all(pos >= row["i"] - 10 for pos, row in enumerate(window))
    assert [r["i"] for r in shuffled(rows, 1000, 1)] != list(range(100))  # buffer >= input: a whole permutation


def test_shards_built_without_ray_equal_those_built_with_it(prepared, tmp_path, monkeypatch):
    """The plain-script path (no Ray) tokenizes in process; the shards must be the same bytes' worth
    as Ray Data's actor pool gives, here in batches of 8 documents (so the toy split is many
    batches; an input of one batch would be tokenized in process even with Ray running)."""
    import subprocess
    import sys

    import classit_ray.data.shards as shards

    monkeypatch.setattr(shards, "TOKENIZE_BATCH_DOCS", 8)
    monkeypatch.setattr(shards, "IN_PROCESS_MAX_ROWS", 0)
    monkeypatch.setattr(shards, "_in_process", lambda *a: pytest.fail("tokenized in process, not through Ray Data"))
    build_pretrain_shards(prepared.split_dir, prepared.tokenizer_dir, tmp_path / "ray", seq_len=64, rows_per_shard=50)
    script = (
        f"from classit_ray.data.shards import build_pretrain_shards; import ray; assert not ray.is_initialized(); "
        f"build_pretrain_shards({str(prepared.split_dir)!r}, {str(prepared.tokenizer_dir)!r}, {str(tmp_path / 'plain')!r}, "
        f"seq_len=64, rows_per_shard=50)"
    )
    subprocess.run([sys.executable, "-c", script], check=True)
    ours = sorted((tmp_path / "ray").glob("*.parquet"))
    plain = sorted((tmp_path / "plain").glob("*.parquet"))
    assert [p.name for p in ours] == [p.name for p in plain]
    assert all(pq.read_table(a).equals(pq.read_table(b)) for a, b in zip(ours, plain))


def test_an_input_of_one_batch_is_tokenized_without_ray_data(prepared, tmp_path, monkeypatch):
    import classit_ray.data.shards as shards

    monkeypatch.setattr(shards, "read_parquet", lambda *a, **k: pytest.fail("Ray Data started for one batch"))
    build_pretrain_shards(prepared.split_dir, prepared.tokenizer_dir, tmp_path / "out", seq_len=64, rows_per_shard=50)
    assert [
        pq.read_table(f).equals(pq.read_table(g))
        for f, g in zip(
            sorted((tmp_path / "out").glob("*.parquet")), sorted(prepared.pretrain_shards.glob("*.parquet"))
        )
    ] == [True] * read_manifest(prepared.pretrain_shards)["files"]


def test_tokenizing_from_a_command_line_shows_a_progress_bar(prepared, tmp_path, capsys):
    build_pretrain_shards(
        prepared.split_dir, prepared.tokenizer_dir, tmp_path / "out", seq_len=64, rows_per_shard=50, progress=True
    )
    documents = pq.ParquetFile(prepared.split_dir / "pretrain.parquet").metadata.num_rows
    bar = capsys.readouterr().err
    assert f"{documents}/{documents}" in bar and "tokenizing pretrain.parquet" in bar


def test_unfinished_shard_set_is_never_read(tmp_path):
    from classit_ray.train.rows import stage_files

    half = tmp_path / "half"
    half.mkdir()
    (half / "part-00000.parquet").write_bytes(b"partial")
    with pytest.raises(FileNotFoundError, match=r"half: no manifest\.json"):
        stage_files([half], seed=0)


def test_failed_build_leaves_nothing(prepared, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no_tokenizer: no manifest\.json"):
        build_pretrain_shards(prepared.split_dir, tmp_path / "no_tokenizer", tmp_path / "out", seq_len=64)
    assert not (tmp_path / "out").exists()
    assert not any(p.name.startswith(".out.tmp") for p in tmp_path.iterdir())


def test_prepare_reuses_finished_stages(prepared):
    from classit_ray.cell.execute import execute
    from classit_ray.cell.graph import build_graph

    graph = build_graph(prepared.config, prepared.split_dir.parent.parent)
    again = execute(graph, graph.upto("data"))  # what `python -m classit_ray.data.prepare` runs
    assert [r.node.kind for r in again.runs.values()] == [
        "split",
        "tokenizer",
        "pretrain_shards",
        "instruct_shards",
        "instruct_shards",
    ]
    assert not any(r.executed for r in again.runs.values()) and graph.data.pretrain_shards == prepared.pretrain_shards
