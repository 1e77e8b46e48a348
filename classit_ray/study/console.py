"""What a person reads while a study runs, and where everything else goes.

The console gets a few lines per event a person cares about, each naming the cell in words:

    [study] curriculum_grid: 24 cells, 84 unique stages (3 already in the store), 2 trials at once × 1 torch thread
    [study] raw Ray/Tune/Train logs: ~/classit_ray_results/curriculum_grid/logs/
    tiny · seed 0: pretrain done in 41 s
    tiny · wiki>switchboard · seed 0: instruct 2/2 (switchboard) done in 12 s
    tiny · wiki>switchboard · seed 0: cell done in 3 min 5 s (11 stages, 2 run by other cells)   [12/84 stages, 3/24 cells, ETA 9 min]
    FAILED tiny · p=0.95 · merged · seed 0: BudgetError: ... (traceback: .../error.txt)

Why events travel through an actor: a trial runs in a Ray worker process, so only the driver can
print to the user's terminal. Tune's own channel (`tune.report`) would do, but every report is a
training iteration to Tune's schedulers (ASHA counts them) and a row to its search algorithms
(Optuna needs its metric in each), so per-stage reports would change what those decide. A tiny
actor that the trials push events to, and that the driver drains from a Tune callback, changes
nothing else; it dies with the driver.

Everything raw — Ray workers' stdout/stderr (the training loops' step lines, Ray Data, Ray
Train's controller), Ray's and Tune's driver-side loggers — goes to `<study>/logs/`
(`raw_logs_to`), unless `--verbose` asks for it on the terminal.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from classit_ray.cell.graph import DATA_KINDS
from classit_ray.study.row import INTERRUPTED, NOT_STARTED

# Kinds whose every finished run gets its own line; evaluations and learning curves are counted in
# their cell's line instead (the default study has 42 of them: one line each would double the console).
_OWN_LINE = ("pretrain", "instruct", *DATA_KINDS)
# Kinds that do not depend on the instruction axes: their lines name the cell without them.
_SHARED = ("pretrain", "curve", *DATA_KINDS)
PROGRESS_EVERY_S = 120.0  # a progress line when nothing else printed one for this long
EVENTS_ACTOR = "study-console"


# ---- the cell in words ---------------------------------------------------------------------------
def _word(axis: str, value: Any) -> str:
    if axis == "seed":
        return f"seed {value}"
    if axis == "budget.instruct_fraction":
        return f"p={value:g}"
    if axis in ("model.preset", "instruct.curriculum"):
        return str(value)
    return f"{axis.rsplit('.', 1)[-1]}={value}"


def cell_words(cell: dict[str, Any], varying: set[str] | None = None, shared: bool = False) -> str:
    """`tiny-deep · wiki>switchboard · seed 1`: the size, curriculum and seed always, any other axis
    when it varies in the study (`varying`; None = every axis). `shared` drops the instruction
    axes, for a stage that cells of every curriculum share (a pretraining)."""
    always = ("model.preset", "instruct.curriculum", "seed")
    order = (
        [a for a in always[:2] if a in cell]
        + [a for a in cell if a not in always]
        + [a for a in always[2:] if a in cell]
    )
    shown = [a for a in order if a in always or varying is None or a in varying]
    if shared:
        shown = [a for a in shown if not a.startswith("instruct.")]
    return " · ".join(_word(a, cell[a]) for a in shown) or "(base config)"


def duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, s = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {s} s" if minutes < 10 and s else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


# ---- the trial side: events ----------------------------------------------------------------------
class StageEvents:
    """The actor the trials push events to and the driver drains (see the module docstring)."""

    def __init__(self):
        self._events: list[dict] = []
        self._progress: dict[str, dict] = {}  # cell_id -> its running stage's latest progress

    def add(self, event: dict) -> None:
        self._events.append(event)

    def progress(self, event: dict) -> None:
        self._progress[cell_id(event["cell"])] = event

    def take(self) -> list[dict]:
        """The stage events since the last call, then the latest progress of each cell (marked `progress`)."""
        events, self._events = self._events, []
        progress, self._progress = self._progress, {}
        return events + [{**event, "progress": True} for event in progress.values()]


def start_events():
    import ray

    from classit_ray.runtime import on_this_node

    return ray.remote(num_cpus=0, max_restarts=0, scheduling_strategy=on_this_node())(StageEvents).remote()


def node_event(cell: dict[str, Any], run) -> dict[str, Any]:
    """What the driver needs of a walked node (`cell/execute.py`'s `NodeRun`): plain values only."""
    return {
        "cell": cell,
        "key": run.node.key,
        "kind": run.node.kind,
        "label": run.node.label,
        "executed": run.executed,
        "seconds": run.seconds,
    }


# ---- the driver side: lines ----------------------------------------------------------------------
class StudyConsole:
    """Turns stage and trial events into the console's lines; knows nothing of Ray or Tune.

    `stages` (unique key -> kind) are the plan's stages and `done_before` those already in the
    store: progress counts the rest, and the ETA weights each remaining stage by the mean time its
    kind has taken so far in this study."""

    def __init__(
        self,
        varying: set[str] | None,
        stages: dict[str, str],
        done_before: set[str],
        trials: int,
        out: TextIO | None = None,
        cell_stages: dict[str, set[str]] | None = None,
    ):
        self.varying, self.stages, self.trials = varying, dict(stages), trials
        self.cell_stages = dict(cell_stages or {})  # cell_id -> its stages' keys: a failed cell's are no longer to come
        self.out = out or sys.stdout
        self.finished: set[str] = set(done_before) & set(stages)
        self._before = set(self.finished)
        self.trials_done = 0
        self.t0 = time.perf_counter()
        self._kind_seconds: dict[str, list[float]] = {}
        self._per_trial: dict[str, list[dict]] = {}
        self._running: dict[str, dict] = {}  # cell_id -> the latest progress its running stage reported
        self._stage_since: dict[str, float] = {}  # cell_id of a running trial -> when its current stage began
        self._last_progress = self.t0

    def print(self, line: str) -> None:
        print(line, file=self.out, flush=True)

    def stage(self, event: dict) -> None:
        if event.get("progress"):
            self._running[cell_id(event["cell"])] = event
            return
        key, kind = event["key"], event["kind"]
        self._running.pop(cell_id(event["cell"]), None)  # that stage has ended
        if cell_id(event["cell"]) in self._stage_since:
            self._stage_since[cell_id(event["cell"])] = time.perf_counter()  # and the cell's next one begins
        self._per_trial.setdefault(cell_id(event["cell"]), []).append(event)
        self.finished.add(key)
        if not event["executed"]:
            return
        self._kind_seconds.setdefault(kind, []).append(event["seconds"])
        if kind == "toyworld":  # the same for every cell
            self.print(f"[study] toy world generated in {duration(event['seconds'])}")
        elif kind in _OWN_LINE:
            self.print(
                f"{cell_words(event['cell'], self.varying, shared=kind in _SHARED)}: {event['label']} done in "
                f"{duration(event['seconds'])}"
            )

    def trial(self, cell: dict[str, Any], seconds: float | None, error: str = "", traceback: str = "") -> None:
        self.trials_done += 1
        self._running.pop(cell_id(cell), None)
        self._stage_since.pop(cell_id(cell), None)
        events = self._per_trial.pop(cell_id(cell), [])
        words = cell_words(cell, self.varying)
        mine = self.cell_stages.pop(cell_id(cell), set())
        if error:  # its stages that no other cell still needs will not run
            needed = set().union(*self.cell_stages.values())
            for key in mine - self.finished - needed:
                self.stages.pop(key, None)
            where = f" (traceback: {traceback})" if traceback else ""
            self.print(f"FAILED {words}: {error}{where}   {self.progress_text()}")
            return
        ran = sum(e["executed"] for e in events)
        reused = len(events) - ran
        took = f" in {duration(seconds)}" if seconds is not None else ""
        self.print(
            f"{words}: cell done{took} ({len(events)} stages: {ran} run here, {reused} reused)   {self.progress_text()}"
        )
        self._last_progress = time.perf_counter()

    def started(self, cell: dict[str, Any]) -> None:
        """A trial began (or resumed): its first stage runs from now."""
        self._stage_since[cell_id(cell)] = time.perf_counter()

    def tick(self) -> None:
        """A progress line when none was printed for PROGRESS_EVERY_S seconds."""
        if time.perf_counter() - self._last_progress >= PROGRESS_EVERY_S:
            self.print(f"[study] {self.progress_text()[1:-1]}")
            for event in self._running.values():
                self.print(f"  now {cell_words(event['cell'], self.varying)}: {progress_words(event)}")
            self._last_progress = time.perf_counter()

    def progress_text(self) -> str:
        parts = []
        if self.stages:
            parts.append(f"{len(self.finished)}/{len(self.stages)} stages")
        parts.append(f"{self.trials_done}/{self.trials} cells")
        eta = self.eta()
        parts.append(f"ETA {duration(eta)}" if eta is not None else "ETA unknown")
        return f"[{', '.join(parts)}, {duration(time.perf_counter() - self.t0)} so far]"

    def eta(self) -> float | None:
        """Elapsed × remaining work / work done, each stage weighted by its kind's mean seconds
        (a kind not yet seen weighs the mean of all); by trials when the stages are not known.
        The time the running trials have spent in their current stages counts as work done on
        what is left: a long stage (a GLUE fine-tuning of minutes) then brings the ETA down as it
        runs, where counting finished stages alone made it climb until the stage ended."""
        elapsed = time.perf_counter() - self.t0
        if self.trials_done >= self.trials:
            return 0.0
        if not self.stages:
            return elapsed * (self.trials - self.trials_done) / self.trials_done if self.trials_done else None
        means = {k: sum(v) / len(v) for k, v in self._kind_seconds.items()}
        if not means:
            return None
        overall = sum(means.values()) / len(means)
        weight = lambda key: means.get(self.stages[key], overall)  # noqa: E731
        done = sum(weight(k) for k in self.finished - self._before)
        left = sum(weight(k) for k in self.stages if k not in self.finished)
        running = min(left, sum(time.perf_counter() - since for since in self._stage_since.values()))
        done, left = done + running, left - running
        return elapsed * left / done if done else None


def cell_id(cell: dict[str, Any]) -> str:
    return repr(sorted(cell.items()))


def progress_words(event: dict[str, Any]) -> str:
    """`GLUE mnli: epoch 2/3, 4,000/10,000 items` from a stage's progress report (`classit_ray/progress.py`)."""
    words = [f"GLUE {event['task']}" if "task" in event else "running"]
    if "epoch" in event:
        words.append(f"epoch {event['epoch']}/{event.get('epochs', '?')}")
    if "items" in event:
        words.append(f"{event['items']:,}/{event['of']:,} items" if "of" in event else f"{event['items']:,} items")
    return f"{words[0]}: {', '.join(words[1:])}" if len(words) > 1 else words[0]


# Trial states at the end of a run: the results row's `status` values (`study/row.py`).


def end_summary(statuses: list[str], planned: int, seconds: float, results: str, resume: str) -> list[str]:
    """The study's last lines: what finished, and, when the run ended early, what did not and how
    to go on. `statuses`: the results rows' status; `planned`: the trials the study has (cells
    Tune had not yet created count as not started)."""
    done = statuses.count("ok")
    failed = statuses.count("error")
    interrupted = statuses.count(INTERRUPTED)
    not_started = max(planned - done - failed - interrupted, statuses.count(NOT_STARTED))
    if not interrupted and not not_started:
        return [f"[study] {len(statuses)} cell(s) in {duration(seconds)}, {failed} failed; results: {results}"]
    return [
        f"[study] stopped after {duration(seconds)}: {done} of {planned} cell(s) done, {failed} failed, "
        f"{interrupted} interrupted, {not_started} not started; results so far: {results}",
        "[study] the unfinished cells are recorded as status 'interrupted' / 'not_started' and no analysis "
        f"counts them; to resume (finished stages are reused), run the same command again:\n    {resume}",
    ]


def tune_callback(console: StudyConsole, events, cell_of):
    """A Tune callback (driver side) that drains `events` as Tune's loop turns and prints each
    trial's end. `cell_of(trial)` is the trial's cell dict."""
    from ray import tune

    class ConsoleCallback(tune.Callback):
        def __init__(self):
            self._last_poll = 0.0
            self._started: dict[str, float] = {}
            # Trials running in this run that did not end: interrupted. Tune's own status cannot say
            # so: its clean-up on Ctrl-C marks a stopped running trial TERMINATED, like a finished one.
            self.unfinished: set[str] = set()
            self.states: dict[str, str] = {}  # trial path -> INTERRUPTED or NOT_STARTED at the end ("" otherwise)

        def _drain(self) -> None:
            import ray

            for event in ray.get(events.take.remote()):
                console.stage(event)

        def on_step_end(self, iteration, trials, **info):
            if time.perf_counter() - self._last_poll >= 1.0:
                self._last_poll = time.perf_counter()
                self._drain()
                console.tick()

        def on_trial_start(self, iteration, trials, trial, **info):
            self._started[trial.trial_id] = time.perf_counter()
            self.unfinished.add(trial.trial_id)
            console.started(cell_of(trial))

        def on_trial_complete(self, iteration, trials, trial, **info):
            self._drain()
            self.unfinished.discard(trial.trial_id)
            started = self._started.pop(trial.trial_id, None)
            console.trial(cell_of(trial), None if started is None else time.perf_counter() - started)

        def on_trial_error(self, iteration, trials, trial, **info):
            self._drain()
            self.unfinished.discard(trial.trial_id)
            self._started.pop(trial.trial_id, None)
            # The error file is written here first and copied to the study's storage with the trial:
            # name the copy that stays.
            where = (
                f"{trial.path}/{Path(trial.error_file).name}"
                if trial.error_file and trial.path
                else trial.error_file or ""
            )
            console.trial(cell_of(trial), None, error=_error_line(trial), traceback=where)

        def on_experiment_end(self, trials, **info):
            self._drain()
            # By path, as the results' `Result.path`: what the results table joins on.
            self.states = {
                t.path: INTERRUPTED
                if t.trial_id in self.unfinished or t.status in ("RUNNING", "PAUSED")
                else NOT_STARTED
                if t.status == "PENDING"
                else ""
                for t in trials
            }

    return ConsoleCallback()


def _error_line(trial) -> str:
    """The last line of the trial's error: `BudgetError: ...`."""
    try:
        text = Path(trial.error_file).read_text().strip().splitlines() if trial.error_file else []
    except OSError:
        text = []
    lines = [line for line in text if line.strip() and not line.startswith((" ", "Traceback", "The above"))]
    return one_line_error(lines[-1]) if lines else "failed (no error text)"


def one_line_error(text: str, limit: int = 200) -> str:
    """`BudgetError: ...` from `classit_ray.data.budget.BudgetError: ...`, cut to `limit` characters
    (the traceback file has the rest)."""
    text = re.sub(r"^(?:\w+\.)+(\w+:)", r"\1", text.strip())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---- raw output to files -------------------------------------------------------------------------
class RawLogs:
    """While a study runs, Ray's raw output goes to `logs_dir` rather than the terminal:

    - `workers.log`: every line Ray workers print (the training loops, Ray Data, Ray Train's
      controller, the stage hosts), as Ray forwards them to the driver (`log_to_driver`); on a
      cluster that is every node's output, in one file;
    - `driver.log`: the `ray.*` loggers of this process (Ray core, Tune, Ray Data, Ray Train), and
      whatever else this process prints to stdout once Ray is up: Tune's reporter prints its
      tables and trial errors even at `verbose=0`. The study's own lines go to `terminal`, the
      stdout from before.

    Use as a context manager around `ray.init` and the run, calling `ray_started()` once Ray is
    up (Ray installs its worker-output printer when it connects). With `verbose` nothing moves.
    Ray's worker-output dispatcher is internal API: if it moves, worker output stays on the
    terminal (noisy, not lost)."""

    def __init__(self, logs_dir: Path, verbose: bool = False):
        self.dir, self.verbose = logs_dir, verbose
        self._swapped: list[tuple[logging.Logger, logging.Handler]] = []
        self._printer: list = []
        self._dispatcher = None
        self._workers_log: TextIO | None = None
        self._handler: logging.Handler | None = None
        self._stdout: contextlib.AbstractContextManager | None = None
        self.terminal: TextIO = sys.stdout

    def __enter__(self) -> RawLogs:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.terminal = sys.stdout
        if not self.verbose:
            self._handler = logging.FileHandler(self.dir / "driver.log", encoding="utf-8")
            self._handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
            self._swap_loggers()
        return self

    def _swap_loggers(self) -> None:
        import ray.data  # noqa: F401 - each configures its loggers on import: swap theirs too
        import ray.train  # noqa: F401
        import ray.tune  # noqa: F401

        for name in ["ray", *sorted(n for n in logging.root.manager.loggerDict if n.startswith("ray."))]:
            logger = logging.getLogger(name)
            terminal = [
                h
                for h in logger.handlers
                if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
            ]
            for handler in terminal:
                logger.removeHandler(handler)
                self._swapped.append((logger, handler))
            if terminal and self._handler not in logger.handlers:
                logger.addHandler(self._handler)

    def ray_started(self) -> None:
        if self.verbose:
            return
        self._swap_loggers()  # ray.init may have set its loggers up again
        self._stdout = contextlib.redirect_stdout(self._handler.stream)
        self._stdout.__enter__()
        from ray._private import ray_logging

        self._dispatcher = getattr(ray_logging, "global_worker_stdstream_dispatcher", None)
        if self._dispatcher is None:
            return
        self._workers_log = open(self.dir / "workers.log", "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - closed in __exit__
        log = self._workers_log

        def to_file(data: dict) -> None:
            who = data.get("actor_name") or data.get("task_name") or ""
            stream = "err" if data.get("is_err") else "out"
            for line in data.get("lines", []):
                log.write(f"({who} pid={data.get('pid')}, ip={data.get('ip')}, {stream}) {line}\n")

        self._printer = [h for h in self._dispatcher.handlers if h[0] == "ray_print_logs"]
        self._dispatcher.remove_handler("ray_print_logs")
        self._dispatcher.add_handler("classit_ray_logs", to_file)

    def __exit__(self, *exc) -> None:
        if self._stdout is not None:
            self._stdout.__exit__(None, None, None)
        if self._dispatcher is not None:
            from ray._private import worker

            self._dispatcher.remove_handler("classit_ray_logs")
            if worker.global_worker.connected:
                for name, handler in self._printer:
                    self._dispatcher.add_handler(name, handler)
        for logger in {id(lg): lg for lg, _ in self._swapped}.values():
            logger.removeHandler(self._handler)
        for logger, handler in self._swapped:
            logger.addHandler(handler)
        if self._handler is not None:
            self._handler.close()
        if self._workers_log is not None:
            self._workers_log.close()
