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


def shifted_labels(input_ids: torch.Tensor, target_mask: torch.Tensor) -> torch.Tensor:
    """labels[:, t] = the token position t must predict (t+1), or IGNORE where it does not count
    (prompt, padding) and at the last position. Shifting the labels, not slicing the logits,
    avoids copying a (B, T, V) tensor forward and backward (bench/results/2026-11-25-train-loop-vs-trainer.md)."""
    labels = input_ids.masked_fill(target_mask == 0, IGNORE)
    return F.pad(labels[:, 1:], (0, 1), value=IGNORE)


def target_mask_for(batch: dict[str, torch.Tensor], loss_on: str) -> torch.Tensor:
    """Which tokens are predicted: reply tokens (`reply`), or every real token (`all`)."""
    if loss_on == "reply":
        return batch["reply_mask"]
    if loss_on == "all":
        return batch["attention_mask"]
    raise ValueError(f"loss_on must be 'reply' or 'all', got {loss_on!r}")


def summed_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Sum of next-token cross-entropy over target positions, in fp32.

    logits: (B, T, V); labels: (B, T), already shifted (`shifted_labels`).
    """
    return F.cross_entropy(
        logits.reshape(-1, logits.size(-1)).float(), labels.reshape(-1), ignore_index=IGNORE, reduction="sum"
    )


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
    loss_fn: Callable[[dict[str, torch.Tensor], torch.Tensor], torch.Tensor] | None = None,
) -> tuple[float, int]:
    """Backward over `micro_batches` so the gradient is Σ token losses / N_global.

    DDP averages gradients over workers, so each local loss is scaled by world_size / N. `loss_fn`
    (batch, labels) -> summed loss defaults to `forward_loss(model, ...)`; pass a compiled one to
    compile the model and the vocabulary-sized loss together. N stays a device tensor until the
    end: one host sync per step, for the returned numbers.
    Returns (mean loss per target token over the whole step, N). The caller clips and steps.
    """
    loss_fn = loss_fn or (lambda batch, labels: forward_loss(model, batch, labels))
    labels = [shifted_labels(b["input_ids"], target_mask_for(b, loss_on)) for b in micro_batches]
    count = torch.stack([(lab != IGNORE).sum() for lab in labels]).sum().float().reshape(1)
    if all_reduce_sum is not None:
        count = all_reduce_sum(count)
    n_global = count.clamp(min=1).squeeze(0)
    total = torch.zeros((), device=n_global.device)
    for i, (batch, lab) in enumerate(zip(micro_batches, labels)):
        # Skip DDP's gradient all-reduce on all but the last micro-batch of the step.
        sync = no_sync if (no_sync is not None and i < len(micro_batches) - 1) else contextlib.nullcontext
        with sync():
            with autocast():
                loss_sum = loss_fn(batch, lab)
            (loss_sum * (world_size / n_global)).backward()
        total += loss_sum.detach().float()
    if all_reduce_sum is not None:
        total = all_reduce_sum(total.reshape(1)).squeeze(0)
    mean, n = torch.stack([total / n_global, n_global]).tolist()
    return mean, int(n)
