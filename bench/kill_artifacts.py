"""Fault injection at random points: SIGKILL a pipeline while it writes artifacts, and count the
artifacts that read back as complete but are not.

    python bench/kill_artifacts.py [--trials 24] [--rerun-every 3] [--kill-window A B] [--out bench/out/kill_artifacts]

The command under test is the pretraining command on a small toy world: the toy world, the budget
split, the tokenizer, the pretraining shards and the instruction shards (atomic directories with a
manifest), then a Ray Train pretraining that writes checkpoints every few steps and its finished
stage. An uninterrupted run makes the reference. Each trial starts the same command in a fresh
work dir, SIGKILLs it (its process group, then every process of the Ray it started) at a time
drawn uniformly from [0.5 s, the reference's duration] (or `--kill-window A B`: the data stages
finish first, so an early window aims at them; bench/results/2026-11-25-kill-artifacts.md used
0.5-14 s), and checks every directory that claims to be complete — an artifact with
`manifest.json`, a checkpoint with `classit_state.json` — against the reference: same files, same
bytes (JSON only parsed: it holds timings). Every `--rerun-every`th trial then runs the command
again to the end, which must resume and finish with the reference's bytes.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from conftest import kill_ray_session_of  # noqa: E402

SETTINGS = [
    "study.toy_words=40000",
    "budget.total_words=20000",
    "pretrain.seq_len=64",
    "pretrain.shard_rows=200",
    "pretrain.epochs=1",
    "study.num_cpus=4",
]
MARKERS = ("manifest.json", "classit_state.json")


def command(work: Path) -> list[str]:
    sets = [a for s in SETTINGS for a in ("--set", s)]
    return [sys.executable, "-m", "classit_ray.train.pretrain", *sets, "--work-dir", str(work)]


def run(work: Path, kill_after: float | None = None) -> tuple[float, bool]:
    """Run the command in `work`; kill it after `kill_after` s. (seconds, finished by itself)."""
    log = open(work.parent / f"{work.name}.log", "a")
    t0 = time.perf_counter()
    proc = subprocess.Popen(command(work), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        proc.wait(timeout=kill_after)
        finished = True
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        kill_ray_session_of(proc.pid)
        finished = False
    log.close()
    if finished and proc.returncode != 0:
        raise RuntimeError(
            f"{work}: the command failed (exit {proc.returncode}); see {work.parent / (work.name + '.log')}"
        )
    return time.perf_counter() - t0, finished


def claimed_complete(work: Path) -> list[Path]:
    """Directories under `work` whose completion marker is present (Ray's own run state aside)."""
    found = []
    for marker in MARKERS:
        for path in work.rglob(marker):
            if "ray_results" not in path.parts:
                found.append(path.parent)
    return sorted(set(found))


def differs(directory: Path, reference: Path) -> str | None:
    """Why `directory` is not the reference's (None when equal): missing files, other bytes, bad JSON."""
    if not reference.is_dir():
        return f"no such directory in the reference: {reference}"
    ours = {p.relative_to(directory) for p in directory.rglob("*") if p.is_file()}
    theirs = {p.relative_to(reference) for p in reference.rglob("*") if p.is_file()}
    if ours != theirs:
        return (
            f"files differ: missing {sorted(map(str, theirs - ours))[:5]}, extra {sorted(map(str, ours - theirs))[:5]}"
        )
    for rel in sorted(ours):
        a, b = directory / rel, reference / rel
        if rel.suffix == ".json":
            try:
                json.loads(a.read_text())
            except ValueError as e:
                return f"{rel}: not JSON ({e})"
        elif a.read_bytes() != b.read_bytes():
            return f"{rel}: bytes differ"
    return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--rerun-every", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kill-window", type=float, nargs=2, metavar=("A", "B"), help="kill times drawn from [A, B] s")
    parser.add_argument("--out", default="bench/out/kill_artifacts")
    args = parser.parse_args()
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    rng = random.Random(args.seed)

    reference = out / "reference"
    seconds, _ = run(reference)
    complete_ref = claimed_complete(reference)
    print(f"reference: {seconds:.1f} s, {len(complete_ref)} complete directories\n")
    print(
        "| trial | killed at s | claimed complete | wrong | rerun | rerun equals reference |\n|---:|---:|---:|---:|---|---|"
    )
    wrong_total = claimed_total = reruns_ok = reruns = 0
    for trial in range(args.trials):
        work = out / f"trial-{trial:02d}"
        at = rng.uniform(*(args.kill_window or (0.5, seconds)))
        _, finished = run(work, kill_after=at)
        claimed = claimed_complete(work)
        problems = [(d, why) for d in claimed if (why := differs(d, reference / d.relative_to(work)))]
        for d, why in problems:
            print(f"  WRONG {d}: {why}")
        wrong_total += len(problems)
        claimed_total += len(claimed)
        rerun_note, equal_note = "", ""
        if trial % args.rerun_every == 0:
            reruns += 1
            run(work)
            final = claimed_complete(work)
            bad = [d for d in final if differs(d, reference / d.relative_to(work))]
            ok = not bad and len(final) == len(complete_ref)
            reruns_ok += ok
            rerun_note, equal_note = (
                "yes",
                "yes" if ok else f"NO ({len(bad)} differ, {len(final)}/{len(complete_ref)} complete)",
            )
        print(
            f"| {trial} | {at:.1f}{' (ended first)' if finished else ''} | {len(claimed)} | {len(problems)} | {rerun_note} | {equal_note} |"
        )
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"\n{args.trials} kills: {claimed_total} directories claimed complete, {wrong_total} of them wrong; "
        f"{reruns_ok}/{reruns} reruns resumed to the reference's bytes"
    )


if __name__ == "__main__":
    main()
