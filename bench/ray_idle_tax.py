"""Benchmark: what an idle Ray costs a training step beside it, at one and at two torch threads.

    python bench/ray_idle_tax.py [--threads 1 2] [--steps 60] [--repeats 4] [--preset tiny-deep] [--out DIR]

Why (issue 17): with one trial at once, a study's stages ran slower than the same stages in the
plain script, at the same two torch threads (bench/results/2026-12-01-default-study-vs-plain.md). The suspect was Ray's own processes:
while nothing runs, a local Ray keeps about twenty of them (GCS, raylet, dashboard and its
modules, its agent, the log monitor, idle workers), each waking up a few times a second.

Two measurements:
- **The idle Ray's CPU.** A local Ray as the project starts it (`runtime.init_ray`, 6 logical
  CPUs, one actor alive), left alone for 30 s: each process's CPU seconds from `/proc/<pid>/stat`.
- **What it costs a training step.** Our pretraining step (`bench/train_loop.py: run_ours`: the
  loop's model, optimizer, batches and step, without Ray) on the toy world's packed rows, timed
  over `--steps` steps after 5 untimed, alternately alone and with that idle Ray running in another
  process (started 15 s before, killed with its process group after), `--repeats` times per
  thread count. Reports the median tokens/s of each and their ratio.

Prints a markdown block for a new dated file under bench/results/ (bench/README.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

# A local Ray as a study starts it, one actor alive (a trial's process), then nothing: the child
# prints `up` once it is ready and sleeps until it is killed.
IDLE_RAY = """
import signal, sys, time
sys.path.insert(0, {repo!r})
import ray
from classit_ray.runtime import init_ray
init_ray(num_cpus=6, log_to_driver=False)
@ray.remote(num_cpus=1)
class Trial:
    def ping(self):
        return 1
trial = Trial.remote()
ray.get(trial.ping.remote())
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # exit through atexit: ray.shutdown() stops its processes
print("up", flush=True)
time.sleep(3600)
"""


def start_idle_ray() -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", IDLE_RAY.format(repo=str(REPO))],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    if proc.stdout.readline().strip() != "up":
        raise SystemExit("the idle Ray did not start")
    return proc


def stop_idle_ray(proc: subprocess.Popen) -> None:
    """Stop the driver (it shuts its Ray down on the way out), so that the next 'alone' run is alone."""
    proc.terminate()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    time.sleep(3)


def process_cpu() -> dict[str, tuple[float, str]]:
    """pid -> (user + system CPU seconds so far, command line) for every process that can be read."""
    ticks = os.sysconf("SC_CLK_TCK")
    out = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        out[pid] = ((int(fields[11]) + int(fields[12])) / ticks, command)
    return out


def short_name(command: str) -> str:
    """`ray::IDLE`, `raylet`, `dashboard.py`, `log_monitor.py`, ...: what a reader recognises."""
    if command.startswith("ray"):
        return command.split(" (")[0].split()[0]
    for word in command.split():
        if word.endswith((".py", "raylet", "gcs_server")):
            return word.rsplit("/", 1)[-1]
    return command.split()[0].rsplit("/", 1)[-1] if command else "?"


def idle_cpu(seconds: float = 30) -> list[tuple[float, str]]:
    """(CPU seconds over `seconds`, process) for each process of an idle Ray, busiest first."""
    proc = start_idle_ray()
    try:
        time.sleep(10)  # past the start-up
        before = process_cpu()
        time.sleep(seconds)
        after = process_cpu()
    finally:
        stop_idle_ray(proc)
    mine = {str(os.getpid())}
    rows = [
        (after[p][0] - before[p][0], "the driver" if p == str(proc.pid) else short_name(after[p][1]))
        for p in after
        if p in before and p not in mine and ("ray" in after[p][1] or p == str(proc.pid))
    ]
    return sorted(rows, reverse=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--preset", default="tiny-deep")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "out" / "ray_idle_tax")
    args = parser.parse_args()

    import torch
    import train_loop

    load = os.getloadavg()
    _, spec = train_loop.prepare(args.out, 200_000)  # the toy world's data stages, with Ray, which it then shuts down
    spec = dataclasses.replace(spec, preset=args.preset)
    rows = train_loop.read_packed_rows(Path(spec.shard_dirs[0]))
    tokens = args.steps * spec.optim.micro_batch_size * rows.shape[1]

    idle = idle_cpu()
    total = sum(cpu for cpu, _ in idle)
    print(f"idle Ray: {total:.2f} CPU s in 30 s over {len(idle)} processes", flush=True)

    rates: dict[tuple[int, str], list[float]] = {}
    for threads in args.threads:
        torch.set_num_threads(threads)
        for repeat in range(args.repeats):
            order = ["alone", "beside"] if repeat % 2 == 0 else ["beside", "alone"]
            for who in order:
                ray_proc = start_idle_ray() if who == "beside" else None
                try:
                    if ray_proc:
                        time.sleep(15)  # past its start-up, as a stage runs well after the study's start
                    seconds, _ = train_loop.run_ours(spec, rows, 5, args.steps)
                finally:
                    if ray_proc:
                        stop_idle_ray(ray_proc)
                rates.setdefault((threads, who), []).append(tokens / seconds)
                print(f"threads {threads} repeat {repeat + 1} {who:<6} {tokens / seconds:8.0f} tokens/s", flush=True)

    print(
        f"\n## An idle Ray beside a training step ({time.strftime('%Y-%m-%d')}, {platform.machine()}, "
        f"{os.cpu_count()} CPUs, 1-minute load {load[0]:.2f} before, {os.getloadavg()[0]:.2f} after)\n"
    )
    print(
        f"Idle Ray (`init_ray`, 6 logical CPUs, one actor): **{total:.2f} CPU s in 30 s** "
        f"({total / 30:.3f} of a core) over {len(idle)} processes; the busiest:\n"
    )
    print("| process | CPU s in 30 s |\n|---|---:|")
    for cpu, name in idle[:12]:
        print(f"| `{name}` | {cpu:.2f} |")
    print(
        f"\nPreset `{args.preset}`, {args.steps} timed steps of {spec.optim.micro_batch_size} × {rows.shape[1]} tokens, "
        f"{args.repeats} repeats alternating, medians:\n"
    )
    print("| torch threads | alone tokens/s | beside an idle Ray tokens/s | beside / alone | per-repeat ratios |")
    print("|---:|---:|---:|---:|---|")
    for threads in args.threads:
        alone, beside = rates[(threads, "alone")], rates[(threads, "beside")]
        ratios = ", ".join(f"{b / a:.2f}" for a, b in zip(alone, beside))
        print(
            f"| {threads} | {statistics.median(alone):,.0f} | {statistics.median(beside):,.0f} | "
            f"**{statistics.median(beside) / statistics.median(alone):.2f}** | {ratios} |"
        )


if __name__ == "__main__":
    main()
