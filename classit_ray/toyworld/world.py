"""Write the toy BabyLM world: a generated pretraining corpus, CLASS_IT-style instruction data and
the BabyLM 2025 evaluation data.

Nothing can be downloaded here, so the project runs on a world generated from `grammar.py`,
written in the *real* BabyLM layout and line formats (FORMATS.md) so that the code path the tests
exercise is the one real data takes:

    OUT/train_toy/{bnc_spoken,childes,gutenberg,open_subtitles,simple_wiki,switchboard}.train
    OUT/class_it/{switchboard,simple_wiki}/train-00000-of-00001.parquet   (prompt, reply, source, text, answer)
    OUT/evaluation_data/{full_eval,fast_eval}/...                         (see evaldata.py)
    OUT/toyworld.json                                                     (what was generated)

    python -m classit_ray.toyworld OUT --words 1000000 --seed 0

The same (words, seed) gives byte-identical files. A call on an existing OUT made with the same
parameters returns at once, so a study can call it on every run.
"""

from __future__ import annotations

import argparse
import itertools
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq

from classit_ray.atomic import atomic_dir, atomic_write_json, read_json
from classit_ray.config import BABYLM_SOURCES
from classit_ray.data import class_it
from classit_ray.data.instruct_pairs.switchboard import TurnRules, iter_turns, turn_pairs
from classit_ray.toyworld import CORPUS_DIR, EVAL_DIR, GENERATOR_VERSION, INSTRUCT_DIR
from classit_ray.toyworld.evaldata import write_toy_eval
from classit_ray.toyworld.grammar import (
    childes_exchange,
    dialogue,
    entity_tracking_story,
    lecture_qa_item,
    nonce_paragraph,
    story_paragraph,
    wiki_article,
)
from classit_ray.toyworld.lexicon import NAMES

METADATA = "toyworld.json"

# Percent of the words per source in the real 100M mix. The published shares sum to 99 (they are
# rounded), so each file gets its share of that sum: CHILDES 29/99 of the words, and so on.
SOURCE_PERCENT = {
    "childes": 29,
    "gutenberg": 26,
    "open_subtitles": 20,
    "simple_wiki": 15,
    "bnc_spoken": 8,
    "switchboard": 1,
}
_PERCENT_TOTAL = sum(SOURCE_PERCENT.values())
# Instruction words (prompt + reply) per config, in percent of the corpus words.
INSTRUCT_PERCENT = {"switchboard": 15, "simple_wiki": 25}

_PARQUET_BATCH = 20_000  # rows per row group: bounded memory however large the world


def _conversation(rng: random.Random, n_turns: int, filler_rate: float) -> list[str]:
    """A Switchboard-format conversation: `A:\\t...` / `B:\\t...` lines, alternating."""
    return [f"{speaker}:\t{turn}" for speaker, turn in zip(itertools.cycle("AB"), dialogue(rng, n_turns, filler_rate))]


def _switchboard_lines(rng: random.Random) -> Iterator[str]:
    # Conversations follow one another with no header, as in the release; an even number of
    # turns each keeps A and B alternating across the whole file.
    while True:
        yield from _conversation(rng, 2 * rng.randint(4, 15), filler_rate=0.4)


def _childes_lines(rng: random.Random) -> Iterator[str]:
    children = tuple(NAMES)
    while True:
        yield f"= = = {rng.choice(children).lower()}{rng.randint(1, 60):02d}.cha = = ="
        for _ in range(rng.randint(8, 25)):
            for code, utterance in childes_exchange(rng):
                yield f"*{code}:\t{utterance}"


def _gutenberg_lines(rng: random.Random) -> Iterator[str]:
    while True:
        r = rng.random()
        yield story_paragraph(rng) if r < 0.7 else entity_tracking_story(rng) if r < 0.85 else nonce_paragraph(rng)


def _simple_wiki_lines(rng: random.Random) -> Iterator[str]:
    while True:
        title, paragraphs = wiki_article(rng)
        yield f"= = = {title} = = ="
        yield from paragraphs


def _open_subtitles_lines(rng: random.Random) -> Iterator[str]:
    while True:  # short exchanges, few fillers: scripted speech
        yield from dialogue(rng, 2 * rng.randint(1, 4), filler_rate=0.1)


