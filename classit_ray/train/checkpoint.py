"""Self-describing checkpoints: a Hugging Face model directory that also resumes training.

    config.json, model.safetensors, generation_config.json   save_pretrained
    tokenizer.json, tokenizer_config.json                     the tokenizer it was trained with
    classit_state.json                                        resolved stage config, step, epoch,
                                                              data position, words/tokens seen
    optimizer.safetensors + optimizer.json                    AdamW moments and param groups

`AutoModelForCausalLM.from_pretrained(dir)` and `AutoTokenizer.from_pretrained(dir)` load any of
them. Only safetensors and JSON are read back: a checkpoint from an untrusted path cannot run code.
The learning-rate schedule is a pure function of the step, so it is rebuilt, not stored.

Intermediate checkpoints follow the BabyLM word schedule (every 1M words seen to 10M, every 10M
to 100M, every 100M to 1B), scaled by budget/100M so a toy run keeps the same shape; each keeps
the name of the BabyLM checkpoint it stands for (`chck_{N}M`).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from classit_ray.atomic import atomic_write_json, read_json
from classit_ray.config import BABYLM_CHECKPOINT_MILLIONS, BABYLM_WORDS, checkpoint_millions
from classit_ray.data.tokenizer import TOKENIZER_FILE

if TYPE_CHECKING:
    import torch

# torch (and safetensors' torch half) are imported where tensors are read or written: a Tune trial
# that only plans a cell and reads finished stages' states (`study/trial.py`) starts without them
# (bench/results/2026-12-01-test-suite.md).

STATE_FILE = "classit_state.json"
# The folder of a finished stage's last checkpoint: what the next stage starts from, every evaluation
# scores and an export publishes as `main`. The others are `chck_{N}M` (`babylm_schedule`) and, for
# a run stopped at max_steps, `step_{N}`.
FINAL_CHECKPOINT = "final"
TOKENIZER_FILES = (TOKENIZER_FILE, "tokenizer_config.json", "special_tokens_map.json")
OPTIMIZER_FILES = ("optimizer.safetensors", "optimizer.json")


class CheckpointError(ValueError):
    """A checkpoint directory is missing, unfinished or from another model; the message says which."""


def babylm_schedule(budget_words: int, max_words_seen: int) -> list[tuple[int, str]]:
    """(words seen, name) for each BabyLM checkpoint reachable within `max_words_seen`."""
    scale = budget_words / BABYLM_WORDS
    points = [(max(1, round(m * 1_000_000 * scale)), f"chck_{m}M") for m in BABYLM_CHECKPOINT_MILLIONS]
    return [(w, name) for w, name in points if w <= max_words_seen]


def retained(names: list[str], keep: str, curve: list[str]) -> dict[str, bool]:
    """The checkpoints of a finished stage that the artifact store keeps under retention `keep`
    (`config.KeepCheckpoints`), each mapped to whether it is kept whole (False: weights, config,
    tokenizer and state, without the optimizer moments). `curve` is `eval.checkpoints`."""
    if keep == "all":
        return {name: True for name in names}
    millions, _ = checkpoint_millions(curve if keep == "curve" else [])
    kept = {name: keep == "final" for name in names if name == FINAL_CHECKPOINT}
    for name in names:
        if name.startswith("chck_") and (millions is None or int(name[5:-1]) in millions):
            kept[name] = False
    return kept


def save_optimizer(optimizer: torch.optim.Optimizer, directory: str | Path) -> None:
    from safetensors.torch import save_file

    directory = Path(directory)
    state = optimizer.state_dict()
    tensors = {
        f"{index}.{key}": value.detach().cpu().contiguous()
        for index, per_param in state["state"].items()
        for key, value in per_param.items()
    }
    save_file(tensors, str(directory / "optimizer.safetensors"))
    atomic_write_json(directory / "optimizer.json", {"param_groups": state["param_groups"]})


def load_optimizer(optimizer: torch.optim.Optimizer, directory: str | Path) -> None:
    from safetensors.torch import load_file

    directory = Path(directory)
    tensors = load_file(str(directory / "optimizer.safetensors"))
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in tensors.items():
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    optimizer.load_state_dict({"state": state, "param_groups": read_json(directory / "optimizer.json")["param_groups"]})


def save_checkpoint(
    directory: str | Path, model, tokenizer_dir: str | Path, state: dict, optimizer: torch.optim.Optimizer | None = None
) -> Path:
    """Write a complete checkpoint into `directory` (the caller makes it atomic)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(directory), safe_serialization=True)
    for name in TOKENIZER_FILES:
        if (Path(tokenizer_dir) / name).is_file():
            shutil.copy2(Path(tokenizer_dir) / name, directory / name)
    if optimizer is not None:
        save_optimizer(optimizer, directory)
    atomic_write_json(directory / STATE_FILE, state)  # last: its presence marks the checkpoint whole
    return directory


def read_state(directory: str | Path) -> dict:
    path = Path(directory) / STATE_FILE
    if not path.is_file():
        raise CheckpointError(f"{directory}: no {STATE_FILE}; not a classit_ray checkpoint or never finished")
    return read_json(path)


def load_weights(model, directory: str | Path) -> None:
    """Load `model.safetensors` into `model` strictly (every tensor must match)."""
    path = Path(directory) / "model.safetensors"
    if not path.is_file():
        raise CheckpointError(f"{directory}: no model.safetensors")
    from safetensors.torch import load_file

    weights = load_file(str(path))
    if getattr(model.config, "tie_word_embeddings", False):
        weights.setdefault("lm_head.weight", weights.get("model.embed_tokens.weight"))
    model.load_state_dict(weights, strict=True)


def check_compatible(directory: str | Path, preset: str, vocab_size: int, tokenizer_sha256: str) -> dict:
    """The checkpoint's model and tokenizer must be the ones this stage builds; else a clear error."""
    state = read_state(directory)
    config = json.loads((Path(directory) / "config.json").read_text())
    problems = []
    if state.get("preset") != preset:
        problems.append(f"model preset {state.get('preset')!r}, expected {preset!r}")
    if config.get("vocab_size") != vocab_size:
        problems.append(f"vocab_size {config.get('vocab_size')}, expected {vocab_size}")
    if state.get("tokenizer_sha256") != tokenizer_sha256:
        problems.append("a different tokenizer (tokenizer.json hash differs)")
    if problems:
        raise CheckpointError(f"{directory}: checkpoint from another model: {'; '.join(problems)}")
    return state
