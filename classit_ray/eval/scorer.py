"""Summed log-probabilities of continuations given contexts: the one scorer behind every
minimal-pair task and the reading-time surprisals.

Which tokens a (context, continuation) request scores is the scorer's `convention`
(`eval.convention`, config.EvalConvention):

- **official** (the BabyLM 2025 pipeline's causal rule, `sentence_zero_shot/dataset.py`): the whole
  text `context + continuation` is tokenized with the tokenizer's own special tokens, and the
  scored tokens are those whose character span ends past `len(context)` (plus the first token's
  start offset, as the official code adds it), the first token never. So a context that ends in a
  space, as entity tracking's `input_prefix` does, gives the continuation the token " the" that
  the whole sentence has, and the first word goes unscored where the tokenizer adds no `<s>`.
- **clean**: `<s>` is prepended, so the first word of a sentence is always scored, and the
  continuation's tokens are those of `context + continuation` past the tokens of `context` alone
  (as lm-evaluation-harness does); where the boundary merges into one token, the context's tokens
  and the continuation's own tokenization are kept apart.

The two give the same tokens wherever the boundary falls between tokens and the tokenizer's
post-processor adds `<s>` alone (BLiMP, EWoK, WUG, COMPS with this project's tokenizers).
`word_loglikelihood` is the official reading rule (`reading/evaluation_functions.get_p2`).
Log-probabilities in fp32, whatever the model's dtype.

How it is fast without changing a score (`loglikelihood`; `loglikelihood_one_by_one` is the
simple reference it is tested against, to fp32 rounding):
- **Shared first tokens are run once, across all requests.** Sequences are taken in
  lexicographic order of their token ids, and each row is the prefix tree of its sequences: a
  token that several sequences reach by the same path (`<s>`; an item's context, such as EWoK's
  `Context1` or entity tracking's long `input_prefix`; the words a minimal pair shares; a
  template's opening shared by many items) is one input, at the position it has in each of them.
  An attention mask lets every token see its ancestors and itself only, so each sequence is
  computed as it would be alone. Rows hold `ROW_TOKENS` tree nodes (a sweep of 64-512 put the
  optimum at 128: wider rows share more but attend over more).
- **A sequence's last token is never input**: it is only predicted.
- **Rows are sorted by width and packed**, up to `batch_size` rows and `max_batch_tokens`
  tokens, right-padded, and a batch ends where the next row would take its padding past a
  quarter of its real tokens (a few long rows get a batch of their own instead of widening a
  batch of short ones). Padding is masked from every real token.
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

import numpy as np
import torch

from classit_ray.config import EvalConfig, EvalConvention
from classit_ray.eval.items import EvalDataError
from classit_ray.safe_loading import MODEL_LOAD_KWARGS, check_model_dir

ROW_TOKENS = (
    128  # a row's input tokens (more when one sequence alone is longer): a larger row shares more, and attends wider
)
MAX_PADDED_SHARE = 1.25  # a batch's padded tokens / its real tokens: a wider row starts the next batch


class LanguageModel(Protocol):
    def loglikelihood(self, requests: list[tuple[str, str]]) -> list[float]:
        """Σ log p(continuation tokens | context), one float per (context, continuation), the
        tokens chosen by the scorer's convention."""
        ...

    def word_loglikelihood(self, requests: list[tuple[str, str]]) -> list[float]:
        """log p(word | sentence) per (sentence, word) by the official reading rule (the official
        reading convention only)."""
        ...


class DummyLM:
    """Constant scores for everything: the harness's own test model."""

    def loglikelihood(self, requests: list[tuple[str, str]]) -> list[float]:
        return [0.0] * len(requests)

    def word_loglikelihood(self, requests: list[tuple[str, str]]) -> list[float]:
        return [0.0] * len(requests)


@dataclass
class _Row:
    """A prefix tree of token ids laid out depth-first: node i holds one input token at position
    `depth[i]` and attends to its ancestors and itself, so every sequence through it is computed
    as it would be alone. `scored` lists, per scored token, (node whose output predicts it, target
    token, request)."""

    tokens: list[int]
    parent: list[int]
    depth: list[int]
    scored: list[tuple[int, int, int]]

    def width(self) -> int:
        return len(self.tokens)


