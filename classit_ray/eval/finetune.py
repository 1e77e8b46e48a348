"""GLUE-style fine-tuning of a decoder checkpoint, with the BabyLM official settings.

A checkpoint directory (model + tokenizer, as `save_checkpoint` writes it) is loaded as
`LlamaForSequenceClassification`: the LM body plus a fresh linear `score` head. The input is the
task's text fields joined by the EOS token, `<s> field1</s>field2[</s>field3]`, with no spaces
around `</s>` so that each field is tokenized as text that starts a document; right padding,
truncation to `max_len` tokens (the end of the last field is what gets cut).

Pooling: transformers' `GenericForSequenceClassification.forward` (transformers 5.24,
`modeling_layers.py`) pools the logits of the *rightmost token that is not `pad_token_id`*
(`(arange(T) * (input_ids != pad)).argmax(-1)`), so with right padding and the config's
`pad_token_id` set it reads the last real token of each row. That is the pooling a causal model
needs: only the last token has seen the whole input (first-token pooling sits at chance, see
FORMATS.md). `pad_token_id` must never occur inside a real input, which holds for `<pad>`.

Official settings: AdamW lr 3e-5, weight decay 0.01, cosine schedule with 6% warmup, batch 16
(BoolQ, MultiRC) / 32, 10 epochs (WSC 30), max length 512; the best epoch on valid is kept, by
F1 of the positive class for MRPC and QQP and accuracy otherwise.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch

from classit_ray import progress
from classit_ray.safe_loading import MODEL_LOAD_KWARGS, check_model_dir

F1_TASKS = ("mrpc", "qqp")
SMALL_BATCH_TASKS = ("boolq", "multirc")  # long passages: batch 16 instead of 32


@dataclass(frozen=True)
class FinetuneConfig:
    lr: float = 3e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    epochs: int = 0  # 0 = the official epochs for the task (10; WSC 30)
    batch_size: int = 0  # 0 = the official batch size for the task (16 BoolQ/MultiRC; 32)
    max_len: int = 512
    seed: int = 0
    threads: int = 0  # torch intra-op threads during the run; 0 = leave the process setting
    device: str = "cpu"

    def __post_init__(self):
        problems = [
            f"{name} must be {rule}, got {getattr(self, name)!r}"
            for name, rule, ok in (
                ("lr", "> 0", self.lr > 0),
                ("weight_decay", ">= 0", self.weight_decay >= 0),
                ("warmup_ratio", "in [0, 1)", 0 <= self.warmup_ratio < 1),
                ("epochs", ">= 0", self.epochs >= 0),
                ("batch_size", ">= 0", self.batch_size >= 0),
                ("max_len", ">= 2", self.max_len >= 2),
                ("threads", ">= 0", self.threads >= 0),
            )
            if not ok
        ]
        if problems:
            raise ValueError("FinetuneConfig: " + "; ".join(problems))

    def epochs_for(self, task: str) -> int:
        return self.epochs or (30 if task == "wsc" else 10)

    def batch_size_for(self, task: str) -> int:
        return self.batch_size or (16 if task in SMALL_BATCH_TASKS else 32)


def task_metric(task: str) -> str:
    return "f1" if task in F1_TASKS else "accuracy"


def metric_value(metric: str, predictions: list[int], labels: list[int]) -> float:
    """Accuracy, or F1 of the positive class (label 1), as a fraction in [0, 1]."""
    if metric == "accuracy":
        return sum(p == y for p, y in zip(predictions, labels)) / len(labels)
    if metric != "f1":
        raise ValueError(f"unknown metric {metric!r}; expected 'accuracy' or 'f1'")
    true_pos = sum(p == 1 and y == 1 for p, y in zip(predictions, labels))
    predicted, actual = sum(p == 1 for p in predictions), sum(y == 1 for y in labels)
    return 2 * true_pos / (predicted + actual) if predicted + actual else 0.0  # 2TP / (2TP + FP + FN)


def join_fields(row: dict, text_fields: tuple[str, ...], separator: str) -> str:
    return separator.join(str(row[field]) for field in text_fields)


def load_classifier(model_dir: str | Path, num_labels: int, device: str = "cpu"):
    """(LlamaForSequenceClassification in fp32, its tokenizer set to right padding)."""
    from transformers import AutoTokenizer, LlamaForSequenceClassification
    from transformers.utils import logging as transformers_logging

    check_model_dir(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    if tokenizer.pad_token_id is None or tokenizer.eos_token is None:
        raise ValueError(
            f"{model_dir}: the tokenizer needs a pad token (last-token pooling) and an EOS token (field separator)"
        )
    tokenizer.padding_side = "right"
    # The classification head is new by design; transformers' load report says so at warning
    # level once per task, which buries a study's log. Errors still show.
    verbosity = transformers_logging.get_verbosity()
    transformers_logging.set_verbosity_error()
    try:
        model = LlamaForSequenceClassification.from_pretrained(
            str(model_dir),
            num_labels=num_labels,
            pad_token_id=tokenizer.pad_token_id,
            dtype=torch.float32,
            **MODEL_LOAD_KWARGS,
        )
    finally:
        transformers_logging.set_verbosity(verbosity)
    return model.to(device), tokenizer


def encode_rows(tokenizer, rows: list[dict], text_fields: tuple[str, ...], max_len: int) -> list[dict]:
    """Unpadded features `{input_ids, attention_mask, labels}` per row (the collator pads a batch)."""
    texts = [join_fields(row, text_fields, tokenizer.eos_token) for row in rows]
    encoded = tokenizer(texts, truncation=True, max_length=max_len)
    return [
        {"input_ids": ids, "attention_mask": mask, "labels": int(row["label"])}
        for ids, mask, row in zip(encoded["input_ids"], encoded["attention_mask"], rows)
    ]


@torch.no_grad()
def predict(model, loader, device: str) -> list[int]:
    model.eval()
    predictions: list[int] = []
    for batch in loader:
        batch = {k: v.to(device) for k, v in batch.items() if k != "labels"}
        predictions.extend(model(**batch).logits.argmax(-1).tolist())  # logits (B, num_labels)
    return predictions


def _check_rows(rows: list[dict], text_fields: tuple[str, ...], num_labels: int, split: str) -> list[int]:
    """The rows' labels; one error naming every problem of the split."""
    if not rows:
        raise ValueError(f"{split}: no rows")
    problems = []
    missing = sorted({f for row in rows for f in (*text_fields, "label") if f not in row})
    if missing:
        problems.append(f"rows without {missing}")
    else:
        bad = sorted({int(row["label"]) for row in rows if not 0 <= int(row["label"]) < num_labels})
        if bad:
            problems.append(f"labels {bad} outside 0..{num_labels - 1}")
    if num_labels < 2:
        problems.append(f"num_labels {num_labels}: classification needs at least 2 (1 would make HF regress)")
    if problems:
        raise ValueError(f"{split}: " + "; ".join(problems))
    return [int(row["label"]) for row in rows]


