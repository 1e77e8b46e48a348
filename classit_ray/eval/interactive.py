"""The interactive task: what instruction tuning trains, scored on pairs it never trained on.

The budget split holds `budget.heldout_pairs` pairs of each instruction config out of every
training draw and writes them as `heldout/<config>.parquet` (`data/budget.py`): the same pairs for
every fraction, seed and curriculum of a study, so the scores of its cells are paired. Each pair is
rendered by the training template itself (`data/template.py`'s `PairRenderer`, imported, so the
evaluation sees exactly what training saw), and scored two ways:

- `eval/interactive_nll/<config>` (better lower): per pair, the summed negative log-likelihood of
  the reply's tokens, the closing `</s>` included (the template trains the model to stop), given
  `<s> <|prompt|> prompt <|reply|>`, divided by the reply's words (whitespace tokens, as the corpus
  and the budget count them); then the mean over the config's pairs. Per word, not per token, so
  models with other tokenizers compare. A reply longer than the model's context is left out and
  reported as skipped, since the template would cut it.
- `eval/interactive_gen` (better higher): greedy generation after `... <|reply|>`, for the pairs
  whose answer is known (the `answer` column: in the toy world, the knowledge-base questions of
  `simple_wiki`, whose reply's first sentence the question decides); at most the answer's tokens +
  `ANSWER_MARGIN` new tokens, stopping at `</s>`. Correct when the reply's first sentence equals the
  answer once both are normalised (case, punctuation, spacing). Switchboard turns and the CLASS_IT
  release carry no known answers: there only the NLL is scored, and a split with no answered pair
  reports `interactive/gen` as skipped.

Any model folder whose tokenizer has the template's markers (`<|prompt|>`, `<|reply|>`) runs it,
the pretrained baseline included: it is scored with the same template, so the gain of instruction
tuning is the difference.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import torch

from classit_ray.atomic import atomic_write_json
from classit_ray.data.template import PairRenderer
from classit_ray.eval.items import EvalDataError
from classit_ray.eval.scorer import HFCausalLM
from classit_ray.eval.task import Task, TaskContext, TaskOutcome
from classit_ray.eval.tasks import INSTRUCT_CONFIGS

# New tokens allowed past the answer's own: room for a tokenization that differs at the reply's
# start and for the sentence's end, not for a second sentence.
ANSWER_MARGIN = 4
_NOT_WORD = re.compile(r"[^\w\s]")


def read_heldout(folder: Path) -> dict[str, pd.DataFrame]:
    """The held-out pairs of each config in `folder` (a split's `heldout/`): prompt, reply, answer."""
    if not folder.is_dir():
        raise EvalDataError(
            f"{folder}: no held-out pairs folder; expected a budget split's heldout/ with <config>.parquet"
        )
    pairs = {}
    for config in INSTRUCT_CONFIGS:
        path = folder / f"{config}.parquet"
        if path.is_file():
            frame = pd.read_parquet(path)
            missing = [c for c in ("prompt", "reply", "answer") if c not in frame]
            if missing:
                raise EvalDataError(f"{path}: missing column(s) {', '.join(missing)}; expected prompt, reply, answer")
            pairs[config] = frame
    return pairs  # {} when nothing was held out (budget.heldout_pairs 0, or no instruction data)


def template_renderer(lm: HFCausalLM) -> PairRenderer:
    """The training template over `lm`'s tokenizer, as long as the model's context."""
    backend = getattr(lm.tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise EvalDataError("the interactive task needs a fast (tokenizers) tokenizer in the model folder")
    renderer = PairRenderer(backend, max_len=lm.model.config.max_position_embeddings)
    if None in (renderer.bos, renderer.eos, renderer.prompt, renderer.reply):
        raise EvalDataError(
            "the model's tokenizer lacks the instruction template's tokens (<s>, </s>, <|prompt|>, "
            "<|reply|>); expected a tokenizer trained by this project (data/tokenizer.py)"
        )
    return renderer


def reply_nll_per_word(
    lm: HFCausalLM, renderer: PairRenderer, prompts: list[str], replies: list[str]
) -> list[float | None]:
    """Per pair, the reply's summed token NLL (`</s>` included) over its words; None for a reply
    the template would cut to fit the model's context."""
    ids, masks = renderer.render_batch(prompts, replies)
    reply_tokens = [len(r.ids) + 1 for r in renderer.tok.encode_batch_fast(replies, add_special_tokens=False)]
    whole = [int(m.sum()) == n for m, n in zip(masks, reply_tokens)]
    sequences = [(i.tolist(), len(i) - int(m.sum())) for i, m, w in zip(ids, masks, whole) if w]
    logprobs = iter(lm.score_sequences(sequences))
    return [-next(logprobs) / len(reply.split()) if w else None for reply, w in zip(replies, whole)]


@torch.inference_mode()
def greedy_replies(lm: HFCausalLM, renderer: PairRenderer, prompts: list[str], max_new: list[int]) -> list[str]:
    """Each prompt's greedy reply under the template, at most `max_new[i]` tokens, up to `</s>`.

    Batched with left padding (explicit positions, so padding moves nothing); no KV cache: the
    replies are a few tokens long and the prompts short."""
    prefixes = []
    for p in renderer.tok.encode_batch_fast(prompts, add_special_tokens=False):
        ids, mask = renderer.render(p.ids, [])  # the reply is `</s>` alone: what precedes it is the prefix
        prefixes.append(ids[: len(ids) - int(mask.sum())].tolist())
    pad = lm.tokenizer.pad_token_id if lm.tokenizer.pad_token_id is not None else renderer.eos
    out: list[str] = []
    for start in range(0, len(prompts), lm.batch_size):
        chunk, budgets = prefixes[start : start + lm.batch_size], max_new[start : start + lm.batch_size]
        width = max(map(len, chunk))
        ids = torch.tensor([[pad] * (width - len(c)) + c for c in chunk], device=lm.device)  # (B, T)
        attention = torch.tensor([[0] * (width - len(c)) + [1] * len(c) for c in chunk], device=lm.device)  # (B, T)
        generated = [[] for _ in chunk]
        done = [False] * len(chunk)
        for _ in range(max(budgets)):
            positions = (attention.cumsum(-1) - 1).clamp(min=0)
            logits = lm.model(input_ids=ids, attention_mask=attention, position_ids=positions, use_cache=False).logits
            nxt = logits[:, -1].float().argmax(-1)  # (B,)
            for b, token in enumerate(nxt.tolist()):
                if done[b]:
                    continue
                if token == renderer.eos:
                    done[b] = True
                else:
                    generated[b].append(token)
                    done[b] = len(generated[b]) >= budgets[b]
            if all(done):
                break
            ids = torch.cat([ids, nxt[:, None]], dim=1)
            attention = torch.cat([attention, torch.ones_like(attention[:, :1])], dim=1)
        out.extend(renderer.tok.decode(g, skip_special_tokens=True) for g in generated)
    return out


def normalise(text: str) -> str:
    """Lower case, punctuation dropped, spacing collapsed: "A fox eats  mice." -> "a fox eats mice"."""
    return " ".join(_NOT_WORD.sub(" ", text.lower()).split())


def first_sentence(text: str) -> str:
    """`text` up to its first sentence end (. ! ?), or all of it."""
    match = re.search(r"[.!?]", text)
    return text[: match.end()] if match else text


def answer_matches(generated: str, answer: str) -> bool:
    """Whether the generated reply's first sentence states `answer` (normalised exact match)."""
    return normalise(first_sentence(generated.strip())) == normalise(answer)


def run_interactive(task: Task, folder: Path, context: TaskContext) -> TaskOutcome:
    lm = context.lm
    if not isinstance(lm, HFCausalLM):
        raise EvalDataError(
            "the interactive task needs the model itself (a model folder with its tokenizer), not a stand-in scorer"
        )
    renderer = template_renderer(lm)
    outcome, predictions = TaskOutcome({}), {"nll_per_word": {}, "generation": []}
    questions = []
    heldout = read_heldout(folder)
    if not heldout:
        outcome.skipped["interactive"] = f"{folder}: no held-out pairs (budget.heldout_pairs 0, or no instruction data)"
        return outcome
    for config, frame in heldout.items():
        nll = reply_nll_per_word(lm, renderer, frame["prompt"].tolist(), frame["reply"].tolist())
        scored = [x for x in nll if x is not None]
        if len(scored) < len(nll):
            outcome.skipped[f"interactive/{config}"] = (
                f"{len(nll) - len(scored)} of {len(nll)} replies are longer than the model's context"
            )
        if scored:
            outcome.metrics[f"eval/interactive_nll/{config}"] = sum(scored) / len(scored)
        predictions["nll_per_word"][config] = nll
        questions += [(config, i, p, a) for i, (p, a) in enumerate(zip(frame["prompt"], frame["answer"])) if a]
    if not questions:
        outcome.skipped["interactive/gen"] = (
            f"{folder}: no held-out pair has a known answer (only the toy world's knowledge-base questions do)"
        )
    else:
        answer_tokens = renderer.tok.encode_batch_fast([a for *_, a in questions], add_special_tokens=False)
        replies = greedy_replies(
            lm, renderer, [p for _, _, p, _ in questions], [len(t.ids) + ANSWER_MARGIN for t in answer_tokens]
        )
        correct = [answer_matches(r, a) for r, (*_, a) in zip(replies, questions)]
        outcome.metrics["eval/interactive_gen"] = sum(correct) / len(correct)
        predictions["generation"] = [
            {"config": c, "id": i, "prompt": p, "answer": a, "reply": r, "correct": ok}
            for (c, i, p, a), r, ok in zip(questions, replies, correct)
        ]
    if context.out is not None:
        atomic_write_json(context.out / "interactive" / task.spec.subdir / "predictions.json", predictions)
    return outcome
