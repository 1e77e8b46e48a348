"""Run a study on Ray Tune: check it, plan it, launch or resume it, write its results table.

    <storage_path>/artifacts/...           stages by key, shared by every study (study/trial.py); on s3:// or
                                           gs://, each node works in its cache of them (classit_ray/store.py)
    <storage_path>/<name>/tune-<fp>/       the Tune experiment of this definition (fp = fingerprint)
    <storage_path>/<name>/results.parquet  one row per cell (also results.csv), then report.md
    <storage_path>/<name>/logs/            Ray's, Tune's and the workers' raw output (study/console.py)

Rerunning the same command after the driver died restores the Tune experiment (`Tuner.restore`)
and continues it; finished trials are not rerun, and a rerun trial finds its finished stages in
the artifact store. A changed definition gets a new experiment but still reuses every stage.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import re
import shlex
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from classit_ray.atomic import atomic_write_text
from classit_ray.cell.graph import CellGraph, build_graph
from classit_ray.config import (
    LOGGER_PACKAGES,
    Config,
    ConfigError,
    absolute_path,
    artifact_store_of,
    config_hash,
    config_to_dict,
    is_uri,
    join_uri,
    redact_uri,
    work_dir_of,
)
from classit_ray.hub import HubError, absolute_unless_hub, is_hub_id, resolve
from classit_ray.store import StoreError, check_local_stages, client_problem, stage_in_store
from classit_ray.study.cluster_nodes import SHIPPED_CLUSTER_YAML, Cluster, read_cluster
from classit_ray.study.console import cell_id, one_line_error
from classit_ray.study.definition import (
    CELL,
    SEED,
    StudyDefinition,
    cell_config,
    check_definition,
    study_cells,
    tune_space,
)
from classit_ray.study.resources import Plan, plan_resources, trial_request
from classit_ray.study.row import FAILED, KEYS_GRAPH, OK, cell_values, config_values, status_values
from classit_ray.study.trial import cell_trainable, planned_keys

# Tune fills these into every result; they describe the run, not the cell.
_TUNE_NOISE = (
    "timestamp",
    "date",
    "pid",
    "hostname",
    "node_ip",
    "time_this_iter_s",
    "time_since_restore",
    "iterations_since_restore",
    "checkpoint_dir_name",
    "done",
    "config",
    "should_checkpoint",
    "checkpoint_path",
    "timesteps_total",
)  # the x axis of the training curves (trial.TrainingCurves), not a result


def study_dir(cfg: Config) -> str:
    """`<storage>/<name>`; a local storage path made absolute (Tune and pyarrow refuse relative ones)."""
    storage = absolute_path(cfg.study.storage_path)
    return join_uri(storage, cfg.study.name) if is_uri(storage) else str(Path(storage) / cfg.study.name)


def with_absolute_paths(cfg: Config) -> Config:
    """`cfg` with every local path field made absolute. Tune runs each trial in its own working
    directory, so a relative `--storage bench/out` would otherwise build the artifact store in one
    folder and look for it in another."""
    return dataclasses.replace(
        cfg,
        corpus=dataclasses.replace(
            cfg.corpus,
            data_dir=absolute_path(cfg.corpus.data_dir),
            instruct_dir=absolute_unless_hub(cfg.corpus.instruct_dir),
        ),
        eval=dataclasses.replace(cfg.eval, eval_dir=absolute_path(cfg.eval.eval_dir)),
        study=dataclasses.replace(
            cfg.study,
            storage_path=absolute_path(cfg.study.storage_path),
            work_dir=absolute_path(cfg.study.work_dir),
            cache_dir=absolute_path(cfg.study.cache_dir),
        ),
    )


# ---- checks before any trial ---------------------------------------------------------------------
def _writable(path: str) -> str | None:
    """None if `path` (a folder, local or URI) can be written, else why not. On object storage a
    probe object is written and deleted: that needs the bucket, the endpoint and credentials."""
    try:
        if is_uri(path):
            import pyarrow.fs

            fs, root = pyarrow.fs.FileSystem.from_uri(path)
            if isinstance(
                fs, pyarrow.fs.LocalFileSystem
            ):  # object storage has no folders to make (and each call retries)
                fs.create_dir(root, recursive=True)
            with fs.open_output_stream(f"{root}/.write-probe") as f:
                f.write(b"ok")
            fs.delete_file(f"{root}/.write-probe")
        else:
            folder = Path(path).expanduser()
            folder.mkdir(parents=True, exist_ok=True)
            probe = folder / f".write-probe-{os.getpid()}"
            probe.write_text("ok")
            probe.unlink()
    except Exception as err:  # noqa: BLE001 - any failure here means "not writable"; say which
        return f"{type(err).__name__}: {err}"
    return None


def check_inputs(cfg: Config) -> None:
    """Data, evaluation and storage paths, all checked before Ray starts: one ConfigError."""
    from classit_ray.data.corpus import CorpusError, find_corpus_dir
    from classit_ray.toyworld import corpus_is_toy

    problems = []
    for logger in cfg.study.loggers:
        package = LOGGER_PACKAGES[logger]
        if importlib.util.find_spec(package) is None:
            problems.append(
                f"study.loggers: {logger!r} needs the {package} package; expected `pip install {package}` or {logger!r} removed"
            )
    if cfg.corpus.data_dir:
        try:
            find_corpus_dir(cfg.corpus.data_dir)
        except CorpusError as err:
            problems.append(f"corpus.data_dir: {err}")
    if is_hub_id(cfg.corpus.instruct_dir):  # fetched here, once, rather than failing in every trial
        try:
            resolve(cfg.corpus.instruct_dir, "dataset")
        except HubError as err:
            problems.append(f"corpus.instruct_dir: {err}")
    if cfg.eval.eval_dir:
        root = Path(cfg.eval.eval_dir).expanduser()
        splits = ("fast_eval", "full_eval")
        if not root.is_dir() or (root.name not in splits and not any((root / d).is_dir() for d in splits)):
            problems.append(
                f"eval.eval_dir: {root}: expected the BabyLM evaluation_data/ folder (holding fast_eval/ and full_eval/)"
            )
    elif not corpus_is_toy(cfg):
        problems.append(
            "eval.eval_dir: empty, but the corpus is not the toy world; expected --eval-dir pointing at evaluation_data/"
        )
    paths = {"study.storage_path": study_dir(cfg), "study.work_dir": artifact_store_of(cfg)}
    if is_uri(artifact_store_of(cfg)):
        paths["study.cache_dir"] = str(work_dir_of(cfg))  # this node's copy of the remote store
    with ThreadPoolExecutor(len(paths)) as pool:  # at once: an unreachable endpoint takes seconds to give up
        whys = dict(zip(paths, pool.map(_writable, paths.values())))
    problems += [f"{field}: {redact_uri(paths[field])} is not writable ({why})" for field, why in whys.items() if why]
    if problems:
        raise ConfigError(problems, "study inputs")


def store_words(cfg: Config) -> str:
    """The artifact store, for people: a folder, or a URI and this node's cache of it."""
    store = artifact_store_of(cfg)
    return f"{redact_uri(store)} (cached in {work_dir_of(cfg)})" if is_uri(store) else str(work_dir_of(cfg))


