"""Is every toy evaluation task learnable? Chance, ceiling and the pretrained models, per task.

    python bench/toy_tasks.py --data DIR/evaluation_data --corpus DIR/train_toy \
        --model tiny=STORE/pretrain/<key>/final --model tiny-deep=STORE/pretrain/<key>/final \
        [--finetune-epochs 1 3 0] [--out toy_tasks.json]

For each toy task, three numbers in the task's own metric, on the split the default evaluation reads
(fast_eval/ for the zero-shot tasks and reading, full_eval/ for COMPS and GLUE):

- **chance**: what knowing nothing scores. Choice tasks: a constant model through the harness
  (every candidate tied, so each item earns 1/number of candidates, averaged as the metric
  averages). WUG (Spearman) and reading (ΔR²): 0. GLUE: the train split's majority class on the
  eval split, for MRPC and QQP (F1) the F1 of always answering positive, whichever is higher.
- **ceiling**: what knowing the toy grammar scores. Choice tasks: the generator's own labels, as an
  oracle language model through the same harness: a continuation scores +1 where the data only
  ever calls it correct in its context, −1 where only incorrect and 0 where both (an ambiguous
  item, which then earns tie credit). WUG: Spearman of the generator's noiseless rule against the
  noisy ratings it wrote. Reading: ΔR² of the bigram surprisal the reading times were simulated
  from. GLUE: a reference classifier (L2 logistic regression on each field's words and bigrams,
  how the fields overlap, the word pairs across them and where one's words sit in the other), trained on the toy train split
  and scored on the same eval split with the same metric.
- **default**: each `--model`, evaluated by the harness with the default EvalConfig (GLUE once per
  `--finetune-epochs`, 0 = the official epochs).

`2·SE` is twice the binomial standard error of an accuracy at chance on the task's items (for
Spearman, 2/sqrt(n − 1)); a default score is "clearly above chance" when it exceeds chance by more.
Prints a markdown table; `--out` also saves the numbers as JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import torch

from classit_ray.config import EvalConfig
from classit_ray.eval import formats
from classit_ray.eval.finetune import F1_TASKS, metric_value, task_metric
from classit_ray.eval.harness import evaluate
from classit_ray.eval.reading import reading_scores
from classit_ray.eval.registry import get_task
from classit_ray.eval.scorer import DummyLM
from classit_ray.eval.tasks import GLUE_TASKS
from classit_ray.toyworld.evaldata import _IRREGULAR_RIMES, _ONSETS, _sigmoid
from classit_ray.toyworld.lexicon import takes_ity
from classit_ray.toyworld.reading import BOS, BigramLM, corpus_lines, normalize

CHOICE = ("blimp", "blimp_supplement", "ewok", "entity_tracking", "wug_adj", "wug_past", "comps")
FULL_ONLY = ("comps",)  # not in the fast evaluation: scored on full_eval/


def _cfg(data: Path, task: str, **kw) -> EvalConfig:
    return EvalConfig(eval_dir=str(data), tasks=[task], fast=task not in FULL_ONLY, **kw)


def _items(data: Path, task: str):
    return get_task(task).read(formats.task_dir(str(data), task not in FULL_ONLY, get_task(task).spec.subdir))


# ----------------------------------------------------------------------------------------- chance
def choice_chance(data: Path, task: str) -> float:
    if task.startswith("wug"):
        return 0.0  # a constant model's Spearman is undefined; no knowledge = no correlation
    return evaluate("unused", _cfg(data, task), lm=DummyLM()).metrics[f"eval/{task}"]


def glue_chance(train: list[dict], valid: list[dict], task: str) -> float:
    labels = [r["label"] for r in valid]
    counts = Counter(r["label"] for r in train)
    majority = min(counts, key=lambda y: (-counts[y], y))
    scores = [metric_value(task_metric(task), [majority] * len(labels), labels)]
    if task in F1_TASKS:
        scores.append(metric_value("f1", [1] * len(labels), labels))
    return max(scores)


# ---------------------------------------------------------------------------------------- ceiling
class OracleLM:
    """The generator's labels as a language model: +1 for a (context, continuation) the data only
    ever marks correct, −1 only incorrect, 0 both (ambiguous)."""

    def __init__(self, items):
        marks: dict[tuple[str, str], set[bool]] = defaultdict(set)
        for item in items:
            for i, request in enumerate(item.requests()):
                marks[request].add(i == item.correct)
        self.score = {r: (1.0 if m == {True} else -1.0 if m == {False} else 0.0) for r, m in marks.items()}

    def loglikelihood(self, requests):
        return [self.score[r] for r in requests]


def _wug_rule(task: str, sentences: tuple[str, ...]) -> float:
    """The generator's noiseless preference for candidate 0 (see evaldata._wug_adj_rows / _wug_past_rows)."""
    if task == "wug_adj":
        adjective = re.search(r"was very (\w+)\.", sentences[0]).group(1)
        return _sigmoid(2.0 if takes_ity(adjective) else -2.0)
    stem = re.search(r"Today they (\w+)\.", sentences[0]).group(1)
    rhymes = any(stem.startswith(o) and stem[len(o) :] in _IRREGULAR_RIMES for o in _ONSETS)
    return _sigmoid(2.0 - 1.8 * rhymes)


