"""GLUE-style fine-tuning: a tiny random decoder learns a surface cue beyond the majority class,
deterministically for a seed, and the classifier pools the last real token of right-padded rows."""

from __future__ import annotations

import random

import pytest
import torch
from transformers import LlamaForCausalLM

from classit_ray.data.tokenizer import build_bpe, save_hf_tokenizer
from classit_ray.eval.finetune import (
    FinetuneConfig,
    encode_rows,
    finetune_task,
    load_classifier,
    metric_value,
    task_metric,
)
from classit_ray.model import llama_config

WORDS = "the a cat dog bird sat ran saw on under near mat tree house big small old young green blue".split()
CUE = "red"  # label 1 iff the second field contains it


def toy_rows(n: int, seed: int, positive_share: float = 0.35) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        label = int(rng.random() < positive_share)
        second = [rng.choice(WORDS) for _ in range(rng.randint(4, 8))]
        if label:
            second.insert(rng.randrange(len(second) + 1), CUE)
        rows.append(
            {
                "sentence1": " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 6))),
                "sentence2": " ".join(second),
                "label": label,
            }
        )
    return rows


@pytest.fixture(scope="module")
def tiny_decoder_dir(tmp_path_factory):
    """A random tiny LlamaForCausalLM saved with a byte-level BPE, as a checkpoint directory is."""
    directory = tmp_path_factory.mktemp("tiny_decoder")
    rng = random.Random(0)
    texts = [[" ".join(rng.choice([*WORDS, CUE]) for _ in range(10)) for _ in range(300)]]
    tokenizer = build_bpe(iter(texts), vocab_size=320)
    save_hf_tokenizer(tokenizer, directory)
    torch.manual_seed(0)
    config = llama_config("tiny", vocab_size=tokenizer.get_vocab_size(), pad_token_id=0, bos_token_id=1, eos_token_id=2)
    LlamaForCausalLM(config).save_pretrained(str(directory))
    return directory


def test_official_defaults():
    cfg = FinetuneConfig()
    assert (cfg.lr, cfg.weight_decay, cfg.warmup_ratio, cfg.max_len) == (3e-5, 0.01, 0.06, 512)
    assert [cfg.epochs_for(t) for t in ("rte", "wsc")] == [10, 30]
    assert [cfg.batch_size_for(t) for t in ("boolq", "multirc", "mnli")] == [16, 16, 32]
    assert FinetuneConfig(epochs=3, batch_size=8).epochs_for("wsc") == 3
    assert [task_metric(t) for t in ("mrpc", "qqp", "rte")] == ["f1", "f1", "accuracy"]
    with pytest.raises(ValueError, match="lr must be > 0.*epochs must be >= 0"):
        FinetuneConfig(lr=0, epochs=-1)


def test_metric_values():
    assert metric_value("accuracy", [1, 0, 1, 1], [1, 0, 0, 1]) == 0.75
    assert metric_value("f1", [1, 0, 1, 1], [1, 0, 0, 1]) == pytest.approx(2 * 2 / (3 + 2))
    assert metric_value("f1", [0, 0], [0, 0]) == 0.0


def test_pooling_reads_the_last_real_token_of_a_right_padded_row(tiny_decoder_dir):
    torch.manual_seed(0)
    model, tokenizer = load_classifier(tiny_decoder_dir, num_labels=2)
    model.eval()
    rows = [
        {"sentence1": "the cat", "sentence2": "sat", "label": 0},
        {"sentence1": "a big old dog", "sentence2": "ran under the tree", "label": 1},
    ]
    features = encode_rows(tokenizer, rows, ("sentence1", "sentence2"), max_len=512)
    assert features[0]["input_ids"][0] == tokenizer.bos_token_id and tokenizer.eos_token_id in features[0]["input_ids"]
    batch = tokenizer.pad([{k: f[k] for k in ("input_ids", "attention_mask")} for f in features], return_tensors="pt")
    assert batch["input_ids"][0, -1] == tokenizer.pad_token_id  # the short row is right-padded
    with torch.no_grad():
        padded = model(**batch).logits  # (2, num_labels)
        alone = [model(input_ids=torch.tensor([f["input_ids"]])).logits[0] for f in features]
    torch.testing.assert_close(padded[0], alone[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(padded[1], alone[1], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(padded[0], padded[1])  # both start with <s>: first-token pooling would tie them


def test_bad_rows_are_reported_before_loading_anything(tmp_path):
    with pytest.raises(ValueError, match=r"rte train: rows without \['sentence2'\]"):
        finetune_task(tmp_path, "rte", [{"sentence1": "a", "label": 0}], [], ("sentence1", "sentence2"), 2)
    with pytest.raises(ValueError, match=r"labels \[2\] outside 0..1"):
        finetune_task(
            tmp_path,
            "rte",
            toy_rows(3, 0) + [{"sentence1": "a", "sentence2": "b", "label": 2}],
            [],
            ("sentence1", "sentence2"),
            2,
        )


def test_truncation_to_max_len(tiny_decoder_dir):
    _, tokenizer = load_classifier(tiny_decoder_dir, num_labels=2)
    rows = [{"sentence1": "the cat " * 50, "sentence2": "red", "label": 1}]
    assert len(encode_rows(tokenizer, rows, ("sentence1", "sentence2"), max_len=16)[0]["input_ids"]) == 16


def test_finetune_learns_a_surface_cue_beyond_the_majority_class(tiny_decoder_dir):
    train, valid = toy_rows(200, seed=1), toy_rows(60, seed=2)
    # One thread: the 2-core CI box is often shared, and oversubscribed threads slow it tenfold.
    cfg = FinetuneConfig(lr=1e-3, epochs=6, batch_size=16, seed=0, threads=1)  # ~0.9-0.98 valid over seeds 0-2
    result = finetune_task(tiny_decoder_dir, "rte", train, valid, ("sentence1", "sentence2"), 2, cfg)
    assert result["task"] == "rte" and result["metric"] == "accuracy"
    assert result["majority_baseline"] == pytest.approx(sum(r["label"] == 0 for r in valid) / len(valid))
    assert result["score"] >= result["majority_baseline"] + 0.15, result["history"]
    assert len(result["predictions"]) == len(valid) and set(result["predictions"]) <= {0, 1}
    assert result["score"] == max(h["valid_score"] for h in result["history"])
    assert result["history"][result["best_epoch"] - 1]["valid_score"] == result["score"]

    # F1 tasks score the positive class; the majority (negative) class scores 0 F1.
    # Same seed, same run: the per-epoch losses repeat exactly.
    again = finetune_task(tiny_decoder_dir, "mrpc", train, valid, ("sentence1", "sentence2"), 2, cfg)
    assert again["metric"] == "f1" and again["majority_baseline"] == 0.0
    assert [h["train_loss"] for h in again["history"]] == [h["train_loss"] for h in result["history"]]
    assert again["score"] == metric_value("f1", again["predictions"], [r["label"] for r in valid])
