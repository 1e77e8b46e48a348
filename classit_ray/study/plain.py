"""A study without Ray: its cells one after another in this process.

What a user would write instead of a Ray study: the same cells, the same stage graphs, and this
project's own data builders (`data/shards.py` tokenizes in process when Ray is not running, into
the same shards), training loop (the in-process launcher, `train/session.py`) and evaluation,
called in order; a stage that an
earlier cell computed is found in the artifact store. It is the yardstick for what Ray costs
(`bench/plain_study.py`) and the check that a Ray study computes the same numbers
(tests/test_study.py). Not a way to run studies: no concurrency, no leases, no resume of a
half-walked cell beyond what each stage resumes on its own.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pandas as pd
import torch

from classit_ray.config import work_dir_of
from classit_ray.runtime import physical_cores
from classit_ray.study.definition import StudyDefinition, cell_config, check_definition
from classit_ray.study.row import OK, cell_values, status_values
from classit_ray.study.runner import ordered_cells, with_absolute_paths
from classit_ray.study.trial import run_cell


def run_plain(study: StudyDefinition, threads: int = 0) -> Any:
    """Every cell of the grid `study`, in the order a Ray study deals them, in this process;
    `threads` torch threads for training and evaluation (0: every physical core). Returns one
    row per cell, as `run_study`'s table has them (without Tune's columns)."""
    if study.algorithm != "grid":
        raise ValueError(f"run_plain: a grid study only, got algorithm {study.algorithm!r}")
    check_definition(study)
    study = dataclasses.replace(study, base=with_absolute_paths(study.base))
    work_dir = work_dir_of(study.base)
    rows, before = [], torch.get_num_threads()  # the stages pin this process's threads; put them back after
    try:
        for cell in ordered_cells(study, work_dir) * study.num_samples:
            cfg = cell_config(study.base, cell)
            cfg = dataclasses.replace(cfg, pretrain=dataclasses.replace(cfg.pretrain, launcher="in_process"))
            row = run_cell(
                cfg, work_dir, once=lambda kind, key, fn: fn(), threads=threads or physical_cores()
            )  # no leases: one caller
            rows.append({**row, **cell_values(cell), **status_values(OK)})
    finally:
        torch.set_num_threads(before)
    return pd.DataFrame(rows)
