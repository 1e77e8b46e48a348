"""Calibration of the report's decision rule: how often it calls a difference where there is none,
and how often it finds one that was planted, on synthetic results in the real schema.

    python bench/calibration.py [--reps 400] [--power-reps 200] [--workers 2]

The rule is the report's: `analysis.comparisons.paired_comparisons` (block-model t-tests, Holm
within each question's family), a test "significant" where its adjusted p < 0.05. The data come
from `analysis.synthetic.synthetic_study` (the toy default's 11 global and 3 interactive tasks,
block SD 1 and task correlation 0.5 in noise SDs), for 3, 6, 8 and 12 pairs (1 size × 3 seeds,
then 2 sizes × 3, 4 and 6 seeds):

- **false positives**: with no effect anywhere, the share of studies in which a family has any
  significant test (its family-wise error rate), per family; target at most 5%;
- **power**: with an effect of k = 1, 2, 3 noise SDs planted on every task of `merged`, the share
  of studies in which `merged vs none` is significant on the global z (the global question), and
  with k planted on BLiMP alone of `wiki>switchboard`, the share in which `wiki>switchboard vs none`
  is significant on BLiMP (the task family); target for the global question at 6 pairs and k = 2:
  at least 0.8;
- the same at 6 pairs with one failed trial and one task missing from one trial.

Prints markdown tables; the dated results file under bench/results/ records a run.
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd

from classit_ray.analysis import comparisons, synthetic
from classit_ray.analysis.report import markdown

DESIGNS = {
    3: (("tiny",), 3),
    6: (("tiny", "tiny-deep"), 3),
    8: (("tiny", "tiny-deep"), 4),
    12: (("tiny", "tiny-deep"), 6),
}
EFFECTS = (0, 1, 2, 3)
ALPHA = 0.05


def one_study(args: tuple) -> dict:
    """The decisions of one synthetic study: per family whether any test is significant, and
    whether the planted effects were found."""
    pairs, k, seed, damaged = args
    sizes, seeds = DESIGNS[pairs]
    effects = {("merged", "*"): k, ("wiki>switchboard", "eval/blimp"): k} if k else {}
    df = synthetic.synthetic_study(
        seeds=seeds,
        sizes=sizes,
        effects=effects,
        rng=seed,
        failed=1 if damaged else 0,
        missing=[(0, "eval/comps")] if damaged else (),
    )
    table = comparisons.paired_comparisons(df, robustness=False)
    hit = table["p_adj"] < ALPHA
    out = {"pairs": pairs, "effect": k, "damaged": damaged}
    for family, rows in table.groupby("family"):
        out[f"any/{family}"] = bool(hit[rows.index].any())
    g = table[(table["question"] == "baseline") & (table["a"] == "merged") & (table["measure"] == comparisons.GLOBAL)]
    out["power/global"] = bool(len(g) and g["p_adj"].iloc[0] < ALPHA and g["mean"].iloc[0] > 0)
    b = table[
        (table["question"] == "baseline") & (table["a"] == "wiki>switchboard") & (table["measure"] == "eval/blimp")
    ]
    out["power/blimp"] = bool(len(b) and b["p_adj"].iloc[0] < ALPHA and b["mean"].iloc[0] > 0)
    return out


def _init_worker() -> None:
    # One thread per worker: the studies are many and small, and BLAS threads would only contend.
    os.environ["OMP_NUM_THREADS"] = "1"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=400, help="studies per design without effect (false positives)")
    parser.add_argument("--power-reps", type=int, default=200, help="studies per design and planted effect")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--pairs",
        type=int,
        nargs="+",
        default=list(DESIGNS),
        choices=list(DESIGNS),
        help="the designs to run (default: all); 6 also runs its damaged variant",
    )
    parser.add_argument(
        "--first-seed",
        type=int,
        default=0,
        help="the first study's seed offset: a second run with another offset adds independent studies",
    )
    args = parser.parse_args()
    jobs = []
    for pairs in args.pairs:
        for k in EFFECTS:
            reps = args.reps if k == 0 else args.power_reps
            jobs += [(pairs, k, 1000 * pairs + 100_000 * k + args.first_seed + r, False) for r in range(reps)]
    for k in EFFECTS if 6 in args.pairs else ():
        reps = args.reps if k == 0 else args.power_reps
        jobs += [(6, k, 7_000_000 + 100_000 * k + args.first_seed + r, True) for r in range(reps)]
    start = time.time()
    with ProcessPoolExecutor(args.workers, initializer=_init_worker) as pool:
        results = pd.DataFrame(list(pool.map(one_study, jobs, chunksize=20)))
    print(f"{len(jobs)} synthetic studies in {time.time() - start:.0f} s\n")
    results["design"] = results["pairs"].astype(str) + np.where(results["damaged"], " (1 failed, 1 task missing)", "")
    null = results[results["effect"] == 0]
    fwer = null.groupby("design", sort=False)[[c for c in results if c.startswith("any/")]].mean()
    fwer["studies"] = null.groupby("design", sort=False).size()
    print("## Family-wise false-positive rate (no effect anywhere; target <= 0.05)\n")
    print(markdown(fwer.rename(columns=lambda c: c.removeprefix("any/")).round(3).reset_index()))
    if not (results["effect"] > 0).any():
        return
    power = results[results["effect"] > 0].pivot_table(
        index="design", columns="effect", values=["power/global", "power/blimp"], sort=False
    )
    print("\n## Power (share of studies that find the planted effect; target: global, 6 pairs, k = 2 >= 0.8)\n")
    power.columns = [f"{name.removeprefix('power/')}, k = {k}" for name, k in power.columns]
    print(markdown(power.round(3).reset_index()))


if __name__ == "__main__":
    main()