# ---- the plan: cells and their unique stages -----------------------------------------------------
def ordered_cells(study: StudyDefinition, work_dir: Path) -> list[dict]:
    """The study's cells, dealt round-robin over their pretrainings (see `study_cells`)."""
    return study_cells(study, group=lambda cell: build_graph(cell_config(study.base, cell), work_dir).pretrain.key)


def _cell_label(cell: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in cell.items()) or "(base config)"


def study_cluster(study: StudyDefinition) -> Cluster | None:
    """The cluster YAML a study counts on (`study.cluster_yaml`), read and checked against one
    trial's request before anything starts; None without one. A ConfigError names the file."""
    path = study.base.study.cluster_yaml
    if not path:
        return None
    cluster = read_cluster(path)
    request = trial_request(study.base, study.asha)
    cluster.check(request.bundles, request.describe())
    return cluster


def gpu_hours_line(study: StudyDefinition, graphs: list[CellGraph], cluster: Cluster | None) -> list[str]:
    """The training stages' GPU-hours on the GPU node type of `cluster`, or of the shipped
    cluster.yaml when none is given (`study/gpu_hours.py`); nothing for a CPU study."""
    from classit_ray.study.gpu_hours import estimate

    if not study.base.pretrain.use_gpu or not graphs:
        return []
    if cluster is None and SHIPPED_CLUSTER_YAML.is_file():
        cluster = read_cluster(SHIPPED_CLUSTER_YAML)
    types = cluster.gpu_types if cluster is not None else []
    if not types:
        return [f"  {'GPU-hours':16s} not estimated: no GPU node type to estimate them on (--cluster FILE)"]
    return [
        f"  {'GPU-hours':16s} on {n.instance or n.name} ({n.resources['GPU']:g} × {n.gpu or 'GPU'}, node type {n.name} of "
        f"{cluster.path}): {estimate(graphs, n.gpu).describe()}"
        for n in types
    ]


