"""Word-budget split: exact arithmetic, seeded determinism, hold-outs, and budgets that cannot be met."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pyarrow.parquet as pq
import pytest

from classit_ray.atomic import read_manifest
from classit_ray.config import BudgetConfig
from classit_ray.data.budget import BudgetError, proportional_quotas, split_budget, split_targets
from classit_ray.data.class_it import InstructDataError, read_pairs


def test_targets_and_quotas_are_exact():
    assert split_targets(BudgetConfig(total_words=100_000_000, instruct_fraction=0.087)) == (91_300_000, 8_700_000)
    assert split_targets(BudgetConfig(total_words=1001, instruct_fraction=0.0)) == (1001, 0)
    quotas = proportional_quotas(1000, {"a": 1, "b": 1, "c": 1})
    assert sum(quotas.values()) == 1000 and max(quotas.values()) - min(quotas.values()) <= 1
    assert proportional_quotas(10, {"a": 3, "b": 1}) in ({"a": 8, "b": 2}, {"a": 7, "b": 3})


def test_split_hits_targets_within_one_line_and_one_pair(toy_config, tmp_path):
    m = split_budget(toy_config.corpus, toy_config.budget, tmp_path / "split")
    pretrain = pq.read_table(tmp_path / "split" / "pretrain.parquet").to_pandas()
    assert m["targets"] == {"pretrain": 18_000, "instruct": 2_000}
    assert 0 <= m["targets"]["pretrain"] - pretrain["words"].sum() <= m["max_line_words"]
    # Charged words of each document are the raw whitespace tokens of its lines.
    assert (pretrain["text"].str.split().str.len() == pretrain["words"]).all()
    pairs = pd.concat([pd.read_parquet(p) for p in (tmp_path / "split" / "instruct").glob("*.parquet")])
    assert 0 <= 2_000 - pairs["words"].sum() <= pairs["words"].max()
    assert m["words"] == {"pretrain": int(pretrain["words"].sum()), "instruct": int(pairs["words"].sum())}
    assert "| pretrain | childes |" in (tmp_path / "split" / "budget.md").read_text()


def test_instruction_sources_held_out_of_pretraining(toy_config, tmp_path):
    split_budget(toy_config.corpus, toy_config.budget, tmp_path / "split")
    sources = set(pq.read_table(tmp_path / "split" / "pretrain.parquet").column("source").to_pylist())
    assert sources == {"bnc_spoken", "childes", "gutenberg", "open_subtitles"}
    kept = dataclasses.replace(toy_config.budget, holdout_instruct_sources=False)
    split_budget(toy_config.corpus, kept, tmp_path / "kept")
    assert "switchboard" in set(pq.read_table(tmp_path / "kept" / "pretrain.parquet").column("source").to_pylist())


def test_split_is_deterministic_by_seed(toy_config, tmp_path):
    split_budget(toy_config.corpus, toy_config.budget, tmp_path / "a")
    split_budget(toy_config.corpus, toy_config.budget, tmp_path / "b")
    split_budget(toy_config.corpus, dataclasses.replace(toy_config.budget, seed=1), tmp_path / "c")
    read = lambda d: pq.read_table(tmp_path / d / "pretrain.parquet").to_pandas()
    pd.testing.assert_frame_equal(read("a"), read("b"))
    assert list(read("a")["doc"]) != list(read("c")["doc"])


def test_source_shares_follow_available_words(toy_config, tmp_path):
    m = split_budget(toy_config.corpus, toy_config.budget, tmp_path / "split")
    table = m["table"]["pretrain"]
    available = sum(r["available"] for r in table.values())
    for source, row in table.items():
        assert row["words"] / 18_000 == pytest.approx(row["available"] / available, abs=0.02), source


def test_weighted_instruction_configs(toy_config, tmp_path):
    budget = dataclasses.replace(toy_config.budget, instruct_weights={"switchboard": 1.0, "simple_wiki": 0.0})
    m = split_budget(toy_config.corpus, budget, tmp_path / "split")
    assert m["table"]["instruct"]["simple_wiki"]["words"] == 0
    assert m["table"]["instruct"]["switchboard"]["words"] > 1_900


def test_budget_larger_than_corpus(toy_config, tmp_path):
    budget = dataclasses.replace(toy_config.budget, total_words=10_000_000, instruct_fraction=0.0)
    with pytest.raises(BudgetError, match=r"train_toy: budget asks for .* pretraining words but the pretraining sources hold only"):
        split_budget(toy_config.corpus, budget, tmp_path / "split")
    assert not (tmp_path / "split").exists()


def test_instruction_fraction_pairs_cannot_fill(toy_config, tmp_path):
    budget = dataclasses.replace(toy_config.budget, total_words=40_000, instruct_fraction=0.9)
    with pytest.raises(BudgetError, match=r"class_it: instruct_fraction 0.9 .* pairs but they hold only"):
        split_budget(toy_config.corpus, budget, tmp_path / "split")


def test_zero_fraction_needs_no_instruction_data(toy_config, tmp_path):
    corpus = dataclasses.replace(toy_config.corpus, instruct_dir="")
    m = split_budget(corpus, dataclasses.replace(toy_config.budget, instruct_fraction=0.0), tmp_path / "split")
    assert m["words"]["instruct"] == 0 and m["targets"]["pretrain"] == 20_000


def test_parquet_missing_reply_column(tmp_path):
    (tmp_path / "switchboard").mkdir()
    pd.DataFrame({"prompt": ["hi"], "answer": ["hello"]}).to_parquet(tmp_path / "switchboard" / "train-0.parquet")
    with pytest.raises(InstructDataError, match=r"train-0\.parquet: missing column\(s\) reply; expected prompt, reply"):
        read_pairs(tmp_path, "switchboard")


def test_parquet_empty_reply_and_missing_config(tmp_path):
    pd.DataFrame({"prompt": ["hi", "yo"], "reply": ["hello", " "]}).to_parquet(tmp_path / "simple_wiki.parquet")
    with pytest.raises(InstructDataError, match=r"simple_wiki\.parquet: row 1: column 'reply' must be a non-empty string"):
        read_pairs(tmp_path, "simple_wiki")
    with pytest.raises(InstructDataError, match=r"no parquet for instruction config 'switchboard'"):
        read_pairs(tmp_path, "switchboard")


def test_single_file_layout_fills_source_and_text(tmp_path):
    pd.DataFrame({"prompt": ["how are you"], "reply": ["fine thanks"]}).to_parquet(tmp_path / "switchboard.parquet")
    pairs = read_pairs(tmp_path, "switchboard")
    assert pairs.loc[0, "source"] == "switchboard" and pairs.loc[0, "text"] == "how are you\nfine thanks"
    assert pairs.loc[0, "words"] == 5


def test_manifest_records_configs(toy_config, tmp_path):
    split_budget(toy_config.corpus, toy_config.budget, tmp_path / "split")
    m = read_manifest(tmp_path / "split")
    assert m["budget"]["instruct_fraction"] == 0.1 and m["corpus"]["data_dir"] == toy_config.corpus.data_dir
