"""LLaMA-style model presets: the sizes a study grids over, as `transformers.LlamaConfig`s.

The table is plain numbers (no torch import) so that config validation and `--dry-run` stay cheap.
`param_count` is exact for `LlamaForCausalLM` (tested against the instantiated model);
`flops_per_token` is the training cost the benchmarks and the study's GPU-hour estimate count.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import get_args

from classit_ray.config import Preset


@dataclass(frozen=True)
class ModelPreset:
    vocab_size: int
    hidden_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    intermediate_size: int
    tie_embeddings: bool
    max_position_embeddings: int = 2048


PRESETS: dict[Preset, ModelPreset] = {
    # CPU presets for the toy world: a byte-level BPE of 2K/8K covers its small vocabulary.
    "tiny": ModelPreset(2048, 128, 4, 4, 4, 320, tie_embeddings=True),
    # The toy stand-in for the paper's deeper model: as many parameters as `tiny`, twice the layers.
    "tiny-deep": ModelPreset(2048, 96, 8, 4, 4, 224, tie_embeddings=True),
    "small": ModelPreset(8192, 256, 8, 8, 8, 1024, tie_embeddings=True),
    # The paper's two sizes: a deeper model with a smaller vocabulary, and a wider one with 32K.
    "100m": ModelPreset(16384, 576, 20, 9, 9, 1600, tie_embeddings=False),
    "140m": ModelPreset(32000, 768, 12, 12, 12, 2304, tie_embeddings=False),
}
assert tuple(PRESETS) == get_args(Preset)  # config.Preset names the presets for validation


def get_preset(name: str) -> ModelPreset:
    if name not in PRESETS:
        raise ValueError(f"unknown model preset {name!r}; expected one of {sorted(PRESETS)}")
    return PRESETS[name]


def param_count(preset: ModelPreset) -> int:
    """Exact parameter count of `LlamaForCausalLM` built from `preset` (no biases, RMSNorm)."""
    h, head_dim = preset.hidden_size, preset.hidden_size // preset.num_heads
    attention = 2 * h * h + 2 * h * preset.num_kv_heads * head_dim  # q, o full; k, v per kv head
    mlp = 3 * h * preset.intermediate_size  # gate, up, down
    per_layer = attention + mlp + 2 * h  # two RMSNorm weights
    embeddings = preset.vocab_size * h * (1 if preset.tie_embeddings else 2)
    return embeddings + preset.num_layers * per_layer + h  # + final norm


def matmul_params(p: ModelPreset, vocab_size: int | None = None) -> int:
    """Weights that take part in a matmul for every token: each layer's q, k, v, o, gate, up and
    down projections, plus the LM head (vocab × hidden; counted once even when tied, since its
    matmul runs whatever it shares storage with). Left out: the input embedding (a lookup) and the
    RMSNorm gains (elementwise)."""
    h, head_dim = p.hidden_size, p.hidden_size // p.num_heads
    attention = 2 * h * h + 2 * h * p.num_kv_heads * head_dim
    mlp = 3 * h * p.intermediate_size
    return p.num_layers * (attention + mlp) + (vocab_size or p.vocab_size) * h


def flops_per_token(p: ModelPreset, seq_len: int, vocab_size: int | None = None) -> tuple[float, float]:
    """(dense, attention) training FLOPs per token: dense = 6·N (2 forward + 4 backward per weight,
    N = `matmul_params`). Attention: QKᵀ and A·V cost 2·T·h each per token and layer forward,
    ×3 for forward + backward = 12·L·T·h, halved because the causal mask leaves half the score
    matrix unneeded: 6·L·T·h. Only useful work is counted, whatever the kernel really computes."""
    return 6.0 * matmul_params(p, vocab_size), 6.0 * p.num_layers * seq_len * p.hidden_size


def llama_config(preset: ModelPreset | str, vocab_size: int | None = None, **special_token_ids):
    """A `LlamaConfig` for `preset`; `vocab_size` overrides the preset's (it must match the tokenizer)."""
    from transformers import LlamaConfig  # imported here: it loads torch, which the table's readers never need

    p = get_preset(preset) if isinstance(preset, str) else preset
    return LlamaConfig(
        vocab_size=vocab_size or p.vocab_size,
        hidden_size=p.hidden_size,
        num_hidden_layers=p.num_layers,
        num_attention_heads=p.num_heads,
        num_key_value_heads=p.num_kv_heads,
        intermediate_size=p.intermediate_size,
        tie_word_embeddings=p.tie_embeddings,
        max_position_embeddings=p.max_position_embeddings,
        attn_implementation="sdpa",
        **special_token_ids,
    )


def preset_summary(name: str) -> dict:
    """What `classit-ray model-info` prints: the preset's shape and exact parameter count."""
    p = get_preset(name)
    return {"preset": name, **asdict(p), "parameters": param_count(p)}
