"""Summed log-probabilities of continuations given contexts: the one scorer behind every
minimal-pair task and the reading-time surprisals.

- `<s>` is prepended, so the first word of a sentence is scored too (the official evaluator
  scores nothing for it).
- Only the continuation's tokens are summed. Its tokens are those of `context + continuation`
  past the tokens of `context` alone (as lm-evaluation-harness does), so a candidate is
  tokenized as it reads in running text.
- Log-softmax in fp32, whatever the model's dtype.
- Sequences are batched by exact length: no padding, no attention mask, no wasted compute.

`DummyLM` gives every continuation the same score: a harness run with it must show chance
accuracy and a 100% tie rate, which the tests check.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Protocol

import torch

from classit_ray.eval.items import EvalDataError
from classit_ray.safe_loading import MODEL_LOAD_KWARGS, check_model_dir


class LanguageModel(Protocol):
    def loglikelihood(self, requests: list[tuple[str, str]]) -> list[float]:
        """Σ log p(continuation tokens | <s> context), one float per (context, continuation)."""
        ...


class DummyLM:
    """Constant scores for everything: the harness's own test model."""

    def loglikelihood(self, requests: list[tuple[str, str]]) -> list[float]:
        return [0.0] * len(requests)


class HFCausalLM:
    """A causal LM directory with its tokenizer (any checkpoint this project writes, or any HF model)."""

    def __init__(self, model_dir: str | Path, device: str = "cpu", batch_size: int = 64):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        model_dir = check_model_dir(model_dir, EvalDataError)
        if not any((model_dir / f).is_file() for f in ("tokenizer.json", "tokenizer.model", "vocab.json")):
            raise EvalDataError(f"{model_dir}: no tokenizer (tokenizer.json); the model directory must carry its tokenizer")
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
        self.model = AutoModelForCausalLM.from_pretrained(str(model_dir), **MODEL_LOAD_KWARGS).to(device).eval()
        self.device, self.batch_size = device, batch_size
        self.bos = self.tokenizer.bos_token_id if self.tokenizer.bos_token_id is not None else self.tokenizer.eos_token_id

    def encode(self, context: str, continuation: str) -> tuple[list[int], int]:
        """(<s> + context + continuation token ids, number of continuation tokens)."""
        encode = lambda text: self.tokenizer(text, add_special_tokens=False).input_ids
        ctx = encode(context) if context else []
        whole = encode(context + continuation)
        if whole[: len(ctx)] != ctx:  # the boundary merged into one token: keep the pieces apart
            whole = ctx + encode(continuation)
        n = len(whole) - len(ctx)
        if n == 0:
            raise EvalDataError(f"empty continuation after {context[-40:]!r}: nothing to score")
        return [self.bos, *whole], n

    @torch.no_grad()
    def _score_batch(self, rows: list[list[int]], n_cont: list[int]) -> list[float]:
        ids = torch.tensor(rows, device=self.device)  # (B, T), all the same length
        logits = self.model(input_ids=ids).logits.float()  # (B, T, V)
        logprobs = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:, None]).squeeze(-1)  # (B, T-1)
        return [float(row[-n:].sum()) for row, n in zip(logprobs, n_cont)]

    def loglikelihood(self, requests: list[tuple[str, str]]) -> list[float]:
        encoded = [self.encode(c, x) for c, x in requests]
        by_length: dict[int, list[int]] = defaultdict(list)
        for i, (ids, _) in enumerate(encoded):
            by_length[len(ids)].append(i)
        scores = [0.0] * len(requests)
        for indices in by_length.values():
            for start in range(0, len(indices), self.batch_size):
                chunk = indices[start : start + self.batch_size]
                for i, s in zip(chunk, self._score_batch([encoded[i][0] for i in chunk], [encoded[i][1] for i in chunk])):
                    scores[i] = s
        return scores

    def loglikelihood_one_by_one(self, requests: list[tuple[str, str]]) -> list[float]:
        """The reference: each sequence alone (for tests and the scorer benchmark)."""
        out = []
        for context, continuation in requests:
            ids, n = self.encode(context, continuation)
            out.extend(self._score_batch([ids], [n]))
        return out
