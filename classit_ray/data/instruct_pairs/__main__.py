"""Build instruction pairs from raw BabyLM files.

    python -m classit_ray.data.instruct_pairs switchboard FILE --out DIR
    python -m classit_ray.data.instruct_pairs simplewiki FILE --generator MODEL_DIR|ORG/NAME --out DIR

FILE is `switchboard.train` / `simple_wiki.train`, or a BabyLM folder holding it. Both write
DIR/<config>/ in the CLASS_IT layout with a manifest and a word count table, show a progress bar,
and end with the counts of pairs, words and drops. `simplewiki` runs on Ray (one model replica per
GPU, or CPU workers; `--address auto` joins a cluster) and resumes: rerun the same command after
a crash and it skips the passages already done.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from classit_ray.data.instruct_pairs.generate import GenerationConfig
from classit_ray.data.instruct_pairs.output import WORD_TABLE
from classit_ray.data.instruct_pairs.passages import PassageRules
from classit_ray.data.instruct_pairs.qa import QARules
from classit_ray.data.instruct_pairs.switchboard import TurnRules


def _input_file(arg: str, source: str) -> Path:
    """FILE itself, or the source's file inside a BabyLM folder."""
    from classit_ray.data.corpus import find_corpus_dir, source_files

    path = Path(arg).expanduser()
    return source_files(find_corpus_dir(path), [source])[source] if path.is_dir() else path


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m classit_ray.data.instruct_pairs",
        description=__doc__.split("\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True)
    turn, passage, qa, gen = TurnRules(), PassageRules(), QARules(), GenerationConfig()

    sw = sub.add_parser(
        "switchboard",
        help="pairs of consecutive turns of two speakers",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    sw.add_argument("file", help="switchboard.train, or a BabyLM folder holding it")
    sw.add_argument("--out", required=True, help="output folder (DIR/switchboard/ is written)")
    sw.add_argument("--min-words", type=int, default=turn.min_words, help="fewest words in a prompt or a reply")
    sw.add_argument("--max-words", type=int, default=turn.max_words, help="most words in a prompt or a reply")
    sw.add_argument(
        "--no-merge", action="store_true", help="do not merge consecutive turns of one speaker (the last one prompts)"
    )
    sw.add_argument(
        "--keep-backchannels",
        action="store_true",
        help="keep replies that are only backchannels (uh-huh, yeah, right ...)",
    )

    wiki = sub.add_parser(
        "simplewiki",
        help="Q&A pairs about Simple Wikipedia passages, written by a local model",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    wiki.add_argument("file", help="simple_wiki.train, or a BabyLM folder holding it")
    wiki.add_argument(
        "--generator",
        required=True,
        help="local model folder transformers loads (an instruct model), or a hub id ORG/NAME (hub cache)",
    )
    wiki.add_argument(
        "--out", required=True, help="output folder (DIR/simple_wiki/ is written; DIR/_work/ holds the resumable state)"
    )
    wiki.add_argument("--pairs-per-passage", type=int, default=gen.pairs_per_passage)
    wiki.add_argument("--max-new-tokens", type=int, default=gen.max_new_tokens)
    wiki.add_argument("--temperature", type=float, default=gen.temperature, help="0 = greedy")
    wiki.add_argument("--top-p", type=float, default=gen.top_p)
    wiki.add_argument("--seed", type=int, default=gen.seed)
    wiki.add_argument("--batch-size", type=int, default=gen.batch_size, help="passages per generate() call")
    wiki.add_argument("--replicas", type=int, default=gen.replicas, help="model replicas; 0 = one per GPU, or 1 on CPU")
    wiki.add_argument(
        "--limit", type=int, default=0, help="only the first N passages (0 = all); a later run goes on from there"
    )
    wiki.add_argument("--max-passage-words", type=int, default=passage.max_words)
    wiki.add_argument("--min-passage-words", type=int, default=passage.min_words)
    wiki.add_argument(
        "--min-grounding",
        type=float,
        default=qa.min_grounding,
        help="share of an answer's content words found in the passage",
    )
    wiki.add_argument(
        "--address", default="", help="Ray cluster address ('auto' joins the running cluster); empty starts a local Ray"
    )
    wiki.add_argument("--num-cpus", type=int, default=0, help="logical CPUs of a local Ray (0 = the project default)")
    return p


def run(args: argparse.Namespace) -> str:
    if args.command == "switchboard":
        from classit_ray.data.instruct_pairs.switchboard import build_switchboard_pairs

        rules = TurnRules(
            min_words=args.min_words,
            max_words=args.max_words,
            merge_same_speaker=not args.no_merge,
            drop_backchannel_replies=not args.keep_backchannels,
        )
        counts = build_switchboard_pairs(_input_file(args.file, "switchboard"), args.out, rules, progress=True)
    else:
        # Ray Data's per-operator progress lines would bury ours, which counts passages, pairs and drops.
        os.environ.setdefault("RAY_DATA_LOG_LEVEL", "WARNING")
        import ray

        from classit_ray.data.instruct_pairs.generate import generate_simplewiki_pairs
        from classit_ray.runtime import init_ray

        cfg = GenerationConfig(
            pairs_per_passage=args.pairs_per_passage,
            max_new_tokens=args.max_new_tokens,
            temperature=args.temperature,
            top_p=args.top_p,
            seed=args.seed,
            batch_size=args.batch_size,
            replicas=args.replicas,
        )
        passage_rules = PassageRules(max_words=args.max_passage_words, min_words=args.min_passage_words)
        qa_rules = QARules(min_grounding=args.min_grounding)
        file = _input_file(args.file, "simple_wiki")
        started = not ray.is_initialized()  # a caller's Ray session is left running
        init_ray(args.address, args.num_cpus)
        try:
            counts = generate_simplewiki_pairs(
                file, args.out, args.generator, cfg, passage_rules, qa_rules, args.limit, progress=True
            )
        finally:
            if started:
                ray.shutdown()
    out = Path(args.out).expanduser() / counts.source
    return f"{(out / WORD_TABLE).read_text()}\n{counts.summary()}\n-> {out}"


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        print(run(args))
    except (ValueError, FileNotFoundError, FileExistsError) as e:  # ours name the file and what was expected
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
