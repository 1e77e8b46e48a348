"""A study: a base config, the axes it varies, and how Ray Tune explores them.

One definition serves both searches. `algorithm="grid"` crosses every axis (`tune.grid_search`);
`algorithm="optuna"` lets Optuna pick `num_samples` points, drawing the grid axes as categorical
choices and the `search` dimensions from their ranges. A point of either is a *cell*: a dict of
dotted config paths (as `apply_overrides` takes them) plus `seed`.

A grid study also gets its **baseline** by default: for every cell, the same cell with no
instruction tuning (`instruct.curriculum: none`, its `instruct.*` axes dropped), i.e. the
pretrained model it starts from. Cells that share a pretraining share that one baseline cell; it
trains nothing and costs one evaluation, since its pretraining and evaluation are the same
stages its instruction-tuned siblings start from. `extra_cells` adds cells outside the cross
product (each crossed with the seed axis), such as the budget study's all-pretraining p = 0.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from classit_ray.config import BASELINE, STAGE_SECTIONS, Config, ConfigError, config_hash, config_to_dict
from classit_ray.config_load import apply_overrides

# The seed axis sets both training seeds: a seed is one replicate of the whole cell (its own
# pretraining too). The data sample (`budget.seed`) stays fixed, so seeds share the data stages.
SEED = "seed"
SEED_PATHS = tuple(f"{stage}.seed" for stage in STAGE_SECTIONS)  # pretrain.seed, instruct.seed
ALGORITHMS = ("grid", "optuna")
SEARCH_KINDS = ("uniform", "loguniform", "int")


@dataclass
class StudyDefinition:
    base: Config
    grid: dict[str, list] = field(default_factory=dict)  # axis (dotted path or "seed") -> values
    # Optuna only: dotted path -> (kind, low, high), kind in SEARCH_KINDS.
    search: dict[str, tuple] = field(default_factory=dict)
    algorithm: str = "grid"
    num_samples: int = 1  # Optuna: trials to run; grid: repeats of the whole grid
    metric: str = "eval/blimp"  # what Optuna optimises (a per-trial metric)
    mode: str = "max"
    asha: bool = False  # stop weak trials early on instruct/loss (reported during instruction tuning)
    baseline: bool = True  # grid: add each cell's pretrained-only twin (instruct.curriculum none)
    extra_cells: list[dict[str, Any]] = field(default_factory=list)  # grid: cells outside the cross product

    @property
    def name(self) -> str:
        return self.base.study.name

    def fingerprint(self) -> str:
        """Identifies the Tune experiment: rerunning the same definition resumes it; a changed
        definition is a new experiment (its stages still reuse the artifact store)."""
        return config_hash(
            {
                "base": config_to_dict(self.base),
                "grid": self.grid,
                "search": {k: list(v) for k, v in self.search.items()},
                "algorithm": self.algorithm,
                "num_samples": self.num_samples,
                "metric": self.metric,
                "mode": self.mode,
                "asha": self.asha,
                "baseline": self.baseline,
                "extra_cells": self.extra_cells,
            }
        )


def cell_config(base: Config, cell: dict[str, Any]) -> Config:
    """The full config of one cell: `base` with the cell's values applied (validated)."""
    overrides: dict[str, Any] = {}
    for path, value in cell.items():
        if path == SEED:
            overrides.update({p: value for p in SEED_PATHS})
        else:
            overrides[path] = value
    return apply_overrides(base, overrides)


def grid_cells(study: StudyDefinition) -> list[dict[str, Any]]:
    """Every cell of the cross product of the grid's axes (the last axis varies fastest)."""
    axes = list(study.grid)
    return [dict(zip(axes, values)) for values in itertools.product(*(study.grid[a] for a in axes))]


def baseline_cell(cell: dict[str, Any]) -> dict[str, Any]:
    """`cell` without instruction tuning: its instruct.* values mean nothing there, so they go."""
    return {**{k: v for k, v in cell.items() if not k.startswith("instruct.")}, "instruct.curriculum": BASELINE}


def study_cells(study: StudyDefinition, group: Callable[[dict], Any] | None = None) -> list[dict[str, Any]]:
    """The grid's cells, its extra cells (crossed with the seed axis), and, with `baseline`, each
    one's baseline twin; a cell listed twice runs once.

    With `group` (a cell -> its pretraining key), cells are dealt round-robin over the groups:
    trials started together then need different pretrainings and run side by side, instead of
    all waiting on the one pretraining they share.
    """
    cells = grid_cells(study)
    seeds = [{SEED: s} for s in study.grid.get(SEED, [])] or [{}]
    cells += [{**extra, **seed} for extra in study.extra_cells for seed in seeds]
    if study.baseline:
        cells += [baseline_cell(c) for c in cells]
    unique: list[dict[str, Any]] = []
    for cell in cells:
        if cell not in unique:
            unique.append(cell)
    cells = unique
    if group is None:
        return cells
    groups: dict[Any, list[dict]] = {}
    for cell in cells:
        groups.setdefault(group(cell), []).append(cell)
    queues = list(groups.values())
    return [q[i] for i in range(max(map(len, queues))) for q in queues if i < len(q)]