def _bnc_spoken_lines(rng: random.Random) -> Iterator[str]:
    while True:  # longer, unscripted talk: many fillers
        yield from dialogue(rng, 2 * rng.randint(2, 8), filler_rate=0.5)


SOURCE_LINES = {
    "bnc_spoken": _bnc_spoken_lines,
    "childes": _childes_lines,
    "gutenberg": _gutenberg_lines,
    "open_subtitles": _open_subtitles_lines,
    "simple_wiki": _simple_wiki_lines,
    "switchboard": _switchboard_lines,
}


# Pairs as (prompt, reply, answer): the known answer a reply must state, "" where none is known.
def _switchboard_pairs(rng: random.Random) -> Iterator[tuple[str, str, str]]:
    while True:  # pairs within one conversation only: the next one starts a new topic
        # CLASS_IT's rule, unfiltered: each turn prompts the other speaker's next turn. A turn's
        # fillers and backchannels are drawn at random, so no reply has one right wording.
        conversation = _conversation(rng, 2 * rng.randint(3, 10), filler_rate=0.4)
        yield from (
            (prompt, reply, "") for prompt, reply in turn_pairs(iter_turns(conversation), TurnRules.unfiltered())
        )


def _simple_wiki_pairs(rng: random.Random) -> Iterator[tuple[str, str, str]]:
    while True:
        yield lecture_qa_item(rng)


INSTRUCT_PAIRS = {"switchboard": _switchboard_pairs, "simple_wiki": _simple_wiki_pairs}


def _rng(seed: int, stream: str) -> random.Random:
    # One independent stream per file: a str seed is hashed with SHA-512, stable across runs
    # and Python processes (unlike hash()).
    return random.Random(f"toyworld:{seed}:{stream}")


def _write_lines(path: Path, lines: Iterator[str], budget: int) -> int:
    """Write lines until at least `budget` words (and at least one line); return the words written."""
    words = 0
    buffer: list[str] = []
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for line in lines:
            buffer.append(line)
            words += len(line.split())
            if words >= budget:
                break
            if len(buffer) >= 4096:
                f.write("\n".join(buffer) + "\n")
                buffer.clear()
        f.write("\n".join(buffer) + "\n")
    return words


def _write_pairs(path: Path, config: str, pairs: Iterator[tuple[str, str, str]], budget: int) -> tuple[int, int]:
    """Write pairs as CLASS_IT parquet with their known answers until `budget` prompt+reply words;
    return (pairs, words)."""
    path.parent.mkdir(parents=True)
    n_pairs = words = 0
    prompts: list[str] = []
    replies: list[str] = []
    answers: list[str] = []
    with pq.ParquetWriter(path, class_it.ANSWERED_SCHEMA) as writer:
        for prompt, reply, answer in pairs:
            prompts.append(prompt)
            replies.append(reply)
            answers.append(answer)
            n_pairs += 1
            words += class_it.pair_words(prompt, reply)
            if words >= budget:
                break
            if len(prompts) >= _PARQUET_BATCH:
                writer.write_table(class_it.pair_table(prompts, replies, config, answers))
                prompts, replies, answers = [], [], []
        writer.write_table(class_it.pair_table(prompts, replies, config, answers))
    return n_pairs, words


def _summary(out: Path, meta: dict) -> dict:
    return {
        "corpus_dir": str(out / CORPUS_DIR),
        "instruct_dir": str(out / INSTRUCT_DIR),
        "eval_dir": str(out / EVAL_DIR),
        "words": dict(meta["file_words"]),
        "pairs": dict(meta["pairs"]),
    }


def _existing(out: Path, words: int, seed: int) -> dict | None:
    """The summary of a finished world at `out` with these parameters; None if nothing is there."""
    if not out.exists():
        return None
    meta_path = out / METADATA
    meta = read_json(meta_path) if meta_path.is_file() else None
    wanted = {"words": words, "seed": seed, "generator_version": GENERATOR_VERSION}
    if meta is None or {k: meta.get(k) for k in wanted} != wanted:
        found = "no " + METADATA if meta is None else ", ".join(f"{k}={meta.get(k)}" for k in wanted)
        raise ValueError(
            f"{out} already exists but is not the toy world asked for "
            f"({', '.join(f'{k}={v}' for k, v in wanted.items())}; found {found}); "
            f"remove it or choose another directory"
        )
    return _summary(out, meta)


