"""A toy split's shards tokenized in process against through Ray Data (why an input of
one batch is tokenized in process: bench/results/2026-12-01-shards-one-batch.md).

    python bench/shards_one_batch.py [--out DIR]

Builds the test suite's toy data (a 40,000-word toy world, a 20,000-word split at 10%
instruction words, its tokenizer) without Ray, then times `build_pretrain_shards` and
`build_instruct_shards` (Switchboard) in process with Ray down, then through Ray Data (the
one-batch rule switched off) as the first dataset after `ray.init` and as a later one.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

from classit_ray.config import Config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="", help="work folder (default: a fresh temporary one)")
    out = Path(parser.parse_args().out or tempfile.mkdtemp())
    import classit_ray.data.shards as shards
    from classit_ray.data.stages import data_builder, plan_data, run_data_stage
    from classit_ray.runtime import init_ray
    from classit_ray.toyworld.world import write_toy_world

    world = write_toy_world(out / "world", words=40_000, seed=0)
    cfg = Config()
    cfg = dataclasses.replace(
        cfg,
        corpus=dataclasses.replace(
            cfg.corpus, data_dir=str(world["corpus_dir"]), instruct_dir=str(world["instruct_dir"])
        ),
        budget=dataclasses.replace(cfg.budget, total_words=20_000, instruct_fraction=0.1),
    )
    plan = plan_data(cfg, out / "work")
    for stage in ("split", "tokenizer"):
        run_data_stage(
            stage, plan.stages()[stage], data_builder(stage, plan, plan.settings[stage], out / "no-toy-world")
        )
    split, tok = plan.split_dir, plan.tokenizer_dir
    pairs = split / "instruct" / "switchboard.parquet"

    def timed(label: str, build) -> None:
        t0 = time.perf_counter()
        build()
        print(f"{label:<40} {time.perf_counter() - t0:6.2f} s", flush=True)

    n = iter(range(100))
    pretrain = lambda: shards.build_pretrain_shards(split, tok, out / f"p{next(n)}", 64, 50)  # noqa: E731
    instruct = lambda: shards.build_instruct_shards(pairs, tok, out / f"i{next(n)}", cfg.instruct.max_len, 50)  # noqa: E731
    timed("pretrain shards, in process", pretrain)
    timed("instruct shards, in process", instruct)
    init_ray(num_cpus=4, log_to_driver=False)
    shards.IN_PROCESS_MAX_ROWS = 0  # through Ray Data whatever the size
    timed("pretrain shards, Ray Data, first dataset", pretrain)
    timed("instruct shards, Ray Data", instruct)
    timed("pretrain shards, Ray Data, again", pretrain)


if __name__ == "__main__":
    main()
