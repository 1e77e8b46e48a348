"""The per-worker training loop, shared by pretraining and instruction tuning.

The two stages differ only in their data (packed rows vs rendered pairs) and in which tokens the
loss counts (`StageSpec.loss_on`); everything else — AdamW, warmup + cosine, clipping, gradient
accumulation normalised by the global target count, checkpoints on the BabyLM word schedule,
resume from the exact data position — is this one loop. It reaches its launcher (a Ray Train
worker, or one plain process) only through its session (`train/session.py`), and its rows only
through `train/rows.py`; the Tune layer never reaches in here.
"""

from __future__ import annotations

import contextlib
import math
import tempfile
import time
from dataclasses import asdict, dataclass, field
from functools import partial

import torch

from classit_ray.config import OptimizerConfig
from classit_ray.runtime import peak_rss_mb, physical_cores, reset_peak_rss, set_torch_threads
from classit_ray.train.batches import collate_for
from classit_ray.train.checkpoint import (
    FINAL_CHECKPOINT,
    babylm_schedule,
    load_optimizer,
    load_weights,
    read_state,
    save_checkpoint,
)
from classit_ray.train.objective import accumulate_step, forward_loss
from classit_ray.train.rows import buffer_rows, epoch_seed, micro_batches, shuffled
from classit_ray.train.stage import StageSpec, fetch_inputs


@dataclass
class Position:
    """Where training is: saved in every checkpoint, so a resumed run continues exactly here."""

    epoch: int = 0
    micro_batches: int = 0  # consumed in the current epoch, on this worker
    step: int = 0
    words_seen: int = 0
    tokens_seen: int = 0
    history: list[list[float]] = field(default_factory=list)  # [step, loss, lr, words_seen]


def build_model(spec: StageSpec, device: torch.device):
    """A fresh LLaMA of the preset (seeded), or the weights of `spec.init_from`."""
    from transformers import LlamaForCausalLM

    from classit_ray.model import llama_config

    torch.manual_seed(spec.optim.seed)
    model = LlamaForCausalLM(llama_config(spec.preset, spec.vocab_size, pad_token_id=0, bos_token_id=1, eos_token_id=2))
    if spec.init_from:  # checked against this stage by the driver (check_compatible) before launch
        load_weights(model, spec.init_from)
    return model.to(device)