def dry_run_report(study: StudyDefinition, cells: list[dict], work_dir: Path, cluster: Cluster | None = None) -> str:
    """The study's plan: each cell with its stage graph, then the unique stages and resources:
    what a trial requests, how many run at once (on `cluster`, when given) and, for a GPU study,
    the GPU-hours of its training."""
    cfg = study.base
    plan = plan_resources(cfg, cluster=cluster, asha=study.asha)
    lines = [
        f"study {study.name!r}: {study.algorithm}, artifact store {store_words(cfg)}, results in {redact_uri(study_dir(cfg))}"
    ]
    if study.algorithm == "optuna":
        lines.append(
            f"Optuna: {study.num_samples} trials maximising {study.metric} ({study.mode}) over "
            f"{ {**{k: list(v) for k, v in study.grid.items()}, **study.search} }; cells are chosen as it goes."
        )
        cells = cells[:0]
    graphs: list[CellGraph] = [build_graph(cell_config(cfg, cell), work_dir) for cell in cells]
    per_kind: dict[str, dict[str, str]] = {}
    requested: dict[str, int] = {}
    shown: set[str] = set()
    lines.append(
        f"\n{len(cells) * study.num_samples if study.algorithm == 'grid' else 0} cell(s), each a stage graph "
        "(a stage shown before is named by its key only):"
    )
    for n, (cell, graph) in enumerate(zip(cells, graphs), 1):
        lines.append(f"  {n:3d}. {_cell_label(cell)}")
        for node, text in zip(graph.nodes, graph.describe()):
            per_kind.setdefault(node.kind, {})[node.key] = node.path
            requested[node.kind] = requested.get(node.kind, 0) + 1
            lines.append(
                f"         {text}" if node.key not in shown else f"         {node.label:<40s} {node.key}  (above)"
            )
            shown.add(node.key)
    if cells:
        lines.append("\nunique stages after deduplication (requested by the cells -> run):")
        for kind, keys in per_kind.items():
            done = sum(stage_in_store(cfg, p) for p in keys.values())
            lines.append(
                f"  {kind:16s} {requested[kind]:3d} -> {len(keys):3d}"
                + (f"  ({done} already in the store)" if done else "")
            )
    lines.append("\nresources:")
    lines += [f"  {k:16s} {v}" for k, v in plan.describe(cfg).items()]
    lines += gpu_hours_line(study, graphs, cluster)
    return "\n".join(lines)