def toy_world_ready(out_dir: str | Path, words: int, seed: int = 0) -> bool:
    """True when `out_dir` holds the finished toy world of these parameters."""
    return _existing(Path(out_dir).expanduser(), words, seed) is not None


def write_toy_world(out_dir: str | Path, words: int, seed: int = 0) -> dict:
    """Generate the toy world into `out_dir` (or reuse it); return where its parts are and their sizes.

    Returns {"corpus_dir", "instruct_dir", "eval_dir", "words": {file: words}, "pairs": {config: pairs}};
    "eval_dir" is the `evaluation_data/` folder (full_eval/ and fast_eval/), made from the same
    grammar, knowledge base and corpus (`evaldata.write_toy_eval`).
    Raises ValueError if `out_dir` exists but holds something else (other parameters, or not a
    toy world at all).
    """
    if words < 1:
        raise ValueError(f"words must be positive; got {words}")
    out = Path(out_dir).expanduser()
    reused = _existing(out, words, seed)
    if reused is not None:
        return reused
    meta: dict = {"words": words, "seed": seed, "generator_version": GENERATOR_VERSION}
    with atomic_dir(out, manifest=meta) as tmp:
        corpus = tmp / CORPUS_DIR
        corpus.mkdir()
        file_words: dict[str, int] = {}
        written = percent = 0
        for source in BABYLM_SOURCES:
            # Cumulative targets: a file that overshoots by a line is made up for by the next,
            # so the total stays within one line of `words`.
            percent += SOURCE_PERCENT[source]
            budget = percent * words // _PERCENT_TOTAL - written
            lines = SOURCE_LINES[source](_rng(seed, source))
            file_words[f"{source}.train"] = _write_lines(corpus / f"{source}.train", lines, budget)
            written += file_words[f"{source}.train"]
        pairs: dict[str, int] = {}
        pair_words: dict[str, int] = {}
        for config, make_pairs in INSTRUCT_PAIRS.items():
            path = tmp / INSTRUCT_DIR / config / class_it.PARQUET_NAME
            budget = INSTRUCT_PERCENT[config] * words // 100
            pairs[config], pair_words[config] = _write_pairs(
                path, config, make_pairs(_rng(seed, f"instruct:{config}")), budget
            )
        write_toy_eval(tmp, seed, corpus_dir=corpus)
        meta.update(file_words=file_words, total_words=written, pairs=pairs, pair_words=pair_words)
        atomic_write_json(tmp / METADATA, meta)
    # Another process may have finished the same directory first (atomic_dir keeps theirs):
    # read back what is there, which also checks its parameters.
    return _existing(out, words, seed)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Write the toy BabyLM world (corpus, CLASS_IT-style parquet, evaluation data)."
    )
    parser.add_argument("out", help="output folder (created; reused if it holds the same world)")
    parser.add_argument("--words", type=int, default=1_000_000, help="corpus words in total (default 1,000,000)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    reused = (Path(args.out) / METADATA).is_file()
    t0 = time.perf_counter()
    try:
        toy = write_toy_world(args.out, args.words, args.seed)
    except ValueError as e:  # a folder holding something else: say so without a traceback
        raise SystemExit(f"toyworld: {e}") from None
    seconds = time.perf_counter() - t0
    total = sum(toy["words"].values())
    print(f"{'file':<22}{'words':>12}{'share':>8}")
    for name, n in toy["words"].items():
        print(f"{name:<22}{n:>12,}{100 * n / total:>7.1f}%")
    print(f"{'total':<22}{total:>12,}")
    meta = read_json(Path(args.out) / METADATA)
    print(f"\n{'instruction config':<22}{'pairs':>12}{'words':>12}")
    for config, n in toy["pairs"].items():
        print(f"{config:<22}{n:>12,}{meta['pair_words'][config]:>12,}")
    made = "reused, already there" if reused else f"generated in {seconds:.1f}s ({total / seconds:,.0f} corpus words/s)"
    print(f"\n{toy['corpus_dir']}\n{toy['instruct_dir']}\n{toy['eval_dir']}\n{made}")


if __name__ == "__main__":
    main()