def finetune_task(
    model_dir: str | Path,
    task: str,
    train_rows: list[dict],
    valid_rows: list[dict],
    text_fields: tuple[str, ...],
    num_labels: int,
    cfg: FinetuneConfig = FinetuneConfig(),
) -> dict:
    """Fine-tune on `train_rows`, evaluate on `valid_rows` after every epoch, keep the best epoch.

    Returns task, metric, score (best valid metric, a fraction), best_epoch (1-based),
    predictions (valid, at the best epoch), majority_baseline (the metric of always predicting
    the most frequent train label) and history (per epoch: mean train loss, valid score).
    """
    from torch.utils.data import DataLoader
    from transformers import DataCollatorWithPadding, get_cosine_schedule_with_warmup

    train_labels = _check_rows(train_rows, text_fields, num_labels, f"{task} train")
    valid_labels = _check_rows(valid_rows, text_fields, num_labels, f"{task} valid")
    metric = task_metric(task)
    counts = Counter(train_labels)
    majority = min(counts, key=lambda y: (-counts[y], y))  # ties: the smaller label, deterministically

    previous_threads = torch.get_num_threads()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    try:
        torch.manual_seed(cfg.seed)  # the fresh score head is drawn from torch's global generator
        model, tokenizer = load_classifier(model_dir, num_labels, cfg.device)
        collate = DataCollatorWithPadding(tokenizer, return_tensors="pt")
        batch_size, epochs = cfg.batch_size_for(task), cfg.epochs_for(task)
        train_loader = DataLoader(
            encode_rows(tokenizer, train_rows, text_fields, cfg.max_len),
            batch_size=batch_size,
            shuffle=True,
            generator=torch.Generator().manual_seed(cfg.seed),
            collate_fn=collate,
        )
        valid_loader = DataLoader(
            encode_rows(tokenizer, valid_rows, text_fields, cfg.max_len), batch_size=batch_size, collate_fn=collate
        )
        optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        total_steps = epochs * len(train_loader)
        scheduler = get_cosine_schedule_with_warmup(optimizer, round(cfg.warmup_ratio * total_steps), total_steps)

        history, best = [], {"score": -1.0, "epoch": 0, "predictions": []}
        for epoch in range(1, epochs + 1):
            model.train()
            losses = []
            for batch in train_loader:
                loss = model(**{k: v.to(cfg.device) for k, v in batch.items()}).loss  # cross-entropy on pooled logits
                loss.backward()
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                losses.append(loss.item())
                # A study's console shows it (classit_ray/progress.py): MNLI's 10,000 items x 3 epochs take minutes.
                progress.report(
                    task=task,
                    epoch=epoch,
                    epochs=epochs,
                    items=min(len(losses) * batch_size, len(train_rows)),
                    of=len(train_rows),
                )
            predictions = predict(model, valid_loader, cfg.device)
            score = metric_value(metric, predictions, valid_labels)
            history.append({"epoch": epoch, "train_loss": sum(losses) / len(losses), "valid_score": score})
            if score > best["score"]:  # ties keep the earlier epoch
                best = {"score": score, "epoch": epoch, "predictions": predictions}
    finally:
        torch.set_num_threads(previous_threads)

    return {
        "task": task,
        "metric": metric,
        "score": best["score"],
        "best_epoch": best["epoch"],
        "predictions": best["predictions"],
        "majority_baseline": metric_value(metric, [majority] * len(valid_labels), valid_labels),
        "history": history,
    }
