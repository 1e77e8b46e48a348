"""How each kind of evaluation task is run on one model, and the predictions it writes.

One function per kind of `classit_ray.eval.tasks` ("choice", "reading", "glue"), all with the
signature `run(task, folder, context) -> metrics`; the registry gives every task the one of its
kind, and the harness calls it. Predictions go to the BabyLM results layout under `context.out`:

    zero_shot/causal/<task>/<dataset>/predictions.json     choice tasks
    finetune/<glue task>/predictions.json                   GLUE

A missing or malformed file raises `EvalDataError`; the harness reports that task as failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from classit_ray.atomic import atomic_write_json
from classit_ray.config import EvalConfig
from classit_ray.eval import formats
from classit_ray.eval.items import EvalDataError
from classit_ray.eval.scorer import LanguageModel
from classit_ray.eval.tasks import GLUE_TASKS
from classit_ray.eval.zero_shot import chosen_text, score_items, tie_rate

if TYPE_CHECKING:
    from classit_ray.eval.registry import Task


@dataclass(frozen=True)
class TaskContext:
    """What a task may use: the model as a folder (GLUE fine-tunes it) and as a scorer (None when
    no chosen task needs one), the settings, and where predictions go (None: nowhere)."""

    model_dir: Path
    lm: LanguageModel | None
    cfg: EvalConfig
    device: str
    out: Path | None


def run_choice_task(task: Task, folder: Path, context: TaskContext) -> dict[str, float]:
    items = task.read(folder)
    results = score_items(context.lm, items)
    name = task.spec.name
    metrics = {f"eval/{name}": task.aggregate(results)}
    if task.spec.metric == "accuracy":  # ties only count where there is a right answer (not WUG's ρ)
        metrics[f"eval/ties/{name}"] = tie_rate(results)
    if context.out is not None:
        predictions: dict[str, dict] = {}
        for r in results:
            predictions.setdefault(r.item.group, {"predictions": []})["predictions"].append({"id": r.item.id, "pred": chosen_text(r)})
        atomic_write_json(context.out / "zero_shot" / "causal" / name / task.spec.subdir / "predictions.json", predictions)
    return metrics


def run_reading_task(task: Task, folder: Path, context: TaskContext) -> dict[str, float]:
    from classit_ray.eval.reading import reading_scores

    return {f"eval/{k}": v for k, v in reading_scores(context.lm, task.read(folder)).items()}


def run_glue(task: Task, folder: Path, context: TaskContext) -> dict[str, float]:
    """Fine-tunes a copy of the model per GLUE subtask; a subtask whose data is missing is skipped
    and counted in `eval/glue_missing`, and only all of them missing fails the task."""
    from classit_ray.eval.finetune import FinetuneConfig, finetune_task

    metrics, failures = {}, []
    for name in GLUE_TASKS:
        try:
            train, valid = formats.read_glue(folder, name)
        except EvalDataError as e:
            failures.append(str(e))
            continue
        result = finetune_task(context.model_dir, name, train, valid, formats.GLUE_FIELDS[name], formats.GLUE_NUM_LABELS[name],
                               FinetuneConfig(epochs=context.cfg.finetune_epochs, device=context.device))
        metrics[f"eval/glue/{name}"] = result["score"]
        if context.out is not None:
            atomic_write_json(context.out / "finetune" / name / "predictions.json",
                              {"predictions": [{"id": f"{name}_{i}", "pred": int(p)} for i, p in enumerate(result["predictions"])]})
    if not metrics:
        raise EvalDataError("; ".join(failures) or f"{folder}: no GLUE task data")
    metrics["eval/glue_avg"] = sum(metrics.values()) / len(metrics)
    if failures:
        metrics["eval/glue_missing"] = float(len(failures))
    return metrics
