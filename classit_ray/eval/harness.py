"""Run evaluation tasks on one model and write what they produce.

    results/<model>/<revision>/zero_shot/causal/<task>/<dataset>/predictions.json
    results/<model>/<revision>/zero_shot/causal/reading/predictions.json
    results/<model>/<revision>/zero_shot/causal/AoA_word/surprisal.json   a curve's checkpoint only
    results/<model>/<revision>/finetune/<glue task>/predictions.json
    results/<model>/<revision>/interactive/heldout/predictions.json   reply NLLs, generated replies
    results/<model>/<revision>/metrics.json          the flat metrics dict, failed and skipped tasks

Each task runs through its registry entry (`classit_ray.eval.registry`), whose runner
(`classit_ray.eval.runners`) writes its predictions. A task whose data is missing or malformed is
reported as failed with its one-line message (a GLUE subtask as `glue/<subtask>`); the other
tasks still run. A task the fast evaluation leaves out (COMPS), or a part of one that a fast set
lacks, is reported as skipped, not failed; so is AoA on a model alone (it needs a pretraining's
checkpoints: the learning curve scores it, `artifact.curve_into`). The interactive task reads a budget split's held-out
instruction pairs (`heldout_dir`), not the evaluation data; without them it is skipped. Metric names are stable: `eval/blimp`, `eval/ewok`,
`eval/comps`, `eval/glue/<task>`, `eval/glue_avg`, `eval/reading_eye`, `eval/ties/<task>`, ...
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from classit_ray.atomic import atomic_write_json
from classit_ray.config import EvalConfig
from classit_ray.eval import formats
from classit_ray.eval.items import EvalDataError
from classit_ray.eval.registry import get_task
from classit_ray.eval.scorer import HFCausalLM, LanguageModel
from classit_ray.eval.task import TaskContext


@dataclass
class EvalReport:
    metrics: dict[str, float] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)  # task (or task/part) -> the error message
    skipped: dict[str, str] = field(default_factory=dict)  # task (or task/part) -> why it did not run
    seconds: dict[str, float] = field(default_factory=dict)


def evaluate(
    model_dir: str | Path,
    cfg: EvalConfig,
    results_dir: str | Path | None = None,
    lm: LanguageModel | None = None,
    progress: Callable[[str], None] | None = None,
    device: str = "cpu",
    heldout_dir: str | Path | None = None,
    checkpoint: tuple[str, int] | None = None,
) -> EvalReport:
    """Evaluate `model_dir` on `cfg.tasks` of the BabyLM data in `cfg.eval_dir` (and of the
    held-out instruction pairs in `heldout_dir`, a budget split's `heldout/`). `checkpoint`
    (name, words seen) says that the model is a point of a learning curve, which AoA needs."""
    if not cfg.eval_dir:
        raise EvalDataError("eval.eval_dir is empty; point it at an evaluation_data/ folder")
    model_dir = Path(model_dir)
    chosen = [get_task(t) for t in cfg.tasks]
    report = EvalReport()
    out = Path(results_dir) if results_dir else None
    # Loaded once, before any task runs: a model the scorer cannot load fails the whole evaluation.
    if lm is None and any(t.spec.kind != "glue" for t in chosen):
        lm = HFCausalLM(model_dir, device=device, batch_size=cfg.batch_size, convention=cfg.convention)
    context = TaskContext(model_dir, lm, cfg, device, out, checkpoint)
    for task in chosen:
        name, spec, t0 = task.spec.name, task.spec, time.perf_counter()
        if cfg.fast and spec.fast_source == "skip":
            report.skipped[name] = (
                f"not part of the BabyLM fast evaluation (no {spec.subdir}/ in fast_eval/); run the full one"
            )
        elif spec.kind == "aoa" and checkpoint is None:
            report.skipped[name] = (
                "scored on a pretraining's chck_* checkpoints, by its learning curve (eval.checkpoints), "
                "not on one model"
            )
        elif spec.fast_source == "heldout" and heldout_dir is None:
            report.skipped[name] = "no held-out instruction pairs given (a budget split's heldout/ folder: --heldout)"
        else:
            try:
                folder = (
                    Path(heldout_dir)
                    if spec.fast_source == "heldout"
                    else formats.task_dir(cfg.eval_dir, cfg.fast and spec.fast_source == "fast_eval", spec.subdir)
                )
                outcome = task.run(folder, context)
                report.metrics.update(outcome.metrics)
                report.failed.update(outcome.failed)
                report.skipped.update(outcome.skipped)
            except EvalDataError as e:
                report.failed[name] = str(e)
        report.seconds[name] = time.perf_counter() - t0
        if progress:
            progress(name)  # after each task, scored, failed or skipped
    if out is not None:
        atomic_write_json(
            out / "metrics.json",
            {
                "convention": cfg.convention,
                "metrics": report.metrics,
                "failed": report.failed,
                "skipped": report.skipped,
                "seconds": report.seconds,
            },
        )
    return report
