"""What a study's training stages cost in GPU-hours on a given GPU: an estimate from FLOPs.

No GPU measurement exists (bench/README.md, "Not yet measured": `bench/gpu_pretrain.py` has not
run on a GPU), so the cost is counted, not timed:

    GPU-hours = Σ over the study's unique training stages of tokens × FLOPs per token
                ÷ (ASSUMED_MFU × the GPU's bf16 dense peak) ÷ 3600

- tokens = words × epochs × TOKENS_PER_WORD. Pretraining reads the budget's pretraining words;
  a curriculum's stages share the instruction words between them (each config's share from
  `budget.instruct_weights`, equal shares when none are set: the real shares are known only once
  the split has read the data; a curriculum that trains on every config gets all of them
  whatever the shares).
- FLOPs per token = `model.flops_per_token`: 6·N, plus attention at `pretrain.seq_len` for
  pretraining. Instruction pairs are short (about 91 tokens at paper scale), so their attention,
  the template's 4 tokens per pair and the padding of a micro-batch are left out.
- Evaluations (zero-shot, GLUE fine-tuning, learning curves) are not counted.
When `bench/gpu_pretrain.py` has measured tokens/s on the GPU, that rate should replace the
assumed MFU here.
"""

from __future__ import annotations

from dataclasses import dataclass

from classit_ray.cell.graph import CellGraph
from classit_ray.config import CURRICULA
from classit_ray.data.budget import split_targets
from classit_ray.hardware import peak_for
from classit_ray.model import flops_per_token, get_preset

# Assumptions, each stated wherever the estimate is printed:
TOKENS_PER_WORD = 1.3  # a 16K-32K byte-level BPE on English text
ASSUMED_MFU = 0.35  # of the bf16 dense peak, for 100M-140M-parameter models under bf16 autocast and torch.compile


@dataclass(frozen=True)
class Estimate:
    gpu: str
    flops: float
    pretrain_flops: float
    hours: float | None  # None when the GPU's peak is unknown

    def describe(self) -> str:
        if self.hours is None:
            return f"not estimated: no bf16 peak known for {self.gpu!r} (classit_ray/hardware.py)"
        return (
            f"≈ {self.hours:,.0f} for the training stages ({self.flops:.2e} FLOPs, {self.pretrain_flops / self.flops:.0%} of them "
            f"pretraining): an estimate, not a measurement (no GPU run in bench/results/): 6·N FLOPs per token "
            f"(+ attention in pretraining) at {TOKENS_PER_WORD} tokens per word, {ASSUMED_MFU:.0%} MFU of the {self.gpu}'s "
            f"{peak_for(self.gpu):g} TFLOP/s bf16 peak; evaluations not counted"
        )


def training_flops(graphs: list[CellGraph]) -> tuple[float, float]:
    """(all, pretraining) training FLOPs of the unique training stages of `graphs`."""
    seen: set[str] = set()
    total = pretrain = 0.0
    for graph in graphs:
        cfg = graph.cfg
        pre_words, instruct_words = split_targets(cfg.budget)
        weights = {
            c: cfg.budget.instruct_weights.get(c, 1.0) if cfg.budget.instruct_weights else 1.0
            for c in cfg.budget.instruct_configs
        }
        stages = [(graph.pretrain, pre_words, cfg.pretrain.seq_len)]
        for node, configs in zip(graph.of_kind("instruct"), CURRICULA[cfg.instruct.curriculum]):
            share = sum(weights.get(c, 0.0) for c in configs) / (sum(weights.values()) or 1.0)
            stages.append((node, instruct_words * share, 0))
        for node, words, seq_len in stages:
            if node.key in seen:
                continue
            seen.add(node.key)
            dense, attention = flops_per_token(get_preset(node.spec.preset), seq_len, node.spec.vocab_size)
            flops = words * node.spec.optim.epochs * TOKENS_PER_WORD * (dense + attention)
            total += flops
            pretrain += flops if node.kind == "pretrain" else 0.0
    return total, pretrain


def estimate(graphs: list[CellGraph], gpu: str) -> Estimate:
    """The GPU-hours of the training stages of `graphs` on one `gpu` (a name in the peak table)."""
    flops, pretrain = training_flops(graphs)
    peak = peak_for(gpu)
    return Estimate(gpu, flops, pretrain, None if peak is None else flops / (ASSUMED_MFU * peak * 1e12) / 3600)
