"""Benchmark: the batched minimal-pair scorer against the one-sentence-at-a-time reference, on the
same model and the same BLiMP-format items, in one run.

    python bench/scorer.py [--preset small] [--items 2000] [--batch-size 64]

Builds a randomly initialised model of the preset with a tokenizer trained on the toy corpus
(throughput does not depend on the weights), scores the toy world's BLiMP items both ways,
checks that both give the same scores, and prints sentences/s. Target: batched >= 3x.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import torch

from classit_ray.data.tokenizer import build_bpe, save_hf_tokenizer
from classit_ray.eval.formats import read_blimp, task_dir
from classit_ray.eval.scorer import HFCausalLM
from classit_ray.model import get_preset, llama_config
from classit_ray.toyworld.world import write_toy_world


def build_model_dir(out: Path, preset: str, corpus_dir: Path) -> Path:
    """A random model of `preset` saved with a BPE trained on the toy corpus."""
    texts = [[line for f in sorted(corpus_dir.glob("*.train")) for line in f.read_text().splitlines()[:5000]]]
    tok = build_bpe(iter(texts), get_preset(preset).vocab_size)
    save_hf_tokenizer(tok, out)
    from transformers import LlamaForCausalLM

    torch.manual_seed(0)
    LlamaForCausalLM(llama_config(preset, pad_token_id=0, bos_token_id=1, eos_token_id=2)).save_pretrained(str(out))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--preset", default="small")
    parser.add_argument("--items", type=int, default=2000, help="BLiMP items (2 sentences each)")
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        toy = write_toy_world(Path(tmp) / "world", words=200_000, seed=0)
        model_dir = build_model_dir(Path(tmp) / "model", args.preset, Path(toy["corpus_dir"]))
        items = read_blimp(task_dir(toy["eval_dir"], False, "blimp_filtered"))
        items = (items * (args.items // len(items) + 1))[: args.items]
        requests = [(it.context, c) for it in items for c in it.candidates]
        lm = HFCausalLM(model_dir, batch_size=args.batch_size)
        lm.loglikelihood(requests[:64])  # warm-up, not timed
        t0 = time.perf_counter()
        batched = lm.loglikelihood(requests)
        t_batched = time.perf_counter() - t0
        t0 = time.perf_counter()
        reference = lm.loglikelihood_one_by_one(requests)
        t_reference = time.perf_counter() - t0
    max_diff = max(abs(a - b) for a, b in zip(batched, reference))
    n = len(requests)
    print(
        f"\n## Minimal-pair scorer ({time.strftime('%Y-%m-%d')}, {platform.machine()}, torch threads {torch.get_num_threads()})"
    )
    print(
        f"preset {args.preset}, {n:,} sentences ({args.items:,} BLiMP-format items), batch size {args.batch_size}; max |score difference| {max_diff:.2e}\n"
    )
    print("| scorer | seconds | sentences/s | speed-up |")
    print("|---|---:|---:|---:|")
    print(f"| one sentence at a time (reference) | {t_reference:.1f} | {n / t_reference:,.0f} | 1.00x |")
    print(
        f"| batched: shared trunks, packed rows, head on scored positions | {t_batched:.1f} | {n / t_batched:,.0f} | {t_reference / t_batched:.2f}x |"
    )


if __name__ == "__main__":
    main()
