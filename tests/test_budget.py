"""Word-budget split: exact arithmetic, seeded determinism, hold-outs, and budgets that cannot be met."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pyarrow.parquet as pq
import pytest
from conftest import write_lines

from classit_ray.atomic import is_complete, read_manifest
from classit_ray.config import BudgetConfig, CorpusConfig
from classit_ray.data.budget import BudgetError, proportional_quotas, split_budget, split_targets
from classit_ray.data.class_it import InstructDataError, read_pairs


def test_targets_and_quotas_are_exact():
    assert split_targets(BudgetConfig(total_words=100_000_000, instruct_fraction=0.087)) == (91_300_000, 8_700_000)
    assert split_targets(BudgetConfig(total_words=1001, instruct_fraction=0.0)) == (1001, 0)
    quotas = proportional_quotas(1000, {"a": 1, "b": 1, "c": 1})
    assert sum(quotas.values()) == 1000 and max(quotas.values()) - min(quotas.values()) <= 1
    assert proportional_quotas(10, {"a": 3, "b": 1}) in ({"a": 8, "b": 2}, {"a": 7, "b": 3})


def test_split_hits_pretraining_target_exactly_and_instruction_within_one_pair(toy_config, tmp_path):
    m = split_budget(toy_config.corpus, toy_config.budget, tmp_path / "split")
    pretrain = pq.read_table(tmp_path / "split" / "pretrain.parquet").to_pandas()
    assert m["targets"] == {"pretrain": 18_000, "instruct": 2_000}
    assert pretrain["words"].sum() == 18_000
    # Each source meets its quota exactly: quotas ∝ available words, summing to the target.
    table = m["table"]["pretrain"]
    assert {s: r["words"] for s, r in table.items()} == proportional_quotas(
        18_000, {s: r["available"] for s, r in table.items()}
    )
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
    assert m["table"]["instruct"]["simple_wiki"] == {
        "words": 0,
        "items": 0,
        "available": m["table"]["instruct"]["simple_wiki"]["available"],
        "generated": 0,
    }
    assert not (tmp_path / "split" / "instruct" / "simple_wiki.parquet").exists()  # no empty file to shard
    assert m["table"]["instruct"]["switchboard"]["words"] > 1_900


def _words(prefix: str, n: int) -> str:
    return " ".join(f"{prefix}{i}" for i in range(n))


def _huge_line_corpus(root):
    """Gutenberg as three enormous header-less lines (one document), Simple Wikipedia as three
    articles of one enormous paragraph each: no whole line fits a small quota."""
    folder = root / "train_100M"
    write_lines(folder / "gutenberg.train", [_words("g", 4_000), _words("h", 3_000), _words("k", 5_000)])
    write_lines(
        folder / "simple_wiki.train",
        [
            "= = = Fox = = =",
            _words("f", 6_000),
            "= = = Lemon = = =",
            _words("l", 2_500),
            "= = = Owl = = =",
            "An owl .",
            _words("o", 3_000),
        ],
    )
    return folder


def test_split_of_enormous_lines_lands_exactly_and_deterministically(tmp_path):
    corpus = CorpusConfig(data_dir=str(_huge_line_corpus(tmp_path)), sources=["gutenberg", "simple_wiki"])
    budget = BudgetConfig(total_words=5_003, instruct_fraction=0.0)
    m = split_budget(corpus, budget, tmp_path / "a")
    split_budget(corpus, budget, tmp_path / "b")
    pretrain = pq.read_table(tmp_path / "a" / "pretrain.parquet").to_pandas()
    assert pretrain["words"].sum() == m["words"]["pretrain"] == 5_003
    table = m["table"]["pretrain"]
    assert {s: r["words"] for s, r in table.items()} == proportional_quotas(
        5_003, {s: r["available"] for s, r in table.items()}
    )
    assert (pretrain["text"].str.split().str.len() == pretrain["words"]).all()
    # The cut keeps the first words of the line, as written, and ends on a word.
    source_lines = {
        line.split()[0]: line
        for f in ("gutenberg", "simple_wiki")
        for line in (tmp_path / "train_100M" / f"{f}.train").read_text().splitlines()
    }
    for text in pretrain["text"]:
        for line in text.split("\n"):
            assert source_lines[line.split()[0]].startswith(line) and not line.endswith(" ")
    assert (tmp_path / "a" / "pretrain.parquet").read_bytes() == (tmp_path / "b" / "pretrain.parquet").read_bytes()
    assert (tmp_path / "a" / "budget.md").read_bytes() == (tmp_path / "b" / "budget.md").read_bytes()


def test_exact_cut_with_speaker_labels_removed_charges_the_label_first(tmp_path):
    long_turn = _words("w", 500)
    path = write_lines(
        tmp_path / "train_100M" / "childes.train",
        ["= = = mother1.cha = = =", f"*MOT:\t{long_turn}", f"*A:\t{long_turn}"],
    )
    corpus = CorpusConfig(data_dir=str(path.parent), sources=["childes"], keep_speaker_labels=False)
    m = split_budget(corpus, BudgetConfig(total_words=3, instruct_fraction=0.0), tmp_path / "split")
    pretrain = pq.read_table(tmp_path / "split" / "pretrain.parquet").to_pandas()
    assert m["words"]["pretrain"] == 3 and list(pretrain["text"]) == ["w0 w1"]  # `*MOT:` paid for, then two words


def test_an_empty_pretraining_split_is_an_error_and_never_complete(tmp_path):
    # 2 words at p = 0.75: both go to the one 2-word pair, none is left for pretraining.
    pd.DataFrame({"prompt": ["hi"], "reply": ["yo"]}).to_parquet(tmp_path / "switchboard.parquet")
    folder = _huge_line_corpus(tmp_path)
    corpus = CorpusConfig(data_dir=str(folder), instruct_dir=str(tmp_path), sources=["gutenberg"])
    budget = BudgetConfig(
        total_words=2, instruct_fraction=0.75, instruct_configs=["switchboard"], heldout_pairs=0
    )  # a one-pair file: nothing to hold out
    with pytest.raises(BudgetError, match=r"train_100M: the pretraining split would hold no words \(target 0\)"):
        split_budget(corpus, budget, tmp_path / "split")
    assert not is_complete(tmp_path / "split") and not (tmp_path / "split").exists()


def test_a_weighted_config_no_pair_fits_is_an_error_not_an_empty_file(tmp_path):
    pd.DataFrame({"prompt": ["hi"] * 10, "reply": ["yo"] * 10}).to_parquet(tmp_path / "switchboard.parquet")
    pd.DataFrame({"prompt": [_words("q", 30)], "reply": [_words("a", 20)]}).to_parquet(tmp_path / "simple_wiki.parquet")
    corpus = CorpusConfig(data_dir=str(_huge_line_corpus(tmp_path)), instruct_dir=str(tmp_path), sources=["gutenberg"])
    budget = BudgetConfig(
        total_words=100,
        instruct_fraction=0.3,
        instruct_weights={"switchboard": 1.0, "simple_wiki": 1.0},
        heldout_pairs=0,
    )  # files of a few pairs: nothing to hold out
    with pytest.raises(
        BudgetError,
        match=r"'simple_wiki' gets 16 instruction words but the first pair .* has 50, and pairs are not cut",
    ):
        split_budget(corpus, budget, tmp_path / "split")
    assert not (tmp_path / "split").exists()


def test_nul_bytes_are_stripped_and_counted_in_the_budget_table(tmp_path):
    folder = tmp_path / "train_100M"
    folder.mkdir()
    (folder / "gutenberg.train").write_bytes(b"Once upon\x00 a time .\nThe \x00 end\x00 .\n")
    corpus = CorpusConfig(data_dir=str(folder), sources=["gutenberg"])
    m = split_budget(corpus, BudgetConfig(total_words=7, instruct_fraction=0.0), tmp_path / "split")
    text = "".join(pq.read_table(tmp_path / "split" / "pretrain.parquet").column("text").to_pylist())
    assert "\0" not in text and m["table"]["pretrain"]["gutenberg"]["nul_bytes"] == 3
    assert "NUL bytes stripped from the source files: gutenberg 3" in (tmp_path / "split" / "budget.md").read_text()


def test_budget_larger_than_corpus(toy_config, tmp_path):
    budget = dataclasses.replace(toy_config.budget, total_words=10_000_000, instruct_fraction=0.0)
    with pytest.raises(
        BudgetError, match=r"train_toy: budget asks for .* pretraining words but the pretraining sources hold only"
    ):
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
    with pytest.raises(
        InstructDataError, match=r"simple_wiki\.parquet: row 1: column 'reply' must be a non-empty string"
    ):
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


def test_heldout_pairs_are_never_trained_on_and_the_same_for_every_fraction_and_seed(toy_config, tmp_path):
    """The interactive evaluation's pairs: one set for the whole study (so cells compare paired),
    written at p = 0 too (the pretrained baseline is scored on them), disjoint from every draw."""
    corpus = toy_config.corpus
    heldout, trained = [], []
    for n, (fraction, seed) in enumerate([(0.1, 0), (0.2, 1), (0.0, 0)]):
        budget = dataclasses.replace(toy_config.budget, instruct_fraction=fraction, seed=seed, heldout_pairs=40)
        m = split_budget(corpus, budget, tmp_path / f"split{n}")
        assert {c: r["pairs"] for c, r in m["heldout"].items()} == {"switchboard": 40, "simple_wiki": 40}
        heldout.append({c: pd.read_parquet(tmp_path / f"split{n}" / "heldout" / f"{c}.parquet") for c in m["heldout"]})
        trained.append(
            {
                c: pd.read_parquet(p)
                for c in m["heldout"]
                if (p := tmp_path / f"split{n}" / "instruct" / f"{c}.parquet").is_file()
            }
        )
    for config in ("switchboard", "simple_wiki"):
        assert heldout[0][config].equals(heldout[1][config]) and heldout[0][config].equals(heldout[2][config])
        held_text = set(heldout[0][config]["text"])
        for draw in trained:
            assert config not in draw or held_text.isdisjoint(draw[config]["text"])
    assert trained[2] == {} and not trained[0]["simple_wiki"].equals(trained[1]["simple_wiki"])  # the draws do differ
    # The toy world's knowledge-base questions carry their known answer; Switchboard turns none.
    assert (heldout[0]["simple_wiki"]["answer"] != "").all() and (heldout[0]["switchboard"]["answer"] == "").all()
    assert all(r.startswith(a) for r, a in zip(heldout[0]["simple_wiki"]["reply"], heldout[0]["simple_wiki"]["answer"]))