def _plan_rows(sequences: list[tuple[list[int], int]], row_tokens: int = ROW_TOKENS) -> list[_Row]:
    """Rows for (token ids, first scored index) per request. Sequences go in lexicographic order of
    their ids, so those that share first tokens (`<s>` always; an item's context; the first words
    of a minimal pair; a template's opening across items) sit next to each other, and each row is
    the prefix tree of its sequences' inputs (every token but the last, which is only predicted):
    a shared prefix is input once. A row takes sequences until the next would take it past
    `row_tokens` nodes."""
    rows: list[_Row] = []
    row, children = None, []
    for request in sorted(range(len(sequences)), key=lambda r: sequences[r][0]):
        ids, first = sequences[request]
        path = _shared_path(children, ids) if row is not None else []  # path[k]: the node of input token k
        if row is None or row.width() + len(ids) - 1 - len(path) > row_tokens:
            row, children, path = _Row([], [], [], []), [{}], []  # children[0]: the virtual root's
            rows.append(row)
        node = path[-1] + 1 if path else 0  # 1 + node index, 0 the root
        for k in range(len(path), len(ids) - 1):  # the inputs not yet in the tree
            child = len(row.tokens) + 1
            row.tokens.append(ids[k])
            row.parent.append(node - 1)
            row.depth.append(k)
            children[node][ids[k]] = child
            children.append({})
            path.append(child - 1)
            node = child
        # Token p is predicted by the output at input token p - 1.
        row.scored.extend((path[p - 1], ids[p], request) for p in range(first, len(ids)))
    return rows