# ---- the Tune run --------------------------------------------------------------------------------
def _trial_name(trial) -> str:
    # Named by the cell, never by a timestamp: the same cell has the same name in every run.
    return "cell-" + config_hash({k: v for k, v in trial.config.items()})[:10]


def shared_stages(study: StudyDefinition, cell_stages: dict[str, set[str]]) -> frozenset[str] | None:
    """The stages more than one trial needs: only they need a lease (`study/once.py`), which
    costs an actor, a process start, per stage. None (every stage leased) when the trials are not
    known in advance (Optuna) or a grid runs more than once (`num_samples`: every stage twice)."""
    if study.algorithm != "grid" or study.num_samples > 1 or not cell_stages:
        return None
    counts: dict[str, int] = {}
    for keys in cell_stages.values():
        for key in keys:
            counts[key] = counts.get(key, 0) + 1
    return frozenset(key for key, n in counts.items() if n > 1)


def trial_retries(cfg: Config) -> int:
    """How often Tune reruns a failed trial: never on one machine, where a failure is the cell's
    own (its error is the answer); twice on a cluster, where a trial also fails when its node is
    lost, and its rerun finds every finished stage in the store and resumes the interrupted one
    from its last checkpoint."""
    return 2 if cfg.study.ray_address else 0


def build_tuner(
    study: StudyDefinition,
    cells: list[dict],
    work_dir: Path,
    plan: Plan,
    experiment: str,
    events=None,
    say=print,
    shared: frozenset[str] | None = None,
):
    from ray import tune

    base = config_to_dict(study.base)
    trainable = tune.with_resources(
        tune.with_parameters(
            cell_trainable,
            base=base,
            work_dir=str(work_dir),
            threads=plan.torch_threads,
            asha=study.asha,
            events=events,
            shared=shared,
            curves=reports_curves(study),
        ),
        plan.trial_resources(),
    )
    path = join_uri(study_dir(study.base), experiment)
    if tune.Tuner.can_restore(path):
        say(f"[study] resuming {redact_uri(path)}")
        return tune.Tuner.restore(path, trainable, resume_unfinished=True, resume_errored=True)
    search_alg = scheduler = None
    if study.algorithm == "optuna":
        from ray.tune.search.optuna import OptunaSearch

        search_alg = OptunaSearch(metric=study.metric, mode=study.mode, seed=study.base.pretrain.seed)
    if study.asha:
        from ray.tune.schedulers import ASHAScheduler

        scheduler = ASHAScheduler(metric="instruct/loss", mode="min", time_attr="training_iteration", grace_period=2)
    return tune.Tuner(
        trainable,
        param_space=tune_space(study, cells),
        tune_config=tune.TuneConfig(
            num_samples=study.num_samples,
            max_concurrent_trials=plan.concurrent,
            search_alg=search_alg,
            scheduler=scheduler,
            trial_name_creator=_trial_name,
            trial_dirname_creator=_trial_name,
            # A finished trial's process, and its warm stage host (`trial.stage_host`),
            # runs the next trial. Not under ASHA: a trial it stops may still be inside
            # a stage, which only the end of its process ends.
            reuse_actors=not study.asha,
        ),
        run_config=tune.RunConfig(
            name=experiment,
            storage_path=study_dir(study.base),
            failure_config=tune.FailureConfig(max_failures=trial_retries(study.base), fail_fast=False),
        ),
    )


def reports_curves(study: StudyDefinition) -> bool:
    """Whether trials report their training curves as they go (`trial.TrainingCurves`): not
    under Optuna, which reads its metric from every report, nor under ASHA, whose rungs count
    reports (`training_iteration`)."""
    return study.algorithm == "grid" and not study.asha


