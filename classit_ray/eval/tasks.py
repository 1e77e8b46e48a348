"""The evaluation tasks: the one list of them, and what each one reports.

Each entry names a task, its folder in the BabyLM evaluation data, its kind, its metric, and the
flat metric names it reports with their direction. It also says where a fast evaluation (`eval.fast`, the BabyLM `fast_eval/` set) reads the task.
Everything else that lists tasks derives from this table: `config.EVAL_TASKS` (what
`eval.tasks` accepts), `metrics.HIGHER_IS_BETTER` (how the analysis orients z-scores) and
`eval.registry.TASKS` (the readers and the code that runs each kind). Adding a task is an entry
here plus its reader in the registry.

Standard library only, and no import of `classit_ray.config`: the config and the analysis import
this table, and neither may pull in torch (the registry does) nor import itself back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

TaskKind = Literal["choice", "reading", "glue", "interactive", "aoa"]
# Where a fast evaluation reads a task: its own folder in fast_eval/; full_eval/ (GLUE: the release
# ships it only there and fine-tuning has no smaller set); nowhere, because the official fast
# evaluation leaves the task out (COMPS), so a fast run lists it as skipped rather than failed; or
# not the evaluation data at all but the budget split's held-out instruction pairs (`heldout/`),
# fast or full alike.
FastSource = Literal["fast_eval", "full_eval", "skip", "heldout"]

# The CLASS_IT instruction configs. Decided here, the lightest module that needs them (the
# interactive task names a score per config); `config.InstructSource` is made from this tuple.
INSTRUCT_CONFIGS = ("switchboard", "simple_wiki")


@dataclass(frozen=True)
class TaskSpec:
    name: str
    subdir: str  # folder under full_eval/ (fast_eval/ may rename it: formats.FAST_NAMES)
    # "choice": the model picks among candidates by log-probability (zero-shot, no training);
    # "reading": surprisal against human reading times (ΔR²); "glue": fine-tuning per subtask;
    # "aoa": word surprisal over a pretraining's checkpoints (a task of the learning curve alone).
    kind: TaskKind
    metric: str  # what the score is; "accuracy" choice tasks also report their tie rate
    # The scores the task reports, each with whether higher is better. Diagnostics it reports too
    # (`eval/ties/<task>`, `eval/reading_eye/<column>`) are not scores: the analysis ranks trials
    # only by the metrics listed here.
    scores: Mapping[str, bool]
    fast_source: FastSource = "fast_eval"
    # The official evaluator's `--task`, the <task> folder of the results layout where it is not the
    # name: the supplement is run as `--task blimp` and written under blimp/supplement_filtered/.
    results_task: str = ""

    @property
    def results_folder(self) -> str:
        return self.results_task or self.name


# The official pipeline's `--backend` these models are scored as: a folder of the results layout
# (`<model>/<revision>/zero_shot/causal/...`).
BACKEND = "causal"

GLUE_TASKS = ("boolq", "mnli", "mrpc", "multirc", "qqp", "rte", "wsc")


def _choice(
    name: str, subdir: str, metric: str, fast_source: FastSource = "fast_eval", results_task: str = ""
) -> TaskSpec:
    """A zero-shot task: one score under eval/<name>. Accuracy and Spearman's ρ are better higher."""
    return TaskSpec(name, subdir, "choice", metric, {f"eval/{name}": True}, fast_source, results_task)


TASK_SPECS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        _choice("blimp", "blimp_filtered", "accuracy"),
        _choice("blimp_supplement", "supplement_filtered", "accuracy", results_task="blimp"),
        _choice("ewok", "ewok_filtered", "accuracy"),
        _choice("entity_tracking", "entity_tracking", "accuracy"),
        _choice("wug_adj", "wug_adj_nominalization", "spearman"),
        _choice("wug_past", "wug_past_tense", "spearman"),
        # Property knowledge: in the official full zero-shot evaluation, not in its fast one.
        _choice("comps", "comps", "accuracy", fast_source="skip"),
        # ΔR² is the share of reading-time variance surprisal explains: better higher.
        TaskSpec("reading", "reading", "reading", "delta_r2", {"eval/reading_eye": True, "eval/reading_spr": True}),
        # eval/glue_avg only when every subtask scored: a mean over fewer tasks is not comparable.
        TaskSpec(
            "glue",
            "glue_filtered",
            "glue",
            "accuracy (F1 for mrpc, qqp)",
            {**{f"eval/glue/{t}": True for t in GLUE_TASKS}, "eval/glue_avg": True},
            fast_source="full_eval",
        ),
        # What instruction tuning trains, on the split's held-out pairs (`eval/interactive.py`): the
        # reply's negative log-likelihood per word under the training template (better lower), and the
        # greedy reply's accuracy on the questions whose answer is known (better higher).
        TaskSpec(
            "interactive",
            "heldout",
            "interactive",
            "reply nll per word; generation accuracy",
            {**{f"eval/interactive_nll/{c}": False for c in INSTRUCT_CONFIGS}, "eval/interactive_gen": True},
            fast_source="heldout",
        ),
        # Age of acquisition (eval/aoa.py): Pearson's r between the model's AoA of each CDI word and the
        # children's (better higher), scored over the learning curve's checkpoints; each checkpoint's mean
        # surprisal of the words in their contexts is its point on the curve (better lower). The release has
        # the data in full_eval/aoa/ alone, and the official fast evaluation scores it on every checkpoint.
        TaskSpec(
            "aoa",
            "aoa",
            "aoa",
            "pearson r of model vs children's AoA",
            {"eval/aoa": True, "eval/aoa_surprisal": False},
            fast_source="full_eval",
        ),
    )
}

# The fast zero-shot tasks: scored by the language model alone, with neither fine-tuning nor a
# regression, and part of the fast evaluation, so cheap enough to run on intermediate checkpoints
# for learning curves. COMPS is zero-shot too, but only in the full evaluation. The interactive task
# is not among them: it measures the instruction template, which no pretraining checkpoint has seen,
# and the pretrained model's own score (`eval@pretrain`) is already the baseline it is compared to.
ZERO_SHOT_TASKS = tuple(
    name for name, spec in TASK_SPECS.items() if spec.kind == "choice" and spec.fast_source == "fast_eval"
)
# The learning curve's tasks: the fast zero-shot ones, and those that only a curve can score (AoA).
CURVE_TASKS = ZERO_SHOT_TASKS + tuple(name for name, spec in TASK_SPECS.items() if spec.kind == "aoa")
