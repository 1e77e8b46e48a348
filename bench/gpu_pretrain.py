"""Benchmark: our pretraining step on one GPU for the `140m` preset — bf16 autocast, torch.compile,
fused AdamW — in tokens/s and MFU (model FLOPs utilisation against the GPU's bf16 dense peak).

    python bench/gpu_pretrain.py [--batch-size 32] [--seq-len 1024] [--warmup 10] [--steps 50]
                                 [--peak-tflops X] [--no-compile] [--preset 140m]
    python bench/gpu_pretrain.py --dry-run    # no GPU needed: parameters and FLOPs per token

The step is the one `train_loop_per_worker` runs on a GPU worker: the model from `build_model`
(LlamaForCausalLM from `llama_config`, SDPA attention), `make_optimizer` (fused AdamW),
`make_scheduler`, `accumulate_step` under bf16 autocast with the global-token-normalised loss and
`loss_fn = partial(forward_loss, model)`, gradient clipping, step, zero_grad; with compilation on
(the default; `pretrain.compile=true` in the loop) that `loss_fn` is wrapped in `torch.compile`,
so the model and the vocabulary-sized loss compile as one graph, as the loop does.
The data are random tokens, made on the GPU before timing, so the input pipeline is not measured.

MFU = FLOPs per token × tokens/s / peak, with FLOPs per token = 6·N + 6·L·T·h
(`classit_ray.model.flops_per_token`, which bench/train_loop.py and the study's GPU-hour estimate
count too: N counts the matmul weights, LM head included, input embedding not; attention counts
QKᵀ and A·V under the causal mask). The peak is the GPU's bf16 dense tensor-core rate, from
`classit_ray.hardware`'s table by device name or from --peak-tflops.
Target from issue 4: >= 50% MFU on an H100.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from functools import partial

import torch

from classit_ray.config import OptimizerConfig, PretrainConfig
from classit_ray.hardware import PEAK_BF16_TFLOPS, peak_for
from classit_ray.model import PRESETS, flops_per_token, get_preset, matmul_params, param_count
from classit_ray.train.stage import StageSpec

TARGET_MFU = 0.5


def bench_spec(preset: str, batch_size: int, compile: bool) -> StageSpec:
    """A pretraining StageSpec with the config's optimiser settings; no data behind it."""
    optim = dataclasses.replace(
        OptimizerConfig.of(PretrainConfig()), epochs=1, batch_size=batch_size, micro_batch_size=batch_size
    )
    return StageSpec(
        stage="pretrain",
        name="gpu-bench",
        preset=preset,
        vocab_size=get_preset(preset).vocab_size,
        tokenizer_dir="",
        tokenizer_sha256="",
        shard_dirs=[],
        rows=0,
        words=0,
        optim=optim,
        loss_on="all",
        use_gpu=True,
        compile=compile,
    )


def describe(preset: str, seq_len: int) -> dict:
    """Parameter counts and FLOPs per token, checked against the model built on the meta device."""
    from transformers import LlamaForCausalLM

    from classit_ray.model import llama_config

    p = get_preset(preset)
    with torch.device("meta"):  # shapes only: no memory, no GPU
        model = LlamaForCausalLM(llama_config(preset))
    total = sum(t.numel() for t in model.parameters())
    linear = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))
    if total != param_count(p) or linear != matmul_params(p):
        raise SystemExit(
            f"formula and model disagree: parameters {param_count(p):,} vs {total:,}, matmul weights {matmul_params(p):,} vs {linear:,}"
        )
    dense, attention = flops_per_token(p, seq_len)
    return {
        "parameters": total,
        "matmul_params": linear,
        "dense": dense,
        "attention": attention,
        "per_token": dense + attention,
    }


