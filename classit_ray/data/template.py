"""The one instruction template, and the reply mask built while a pair is rendered.

    <s> <|prompt|> {prompt tokens} <|reply|> {reply tokens} </s>
    mask:  0   0        0 ...         0         1 ...        1

The mask is made here, from the pieces, never by searching a token stream for the markers
afterwards (a reply that happens to contain marker-like text cannot shift it). The EOS closing
the reply is a reply token: the model must learn to stop. Too-long pairs lose prompt tokens from
the left first (the end of the prompt is what the reply answers), then reply tokens from the right.
"""

from __future__ import annotations

import numpy as np

from classit_ray.data.tokenizer import BOS, EOS, PROMPT, REPLY


class PairRenderer:
    """Render (prompt, reply) batches with a `tokenizers.Tokenizer`; holds the special ids."""

    def __init__(self, tokenizer, max_len: int):
        if max_len < 8:
            raise ValueError(f"max_len must be >= 8, got {max_len}")
        self.tok = tokenizer
        self.max_len = max_len
        self.bos, self.eos, self.prompt, self.reply = (tokenizer.token_to_id(t) for t in (BOS, EOS, PROMPT, REPLY))

    def render(self, prompt_ids: list[int], reply_ids: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """(input_ids int32, reply_mask int8) of one pair, at most `max_len` long."""
        reply = list(reply_ids) + [self.eos]
        room = self.max_len - 3  # BOS, PROMPT, REPLY
        reply = reply[: max(room - 1, 1)]  # keep at least one prompt token if the reply is huge
        prompt = list(prompt_ids)[-(room - len(reply)) :]  # room - len(reply) >= 1: the prompt's end
        ids = [self.bos, self.prompt, *prompt, self.reply, *reply]
        mask = np.zeros(len(ids), dtype=np.int8)
        mask[len(ids) - len(reply) :] = 1
        return np.asarray(ids, dtype=np.int32), mask

    def render_batch(self, prompts: list[str], replies: list[str]) -> tuple[list[np.ndarray], list[np.ndarray]]:
        prompt_enc = self.tok.encode_batch_fast(prompts, add_special_tokens=False)
        reply_enc = self.tok.encode_batch_fast(replies, add_special_tokens=False)
        rendered = [self.render(p.ids, r.ids) for p, r in zip(prompt_enc, reply_enc)]
        return [ids for ids, _ in rendered], [mask for _, mask in rendered]
