"""Zero-shot scoring of multiple-choice items, and the official BabyLM aggregations.

Ties, by `eval.convention`: the official evaluator (`official`) chooses the first of the tied
candidates (`torch.max`), index 0 in every release file, which is the correct answer, and credits
it in full, so a model that scores every candidate equally gets 100%. The `clean` convention gives
a candidate set tied at the top 1/m credit when the correct one is among the m tied (the expected
accuracy of breaking the tie at random), so a constant model scores chance. Either way the chosen
candidate is the first of the tied, and the share of tied items is reported per task.

Aggregation, as the official evaluator does it: BLiMP and the supplement average accuracy per UID,
then over UIDs; EWoK per domain, then over domains; COMPS per subset (base, wugs, wugs_dist_before,
wugs_dist_in_between), then over subsets; entity tracking per `<file>_<numops>_ops`, then over ops
within each file, then over files; WUG is Spearman's ρ between the model's probability of candidate
0 (softmax over the candidates' summed log-probs) and the human ratio.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from classit_ray.config import EvalConfig, EvalConvention
from classit_ray.eval.items import ChoiceItem
from classit_ray.eval.scorer import LanguageModel


@dataclass
class ItemResult:
    item: ChoiceItem
    scores: list[float]
    chosen: int  # the first of the top-scoring candidates
    credit: float  # 1 or 0; with the clean convention 1/m for an m-way tie that includes the correct candidate
    tie: bool


def score_items(
    lm: LanguageModel, items: list[ChoiceItem], convention: EvalConvention = EvalConfig.convention
) -> list[ItemResult]:
    """Score every candidate of every item in one batched call; ties credited by `convention`,
    which must be the scorer's own where it has one (one convention, never two mixed)."""
    if getattr(lm, "convention", convention) != convention:
        raise ValueError(f"ties by the {convention!r} convention, but the scorer tokenizes by {lm.convention!r}")
    requests = [request for item in items for request in item.requests()]
    flat = lm.loglikelihood(requests)
    results, pos = [], 0
    for item in items:
        scores = flat[pos : pos + len(item.candidates)]
        pos += len(item.candidates)
        best = max(scores)
        winners = [i for i, s in enumerate(scores) if s == best]
        if convention == "official":
            credit = float(winners[0] == item.correct)
        else:
            credit = (1.0 / len(winners)) if item.correct in winners else 0.0
        results.append(ItemResult(item, scores, winners[0], credit, len(winners) > 1))
    return results


def _mean(values) -> float:
    values = list(values)
    return sum(values) / len(values) if values else float("nan")


def accuracy_by_group(results: list[ItemResult]) -> dict[str, float]:
    groups: dict[str, list[float]] = defaultdict(list)
    for r in results:
        groups[r.item.group].append(r.credit)
    return {g: _mean(c) for g, c in groups.items()}


def macro_accuracy(results: list[ItemResult]) -> float:
    """Mean over groups (UIDs, domains, COMPS subsets) of the accuracy within each group."""
    return _mean(accuracy_by_group(results).values())


def entity_tracking_accuracy(results: list[ItemResult]) -> float:
    """Per `<file>_<numops>_ops`, then averaged over ops within a file, then over files."""
    per_file: dict[str, list[float]] = defaultdict(list)
    for group, acc in accuracy_by_group(results).items():
        per_file[group.rsplit("_", 2)[0]].append(acc)
    return _mean(_mean(accs) for accs in per_file.values())


def candidate0_probability(scores: list[float]) -> float:
    """Softmax over the candidates' summed log-probs, probability of candidate 0."""
    top = max(scores)
    weights = [math.exp(s - top) for s in scores]
    return weights[0] / sum(weights)


def average_ranks(values: list[float]) -> list[float]:
    """1-based ranks, tied values sharing the mean of their ranks (pandas' `rank()`)."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in order[i : j + 1]:
            ranks[k] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(x: list[float], y: list[float]) -> float:
    """Spearman's ρ: Pearson's r of the average ranks, over the pairs with no NaN (as pandas'
    `corr(method="spearman")`, without importing pandas for it); NaN when it is undefined."""
    pairs = [(a, b) for a, b in zip(x, y) if not (math.isnan(a) or math.isnan(b))]
    if len(pairs) < 2:
        return float("nan")
    rx, ry = average_ranks([a for a, _ in pairs]), average_ranks([b for _, b in pairs])
    mean = (len(pairs) + 1) / 2  # the mean of any average ranks of n values
    sxy = sum((a - mean) * (b - mean) for a, b in zip(rx, ry))
    sxx, syy = sum((a - mean) ** 2 for a in rx), sum((b - mean) ** 2 for b in ry)
    return sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else float("nan")


def wug_spearman(results: list[ItemResult]) -> float:
    return spearman([candidate0_probability(r.scores) for r in results], [float(r.item.target) for r in results])


def tie_rate(results: list[ItemResult]) -> float:
    return _mean(r.tie for r in results)
