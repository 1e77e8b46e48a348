"""Run evaluation tasks on one model and write what they produce.

    results/<model>/<revision>/zero_shot/causal/<task>/<dataset>/predictions.json
    results/<model>/<revision>/finetune/<glue task>/predictions.json
    results/<model>/<revision>/metrics.json          the flat metrics dict, and failed tasks

A task whose data is missing or malformed is reported as failed with its message; the other
tasks still run. Metric names are stable: `eval/blimp`, `eval/ewok`, `eval/glue/<task>`,
`eval/glue_avg`, `eval/reading_eye`, `eval/ties/<task>`, ...
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
from classit_ray.eval.registry import GLUE_TASKS, Task, get_task
from classit_ray.eval.scorer import HFCausalLM, LanguageModel
from classit_ray.eval.zero_shot import chosen_text, score_items, tie_rate


@dataclass
class EvalReport:
    metrics: dict[str, float] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)  # task -> the error message
    seconds: dict[str, float] = field(default_factory=dict)


def run_choice_task(task: Task, lm: LanguageModel, folder: Path, out: Path | None) -> dict[str, float]:
    items = task.read(folder)
    results = score_items(lm, items)
    metrics = {f"eval/{task.name}": task.aggregate(results)}
    if task.metric == "accuracy":  # ties only count where there is a right answer (not WUG's ρ)
        metrics[f"eval/ties/{task.name}"] = tie_rate(results)
    if out is not None:
        predictions: dict[str, dict] = {}
        for r in results:
            predictions.setdefault(r.item.group, {"predictions": []})["predictions"].append({"id": r.item.id, "pred": chosen_text(r)})
        atomic_write_json(out / "zero_shot" / "causal" / task.name / task.subdir / "predictions.json", predictions)
    return metrics


def run_reading_task(task: Task, lm: LanguageModel, folder: Path) -> dict[str, float]:
    from classit_ray.eval.reading import reading_scores

    return {f"eval/{k}": v for k, v in reading_scores(lm, task.read(folder)).items()}


def run_glue(model_dir: Path, folder: Path, cfg: EvalConfig, device: str, out: Path | None) -> dict[str, float]:
    from classit_ray.eval.finetune import FinetuneConfig, finetune_task

    metrics, failures = {}, []
    for name in GLUE_TASKS:
        try:
            train, valid = formats.read_glue(folder, name)
        except EvalDataError as e:
            failures.append(str(e))
            continue
        result = finetune_task(model_dir, name, train, valid, formats.GLUE_FIELDS[name], formats.GLUE_NUM_LABELS[name],
                               FinetuneConfig(epochs=cfg.finetune_epochs, device=device))
        metrics[f"eval/glue/{name}"] = result["score"]
        if out is not None:
            atomic_write_json(out / "finetune" / name / "predictions.json",
                              {"predictions": [{"id": f"{name}_{i}", "pred": int(p)} for i, p in enumerate(result["predictions"])]})
    if not metrics:
        raise EvalDataError("; ".join(failures) or f"{folder}: no GLUE task data")
    metrics["eval/glue_avg"] = sum(metrics.values()) / len(metrics)
    if failures:
        metrics["eval/glue_missing"] = float(len(failures))
    return metrics


def evaluate(
    model_dir: str | Path,
    cfg: EvalConfig,
    results_dir: str | Path | None = None,
    lm: LanguageModel | None = None,
    progress: Callable[[str], None] | None = None,
    device: str = "cpu",
) -> EvalReport:
    """Evaluate `model_dir` on `cfg.tasks` of the BabyLM data in `cfg.eval_dir`."""
    if not cfg.eval_dir:
        raise EvalDataError("eval.eval_dir is empty; point it at an evaluation_data/ folder")
    model_dir = Path(model_dir)
    chosen = [get_task(t) for t in cfg.tasks]
    report = EvalReport()
    out = Path(results_dir) if results_dir else None
    if lm is None and any(t.kind != "glue" for t in chosen):
        lm = HFCausalLM(model_dir, device=device, batch_size=cfg.batch_size)
    for task in chosen:
        t0 = time.perf_counter()
        try:
            # GLUE ships only in full_eval/ in the real release; the official pipeline reads it there.
            folder = formats.task_dir(cfg.eval_dir, cfg.fast and task.kind != "glue", task.subdir)
            if task.kind == "choice":
                report.metrics.update(run_choice_task(task, lm, folder, out))
            elif task.kind == "reading":
                report.metrics.update(run_reading_task(task, lm, folder))
            else:
                report.metrics.update(run_glue(model_dir, folder, cfg, device, out))
        except EvalDataError as e:
            report.failed[task.name] = str(e)
        report.seconds[task.name] = time.perf_counter() - t0
        if progress:
            progress(task.name)  # after each task, scored or failed
    if out is not None:
        atomic_write_json(out / "metrics.json", {"metrics": report.metrics, "failed": report.failed, "seconds": report.seconds})
    return report
