"""How each kind of evaluation task is run on one model, and the predictions it writes.

One function per kind of `classit_ray.eval.tasks` ("choice", "reading", "glue"), all with the
signature `run(task, folder, context) -> TaskOutcome`; the registry gives every task the one of its
kind, and the harness calls it. Predictions go to the BabyLM results layout under `context.out`:

    zero_shot/causal/<task>/<dataset>/predictions.json     choice tasks
    finetune/<glue task>/predictions.json                   GLUE

A missing or malformed file raises `EvalDataError`; the harness reports that task as failed. A
task made of parts reports each part that failed or was skipped under `<task>/<part>`: a GLUE
subtask whose data is bad fails alone (`glue/boolq`) while the others fine-tune, and an entity
tracking file that a fast set leaves out is skipped (`entity_tracking/ambiref`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
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


@dataclass
class TaskOutcome:
    """What one task run gives: its metrics, and the parts of it that failed or were skipped while
    the rest scored (`<task>/<part>` -> the one-line reason)."""

    metrics: dict[str, float]
    failed: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def absent_parts(task: Task, folder: Path, fast: bool) -> dict[str, str]:
    """The files of `task.parts` that `folder` lacks, as skipped parts of a fast evaluation (the
    release's fast entity tracking holds `regular.jsonl` alone). A full evaluation needs every
    part: its score averages over them, and an average over fewer would not compare."""
    name = task.spec.name
    absent = [part for part in task.parts if not (folder / part).is_file()]
    if absent and not fast:
        raise EvalDataError(f"{folder / absent[0]}: file not found; the full evaluation of {name} needs "
                            f"{', '.join(task.parts)}")
    return {f"{name}/{Path(part).stem}": f"{folder}: no {part} in this fast set" for part in absent}


def run_choice_task(task: Task, folder: Path, context: TaskContext) -> TaskOutcome:
    skipped = absent_parts(task, folder, context.cfg.fast)
    items = task.read(folder)
    results = score_items(context.lm, items, context.cfg.convention)
    name = task.spec.name
    metrics = {f"eval/{name}": task.aggregate(results)}
    if task.spec.metric == "accuracy":  # ties only count where there is a right answer (not WUG's ρ)
        metrics[f"eval/ties/{name}"] = tie_rate(results)
    if context.out is not None:
        predictions: dict[str, dict] = {}
        for r in results:
            predictions.setdefault(r.item.group, {"predictions": []})["predictions"].append({"id": r.item.id, "pred": chosen_text(r)})
        atomic_write_json(context.out / "zero_shot" / "causal" / name / task.spec.subdir / "predictions.json", predictions)
    return TaskOutcome(metrics, skipped=skipped)


def run_reading_task(task: Task, folder: Path, context: TaskContext) -> TaskOutcome:
    from classit_ray.eval.reading import reading_scores

    scores = reading_scores(context.lm, task.read(folder), context.cfg.convention)
    return TaskOutcome({f"eval/{k}": v for k, v in scores.items()})


def run_glue(task: Task, folder: Path, context: TaskContext) -> TaskOutcome:
    """Fine-tunes a copy of the model per GLUE subtask of `eval.glue_tasks`, in the table's order;
    the others are not read. A subtask whose data is missing or malformed fails alone, as
    `glue/<subtask>` with its message, and the others still run. `eval/glue_avg` is reported only
    when all seven scored: an average over a different set of tasks does not compare across
    models, so a partial one is never reported as the average."""
    from classit_ray.eval.finetune import FinetuneConfig, finetune_task

    outcome = TaskOutcome({})
    chosen = [name for name in GLUE_TASKS if name in context.cfg.glue_tasks]
    for name in chosen:
        try:
            train, valid = formats.read_glue(folder, name)
        except EvalDataError as e:
            outcome.failed[f"glue/{name}"] = str(e)
            continue
        result = finetune_task(context.model_dir, name, train, valid, formats.GLUE_FIELDS[name], formats.GLUE_NUM_LABELS[name],
                               FinetuneConfig(epochs=context.cfg.finetune_epochs, device=context.device))
        outcome.metrics[f"eval/glue/{name}"] = result["score"]
        if context.out is not None:
            atomic_write_json(context.out / "finetune" / name / "predictions.json",
                              {"predictions": [{"id": f"{name}_{i}", "pred": int(p)} for i, p in enumerate(result["predictions"])]})
    if not outcome.failed and chosen == list(GLUE_TASKS):
        outcome.metrics["eval/glue_avg"] = sum(outcome.metrics.values()) / len(outcome.metrics)
    return outcome
