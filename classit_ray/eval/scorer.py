"""Summed log-probabilities of continuations given contexts: the one scorer behind every
minimal-pair task and the reading-time surprisals.

- `<s>` is prepended, so the first word of a sentence is scored too (the official evaluator
  scores nothing for it).
- Only the continuation's tokens are summed. Its tokens are those of `context + continuation`
  past the tokens of `context` alone (as lm-evaluation-harness does), so a candidate is
  tokenized as it reads in running text.
- Log-probabilities in fp32, whatever the model's dtype.

How it is fast without changing a score (`loglikelihood`; `loglikelihood_one_by_one` is the
simple reference it is tested against, to fp32 rounding):
- **Shared first tokens are run once.** Consecutive requests (the candidates of one item) that
  start with the same tokens share one row: that *trunk* (`<s>`, the context, and the candidates'
  common first words: EWoK's `Context1` and " It ate", entity tracking's long `input_prefix`,
  the start of a BLiMP minimal pair) is computed once, then each sequence's own tokens follow, and
  an attention mask lets each see the trunk and itself only, at the positions it has alone. A
  sequence joins a row only when that saves tokens; a row of one sequence needs no mask.
- **A sequence's last token is never input**: it is only predicted.
- **Rows are sorted by width and packed**, up to `batch_size` rows and `max_batch_tokens`
  tokens, right-padded, and a batch ends where the next row would take its padding past a
  quarter of its real tokens (a few long rows get a batch of their own instead of widening a
  batch of short ones). Right padding changes nothing for the real tokens under a causal mask.
- **Only the scored positions reach the LM head**, each once: log p = logit[target] −
  logsumexp(logits), instead of a log-softmax over every position's vocabulary.
- Tokenization is one batched call of the fast tokenizer; no KV cache is kept.

`DummyLM` gives every continuation the same score: a harness run with it must show chance
accuracy and a 100% tie rate, which the tests check.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch

from classit_ray.eval.items import EvalDataError
from classit_ray.safe_loading import MODEL_LOAD_KWARGS, check_model_dir

MAX_SEQUENCES_PER_ROW = 8  # sequences sharing one row's trunk; more start another row
MAX_PADDED_SHARE = 1.25  # a batch's padded tokens / its real tokens: a wider row starts the next batch


class LanguageModel(Protocol):
    def loglikelihood(self, requests: list[tuple[str, str]]) -> list[float]:
        """Σ log p(continuation tokens | <s> context), one float per (context, continuation)."""
        ...


class DummyLM:
    """Constant scores for everything: the harness's own test model."""

    def loglikelihood(self, requests: list[tuple[str, str]]) -> list[float]:
        return [0.0] * len(requests)


@dataclass
class _Row:
    """Sequences that share their first `trunk` tokens, computed once: the row's input is that
    trunk, then each sequence's own tokens after it but its last (a last token is only predicted,
    so it is never input). Each sequence sees the trunk and itself, at the positions it has alone."""

    sequences: list[tuple[list[int], int, int]]  # (<s> + context + continuation ids, first scored index, request)
    trunk: int

    def width(self) -> int:
        return self.trunk + sum(len(ids) - self.trunk - 1 for ids, _, _ in self.sequences)


def _common_prefix(a: list[int], b: list[int], limit: int) -> int:
    n = 0
    while n < limit and a[n] == b[n]:
        n += 1
    return n


def _plan_rows(sequences: list[tuple[list[int], int]]) -> list[_Row]:
    """Rows for (token ids, first scored index) in request order. A sequence joins the row before
    it when that saves input tokens: a row of n sequences whose trunk shrinks from t to t' tokens
    saves t - n·(t - t'). Candidates of one item come one after another, and share `<s>`, the
    context and often the first words of the candidates (BLiMP's minimal pairs differ in a word);
    a sequence alone is a row whose trunk is all of it but its last token."""
    rows: list[_Row] = []
    for request, (ids, first) in enumerate(sequences):
        row = rows[-1] if rows else None
        if row is not None and len(row.sequences) < MAX_SEQUENCES_PER_ROW:
            trunk = _common_prefix(row.sequences[0][0], ids, min(row.trunk, len(ids) - 1))
            if trunk >= 2 and row.trunk - len(row.sequences) * (row.trunk - trunk) >= 1:
                row.trunk = trunk
                row.sequences.append((ids, first, request))
                continue
        rows.append(_Row([(ids, first, request)], len(ids) - 1))
    return rows