def logger_callbacks(cfg: Config) -> list:
    """Ray Tune's own logger callbacks for `study.loggers`: TensorBoard event files in each
    trial's folder under the study's, MLflow runs (`study.mlflow_tracking_uri`, default
    `<study>/mlruns`), Weights & Biases runs in a project named after the study."""
    callbacks = []
    if "tensorboard" in cfg.study.loggers:
        from ray.tune.logger import TBXLoggerCallback

        callbacks.append(TBXLoggerCallback())
    if "mlflow" in cfg.study.loggers:
        from ray.air.integrations.mlflow import MLflowLoggerCallback

        uri = cfg.study.mlflow_tracking_uri or f"{study_dir(cfg)}/mlruns"
        callbacks.append(
            MLflowLoggerCallback(
                tracking_uri=uri if is_uri(uri) else f"file://{uri}",
                experiment_name=cfg.study.name,
                save_artifact=False,
            )
        )
    if "wandb" in cfg.study.loggers:
        from ray.air.integrations.wandb import WandbLoggerCallback

        callbacks.append(WandbLoggerCallback(project=cfg.study.name))
    return callbacks


def attach_console(tuner, callback, verbose: bool, loggers=()) -> None:
    """Tune's own console off (unless `verbose`), the study's console callback and `loggers`
    (`logger_callbacks`) on, for this run.

    Set on the tuner's run config after it is built: a new Tuner pickles its run config into the
    experiment (`tuner.pkl`) when constructed, and a restored one reads it back from there, so a
    callback holding the terminal and an actor handle must not be in it, and a restored study
    must take this run's `--verbose` and loggers, not the first run's."""
    run_config = tuner._local_tuner.get_run_config()
    run_config.callbacks = [callback, *loggers]
    if not verbose:
        run_config.verbose = 0


def results_table(study: StudyDefinition, grid, states: dict[str, str] | None = None) -> Any:
    """One row per trial: config columns, every reported metric, and the trial's status/error.
    `status` is "ok" or "error" for a finished trial, else what `states` (trial path -> status,
    from the console's Tune callback) says: "interrupted" or "not_started" (`console.end_summary`)."""
    import pandas as pd

    rows = []
    for result in grid:
        config = result.config or {}
        params = dict(config.get(CELL, config))
        # A cell's config was checked before any trial (check_definition); Optuna's points are
        # drawn inside ranges whose ends were checked too, so this cannot fail.
        cfg = cell_config(study.base, params)
        row: dict[str, Any] = config_values(cfg)
        row.update(cell_values(params))
        row.update({k: v for k, v in (result.metrics or {}).items() if k not in _TUNE_NOISE})
        if "training_iteration" in row:  # reports the trial made: 1, or more with ASHA's intermediate ones
            row["tune/reports"] = row.pop("training_iteration")
        status = FAILED if result.error else (states or {}).get(result.path) or OK
        if KEYS_GRAPH not in row:  # a walk that did not end: the stages a resume reuses, which store gc keeps
            try:
                row.update(planned_keys(cfg, work_dir_of(cfg)))
            except ValueError:  # a cell whose graph cannot be planned (its error says why): it has no stages
                pass
        row.update(status_values(status, "" if result.error is None else _one_line(result.error)))
        rows.append(row)
    df = pd.DataFrame(rows)
    key_cols = [c for c in (*study.grid, *study.search) if c in df.columns]
    return df.sort_values(key_cols, kind="stable").reset_index(drop=True) if key_cols and len(df) else df


def _one_line(error: BaseException) -> str:
    cause = getattr(error, "cause", None) or error
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[-1] if text else ''}"


def write_results(df, out: str) -> str:
    """results.parquet and results.csv under `out` (a folder path or URI), each written whole."""
    if is_uri(out):
        import pyarrow as pa
        import pyarrow.fs
        import pyarrow.parquet as pq

        fs, root = pyarrow.fs.FileSystem.from_uri(out)
        fs.create_dir(root, recursive=True)
        pq.write_table(pa.Table.from_pandas(df), f"{root}/results.parquet", filesystem=fs)
        with fs.open_output_stream(f"{root}/results.csv") as f:
            f.write(df.to_csv(index=False).encode())
        return join_uri(out, "results.parquet")
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".results.parquet.tmp-{os.getpid()}"
    df.to_parquet(tmp, index=False)
    os.replace(tmp, folder / "results.parquet")
    atomic_write_text(folder / "results.csv", df.to_csv(index=False))
    return str(folder / "results.parquet")