def make_optimizer(model, optim: OptimizerConfig) -> torch.optim.Optimizer:
    """AdamW with weight decay on matrices only (not norms), fused: on CPU too the per-tensor loop
    is several times slower (bench/results/2026-11-25-train-loop-vs-trainer.md)."""
    decay = [p for p in model.parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.dim() < 2]
    groups = [{"params": decay, "weight_decay": optim.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=optim.lr, betas=(0.9, 0.95), eps=1e-8, fused=True)


def make_scheduler(optimizer, optim: OptimizerConfig, total_steps: int, done_steps: int):
    """Linear warmup then cosine to min_lr_ratio · lr; a pure function of the step, so resuming
    rebuilds it at `done_steps` rather than loading it."""
    from transformers.optimization import get_cosine_with_min_lr_schedule_with_warmup

    scheduler = get_cosine_with_min_lr_schedule_with_warmup(
        optimizer,
        num_warmup_steps=min(optim.warmup_steps, total_steps),
        num_training_steps=total_steps,
        min_lr_rate=optim.min_lr_ratio,
    )
    for _ in range(done_steps):
        scheduler.step()
    return scheduler


def checkpoint_name(
    position: Position, total_steps: int, schedule: list[tuple[int, str]], words_before: int, stopping: bool
) -> str | None:
    """The name of the checkpoint due after this step, if any: the final one, a BabyLM schedule
    point just crossed, or — when stopping at max_steps with neither due — `step_{N}`."""
    if position.step == total_steps:
        return FINAL_CHECKPOINT
    crossed = [name for words, name in schedule if words_before < words <= position.words_seen]
    if crossed:
        return crossed[-1]
    return f"step_{position.step}" if stopping else None


class Reporter:
    """Running metrics between reports, under stable names: `<stage>/loss`, `/tokens_per_s`, ...

    Token counts are taken from the batches while they are still on the CPU and summed over
    workers only at report time: no per-step device-to-host sync for bookkeeping.
    """

    def __init__(self, stage: str, started: float):
        self.stage, self.losses, self.tokens, self.slots, self.t0 = stage, [], 0, 0, time.perf_counter()
        self.started = started  # when this worker's loop began: `<stage>/loop_s` is the time since

    def add(self, loss: float, tokens: int, slots: int) -> None:
        self.losses.append(loss)
        self.tokens += tokens
        self.slots += slots

    def flush(self, position: Position, lr: float, name: str, all_reduce_sum) -> dict:
        seconds = time.perf_counter() - self.t0
        counts = torch.tensor([float(self.tokens), float(self.slots)])
        if all_reduce_sum is not None:
            counts = all_reduce_sum(counts.to(all_reduce_sum.device)).cpu()
        tokens, slots = (int(v) for v in counts.tolist())
        position.tokens_seen += tokens
        s = self.stage
        metrics = {
            f"{s}/loss": sum(self.losses) / max(len(self.losses), 1),
            f"{s}/tokens_per_s": tokens / max(seconds, 1e-9),
            f"{s}/words_seen": position.words_seen,
            f"{s}/tokens_seen": position.tokens_seen,
            f"{s}/lr": lr,
            f"{s}/step": position.step,
            f"{s}/epoch": position.epoch,
            f"{s}/loop_s": time.perf_counter() - self.started,  # a study subtracts it from the trial's wall time
            f"{s}/peak_rss_mb": peak_rss_mb(),  # this stage's high-water mark in its process (train_loop resets it)
            "checkpoint_name": name,
        }
        if s == "instruct":
            metrics["instruct/pad_fraction"] = 1 - tokens / max(slots, 1)  # padding share of the token slots
        self.losses, self.tokens, self.slots, self.t0 = [], 0, 0, time.perf_counter()
        return metrics


def train_loop_per_worker(config: dict) -> None:
    """Ray Train's entry point: the loop in a `TorchTrainer` worker."""
    from classit_ray.train.session import RayTrainSession

    started = time.perf_counter()
    train_loop(StageSpec.from_dict(config), RayTrainSession(), started)


def train_loop(spec: StageSpec, session, started: float | None = None) -> None:
    """Train `spec` from its session's checkpoint (or from the start) to its end or max_steps,
    reporting and checkpointing through `session` (`train/session.py`)."""
    from transformers.utils import logging as hf_logging

    reset_peak_rss()  # the stage's own peak, in a stage host that ran other stages before
    hf_logging.disable_progress_bar()  # transformers 5 draws a bar per checkpoint written: noise in every log
    fetch_inputs(spec)
    started = time.perf_counter() if started is None else started
    rank, world, device = session.rank, session.world, session.device
    if device.type == "cpu":
        set_torch_threads(spec.torch_threads or max(1, physical_cores() // session.local_world))

    model = build_model(spec, device)
    optimizer = make_optimizer(model, spec.optim)
    position = Position()
    with session.resume_dir() as directory:
        if directory is not None:
            load_weights(model, directory)
            load_optimizer(optimizer, directory)
            position = Position(**read_state(directory)["position"])
    total_steps = spec.steps_per_epoch * spec.optim.epochs
    scheduler = make_scheduler(optimizer, spec.optim, total_steps, position.step)
    raw_model = model
    model = session.prepare_model(model)
    no_sync = model.no_sync if hasattr(model, "no_sync") else None
    # Compile the model and the vocabulary-sized loss together: compiling the model alone left the
    # loss eager and slower on CPU (bench/results/2026-11-25-train-loop-vs-trainer.md).
    loss_fn = partial(forward_loss, model)
    if spec.compile:
        loss_fn = torch.compile(loss_fn)

    all_reduce_sum = _AllReduceSum(device) if world > 1 else None
    autocast = (
        (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if device.type == "cuda" else contextlib.nullcontext
    )
    words_per_step = spec.optim.batch_size * spec.words / spec.rows
    schedule = babylm_schedule(spec.budget_words, math.ceil(words_per_step * total_steps)) if spec.budget_words else []
    reporter = Reporter(spec.stage, started)
    log_every = max(1, total_steps // 10)
    if spec.optim.max_steps and position.step >= spec.optim.max_steps:
        return  # resumed at its own stopping point: nothing more to do under this max_steps
    bar = _progress_bar(spec, total_steps, position.step) if getattr(session, "progress", False) else None

    while position.epoch < spec.optim.epochs:
        rows = shuffled(session.rows(), buffer_rows(spec.stage, spec.rows), epoch_seed(spec.optim.seed, position.epoch))
        batches = micro_batches(rows, spec.optim.micro_batch_size, collate_for(spec.stage))
        for _ in range(position.micro_batches):  # resume mid-epoch: skip what was already trained on
            next(batches)
        while position.micro_batches // spec.accumulation < spec.steps_per_epoch:
            cpu_group = [next(batches) for _ in range(spec.accumulation)]
            tokens = sum(int(b["attention_mask"].sum()) for b in cpu_group)
            slots = sum(b["attention_mask"].numel() for b in cpu_group)
            group = [{k: v.to(device, non_blocking=True) for k, v in b.items()} for b in cpu_group]
            model.train()
            loss, _ = accumulate_step(model, group, spec.loss_on, world, all_reduce_sum, no_sync, autocast, loss_fn)
            if spec.optim.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), spec.optim.grad_clip)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)

            words_before = position.words_seen
            position.step += 1
            position.micro_batches += spec.accumulation
            position.words_seen = round(position.step * words_per_step)
            lr = scheduler.get_last_lr()[0]
            position.history.append([position.step, loss, lr, position.words_seen])
            reporter.add(loss, tokens, slots)
            if bar is not None:
                bar.set_postfix(loss=f"{loss:.3f}", refresh=False)
                bar.update(1)
            elif rank == 0 and (position.step % log_every == 0 or position.step == total_steps):
                print(
                    f"[{spec.name}] step {position.step}/{total_steps} epoch {position.epoch + 1}/{spec.optim.epochs} loss {loss:.4f} lr {lr:.2e} words {position.words_seen:,}",
                    flush=True,
                )

            stopping = (
                bool(spec.optim.max_steps) and position.step >= spec.optim.max_steps and position.step < total_steps
            )
            name = checkpoint_name(position, total_steps, schedule, words_before, stopping)
            if name is not None:
                _report(
                    session,
                    spec,
                    raw_model,
                    optimizer,
                    position,
                    reporter.flush(position, lr, name, all_reduce_sum),
                    name,
                )
            if stopping:
                return  # max_steps reached; the same run (same name) resumes from this checkpoint
        for _ in batches:  # drain the leftover that does not fill a step, so every worker ends the epoch together
            pass
        position.epoch += 1
        position.micro_batches = 0
    if bar is not None:
        bar.close()


def _progress_bar(spec: StageSpec, total: int, done: int):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=done, desc=spec.name, unit="step", dynamic_ncols=True)


class _AllReduceSum:
    """Sum a tensor over all workers, in place on this worker's device (gloo on CPU, NCCL on GPU)."""

    def __init__(self, device: torch.device):
        self.device = device

    def __call__(self, t: torch.Tensor) -> torch.Tensor:
        torch.distributed.all_reduce(t)
        return t


def _report(session, spec: StageSpec, model, optimizer, position: Position, metrics: dict, name: str) -> None:
    """Every worker reports; rank 0 attaches the checkpoint (Ray Train V2 keeps metrics only with one)."""
    if session.rank != 0:
        session.report(metrics, None, name)
        return
    state = {
        "spec": asdict(spec),
        "position": asdict(position),
        "checkpoint_name": name,
        "preset": spec.preset,
        "tokenizer_sha256": spec.tokenizer_sha256,
        "metrics": metrics,
        "versions": _versions(),
        # On CPU the intra-op thread count decides the last bits of every step (docs/reproducibility.md).
        "device": str(next(model.parameters()).device),
        "torch_threads": torch.get_num_threads(),
    }
    with tempfile.TemporaryDirectory() as directory:
        save_checkpoint(directory, model, spec.tokenizer_dir, state, optimizer)
        session.report(metrics, directory, name)


def _versions() -> dict:
    import importlib.metadata

    import transformers

    return {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "ray": importlib.metadata.version("ray"),
    }