def _split_head(model):
    """(decoder, LM head) when the model's logits are exactly `head(decoder(ids).last_hidden_state)`
    (LLaMA, GPT-2, ...), so the head can run on the scored positions alone; None otherwise (a
    model that scales or caps its logits), and then the full model's logits are used."""
    decoder, head = getattr(model, "base_model", None), model.get_output_embeddings()
    if decoder is None or decoder is model or head is None:
        return None
    ids = torch.arange(1, 9, device=model.device)[None] % model.config.vocab_size
    with torch.inference_mode():
        full = model(input_ids=ids, use_cache=False).logits
        split = head(decoder(input_ids=ids, use_cache=False).last_hidden_state)
    return (decoder, head) if torch.equal(full, split) else None


class HFCausalLM:
    """A causal LM directory with its tokenizer (any checkpoint this project writes, or any HF model)."""

    def __init__(self, model_dir: str | Path, device: str = "cpu", batch_size: int = 64, max_batch_tokens: int = 2048):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        model_dir = check_model_dir(model_dir, EvalDataError)
        if not any((model_dir / f).is_file() for f in ("tokenizer.json", "tokenizer.model", "vocab.json")):
            raise EvalDataError(f"{model_dir}: no tokenizer (tokenizer.json); the model directory must carry its tokenizer")
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
        self.model = AutoModelForCausalLM.from_pretrained(str(model_dir), **MODEL_LOAD_KWARGS).to(device).eval()
        self.device, self.batch_size, self.max_batch_tokens = device, batch_size, max_batch_tokens
        self.bos = self.tokenizer.bos_token_id if self.tokenizer.bos_token_id is not None else self.tokenizer.eos_token_id
        self._split = _split_head(self.model)

    # ------------------------------------------------------------------------------ tokenization

    def _encode_all(self, requests: list[tuple[str, str]]) -> list[tuple[tuple[int, ...], list[int]]]:
        """(`<s>` + context token ids, continuation token ids) per request, in one batched call."""
        contexts = sorted({context for context, _ in requests if context})
        texts = contexts + [context + continuation for context, continuation in requests]
        ids = self.tokenizer(texts, add_special_tokens=False).input_ids if texts else []
        context_ids = dict(zip(contexts, ids))
        out = []
        for (context, continuation), whole in zip(requests, ids[len(contexts):]):
            ctx = context_ids.get(context, [])
            if whole[: len(ctx)] != ctx:  # the boundary merged into one token: keep the pieces apart
                whole = ctx + self.tokenizer(continuation, add_special_tokens=False).input_ids
            if len(whole) == len(ctx):
                raise EvalDataError(f"empty continuation after {context[-40:]!r}: nothing to score")
            out.append(((self.bos, *ctx), whole[len(ctx):]))
        return out

    def encode(self, context: str, continuation: str) -> tuple[list[int], int]:
        """(<s> + context + continuation token ids, number of continuation tokens)."""
        [(prefix, continuation_ids)] = self._encode_all([(context, continuation)])
        return [*prefix, *continuation_ids], len(continuation_ids)

    # ----------------------------------------------------------------------------- fast scoring

    def loglikelihood(self, requests: list[tuple[str, str]]) -> list[float]:
        return self.score_sequences([([*prefix, *continuation], len(prefix)) for prefix, continuation in self._encode_all(requests)])

    def score_sequences(self, sequences: list[tuple[list[int], int]]) -> list[float]:
        """Summed log-probs of the tokens `ids[first:]` of each (ids, first), already tokenized
        (`<s>` included where wanted; `first` >= 1): what `loglikelihood` scores once it has
        tokenized, for callers that build token ids themselves (the instruction template)."""
        rows = sorted(_plan_rows(sequences), key=_Row.width)
        scores = [0.0] * len(sequences)
        batch: list[_Row] = []
        real = 0  # tokens of the batch's rows, without padding
        for row in rows:  # ascending width: the row being added is the widest of its batch
            padded = (len(batch) + 1) * row.width()
            if batch and (len(batch) == self.batch_size or padded > self.max_batch_tokens
                          or padded > MAX_PADDED_SHARE * (real + row.width())):
                self._score_rows(batch, scores)
                batch, real = [], 0
            batch.append(row)
            real += row.width()
        if batch:
            self._score_rows(batch, scores)
        return scores

    @torch.inference_mode()
    def _score_rows(self, rows: list[_Row], scores: list[float]) -> None:
        """Add the log-probability of every scored token of `rows` (one right-padded batch) to `scores`."""
        width = max(row.width() for row in rows)
        shared = any(len(row.sequences) > 1 for row in rows)
        ids = torch.full((len(rows), width), self.bos, dtype=torch.long)  # (B, T)
        # Only for rows of several sequences: each sequence attends to the trunk and to itself.
        allowed = torch.zeros(len(rows), width, width, dtype=torch.bool) if shared else None  # (B, T, T)
        positions = torch.arange(width).repeat(len(rows), 1) if shared else None  # (B, T)
        sources: dict[tuple[int, int], int] = {}  # (row, column) whose logits predict a scored token -> index
        source, targets, owner = [], [], []  # one entry per scored token
        for b, row in enumerate(rows):
            t = row.trunk
            ids[b, :t] = torch.tensor(row.sequences[0][0][:t])
            start = t
            for seq, first, request in row.sequences:
                own = seq[t:-1]  # this sequence's input after the trunk
                end = start + len(own)
                if own:
                    ids[b, start:end] = torch.tensor(own)
                if shared:
                    positions[b, start:end] = torch.arange(t, t + len(own))
                    allowed[b, start:end, :t] = True
                    allowed[b, start:end, start:end] = torch.ones(len(own), len(own), dtype=torch.bool).tril()
                # Token p is predicted at position p - 1: a trunk column below t, else this sequence's own.
                for p in range(first, len(seq)):
                    column = p - 1 if p - 1 < t else start + (p - 1 - t)
                    source.append(sources.setdefault((b, column), len(sources)))
                    targets.append(seq[p])
                    owner.append(request)
                start = end
            if shared:
                allowed[b, :t, :t] = torch.ones(t, t, dtype=torch.bool).tril()
                allowed[b, range(start, width), range(start, width)] = True  # padding sees itself: no empty softmax
        mask = None
        if shared:
            dtype = self.model.dtype
            mask = torch.zeros(allowed.shape, dtype=dtype).masked_fill_(~allowed, torch.finfo(dtype).min)[:, None]
            mask, positions = mask.to(self.device), positions.to(self.device)
        ids = ids.to(self.device)
        rows_t, columns_t = (torch.tensor(x, device=self.device) for x in zip(*sources))
        if self._split is not None:
            decoder, head = self._split
            hidden = decoder(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=False).last_hidden_state
            logits = head(hidden[rows_t, columns_t]).float()  # (K source positions, V)
        else:
            logits = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=False).logits
            logits = logits[rows_t, columns_t].float()
        source_t, targets_t = torch.tensor(source, device=self.device), torch.tensor(targets, device=self.device)
        logprobs = logits[source_t, targets_t] - torch.logsumexp(logits, dim=-1)[source_t]  # (N scored tokens,)
        for request, logprob in zip(owner, logprobs.tolist()):
            scores[request] += logprob

    # ------------------------------------------------------------------------ reference scoring

    @torch.no_grad()
    def _score_batch(self, rows: list[list[int]], n_cont: list[int]) -> list[float]:
        ids = torch.tensor(rows, device=self.device)  # (B, T), all the same length
        logits = self.model(input_ids=ids).logits.float()  # (B, T, V)
        logprobs = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:, None]).squeeze(-1)  # (B, T-1)
        return [float(row[-n:].sum()) for row, n in zip(logprobs, n_cont)]

    def loglikelihood_one_by_one(self, requests: list[tuple[str, str]]) -> list[float]:
        """The reference: each sequence alone, the full model's log-softmax (for tests and benchmarks)."""
        out = []
        for context, continuation in requests:
            ids, n = self.encode(context, continuation)
            out.extend(self._score_batch([ids], [n]))
        return out
