"""How each kind of evaluation task is run on one model, and the predictions it writes.

One function per kind of `classit_ray.eval.tasks` ("choice", "reading", "glue", "aoa"), all with the
signature `run(task, folder, context) -> TaskOutcome` (`eval/task.py`); the registry gives every task the one of its
kind, and the harness calls it. Predictions go under `context.out` (a `<model>/<revision>/` folder)
in the layout and with the fields the official pipeline's scripts write (babylm/evaluation-pipeline-2025):

    zero_shot/causal/<task>/<dataset>/predictions.json   choice tasks: <task> the official `--task`
        (the supplement is `blimp`), <dataset> the data folder read (`blimp_fast` in a fast run);
        {UID: {"predictions": [{"id": "<UID>_<i>", "pred": completion}]}}, WUG with its `prob`
    zero_shot/causal/reading/predictions.json            {"reading": {"predictions": [{"id", "pred", "prev_pred"}]}}
    zero_shot/causal/AoA_word/surprisal.json             one checkpoint's AoA surprisals (eval/aoa.py)
    finetune/<glue task>/predictions.json                {task: {"predictions": [{"id": "<task>_<i>", "pred": label}]}}

A missing or malformed file raises `EvalDataError`; the harness reports that task as failed. A
task made of parts reports each part that failed or was skipped under `<task>/<part>`: a GLUE
subtask whose data is bad fails alone (`glue/boolq`) while the others fine-tune, and an entity
tracking file that a fast set leaves out is skipped (`entity_tracking/ambiref`).
"""

from __future__ import annotations

from pathlib import Path

from classit_ray.atomic import atomic_write_json
from classit_ray.eval import aoa, formats
from classit_ray.eval.items import EvalDataError
from classit_ray.eval.task import Task, TaskContext, TaskOutcome
from classit_ray.eval.tasks import BACKEND, GLUE_TASKS
from classit_ray.eval.zero_shot import ItemResult, candidate0_probability, score_items, tie_rate


def absent_parts(task: Task, folder: Path, fast: bool) -> dict[str, str]:
    """The files of `task.parts` that `folder` lacks, as skipped parts of a fast evaluation (the
    release's fast entity tracking holds `regular.jsonl` alone). A full evaluation needs every
    part: its score averages over them, and an average over fewer would not compare."""
    name = task.spec.name
    absent = [part for part in task.parts if not (folder / part).is_file()]
    if absent and not fast:
        raise EvalDataError(
            f"{folder / absent[0]}: file not found; the full evaluation of {name} needs {', '.join(task.parts)}"
        )
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
            predictions.setdefault(r.item.group, {"predictions": []})["predictions"].append(official_prediction(r))
        # <dataset> is the folder read, as the official script names it (`data_path.stem`).
        path = context.out / "zero_shot" / BACKEND / task.spec.results_folder / folder.name / "predictions.json"
        atomic_write_json(path, predictions)
    return TaskOutcome(metrics, skipped=skipped)


def official_prediction(r: ItemResult) -> dict:
    """One item's entry of an official predictions file: its id and the chosen completion (the
    candidate as scored, `" " + Target1` for EWoK); COMPS, whose candidates differ in their context,
    records the whole sentence as the official script does; WUG adds `prob`, the softmax
    probability of candidate 0 that its Spearman's ρ is computed from."""
    pred = r.item.text(r.chosen) if r.item.contexts else r.item.candidates[r.chosen]
    entry: dict = {"id": r.item.id, "pred": pred}
    if r.item.target is not None:
        entry["prob"] = candidate0_probability(r.scores)
    return entry


def run_reading_task(task: Task, folder: Path, context: TaskContext) -> TaskOutcome:
    from classit_ray.eval.reading import regression_scores, row_surprisals

    data = task.read(folder)
    # Scored once: the regressions and the predictions file read the same surprisals.
    pred, prev = row_surprisals(context.lm, data, context.cfg.convention)
    outcome = TaskOutcome(
        {f"eval/{k}": v for k, v in regression_scores(data, pred, prev, context.cfg.convention).items()}
    )
    if context.out is not None:
        atomic_write_json(
            context.out / "zero_shot" / BACKEND / "reading" / "predictions.json",
            {
                "reading": {
                    "predictions": [{"id": i, "pred": p, "prev_pred": q} for i, (p, q) in enumerate(zip(pred, prev))]
                }
            },
        )
    return outcome


def run_aoa_task(task: Task, folder: Path, context: TaskContext) -> TaskOutcome:
    """One checkpoint's part of the AoA task: the surprisal of every word in every context, written
    as the official `surprisal.json` of this one step; its mean is the checkpoint's point on the
    curve. The curve gathers the steps and fits the sigmoids (`artifact.curve_into`)."""
    if context.checkpoint is None:
        raise ValueError("the AoA task scores a checkpoint of a learning curve; TaskContext.checkpoint is None")
    step, words_seen = context.checkpoint
    rows = aoa.surprisal_rows(context.lm, task.read(folder), step, words_seen)
    if context.out is not None:
        atomic_write_json(
            context.out / "zero_shot" / BACKEND / aoa.OUTPUT_DIR / aoa.OUTPUT_FILE,
            aoa.official_output(context.model_dir.parent.name, rows, total_steps=1),
        )
    return TaskOutcome({"eval/aoa_surprisal": sum(r["surprisal"] for r in rows) / len(rows)})


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
        result = finetune_task(
            context.model_dir,
            name,
            train,
            valid,
            formats.GLUE_FIELDS[name],
            formats.GLUE_NUM_LABELS[name],
            FinetuneConfig(epochs=context.cfg.finetune_epochs, device=context.device),
        )
        outcome.metrics[f"eval/glue/{name}"] = result["score"]
        if context.out is not None:
            atomic_write_json(
                context.out / "finetune" / name / "predictions.json",
                {
                    name: {
                        "predictions": [
                            {"id": f"{name}_{i}", "pred": int(p)} for i, p in enumerate(result["predictions"])
                        ]
                    }
                },
            )
    if not outcome.failed and chosen == list(GLUE_TASKS):
        outcome.metrics["eval/glue_avg"] = sum(outcome.metrics.values()) / len(outcome.metrics)
    return outcome