def summary_table(df) -> str:
    """The per-condition table of the analysis (global z: n, median, IQR, mean and its unpaired CI)."""
    from classit_ray import analysis

    return analysis.summary_table(df)


def logs_dir(cfg: Config) -> Path:
    """Where a study's raw Ray/Tune/Train logs go: `<storage>/<name>/logs/`, or, with storage on
    s3, `<work_dir>/logs/<name>/` (the logs are written as they come, which object storage cannot;
    with the artifact store on s3 too, that is this node's cache)."""
    folder = study_dir(cfg)
    return work_dir_of(cfg) / "logs" / cfg.study.name if is_uri(folder) else Path(folder) / "logs"


def plan_stages(
    study: StudyDefinition, cells: list[dict], work_dir: Path
) -> tuple[dict[str, str], set[str], dict[str, set[str]]]:
    """The unique stages of a grid study (key -> kind), those already in the store, and each
    cell's stages (`console.cell_id` -> keys); none for Optuna, whose cells are chosen as it goes."""
    if study.algorithm != "grid":
        return {}, set(), {}
    graphs = {cell_id(cell): build_graph(cell_config(study.base, cell), work_dir).nodes for cell in cells}
    nodes = {n.key: n for graph in graphs.values() for n in graph}
    return (
        {k: n.kind for k, n in nodes.items()},
        {k for k, n in nodes.items() if stage_in_store(study.base, n.path)},
        {cid: {n.key for n in graph} for cid, graph in graphs.items()},
    )


def varying_axes(study: StudyDefinition) -> set[str] | None:
    """The axes whose value tells one cell from another (None = all: Optuna's points)."""
    if study.algorithm != "grid":
        return None
    return {axis for axis, values in study.grid.items() if len(values) > 1}