def run(spec: StageSpec, seq_len: int, warmup: int, steps: int) -> tuple[float, float]:
    """(seconds for `steps` steps after `warmup` untimed ones, the last step's loss)."""
    from classit_ray.train.loop import build_model, make_optimizer, make_scheduler
    from classit_ray.train.objective import accumulate_step, forward_loss

    device = torch.device("cuda")
    model = build_model(spec, device)
    if model.config._attn_implementation != "sdpa":
        raise SystemExit(f"expected SDPA attention, got {model.config._attn_implementation}")
    optimizer = make_optimizer(model, spec.optim)
    scheduler = make_scheduler(optimizer, spec.optim, warmup + steps, 0)
    loss_fn = partial(forward_loss, model)  # as train_loop_per_worker builds it
    if spec.compile:
        loss_fn = torch.compile(loss_fn)
    model.train()
    autocast = lambda: torch.autocast("cuda", dtype=torch.bfloat16)  # noqa: E731  (as the worker builds it)

    # A few distinct batches, cycled: fresh tokens each step would time the RNG, one batch would
    # let nothing differ between steps. Ids start above pad/bos/eos (0-2).
    gen = torch.Generator(device=device).manual_seed(0)
    batches = []
    for _ in range(4):
        ids = torch.randint(3, spec.vocab_size, (spec.optim.micro_batch_size, seq_len), device=device, generator=gen)
        batches.append({"input_ids": ids, "attention_mask": torch.ones_like(ids)})

    for step in range(warmup + steps):
        if step == warmup:  # the first steps include compilation and the allocator's warm-up
            torch.cuda.synchronize()
            t0 = time.perf_counter()
        loss, _ = accumulate_step(
            model, [batches[step % len(batches)]], spec.loss_on, autocast=autocast, loss_fn=loss_fn
        )
        torch.nn.utils.clip_grad_norm_(model.parameters(), spec.optim.grad_clip)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
    torch.cuda.synchronize()
    return time.perf_counter() - t0, loss


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="140m", choices=sorted(PRESETS))
    parser.add_argument("--batch-size", type=int, default=32, help="sequences per step (one micro-batch)")
    parser.add_argument("--seq-len", type=int, default=1024)
    parser.add_argument("--warmup", type=int, default=10, help="untimed steps (compilation happens here)")
    parser.add_argument("--steps", type=int, default=50, help="timed steps")
    parser.add_argument("--peak-tflops", type=float, help="bf16 dense peak of the GPU; default: by name from the table")
    parser.add_argument("--no-compile", dest="compile", action="store_false", help="eager mode")
    parser.add_argument("--dry-run", action="store_true", help="print parameters and FLOPs per token; needs no GPU")
    args = parser.parse_args(argv)
    p = get_preset(args.preset)
    if not 1 <= args.seq_len <= p.max_position_embeddings:
        parser.error(f"--seq-len must be in 1..{p.max_position_embeddings} for preset {args.preset}")
    if min(args.batch_size, args.steps) < 1 or args.warmup < 0:
        parser.error("--batch-size and --steps must be >= 1, --warmup >= 0")

    info = describe(args.preset, args.seq_len)
    print(
        f"preset {args.preset}: {info['parameters']:,} parameters; N = {info['matmul_params']:,} matmul weights "
        f"(LM head in, input embedding out)"
    )
    print(
        f"FLOPs per token at seq_len {args.seq_len}: 6·N = {info['dense'] / 1e6:.1f} M + attention 6·L·T·h = "
        f"{info['attention'] / 1e6:.1f} M = {info['per_token'] / 1e6:.1f} M"
    )
    for name, tflops in PEAK_BF16_TFLOPS.items():
        print(
            f"  {TARGET_MFU:.0%} MFU on {name} ({tflops:g} TFLOP/s bf16 dense) needs {TARGET_MFU * tflops * 1e12 / info['per_token']:,.0f} tokens/s"
        )
    if args.dry_run:
        return 0

    if not torch.cuda.is_available():
        sys.exit(
            "error: no CUDA device (torch.cuda.is_available() is False, torch "
            f"{torch.__version__}); this benchmark needs an NVIDIA GPU. Use --dry-run for the FLOP count alone."
        )
    gpu = torch.cuda.get_device_name()
    peak_tflops = args.peak_tflops or peak_for(gpu)
    if peak_tflops is None:
        sys.exit(f"error: no bf16 peak known for {gpu!r}; pass --peak-tflops (dense, without sparsity)")

    spec = bench_spec(args.preset, args.batch_size, args.compile)
    seconds, loss = run(spec, args.seq_len, args.warmup, args.steps)
    tokens = args.steps * args.batch_size * args.seq_len
    rate = tokens / seconds
    mfu = info["per_token"] * rate / (peak_tflops * 1e12)
    print(f"\n## GPU pretraining step, preset {args.preset} ({time.strftime('%Y-%m-%d')})\n")
    print(
        f"`python bench/gpu_pretrain.py --batch-size {args.batch_size} --seq-len {args.seq_len} --steps {args.steps}"
        f"{'' if args.compile else ' --no-compile'}` on {gpu}, torch {torch.__version__}, bf16 autocast, "
        f"{'torch.compile' if args.compile else 'eager'}, fused AdamW; peak {peak_tflops:g} TFLOP/s bf16 dense.\n"
    )
    print("| GPU | batch × seq_len | tokens/s | ms/step | TFLOP/s | MFU | peak memory | last loss |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {gpu} | {args.batch_size} × {args.seq_len} | {rate:,.0f} | {seconds / args.steps * 1000:.1f} | "
        f"{info['per_token'] * rate / 1e12:.1f} | {mfu:.1%} | {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB | {loss:.3f} |"
    )
    print(f"\nTarget >= {TARGET_MFU:.0%} MFU: **{'met' if mfu >= TARGET_MFU else 'not met'}** ({mfu:.1%}).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
