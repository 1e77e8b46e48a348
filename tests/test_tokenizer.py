"""Tokenizer: HF loading, BOS/EOS/PAD and turn markers, byte-level round trip; the pair template."""

from __future__ import annotations

import numpy as np
import pytest

from classit_ray.atomic import atomic_dir, is_complete, read_manifest
from classit_ray.data.template import PairRenderer
from classit_ray.data.tokenizer import (
    BOS,
    EOS,
    PAD,
    PROMPT,
    REPLY,
    SPECIAL_TOKENS,
    TokenizerError,
    load_tokenizer,
    train_tokenizer,
)


@pytest.fixture(scope="module")
def hf_tokenizer(prepared):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(prepared.tokenizer_dir))


def test_auto_tokenizer_loads_with_special_tokens(hf_tokenizer):
    assert (hf_tokenizer.pad_token, hf_tokenizer.bos_token, hf_tokenizer.eos_token) == (PAD, BOS, EOS)
    assert [hf_tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS] == [0, 1, 2, 3, 4]
    assert hf_tokenizer.pad_token_id == 0
    ids = hf_tokenizer("the dogs near the cat run .").input_ids
    assert ids[0] == hf_tokenizer.bos_token_id and ids.count(hf_tokenizer.bos_token_id) == 1


@pytest.mark.parametrize(
    "text", ["the dogs near the cat run .", "A:\tuh-huh\nB:\tyes", "naïve café — ünïcode ✓", "  spaces  "]
)
def test_byte_level_round_trip(hf_tokenizer, text):
    ids = hf_tokenizer(text).input_ids
    assert hf_tokenizer.decode(ids, skip_special_tokens=True) == text
    assert hf_tokenizer.unk_token_id is None or hf_tokenizer.unk_token_id not in ids


def test_vocab_from_preset_and_trained_on_pretraining_split(prepared):
    m = read_manifest(prepared.tokenizer_dir)
    assert m["requested_vocab_size"] == 2048  # the tiny preset's vocabulary
    assert 256 + len(SPECIAL_TOKENS) < m["vocab_size"] <= 2048
    assert m["trained_on_words"] == read_manifest(prepared.split_dir)["words"]["pretrain"]


def test_template_masks_reply_and_eos_only(prepared):
    tok = load_tokenizer(prepared.tokenizer_dir)
    renderer = PairRenderer(tok, max_len=64)
    (ids,), (mask,) = renderer.render_batch(["who ate the apple ?"], ["the girl ate the apple ."])
    assert ids[0] == tok.token_to_id(BOS) and ids[1] == tok.token_to_id(PROMPT)
    assert ids[-1] == tok.token_to_id(EOS) and mask[-1] == 1
    reply_start = int(np.argmax(mask))
    assert ids[reply_start - 1] == tok.token_to_id(REPLY) and mask[:reply_start].sum() == 0
    assert tok.decode(ids[mask == 1].tolist()) == "the girl ate the apple ."


def test_template_truncates_prompt_from_left_first(prepared):
    tok = load_tokenizer(prepared.tokenizer_dir)
    renderer = PairRenderer(tok, max_len=12)
    prompt, reply = list(range(100, 120)), [200, 201, 202]
    ids, mask = renderer.render(prompt, reply)
    assert len(ids) == 12
    assert ids[2:-5].tolist() == prompt[-5:]  # the end of the prompt survives
    assert ids[-4:-1].tolist() == reply and mask.sum() == 4
    long_ids, long_mask = renderer.render([1, 2], list(range(300, 340)))
    assert len(long_ids) == 12 and long_mask.sum() == 8  # reply cut from the right; one prompt token kept


@pytest.mark.parametrize("texts", [[], ["", " "]], ids=["no rows", "blank rows"])
def test_a_tokenizer_is_never_trained_on_an_empty_split(texts, tmp_path):
    """A complete split with no words (as splits were written before they refused to be empty)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from classit_ray.data.budget import PRETRAIN_SCHEMA

    with atomic_dir(tmp_path / "split", {"kind": "budget_split", "words": {"pretrain": 0, "instruct": 0}}) as tmp:
        rows = pa.table(
            [["childes"] * len(texts), list(range(len(texts))), texts, [0] * len(texts)], schema=PRETRAIN_SCHEMA
        )
        pq.write_table(rows, tmp / "pretrain.parquet")
    with pytest.raises(
        TokenizerError, match=r"split/pretrain\.parquet: no pretraining words to train the tokenizer on"
    ):
        train_tokenizer(tmp_path / "split", 300, tmp_path / "tokenizer")
    assert not is_complete(tmp_path / "tokenizer") and not (tmp_path / "tokenizer").exists()