def check_definition(study: StudyDefinition) -> list[dict[str, Any]]:
    """Every problem of the definition and of each grid cell, raised as one ConfigError before any
    trial starts; returns the cells."""
    problems: list[str] = []
    if study.algorithm not in ALGORITHMS:
        problems.append(f"study algorithm: expected one of {ALGORITHMS}, got {study.algorithm!r}")
    if study.num_samples < 1:
        problems.append(f"study num_samples: expected >= 1, got {study.num_samples}")
    if study.asha and study.algorithm == "optuna":
        # OptunaSearch reads its metric from every report, and ASHA's come from inside instruction
        # tuning, long before the evaluation that yields the metric.
        problems.append(
            "study asha: not with algorithm 'optuna' (Optuna needs its metric in every report); "
            "use ASHA with a grid, or Optuna alone"
        )
    if study.mode not in ("min", "max"):
        problems.append(f"study mode: expected 'min' or 'max', got {study.mode!r}")
    for axis, values in study.grid.items():
        if not isinstance(values, (list, tuple)) or not values:
            problems.append(f"grid axis {axis!r}: expected a non-empty list of values, got {values!r}")
    instruct_axes = [a for a in study.grid if a.startswith("instruct.") and a != "instruct.curriculum"]
    if BASELINE in (study.grid.get("instruct.curriculum") or []) and instruct_axes:
        # Its cells would differ only in settings a model without instruction tuning never uses.
        problems.append(
            f"grid axis 'instruct.curriculum': {BASELINE!r} crossed with {instruct_axes}, which mean nothing without "
            f"instruction tuning; expected {BASELINE!r} off that axis (the baseline is added per cell by default)"
        )
    # Scores of the two conventions do not compare, and a study compares its cells' scores.
    conventions = {
        *(study.grid.get("eval.convention") or [study.base.eval.convention]),
        *(cell.get("eval.convention", study.base.eval.convention) for cell in study.extra_cells),
    }
    if len(conventions) > 1:
        problems.append(
            f"eval.convention: one study scores by one convention; got {sorted(map(str, conventions))} "
            "(run one study per convention)"
        )
    if study.algorithm == "optuna" and study.extra_cells:
        problems.append("study extra_cells: only with algorithm 'grid' (Optuna chooses its own cells)")
    for path, dim in study.search.items():
        if study.algorithm != "optuna":
            problems.append(f"search dimension {path!r}: ranges need algorithm 'optuna'; a grid takes lists in `grid`")
        if not (isinstance(dim, (list, tuple)) and len(dim) == 3 and dim[0] in SEARCH_KINDS and dim[1] < dim[2]):
            problems.append(
                f"search dimension {path!r}: expected (kind, low, high) with kind in {SEARCH_KINDS} and low < high, got {dim!r}"
            )
    if problems:
        raise ConfigError(problems, "study definition")
    cells = study_cells(study) if study.algorithm == "grid" else grid_cells(study)
    for cell in cells:
        for bound in _search_bounds(study):
            try:
                cell_config(study.base, {**cell, **bound})
            except ConfigError as err:
                problems += [f"cell {_label(cell)}: {p}" for p in err.problems if f"{p}" not in problems]
    if problems:
        raise ConfigError(sorted(set(problems), key=problems.index), "study definition")
    return cells


def _search_bounds(study: StudyDefinition) -> list[dict[str, Any]]:
    """Both ends of every search range, so that validation sees the extremes Optuna may draw."""
    if not study.search:
        return [{}]
    return [{p: d[1] for p, d in study.search.items()}, {p: d[2] for p, d in study.search.items()}]


def _label(cell: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in cell.items()) or "(base)"


CELL = "cell"  # a grid trial's config: {"cell": {axis: value, ...}}


def tune_space(study: StudyDefinition, cells: list[dict[str, Any]]) -> dict[str, Any]:
    """The Tune `param_space` of the definition.

    A grid is one `grid_search` over the cells, in the order given: Tune would otherwise order
    the trials by sorted axis names, which can start three trials that share one pretraining.
    """
    from ray import tune

    if study.algorithm == "grid":
        return {CELL: tune.grid_search(cells)}
    space: dict[str, Any] = {axis: tune.choice(list(values)) for axis, values in study.grid.items()}
    for path, (kind, low, high) in study.search.items():
        space[path] = {"uniform": tune.uniform, "loguniform": tune.loguniform, "int": tune.randint}[kind](low, high)
    return space
