"""Next-token loss, the labels that choose which tokens count, and one optimizer step over
accumulated micro-batches normalised by the *global* number of target tokens.

Why a global count: with reply-only loss, micro-batches hold different numbers of reply tokens.
Averaging a per-micro-batch mean (what HF/TRL loops do by default) weights a token in a short
reply higher than one in a long reply, and the bias changes with the accumulation and worker
counts. Here every target token of the optimizer step weighs 1/N, N counted over all
micro-batches of all workers before any backward pass, so 4 accumulated micro-batches give the
same gradient as one batch 4× the size, on any number of workers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch
import torch.nn.functional as F

IGNORE = -100


def make_labels(input_ids: torch.Tensor, target_mask: torch.Tensor) -> torch.Tensor:
    """Labels = input_ids where `target_mask` is 1, else IGNORE (prompt, padding)."""
    return input_ids.masked_fill(target_mask == 0, IGNORE)


def target_mask_for(batch: dict[str, torch.Tensor], loss_on: str) -> torch.Tensor:
    """Which tokens are predicted: reply tokens (`reply`), or every real token (`all`)."""
    if loss_on == "reply":
        return batch["reply_mask"]
    if loss_on == "all":
        return batch["attention_mask"]
    raise ValueError(f"loss_on must be 'reply' or 'all', got {loss_on!r}")


def count_targets(labels: torch.Tensor) -> int:
    """Targets a micro-batch contributes: labels after the shift (position 0 predicts nothing)."""
    return int((labels[:, 1:] != IGNORE).sum())


def summed_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Sum of next-token cross-entropy over target positions, in fp32.

    logits: (B, T, V); labels: (B, T). Position t predicts token t+1.
    """
    vocab = logits.size(-1)
    return F.cross_entropy(logits[:, :-1].reshape(-1, vocab).float(), labels[:, 1:].reshape(-1), ignore_index=IGNORE, reduction="sum")


def forward_loss(model, batch: dict[str, torch.Tensor], labels: torch.Tensor) -> torch.Tensor:
    logits = model(input_ids=batch["input_ids"], attention_mask=batch.get("attention_mask")).logits
    return summed_loss(logits, labels)


def accumulate_step(
    model,
    micro_batches: list[dict[str, torch.Tensor]],
    loss_on: str,
    world_size: int = 1,
    all_reduce_sum: Callable[[torch.Tensor], torch.Tensor] | None = None,
    no_sync: Callable[[], contextlib.AbstractContextManager] | None = None,
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
) -> tuple[float, int]:
    """Backward over `micro_batches` so the gradient is Σ token losses / N_global.

    DDP averages gradients over workers, so each local loss is scaled by world_size / N.
    Returns (mean loss per target token over the whole step, N). The caller clips and steps.
    """
    labels = [make_labels(b["input_ids"], target_mask_for(b, loss_on)) for b in micro_batches]
    counts = torch.tensor([float(sum(count_targets(lab) for lab in labels))], device=micro_batches[0]["input_ids"].device)
    if all_reduce_sum is not None:
        counts = all_reduce_sum(counts)
    n_global = max(int(counts.item()), 1)
    total = torch.zeros((), device=counts.device)
    for i, (batch, lab) in enumerate(zip(micro_batches, labels)):
        # Skip DDP's gradient all-reduce on all but the last micro-batch of the step.
        sync = no_sync if (no_sync is not None and i < len(micro_batches) - 1) else contextlib.nullcontext
        with sync():
            with autocast():
                loss_sum = forward_loss(model, batch, lab)
            (loss_sum * (world_size / n_global)).backward()
        total += loss_sum.detach()
    if all_reduce_sum is not None:
        total = all_reduce_sum(total.reshape(1)).reshape(())
    return float(total) / n_global, n_global
