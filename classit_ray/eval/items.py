"""The unit every zero-shot task reads into: one multiple-choice item scored by summed
log-probabilities of each candidate continuation given a shared context.

BLiMP and its supplement: context "" and the two whole sentences; EWoK: Context1 and
" " + Target1 / " " + Target2; entity tracking: input_prefix and its options; WUG: "" and the
tab-separated candidate sentences. COMPS is the one task whose candidates differ in their context
rather than their continuation: each prefix (`prefix_acceptable`, `prefix_unacceptable`) before
the same " " + property_phrase, so its items carry one context per candidate.
"""

from __future__ import annotations

from dataclasses import dataclass


class EvalDataError(ValueError):
    """An evaluation file is missing or malformed; the message names file, line and field."""


@dataclass(frozen=True)
class ChoiceItem:
    task: str  # blimp | blimp_supplement | ewok | entity_tracking | wug_adj | wug_past | comps
    group: str  # aggregation unit: BLiMP UID, EWoK domain, "<file>_<numops>_ops", WUG task name, COMPS subset
    id: str  # "<group>_<i>", the id BabyLM predictions files use
    context: str  # conditioning text; "" = the sentence alone after <s>
    candidates: tuple[str, ...]  # the scored continuations
    correct: int = 0  # index of the right candidate; -1 where there is none (WUG)
    target: float | None = None  # human preference for candidate 0 (WUG `ratio`)
    source: str = ""  # "file:line", for messages
    contexts: tuple[str, ...] = ()  # one context per candidate (COMPS); () = `context` for every candidate

    def requests(self) -> list[tuple[str, str]]:
        """(context, continuation) of each candidate, in order: what the scorer sums log-probs of."""
        contexts = self.contexts or (self.context,) * len(self.candidates)
        return list(zip(contexts, self.candidates))

    def text(self, index: int) -> str:
        """Candidate `index` as the full text it is read in: its context, then the candidate."""
        context, candidate = self.requests()[index]
        return context + candidate
