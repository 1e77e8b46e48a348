"""Benchmark: instruction pair building.

1. Switchboard pairs stream: peak memory of `build_switchboard_pairs` on a Switchboard-format file
   and on one ten times larger (each in a fresh process), with the throughput.
2. Simple Wiki Q&A generation through Ray Data on this machine's CPUs: passages per second with a
   stub generator (the pipeline's own cost: read, schedule, parse, write parts, consolidate) and
   with a tiny random LLaMA (`tiny` preset, greedy, `--max-new-tokens`), at 1 and 2 replicas.

    python bench/instruct_pairs.py [--mb 6] [--passages 64] [--max-new-tokens 64] [--out bench/out/instruct_pairs]

Prints a markdown block for a new dated file under bench/results/. 6 MB is the size of the 100M
release's switchboard.train.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import re
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from classit_ray.toyworld.world import SOURCE_LINES, write_toy_world

ROOT = Path(__file__).resolve().parents[1]

_CHILD = """
import json, resource, sys, time
from classit_ray.data.instruct_pairs.switchboard import build_switchboard_pairs
t0 = time.perf_counter()
counts = build_switchboard_pairs(sys.argv[1], sys.argv[2])
print(json.dumps({"seconds": time.perf_counter() - t0, "pairs": counts.pairs, "words": counts.words,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def write_switchboard(path: Path, mb: float) -> int:
    """A Switchboard-format file of about `mb` MB, from the toy world's conversation generator."""
    lines = SOURCE_LINES["switchboard"](random.Random(f"bench:{mb}"))
    size, n = 0, 0
    with open(path, "w", encoding="utf-8") as f:
        while size < mb * 1e6:
            line = next(lines) + "\n"
            f.write(line)
            size += len(line.encode())
            n += 1
    return n


def switchboard_memory(out: Path, mb: float) -> list[dict]:
    rows = []
    for scale in (1, 10):
        src = out / f"switchboard-{scale}x.train"
        if not src.exists():
            write_switchboard(src, mb * scale)
        shutil.rmtree(out / f"pairs-{scale}x", ignore_errors=True)
        run = subprocess.run(
            [sys.executable, "-c", _CHILD, str(src), str(out / f"pairs-{scale}x")],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
        rows.append({"scale": scale, "mb": src.stat().st_size / 1e6, **json.loads(run.stdout.strip().splitlines()[-1])})
    return rows


def stub_factory():
    def generate(prompts: list[str]) -> list[str]:
        outs = []
        for prompt in prompts:
            passage = prompt.split("\n\n")[1]
            sentences = re.findall(r"[^.!?]+[.!?]", passage)[:3]
            outs.append(
                "\n".join(
                    f"Q: What does sentence {i + 1} of the passage say?\nA: {s.strip()}"
                    for i, s in enumerate(sentences)
                )
            )
        return outs

    return generate


def generation_rates(out: Path, passages: int, max_new_tokens: int) -> list[dict]:
    import ray.cloudpickle

    from classit_ray.data.instruct_pairs.generate import GenerationConfig, generate_simplewiki_pairs
    from classit_ray.data.instruct_pairs.passages import PassageRules

    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import write_tiny_random_model

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    toy = write_toy_world(out / "toyworld", words=2_000_000, seed=0)
    wiki = Path(toy["corpus_dir"]) / "simple_wiki.train"
    model = out / "tiny-random"
    if not model.exists():
        write_tiny_random_model(model, wiki.read_text().splitlines()[:2000])
    rules = PassageRules(max_words=120, min_words=20)
    rows = []
    for name, generator, limit in (("stub", stub_factory, 0), ("tiny random LLaMA", str(model), passages)):
        for replicas in (1, 2):
            run_dir = out / f"gen-{name.split()[0]}-{replicas}"
            shutil.rmtree(run_dir, ignore_errors=True)
            cfg = GenerationConfig(replicas=replicas, batch_size=8, max_new_tokens=max_new_tokens)
            t0 = time.perf_counter()
            counts = generate_simplewiki_pairs(wiki, run_dir, generator, cfg, rules, limit=limit)
            seconds = time.perf_counter() - t0
            n = counts.seen["generations"]
            rows.append(
                {
                    "generator": name,
                    "replicas": replicas,
                    "passages": n,
                    "seconds": seconds,
                    "passages_per_s": n / seconds,
                    "pairs": counts.pairs,
                    "dropped": counts.dropped,
                }
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=float, default=6.0)
    parser.add_argument("--passages", type=int, default=64)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--out", default="bench/out/instruct_pairs")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    from classit_ray.runtime import init_ray, physical_cores

    print(f"machine: {platform.machine()}, {physical_cores()} cores; python {platform.python_version()}\n")
    mem = switchboard_memory(out, args.mb)
    print(
        "| switchboard.train | MB | pairs | words | seconds | MB/s | peak RSS MB |\n|---|---:|---:|---:|---:|---:|---:|"
    )
    for r in mem:
        print(
            f"| {r['scale']}x | {r['mb']:.1f} | {r['pairs']:,} | {r['words']:,} | {r['seconds']:.1f} | {r['mb'] / r['seconds']:.1f} | {r['peak_rss_mb']:.0f} |"
        )
    print(f"\npeak memory, 10x input / 1x input: {mem[1]['peak_rss_mb'] / mem[0]['peak_rss_mb']:.2f}\n")

    init_ray()
    rates = generation_rates(out, args.passages, args.max_new_tokens)
    print(
        "| generator | replicas | passages | seconds | passages/s | pairs | dropped |\n|---|---:|---:|---:|---:|---:|---:|"
    )
    for r in rates:
        print(
            f"| {r['generator']} | {r['replicas']} | {r['passages']:,} | {r['seconds']:.1f} | {r['passages_per_s']:.2f} | {r['pairs']:,} | {r['dropped']:,} |"
        )
    print(f"\nru_maxrss of this driver: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
