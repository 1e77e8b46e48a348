"""Synthetic study results in the real results schema, with effects planted where the caller says:
what the calibration benchmark (`bench/calibration.py`) and the tests feed the report's decision
rule, whose right answer is known.

A trial's score on task t is

    base_t + block_t + condition effect + noise_t,

with one block per (size, seed) (a pretraining's luck, shared by the trials of that block, SD
`block_sd` noise SDs), noise of SD `noise_sd[t]` correlated `task_corr` across the tasks of one
trial (a model that is luckier is luckier everywhere), and an effect of k noise SDs added to every
trial of one curriculum. Plain numpy / pandas.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from classit_ray.config import BASELINE
from classit_ray.study import row

# The toy default study's global tasks, with a score scale and a noise SD each (in the task's units,
# about what the toy study's seeds show), and its interactive metrics.
TOY_TASKS: dict[str, tuple[float, float]] = {
    "eval/blimp": (0.85, 0.01),
    "eval/blimp_supplement": (0.70, 0.02),
    "eval/ewok": (0.60, 0.02),
    "eval/entity_tracking": (0.40, 0.03),
    "eval/wug_adj": (0.30, 0.08),
    "eval/wug_past": (0.30, 0.08),
    "eval/comps": (0.55, 0.02),
    "eval/reading_eye": (1.0, 0.3),
    "eval/reading_spr": (0.5, 0.2),
    "eval/glue/mnli": (0.45, 0.02),
    "eval/glue/rte": (0.55, 0.03),
    "eval/interactive_nll/switchboard": (4.0, 0.1),
    "eval/interactive_nll/simple_wiki": (3.5, 0.1),
    "eval/interactive_gen": (0.2, 0.03),
}
TOY_CURRICULA = ("merged", "switchboard>wiki", "wiki>switchboard")


def synthetic_study(
    seeds: int = 3,
    sizes: Sequence[str] = ("tiny", "tiny-deep"),
    curricula: Sequence[str] = TOY_CURRICULA,
    effects: Mapping[tuple[str, str], float] | None = None,
    tasks: Mapping[str, tuple[float, float]] = TOY_TASKS,
    block_sd: float = 1.0,
    task_corr: float = 0.5,
    failed: int = 0,
    missing: Sequence[tuple[int, str]] = (),
    rng: np.random.Generator | int = 0,
) -> pd.DataFrame:
    """A results table of len(sizes) × seeds blocks, each with the baseline and every curriculum.

    `effects`: {(curriculum, task): k} adds k noise SDs of the task to every trial of the
    curriculum (task "*": every task). `failed`: that many trials (the last ones) get status
    "error" and no scores. `missing`: (row, task) scores set to NaN, as a task that failed on one
    trial. Columns as a study writes them: `model.preset`, `cell.seed`, `pretrain.seed`, `instruct.seed`,
    `instruct.curriculum`, `budget.instruct_fraction`, `status`, then the `eval/*` scores."""
    rng = np.random.default_rng(rng) if not isinstance(rng, np.random.Generator) else rng
    effects = dict(effects or {})
    names = list(tasks)
    sd = np.array([tasks[t][1] for t in names])
    cov = task_corr * np.ones((len(names), len(names))) + (1 - task_corr) * np.eye(len(names))
    rows = []
    for size in sizes:
        for seed in range(seeds):
            block = rng.normal(0.0, block_sd, len(names)) * sd
            for curriculum in (BASELINE, *curricula):
                noise = rng.multivariate_normal(np.zeros(len(names)), cov) * sd
                shift = (
                    np.array([effects.get((curriculum, t), effects.get((curriculum, "*"), 0.0)) for t in names]) * sd
                )
                score = np.array([tasks[t][0] for t in names]) + block + noise + shift
                rows.append(
                    {
                        "model.preset": size,
                        "cell.seed": seed,
                        "pretrain.seed": seed,
                        "instruct.seed": seed,
                        "instruct.curriculum": curriculum,
                        "budget.instruct_fraction": 0.087,
                        row.STATUS: row.OK,
                        **dict(zip(names, score)),
                    }
                )
    df = pd.DataFrame(rows)
    for index, task in missing:
        df.loc[index, task] = np.nan
    if failed:
        df.loc[df.index[-failed:], names] = np.nan
        df.loc[df.index[-failed:], row.STATUS] = row.FAILED
    return df