def _shared_path(children: list[dict[int, int]], ids: list[int]) -> list[int]:
    """The nodes of a row's tree that `ids`' first inputs already reach, in order."""
    path, node = [], 0
    for token in ids[:-1]:
        node = children[node].get(token)
        if node is None:
            break
        path.append(node - 1)
    return path


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

    def __init__(
        self,
        model_dir: str | Path,
        device: str = "cpu",
        batch_size: int = 64,
        max_batch_tokens: int = 2048,
        convention: EvalConvention = EvalConfig.convention,
    ):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        model_dir = check_model_dir(model_dir, EvalDataError)
        if not any((model_dir / f).is_file() for f in ("tokenizer.json", "tokenizer.model", "vocab.json")):
            raise EvalDataError(
                f"{model_dir}: no tokenizer (tokenizer.json); the model directory must carry its tokenizer"
            )
        self.tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
        self.model = AutoModelForCausalLM.from_pretrained(str(model_dir), **MODEL_LOAD_KWARGS).to(device).eval()
        self.device, self.batch_size, self.max_batch_tokens = device, batch_size, max_batch_tokens
        self.bos = (
            self.tokenizer.bos_token_id if self.tokenizer.bos_token_id is not None else self.tokenizer.eos_token_id
        )
        self._split = _split_head(self.model)
        self.convention = convention

    # ------------------------------------------------------------------------------ tokenization

    def _encode_all(self, requests: list[tuple[str, str]]) -> list[tuple[tuple[int, ...], list[int]]]:
        """(unscored token ids, scored token ids) per request, by the scorer's convention."""
        return self._encode_official(requests) if self.convention == "official" else self._encode_clean(requests)

    def _encode_official(self, requests: list[tuple[str, str]]) -> list[tuple[tuple[int, ...], list[int]]]:
        """The official rule: the whole text tokenized once (special tokens included), its tokens
        from the first whose character span ends past the context scored, the first token never."""
        texts = [context + continuation for context, continuation in requests]
        encoded = self.tokenizer(texts, return_offsets_mapping=True) if texts else None
        out = []
        for (context, continuation), ids, offsets in zip(
            requests, encoded.input_ids if encoded else [], encoded.offset_mapping if encoded else []
        ):
            start = len(context) + (offsets[0][0] if offsets else 0)
            scored = [i for i in range(1, len(ids)) if offsets[i][1] > start]
            if not scored:
                raise EvalDataError(f"empty continuation after {context[-40:]!r}: nothing to score")
            first, last = scored[0], scored[-1]
            if len(scored) != last - first + 1:  # offsets out of order: no plain text does this
                raise EvalDataError(f"{context[-40:] + continuation!r}: the continuation's tokens are not contiguous")
            # Tokens after the last scored one (an appended </s>) change no score of a causal model.
            out.append((tuple(ids[:first]), ids[first : last + 1]))
        return out

    def _encode_clean(self, requests: list[tuple[str, str]]) -> list[tuple[tuple[int, ...], list[int]]]:
        """(`<s>` + context token ids, continuation token ids) per request, in one batched call."""
        contexts = sorted({context for context, _ in requests if context})
        texts = contexts + [context + continuation for context, continuation in requests]
        ids = self.tokenizer(texts, add_special_tokens=False).input_ids if texts else []
        context_ids = dict(zip(contexts, ids))
        out = []
        for (context, continuation), whole in zip(requests, ids[len(contexts) :]):
            ctx = context_ids.get(context, [])
            if whole[: len(ctx)] != ctx:  # the boundary merged into one token: keep the pieces apart
                whole = ctx + self.tokenizer(continuation, add_special_tokens=False).input_ids
            if len(whole) == len(ctx):
                raise EvalDataError(f"empty continuation after {context[-40:]!r}: nothing to score")
            out.append(((self.bos, *ctx), whole[len(ctx) :]))
        return out

    def encode(self, context: str, continuation: str) -> tuple[list[int], int]:
        """(the request's token ids, number of scored tokens at their end)."""
        [(prefix, continuation_ids)] = self._encode_all([(context, continuation)])
        return [*prefix, *continuation_ids], len(continuation_ids)

    # ----------------------------------------------------------------------------- fast scoring

    def loglikelihood(self, requests: list[tuple[str, str]]) -> list[float]:
        return self.score_sequences(
            [([*prefix, *continuation], len(prefix)) for prefix, continuation in self._encode_all(requests)]
        )

    def word_loglikelihood(self, requests: list[tuple[str, str]]) -> list[float]:
        """log p(word | sentence) per (sentence, word) by the official reading rule (`get_p2`): the
        word tokenized alone, without a leading space; its first token scored after the sentence
        tokenized with the tokenizer's special tokens; each further token `t` scored, as the first
        token of `tokenizer(decode(t))`, after the sentence extended by the decoded tokens before
        it and tokenized afresh; the log-probabilities summed (the official product of p)."""
        steps: list[tuple[str, int, int]] = []  # (context, target token, request)
        for r, (sentence, word) in enumerate(requests):
            target = self.tokenizer(word, add_special_tokens=False).input_ids
            if not target:
                raise EvalDataError(f"reading word {word!r} (after {sentence[-40:]!r}) has no tokens: nothing to score")
            steps.append((sentence, target[0], r))
            text = sentence + self.tokenizer.decode(target[0])
            for token in target[1:]:
                piece = self.tokenizer.decode(token)
                steps.append((text, self.tokenizer(piece, add_special_tokens=False).input_ids[0], r))
                text += piece
        contexts = sorted({context for context, _, _ in steps})
        ids = dict(zip(contexts, self.tokenizer(contexts).input_ids)) if contexts else {}
        empty = next((c for c in contexts if not ids[c]), None)
        if empty is not None:
            raise EvalDataError(
                f"reading context {empty!r} tokenizes to nothing and the tokenizer adds no <s>: "
                "the official rule has no position to predict the word from"
            )
        scores = self.score_sequences([([*ids[context], token], len(ids[context])) for context, token, _ in steps])
        out = [0.0] * len(requests)
        for (_, _, r), score in zip(steps, scores):
            out[r] += score
        return out

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
            if batch and (
                len(batch) == self.batch_size
                or padded > self.max_batch_tokens
                or padded > MAX_PADDED_SHARE * (real + row.width())
            ):
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
        ids = np.full((len(rows), width), self.bos, dtype=np.int64)  # (B, T)
        positions = np.zeros((len(rows), width), dtype=np.int64)  # (B, T): a node's depth in its tree
        # Each node sees its ancestors and itself; padding sees itself only (no empty softmax).
        allowed = np.zeros((len(rows), width, width), dtype=bool)  # (B, T, T)
        sources: dict[tuple[int, int], int] = {}  # (row, node) whose output predicts a scored token -> index
        source, targets, owner = [], [], []  # one entry per scored token
        for b, row in enumerate(rows):
            n = row.width()
            ids[b, :n], positions[b, :n] = row.tokens, row.depth
            ancestors = allowed[b]
            for i, parent in enumerate(row.parent):  # depth-first: a parent comes before its children
                if parent >= 0:
                    ancestors[i] = ancestors[parent]
                ancestors[i, i] = True
            ancestors[range(n, width), range(n, width)] = True
            for node, target, request in row.scored:
                source.append(sources.setdefault((b, node), len(sources)))
                targets.append(target)
                owner.append(request)
        dtype = self.model.dtype
        mask = torch.zeros(allowed.shape, dtype=dtype).masked_fill_(torch.from_numpy(~allowed), torch.finfo(dtype).min)[
            :, None
        ]
        mask, positions = mask.to(self.device), torch.from_numpy(positions).to(self.device)
        ids = torch.from_numpy(ids).to(self.device)
        rows_t, columns_t = (torch.tensor(x, device=self.device) for x in zip(*sources))
        if self._split is not None:
            decoder, head = self._split
            hidden = decoder(
                input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=False
            ).last_hidden_state
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
