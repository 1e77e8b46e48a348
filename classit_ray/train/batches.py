"""Turn Ray Data batches of shard rows into model inputs.

Pretraining rows are packed to one length: the batch is a plain (B, T) tensor. Instruction rows
are one pair each, of varying length: they are right-padded to the longest pair of the
micro-batch, with an attention mask, and the padding share is reported (`instruct/pad_fraction`)
so its cost is visible. Padding per pair (rather than packing several pairs into a row) keeps each pair's
attention to itself with no custom mask; the measured padding share on the toy world is in
bench/results/2026-11-25-instruct-padding-vs-packing.md.
"""

from __future__ import annotations

import numpy as np
import torch

PAD_ID = 0  # classit_ray.data.tokenizer.PAD has id 0 in every tokenizer this project trains


def collate_packed(batch: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """(B, T) packed rows -> input_ids int64 and an all-ones attention mask."""
    ids = torch.as_tensor(np.stack(batch["input_ids"]).astype(np.int64))
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


def collate_pairs(batch: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    """Variable-length pairs -> right-padded input_ids, attention_mask and reply_mask."""
    rows, masks = batch["input_ids"], batch["reply_mask"]
    width = max(len(r) for r in rows)
    ids = np.full((len(rows), width), PAD_ID, dtype=np.int64)
    attention = np.zeros((len(rows), width), dtype=np.int64)
    reply = np.zeros((len(rows), width), dtype=np.int64)
    for i, (row, mask) in enumerate(zip(rows, masks)):
        ids[i, : len(row)] = row
        attention[i, : len(row)] = 1
        reply[i, : len(row)] = mask
    return {
        "input_ids": torch.from_numpy(ids),
        "attention_mask": torch.from_numpy(attention),
        "reply_mask": torch.from_numpy(reply),
    }


def collate_for(stage: str):
    return collate_packed if stage == "pretrain" else collate_pairs