def run_study(study: StudyDefinition, dry_run: bool = False, verbose: bool = False) -> Any:
    """Check, plan and run `study`; return its results DataFrame (None for a dry run).

    The console gets the plan, a line per finished stage and cell with progress and an ETA, and
    the summary (`study/console.py`); Ray's, Tune's and the workers' own output goes to
    `logs_dir(cfg)` instead, unless `verbose`."""
    import ray

    from classit_ray.runtime import init_ray
    from classit_ray.study.console import RawLogs, StudyConsole, cell_words, end_summary, start_events, tune_callback

    check_definition(study)
    study = dataclasses.replace(study, base=with_absolute_paths(study.base))
    cfg = study.base
    # A store this install cannot commit to (boto3 or google-cloud-storage missing): one line now, not at the first publish.
    missing = None if dry_run else client_problem(artifact_store_of(cfg))
    if missing is not None:
        raise StoreError(missing)
    check_inputs(cfg)
    work_dir = work_dir_of(cfg)
    cluster = study_cluster(study)
    cells = ordered_cells(study, work_dir)
    if dry_run:
        print(dry_run_report(study, cells, work_dir, cluster))
        return None
    if cluster is not None and not cfg.study.ray_address:
        raise ConfigError(
            [
                f"{cfg.study.cluster_yaml}: describes the cluster a study joins, but study.ray_address is empty "
                "(a local Ray); expected --address auto, or no --cluster"
            ],
            "study.cluster_yaml",
        )
    logs = logs_dir(cfg)
    trials = len(cells) * study.num_samples if study.algorithm == "grid" else study.num_samples
    stages, in_store, cell_stages = plan_stages(study, cells, work_dir)
    # A damaged finished stage is named before anything starts, not read as a result (the cache's copies, with a remote store).
    check_local_stages(
        {n.path for cell in cells for n in build_graph(cell_config(cfg, cell), work_dir).nodes},
        hashes=cfg.study.verify_stages,
    )
    varying = varying_axes(study)
    with RawLogs(logs, verbose) as raw:
        init_ray(cfg.study.ray_address, plan_resources(cfg).logical_cpus)
        raw.ray_started()
        plan = plan_resources(cfg, ray.cluster_resources().get("GPU", 0.0), cluster=cluster, asha=study.asha)
        planned = (
            (f", {len(stages)} unique stages" + (f" ({len(in_store)} already in the store)" if in_store else ""))
            if stages
            else ""
        )
        console = StudyConsole(varying, stages, in_store, trials, out=raw.terminal, cell_stages=cell_stages)
        at_once = f"{plan.at_once} at once" + (
            f" ({plan.why}; a trial: {plan.request.describe()})" if cfg.study.ray_address else ""
        )
        console.print(
            f"[study] {study.name}: {trials} cell(s){planned}; {at_once}, "
            f"{plan.torch_threads or 'default'} torch thread(s) each; artifacts in {store_words(cfg)}"
        )
        console.print(f"[study] raw Ray/Tune/Train logs: {logs}/" + ("" if verbose else " (--verbose shows them here)"))
        t0 = time.perf_counter()
        events = start_events()
        try:
            tuner = build_tuner(
                study,
                cells,
                work_dir,
                plan,
                experiment=f"tune-{study.fingerprint()}",
                events=events,
                say=console.print,
                shared=shared_stages(study, cell_stages),
            )
            callback = tune_callback(console, events, _trial_cell)
            attach_console(tuner, callback, verbose, logger_callbacks(cfg))
            grid = tuner.fit()  # returns after a Ctrl-C too (Tune's handler stops the run and saves its state)
        finally:
            ray.kill(events)
    df = results_table(study, grid, callback.states)
    path = write_results(df, study_dir(cfg))
    failed = df[df["status"] == "error"] if len(df) else df
    print(
        "\n"
        + "\n".join(
            end_summary(
                list(df["status"]) if len(df) else [],
                trials,
                time.perf_counter() - t0,
                redact_uri(path),
                resume_command(),
            )
        )
    )
    for _, row in failed.iterrows():
        print(
            f"  failed: {cell_words(_row_cell(row, (*study.grid, *study.search)), varying)}: {one_line_error(row['error'], 120)}"
        )
    if not is_uri(study_dir(cfg)) and (df["status"] == "ok").sum() >= 1:
        from classit_ray.analysis import write_report

        try:
            print(f"[study] report: {write_report(study_dir(cfg))}")
        except ValueError as err:  # e.g. no varying condition or no scored task: the table still stands
            print(f"[study] no report: {err}")
    print("\n" + summary_table(df))
    return df


def resume_command() -> str:
    """The command that started this study, to print as the way to resume it; credentials in a
    URI argument hidden (`--storage s3://KEY:SECRET@...`)."""
    return shlex.join(re.sub(r"([a-z0-9+.-]+://)[^/@\s]*@", r"\1***@", arg) for arg in sys.orig_argv)


def _trial_cell(trial) -> dict:
    config = trial.config or {}
    return dict(config.get(CELL, config))


def _row_cell(row, axes) -> dict:
    """A results row's cell (the seed is its `cell.seed` column)."""
    import pandas as pd

    columns = {axis: f"cell.{axis}" if axis == SEED else axis for axis in axes}
    cell = {
        axis: row[col]
        for axis, col in columns.items()
        if col in row and not (pd.api.types.is_scalar(row[col]) and pd.isna(row[col]))
    }
    return {axis: int(v) if isinstance(v, float) and v.is_integer() and axis == SEED else v for axis, v in cell.items()}