def choice_ceiling(data: Path, task: str) -> tuple[float, int]:
    """(ceiling, items the oracle finds ambiguous)."""
    items = _items(data, task)
    if task.startswith("wug"):
        from classit_ray.eval.zero_shot import spearman

        return spearman([_wug_rule(task, i.candidates) for i in items], [i.target for i in items]), 0
    oracle = OracleLM(items)
    ambiguous = sum(any(oracle.score[r] == 0 for r in i.requests()) for i in items)
    return evaluate("unused", _cfg(data, task), lm=oracle).metrics[f"eval/{task}"], ambiguous


class TrueSurprisalLM:
    """log p(word | context) of the bigram process the toy reading times were simulated from."""

    def __init__(self, corpus: Path):
        self.lm = BigramLM(corpus_lines(corpus, 0))

    def loglikelihood(self, requests):
        out = []
        for context, word in requests:
            words = [w for w in (normalize(t) for t in context.split()) if w]
            out.append(-self.lm.surprisal(words[-1] if words else BOS, normalize(word.strip())))
        return out


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") else word  # eats/eat, worms/worm


def _features(row: dict, fields: tuple[str, ...]) -> list[str]:
    """Each field's words and bigrams; for each two fields, the (stemmed) words they share, those
    only one has, how many words of one the other lacks, the word pairs across them, and where a
    word of one sits in the other (first/middle/last third), with each word of that other field."""
    words = [[w for w in (normalize(t) for t in str(row[f]).split()) if w] for f in fields]
    stems = [[_stem(w) for w in ws] for ws in words]
    feats = []
    for k, ws in enumerate(words):
        feats += [f"{k}:{w}" for w in ws] + [f"{k}:{a}_{b}" for a, b in zip(ws, ws[1:])]
    for i in range(len(fields)):
        for j in range(len(fields)):
            if i == j:
                continue
            a, b = set(stems[i]), set(stems[j])
            feats.append(f"lacks{i}{j}:{min(len(a - b), 3)}")  # words of field i missing from field j
            positions = {3 * stems[j].index(w) // len(stems[j]) for w in a & b}
            feats += [f"at{i}{j}:{p}|{w}" for p in positions for w in b]
            if i < j:
                feats += [f"shared{i}{j}:{w}" for w in a & b] + [f"only{i}{j}:{w}" for w in a ^ b]
                feats += [f"pair{i}{j}:{x}|{y}" for x in a for y in b]
    return feats


def reference_classifier(train: list[dict], valid: list[dict], task: str, l2: float = 1e-3) -> float:
    """L2 logistic regression (full-batch L-BFGS) on `_features`; the eval split's metric."""
    fields = formats.GLUE_FIELDS[task]
    vocab = {f: i for i, f in enumerate(sorted({f for r in train for f in _features(r, fields)}))}

    def matrix(rows):
        x = torch.zeros(len(rows), len(vocab))
        for n, r in enumerate(rows):
            for f in _features(r, fields):
                if f in vocab:
                    x[n, vocab[f]] = 1.0
        return x

    x, y = matrix(train), torch.tensor([r["label"] for r in train])
    torch.manual_seed(0)
    linear = torch.nn.Linear(len(vocab), formats.GLUE_NUM_LABELS[task])
    optimizer = torch.optim.LBFGS(linear.parameters(), max_iter=300, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(linear(x), y) + l2 * linear.weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        predictions = linear(matrix(valid)).argmax(-1).tolist()
    return metric_value(task_metric(task), predictions, [r["label"] for r in valid])


# ---------------------------------------------------------------------------------------- the run
def measure(data: Path, corpus: Path, models: dict[str, str], epochs: list[int]) -> list[dict]:
    rows = []
    for task in CHOICE:
        n = len(_items(data, task))
        ceiling, ambiguous = choice_ceiling(data, task)
        chance = choice_chance(data, task)
        se = 1 / math.sqrt(n - 1) if task.startswith("wug") else math.sqrt(chance * (1 - chance) / n)
        rows.append(
            {
                "task": task,
                "metric": get_task(task).spec.metric,
                "n": n,
                "chance": chance,
                "se": se,
                "ceiling": ceiling,
                "ambiguous": ambiguous,
            }
        )
    reading = formats.read_reading(formats.task_dir(str(data), True, "reading"))
    true = reading_scores(
        TrueSurprisalLM(corpus), reading, "clean"
    )  # its true surprisal is of the word as it reads in text
    for key in ("reading_eye", "reading_spr"):
        rows.append(
            {"task": key, "metric": "delta_r2", "n": len(reading), "chance": 0.0, "se": None, "ceiling": true[key]}
        )
    glue_dir = formats.task_dir(str(data), False, "glue_filtered")
    for task in GLUE_TASKS:
        train, valid = formats.read_glue(glue_dir, task)
        chance = glue_chance(train, valid, task)
        rows.append(
            {
                "task": f"glue/{task}",
                "metric": task_metric(task),
                "n": len(valid),
                "n_train": len(train),
                "chance": chance,
                "se": math.sqrt(0.5 * 0.5 / len(valid))
                if task in F1_TASKS
                else math.sqrt(chance * (1 - chance) / len(valid)),
                "ceiling": reference_classifier(train, valid, task),
            }
        )
    by_task = {r["task"]: r for r in rows}
    for name, model_dir in models.items():
        t0 = time.perf_counter()
        zero_shot = [t for t in CHOICE if t not in FULL_ONLY] + ["reading"]
        metrics = evaluate(model_dir, EvalConfig(eval_dir=str(data), tasks=zero_shot)).metrics
        metrics.update(evaluate(model_dir, EvalConfig(eval_dir=str(data), tasks=list(FULL_ONLY), fast=False)).metrics)
        for task in CHOICE + ("reading_eye", "reading_spr"):
            by_task[task][name] = metrics[f"eval/{task}"]
        print(f"{name}: zero-shot and reading in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        for ep in epochs:
            t0 = time.perf_counter()
            glue = evaluate(model_dir, EvalConfig(eval_dir=str(data), tasks=["glue"], finetune_epochs=ep)).metrics
            for task in GLUE_TASKS:
                by_task[f"glue/{task}"][f"{name}@{ep}"] = glue[f"eval/glue/{task}"]
            print(f"{name}: GLUE at finetune_epochs {ep} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return rows


def table(rows: list[dict], models: list[str], epochs: list[int]) -> str:
    def cell(row, name):
        keys = [name] if name in row else [f"{name}@{ep}" for ep in epochs]
        return " / ".join(f"{row[k]:.2f}" for k in keys if k in row) or "–"

    head = ["task", "metric", "n", "chance", "2·SE", *models, "ceiling"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        se = f"{2 * r['se']:.2f}" if r["se"] is not None else "–"
        ceiling = f"{r['ceiling']:.2f}" + (f" ({r['ambiguous']} ambiguous)" if r.get("ambiguous") else "")
        lines.append(
            "| "
            + " | ".join(
                [r["task"], r["metric"], str(r["n"]), f"{r['chance']:.2f}", se, *(cell(r, m) for m in models), ceiling]
            )
            + " |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, type=Path, help="the toy world's evaluation_data/")
    parser.add_argument(
        "--corpus", required=True, type=Path, help="the toy world's train_toy/ (reading's true surprisal)"
    )
    parser.add_argument("--model", action="append", default=[], help="NAME=DIR of a pretrained checkpoint")
    parser.add_argument(
        "--finetune-epochs", type=int, nargs="+", default=[0], help="GLUE fine-tuning epochs (0 = official)"
    )
    parser.add_argument("--out", type=Path, default=None, help="also write the numbers as JSON")
    args = parser.parse_args(argv)
    models = dict(m.split("=", 1) for m in args.model)
    rows = measure(args.data, args.corpus, models, args.finetune_epochs)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))
    print(table(rows, list(models), args.finetune_epochs))
    if models and len(args.finetune_epochs) > 1:
        print(f"\nGLUE cells: finetune_epochs {' / '.join(map(str, args.finetune_epochs))} (0 = official: 10, WSC 30)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
