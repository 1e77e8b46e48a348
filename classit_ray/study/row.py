"""The results row: one row per trial of a study, declared once here for every writer and reader.

Writers (`study/trial.py` for a walked cell, `study/runner.py` for Tune's table, `study/plain.py`
for a study without Ray) build their rows with the `*_values` functions and the names below; the
analysis reads a table's column groups with the `*_columns` functions, which take a DataFrame (or
any list of column names) and return the names of one group, in the table's order. Plain Python:
no pandas, Ray or torch is imported, so a notebook or the analysis may import it.

The groups:

    config      `section.field` of the cell's whole config (`config.SECTIONS`); lists and dicts as JSON text
    seed        `cell.seed` (the study's seed axis, which every stage takes) and the stages' own
                `pretrain.seed`, `instruct.seed`: replicates, not conditions
    metric      `eval/<task>` of the final model, `eval/<task>@pretrain` and `eval/<task>@stage1` of the
                earlier endpoints; the training losses `pretrain/loss`, `instruct/loss`,
                `instruct/loss/<stage>`; `pretrain/words_seen`
    curve       `curve`: the pretraining's learning curve (JSON)
    key         `key/<node>`: the artifact store's key of each node the row reports; `keys/graph`: every
                stage key of the cell's graph (JSON list), in every row, finished or not (`classit-ray store gc`)
    artifact    `artifact/<node>`: where those artifacts are
    executed    `executed/<kind>`: how many nodes of each kind this trial computed (the rest were reused)
    timing      `time/*`: seconds of the cell, its own compute, its waiting, Ray's overhead; `time/stages`
    status      `status` (one of `STATUSES`), `error` (one line, "" when none), `eval/failed_tasks` (JSON list)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from classit_ray.config import SECTIONS, Config, config_to_dict

# ---- names -----------------------------------------------------------------------------------------
FINAL = "final"  # the endpoint whose scores carry no suffix
ENDPOINT_SEP = "@"  # eval/blimp@pretrain: the score of the pretrained model the cell started from
CELL_PREFIX = "cell."
KEY_PREFIX, KEYS_GRAPH = "key/", "keys/graph"
ARTIFACT_PREFIX = "artifact/"
EXECUTED_PREFIX = "executed/"
TIME_PREFIX = "time/"
CURVE = "curve"
FAILED_TASKS = "eval/failed_tasks"
METRIC_PREFIXES = ("eval/", "pretrain/", "instruct/")
STATUS, ERROR = "status", "error"

# A trial's status: "ok" and "error" for a finished trial; an interrupted study leaves the rest
# "interrupted" (started) or "not_started" (`study/console.py: end_summary`).
OK, FAILED, INTERRUPTED, NOT_STARTED = "ok", "error", "interrupted", "not_started"
STATUSES = (OK, FAILED, INTERRUPTED, NOT_STARTED)


def metric_name(metric: str, endpoint: str = FINAL) -> str:
    """`eval/blimp` at `endpoint`: the name itself for the final model, `eval/blimp@stage1` before."""
    return metric if endpoint == FINAL else f"{metric}{ENDPOINT_SEP}{endpoint}"


def key_name(node: str) -> str:
    return f"{KEY_PREFIX}{node}"


# ---- writing ---------------------------------------------------------------------------------------
def config_values(cfg: Config) -> dict[str, Any]:
    """The cell's whole config as `section.field` columns; lists and dicts as JSON text."""
    cols = {}
    for section, fields in config_to_dict(cfg).items():
        for name, value in fields.items():
            cols[f"{section}.{name}"] = json.dumps(value) if isinstance(value, (list, dict)) else value
    return cols


def cell_values(cell: Mapping[str, Any]) -> dict[str, Any]:
    """A cell's own axes (names without a section, such as `seed`) as `cell.<name>` columns; its
    dotted axes are config columns already."""
    return {f"{CELL_PREFIX}{name}": value for name, value in cell.items() if "." not in name}


def status_values(status: str, error: str = "") -> dict[str, str]:
    if status not in STATUSES:
        raise ValueError(f"results row: unknown status {status!r}; expected one of {', '.join(STATUSES)}")
    return {STATUS: status, ERROR: error}


# ---- reading ---------------------------------------------------------------------------------------
def _names(table: Any) -> list[str]:
    """The column names of a DataFrame, or the names themselves."""
    return [str(c) for c in getattr(table, "columns", table)]


def _is_config(column: str) -> bool:
    section, dot, _ = column.partition(".")
    return bool(dot) and section in SECTIONS


def _is_seed(column: str) -> bool:
    return (column.startswith(CELL_PREFIX) or _is_config(column)) and column.rsplit(".", 1)[-1] == "seed"


def config_columns(table: Any) -> list[str]:
    """The config columns (`section.field`) but the seeds: where the analysis finds its conditions
    (those that vary across trials), each trial's paths and settings."""
    return [c for c in _names(table) if _is_config(c) and not _is_seed(c)]


def cell_columns(table: Any) -> list[str]:
    """The cell's own axes (`cell.seed`)."""
    return [c for c in _names(table) if c.startswith(CELL_PREFIX)]


def seed_columns(table: Any) -> list[str]:
    """`cell.seed`, `pretrain.seed`, `instruct.seed`: the replicate, never a condition."""
    return [c for c in _names(table) if _is_seed(c)]


def metric_columns(table: Any, endpoint: str | None = FINAL) -> list[str]:
    """The metric columns of `endpoint` ("final", "pretrain", "stage1"; None: every endpoint's),
    `eval/failed_tasks` aside."""
    cols = [c for c in _names(table) if c.startswith(METRIC_PREFIXES) and c != FAILED_TASKS]
    if endpoint is None:
        return cols
    if endpoint == FINAL:
        return [c for c in cols if ENDPOINT_SEP not in c]
    return [c for c in cols if c.endswith(f"{ENDPOINT_SEP}{endpoint}")]


def endpoints(table: Any) -> list[str]:
    """The endpoints a table has scores of: "final" first, then the earlier ones as named."""
    found = {c.rsplit(ENDPOINT_SEP, 1)[1] for c in metric_columns(table, None) if ENDPOINT_SEP in c}
    return [FINAL, *sorted(found)]


def key_columns(table: Any) -> list[str]:
    return [c for c in _names(table) if c.startswith(KEY_PREFIX) or c == KEYS_GRAPH]


def artifact_columns(table: Any) -> list[str]:
    return [c for c in _names(table) if c.startswith(ARTIFACT_PREFIX)]


def timing_columns(table: Any) -> list[str]:
    return [c for c in _names(table) if c.startswith(TIME_PREFIX)]


def executed_columns(table: Any) -> list[str]:
    return [c for c in _names(table) if c.startswith(EXECUTED_PREFIX)]


def status_columns(table: Any) -> list[str]:
    """`status`, `error` and `eval/failed_tasks` (the evaluation tasks that failed in a finished trial)."""
    return [c for c in _names(table) if c in (STATUS, ERROR, FAILED_TASKS)]


def groups(table: Any) -> dict[str, list[str]]:
    """Group name -> its columns; "other" holds what no group declares (Tune's own columns, say)."""
    out = {
        "config": config_columns(table),
        "seed": seed_columns(table),
        "metric": metric_columns(table, None),
        "curve": [c for c in _names(table) if c == CURVE],
        "key": key_columns(table),
        "artifact": artifact_columns(table),
        "executed": executed_columns(table),
        "timing": timing_columns(table),
        "status": status_columns(table),
    }
    declared = {c for cols in out.values() for c in cols}
    out["other"] = [c for c in _names(table) if c not in declared]
    return out
