"""The unit every zero-shot task reads into: one multiple-choice item scored by summed
log-probabilities of each candidate continuation given a shared context.

BLiMP and its supplement: context "" and the two whole sentences; EWoK: Context1 and
" " + Target1 / " " + Target2; entity tracking: input_prefix and its options; WUG: "" and the
tab-separated candidate sentences.
"""

from __future__ import annotations

from dataclasses import dataclass


class EvalDataError(ValueError):
    """An evaluation file is missing or malformed; the message names file, line and field."""


@dataclass(frozen=True)
class ChoiceItem:
    task: str  # blimp | blimp_supplement | ewok | entity_tracking | wug_adj | wug_past
    group: str  # aggregation unit: BLiMP UID, EWoK domain, "<file>_<numops>_ops", WUG file stem
    id: str  # "<group>_<i>", the id BabyLM predictions files use
    context: str  # conditioning text; "" = the sentence alone after <s>
    candidates: tuple[str, ...]  # the scored continuations
    correct: int = 0  # index of the right candidate; -1 where there is none (WUG)
    target: float | None = None  # human preference for candidate 0 (WUG `ratio`)
    source: str = ""  # "file:line", for messages
