"""The loss: reply-only equals a hand computation, `all` equals the plain causal loss, and
accumulated micro-batches give the gradient of one big batch (global target normalisation)."""

from __future__ import annotations

import pytest
import torch
from transformers import LlamaForCausalLM

from classit_ray.model import llama_config
from classit_ray.train.batches import collate_pairs
from classit_ray.train.objective import accumulate_step


@pytest.fixture
def model():
    torch.manual_seed(0)
    return LlamaForCausalLM(llama_config("tiny", 64, pad_token_id=0, bos_token_id=1, eos_token_id=2))


def pair_batch(rows: list[tuple[list[int], list[int]]]) -> dict[str, torch.Tensor]:
    """Rows of (prompt ids, reply ids) rendered like the template: <s> <|prompt|> p <|reply|> r </s>."""
    import numpy as np

    ids, masks = [], []
    for prompt, reply in rows:
        row = [1, 3, *prompt, 4, *reply, 2]
        ids.append(np.asarray(row))
        masks.append(np.asarray([0] * (len(prompt) + 3) + [1] * (len(reply) + 1)))
    return collate_pairs({"input_ids": np.asarray(ids, dtype=object), "reply_mask": np.asarray(masks, dtype=object)})


ROWS = [([10, 11, 12], [20, 21]), ([13], [22, 23, 24, 25, 26]), ([14, 15, 16, 17, 18], [27]), ([19, 30], [31, 32, 33])]


def test_reply_only_loss_equals_hand_computation(model):
    batch = pair_batch(ROWS)
    loss, n = accumulate_step(model, [batch], "reply")
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.double()
    logp = torch.log_softmax(logits, dim=-1)
    total, count = 0.0, 0
    for b in range(len(ROWS)):
        for t in range(1, batch["input_ids"].shape[1]):
            if batch["reply_mask"][b, t]:
                total -= float(logp[b, t - 1, batch["input_ids"][b, t]])
                count += 1
    assert n == count == sum(len(r) + 1 for _, r in ROWS)  # reply tokens and their </s>
    assert loss == pytest.approx(total / count, rel=1e-5)


def test_loss_on_all_equals_plain_causal_loss(model):
    ids = torch.randint(5, 64, (3, 12))
    batch = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    loss, n = accumulate_step(model, [batch], "all")
    reference = model(input_ids=ids, labels=ids).loss
    assert n == 3 * 11 and loss == pytest.approx(float(reference), rel=1e-5)


def grads(model) -> list[torch.Tensor]:
    out = [p.grad.detach().clone() for p in model.parameters()]
    model.zero_grad(set_to_none=True)
    return out


def test_four_micro_batches_give_the_gradient_of_one_big_batch(model):
    micro = [pair_batch([row]) for row in ROWS]  # unequal reply lengths: a per-micro-batch mean would differ
    loss_accumulated, n_accumulated = accumulate_step(model, micro, "reply")
    accumulated = grads(model)
    loss_big, n_big = accumulate_step(model, [pair_batch(ROWS)], "reply")
    big = grads(model)
    assert n_accumulated == n_big and loss_accumulated == pytest.approx(loss_big, rel=1e-5)
    for a, b in zip(accumulated, big):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def fake_all_reduce(global_count: int):
    """Stands in for the other worker: the first reduction (the target count) returns the global
    count; the second (the reported loss total) is left as is."""
    calls = []

    def reduce(t: torch.Tensor) -> torch.Tensor:
        calls.append(t)
        return torch.full_like(t, float(global_count)) if len(calls) == 1 else t

    return reduce


def test_world_size_scaling_matches_single_worker(model):
    """Two workers' scaled gradients, averaged as DDP does, equal one worker's over all data."""
    halves = [[pair_batch(ROWS[:2])], [pair_batch(ROWS[2:])]]
    n_global = sum(int(b["reply_mask"][:, 1:].sum()) for h in halves for b in h)
    per_worker = []
    for half in halves:
        accumulate_step(model, half, "reply", world_size=2, all_reduce_sum=fake_all_reduce(n_global))
        per_worker.append(grads(model))
    accumulate_step(model, [pair_batch(ROWS)], "reply")
    single = grads(model)
    for g0, g1, s in zip(*per_worker, single):
        torch.testing.assert_close((g0 + g1) / 2, s, rtol=1e-4, atol=1e-6)


def test_unknown_loss_on_is_rejected(model):
    with pytest.raises(ValueError, match="loss_on must be 'reply' or 'all'"):
        accumulate_step(model, [pair_batch(ROWS[:1])], "prompt")


def test_padding_never_counts(model):
    batch = pair_batch(ROWS)
    assert int(batch["attention_mask"].sum()) < batch["input_ids"].numel()  # there is padding
    _, n_all = accumulate_step(model, [batch], "all")
    assert n_all == int(batch["attention_mask"][:, 1:].sum())
