"""Conversational pairs from Switchboard turns: a prompt is a turn, its reply the other speaker's
next turn.

`switchboard.train` holds one turn per line, `A:\\t...` or `B:\\t...`. The rules, each set in
`TurnRules`:

- **Conversations.** A blank line or a `= = = ... = = =` header ends a conversation; no pair spans
  one. A line without a speaker label also ends the conversation and is counted as
  `unlabelled_lines` (BabyLM's file has none; a file with no labelled turn at all is an error).
- **Merging** (`merge_same_speaker`, on by default). Consecutive lines of one speaker are one turn,
  joined by a space: the speaker was not interrupted, so the reply answers all of it. Off, only the
  last line of such a run is the prompt (how the toy world's pairs are made).
- **Backchannels** (`drop_backchannel_replies`, on). A reply made only of backchannel tokens
  ("uh-huh", "yeah", "right", "oh really" ...; `BACKCHANNELS`) is dropped: it acknowledges without
  answering. It still prompts the next pair, since the next turn replies to it.
- **Length** (`min_words`, `max_words`, whitespace words after the label is removed). A pair whose
  prompt or reply is outside the range is dropped.

Every dropped candidate pair is counted by reason (`PairCounts.drops`). Everything streams:
memory does not grow with the file.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from classit_ray.data.corpus import HEADER_RE, SPEAKER_RE, iter_lines
from classit_ray.data.instruct_pairs.output import PairCounts, PairWriter
from classit_ray.data.tokenizer import file_sha256

SOURCE = "switchboard"

# Single tokens (lower-cased, edge punctuation stripped) that acknowledge without content. "yes" and
# "no" are not here: after a question they are the answer.
BACKCHANNELS = frozenset(
    {
        "uh-huh",
        "um-hum",
        "uh-hum",
        "mm-hmm",
        "mm-hm",
        "mhm",
        "mm",
        "hm",
        "hmm",
        "huh",
        "uh",
        "um",
        "oh",
        "ah",
        "yeah",
        "yep",
        "yup",
        "right",
        "okay",
        "ok",
        "sure",
        "really",
        "wow",
        "gosh",
    }
)
_EDGE_PUNCT = ".,!?;:\"'()[]-"


@dataclass(frozen=True)
class TurnRules:
    """How Switchboard turns become pairs (see the module docstring)."""

    min_words: int = 2  # prompt and reply each: one-word turns ("Yeah.", "No.") carry little to learn from
    max_words: int = 100  # prompt and reply each: longer turns are monologues, and overflow instruct.max_len
    merge_same_speaker: bool = True
    drop_backchannel_replies: bool = True

    def __post_init__(self):
        if self.min_words < 1 or self.max_words < self.min_words:
            raise ValueError(
                f"TurnRules: expected 1 <= min_words <= max_words, got min_words={self.min_words}, max_words={self.max_words}"
            )

    @classmethod
    def unfiltered(cls) -> TurnRules:
        """Every turn followed by the other speaker's turn, unmerged: the toy world's pairs."""
        return cls(min_words=1, max_words=1 << 30, merge_same_speaker=False, drop_backchannel_replies=False)


def is_backchannel(turn: str) -> bool:
    tokens = [t.strip(_EDGE_PUNCT).lower() for t in turn.split()]
    tokens = [t for t in tokens if t]
    return bool(tokens) and all(t in BACKCHANNELS for t in tokens)


_LABEL = SPEAKER_RE["switchboard"]


def parse_turn(line: str) -> tuple[str, str] | None:
    """("A", "text") of a labelled line; None for a line without an `A:\\t`/`B:\\t` label."""
    match = _LABEL.match(line)
    return (line[0], line[match.end() :].strip()) if match else None


def iter_turns(lines: Iterable[str], counts: PairCounts | None = None) -> Iterator[tuple[str, str] | None]:
    """(speaker, text) per labelled line; None where a conversation ends (blank, header, unlabelled)."""
    for line in lines:
        if not line.strip() or HEADER_RE.match(line):
            yield None
            continue
        turn = parse_turn(line)
        if turn is None and counts is not None:
            counts.count("unlabelled_lines")
        yield turn


def turn_pairs(
    turns: Iterable[tuple[str, str] | None], rules: TurnRules, counts: PairCounts | None = None
) -> Iterator[tuple[str, str]]:
    """(prompt, reply) pairs from a stream of turns and conversation breaks (None)."""
    counts = counts if counts is not None else PairCounts(SOURCE)
    previous: tuple[str, str] | None = None  # (speaker, text) of the turn a reply would answer
    current: tuple[str, str] | None = None  # the turn being assembled (merging)

    def close(turn: tuple[str, str] | None) -> Iterator[tuple[str, str]]:
        nonlocal previous
        if turn is None:
            return
        if previous is not None and previous[0] != turn[0]:
            pair = _checked(previous[1], turn[1], rules, counts)
            if pair:
                yield pair
        previous = turn

    for turn in turns:
        if turn is None:  # conversation break
            yield from close(current)
            previous = current = None
            continue
        if rules.merge_same_speaker and current is not None and current[0] == turn[0]:
            current = (current[0], f"{current[1]} {turn[1]}".strip())
            continue
        if rules.merge_same_speaker:
            yield from close(current)
            current = turn
        else:
            yield from close(turn)
    yield from close(current)


def _checked(prompt: str, reply: str, rules: TurnRules, counts: PairCounts) -> tuple[str, str] | None:
    """The pair if it passes the rules; otherwise count why it was dropped."""
    n_prompt, n_reply = len(prompt.split()), len(reply.split())
    if rules.drop_backchannel_replies and is_backchannel(reply):
        counts.drop("backchannel_reply")
    elif min(n_prompt, n_reply) < rules.min_words:
        counts.drop("too_short")
    elif max(n_prompt, n_reply) > rules.max_words:
        counts.drop("too_long")
    else:
        return prompt, reply
    return None


def build_switchboard_pairs(
    path: str | Path, out_dir: str | Path, rules: TurnRules = TurnRules(), progress: bool = False
) -> PairCounts:
    """Read `switchboard.train`, write `out_dir/switchboard/` in the CLASS_IT layout; return the counts."""
    from tqdm import tqdm

    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{path}: Switchboard file not found; expected switchboard.train from a BabyLM release")
    counts = PairCounts(SOURCE)
    with (
        tqdm(total=path.stat().st_size, unit="B", unit_scale=True, desc="switchboard", disable=not progress) as bar,
        PairWriter(out_dir, SOURCE) as writer,
    ):

        def lines() -> Iterator[str]:
            for _, line in iter_lines(path):
                bar.update(len(line.encode("utf-8")) + 1)
                yield line

        for prompt, reply in turn_pairs(iter_turns(lines(), counts), rules, counts):
            writer.add(prompt, reply)
            counts.keep(prompt, reply)
            if counts.pairs % 10_000 == 0:
                bar.set_postfix(pairs=f"{counts.pairs:,}", dropped=f"{counts.dropped:,}", refresh=False)
        if counts.pairs == 0:
            raise ValueError(
                f"{path}: no Switchboard pairs ({counts.summary()}); expected lines of `A:\\t...` / `B:\\t...` turns"
            )
        writer.finish(
            {"input": {"file": str(path), "sha256": file_sha256(path)}, "rules": rules.__dict__, "generated": False},
            counts,
        )
    return counts
