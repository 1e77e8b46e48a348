"""Evaluations as artifacts of the store: a model's scores, or a pretraining's learning curve,
written whole into a directory whose `manifest.json` marks it complete (`atomic.py`).

    eval/<key>/   the BabyLM results layout of one model, and its flat metrics in the manifest
    curve/<key>/  curve.json: the fast zero-shot tasks on each chosen chck_* checkpoint of a run,
                  with the words each checkpoint really saw; the folder is a `<model>/` of the BabyLM
                  results layout: `chck_*/zero_shot/causal/...` per checkpoint and, with AoA among the
                  tasks, `main/zero_shot/causal/AoA_word/surprisal.json` over all of them (as the
                  official eval_aoa.sh writes it) with `aoa_fits.json` (each word's sigmoid) beside it

Checkpoint names are the BabyLM ones scaled by budget/100M (a toy `chck_1M` may have seen 1,500
words), so every curve point carries `words_seen` from the checkpoint's own state: that, not the
name, is the x axis.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from classit_ray.atomic import atomic_dir, atomic_write_json, read_json, read_manifest
from classit_ray.config import CHECKPOINT_SETS, EvalConfig, checkpoint_millions
from classit_ray.eval import aoa
from classit_ray.eval.tasks import BACKEND


def _device(threads: int) -> tuple[str, int]:
    """(the device to score on, the torch threads it scores with). The thread count goes into the
    manifest: on CPU it decides the last bits of a score (docs/reproducibility.md)."""
    import torch

    from classit_ray.runtime import set_torch_threads

    if threads:
        set_torch_threads(threads)
    return ("cuda" if torch.cuda.is_available() else "cpu"), torch.get_num_threads()


def evaluate_into(
    model_dir: str, eval_cfg: dict, out_dir: str, threads: int = 0, heldout_dir: str | None = None
) -> dict:
    """Score `model_dir` on `eval_cfg` (and the held-out instruction pairs in `heldout_dir`, a
    budget split's `heldout/`) into `out_dir` (the BabyLM results layout); the manifest installed
    there: another writer's when one finished this key first (`atomic.atomic_dir`)."""
    from classit_ray.eval.harness import evaluate

    device, torch_threads = _device(threads)
    manifest: dict[str, Any] = {
        "kind": "eval",
        "model": model_dir,
        "eval": eval_cfg,
        "heldout": heldout_dir,
        "device": device,
        "torch_threads": torch_threads,
    }
    t0 = time.perf_counter()
    with atomic_dir(out_dir, manifest) as tmp:
        report = evaluate(model_dir, EvalConfig(**eval_cfg), tmp, device=device, heldout_dir=heldout_dir)
        manifest.update(
            metrics=report.metrics,
            failed=report.failed,
            skipped=report.skipped,
            task_seconds=report.seconds,
            seconds=time.perf_counter() - t0,
        )
    return read_manifest(out_dir)  # not `manifest`: a writer that lost reports the winner's scores


def chosen_checkpoints(stage_dir: str | Path, selection: list[str]) -> list[str]:
    """The `chck_*` checkpoints of a finished stage that `selection` (`eval.checkpoints`) names,
    in training order. A set (`log`, `all`) takes those the run wrote; a name it did not write is
    an error, since a curve without the point asked for would look complete."""
    manifest = read_manifest(stage_dir)
    written = [n for n in manifest["checkpoints"] if n.startswith("chck_")]
    millions, unknown = checkpoint_millions(selection)
    if unknown:
        raise ValueError(f"eval.checkpoints: unknown {unknown}")
    # Written, then not kept (pretrain.keep_checkpoints): a curve without them would look complete.
    dropped = [
        n
        for n in manifest.get("dropped", [])
        if n.startswith("chck_") and (millions is None or int(n[5:-1]) in millions)
    ]
    dropped += [n for n in selection if n in manifest.get("dropped", []) and n not in dropped]
    if dropped:
        raise ValueError(
            f"{stage_dir}: checkpoints {dropped} were written but not kept (pretrain.keep_checkpoints="
            f"{manifest.get('retention')!r}); expected eval.checkpoints within {written or 'none'}, or delete "
            "this stage folder and rerun with pretrain.keep_checkpoints=all"
        )
    missing = [n for n in selection if n not in CHECKPOINT_SETS and n not in written]
    if missing:
        raise ValueError(
            f"{stage_dir}: checkpoints {missing} were not written by this pretraining (it wrote {written or 'none'}); "
            "expected names from that list in eval.checkpoints"
        )
    order = sorted(written, key=lambda n: int(re.fullmatch(r"chck_(\d+)M", n).group(1)))
    return [n for n in order if millions is None or int(n[5:-1]) in millions]


def curve_into(stage_dir: str, selection: list[str], eval_cfg: dict, out_dir: str, threads: int = 0) -> dict:
    """Score the chosen checkpoints of `stage_dir` on `eval_cfg`'s tasks into `out_dir/curve.json`:
    [{"checkpoint", "words_seen", "metrics"}] in training order; the manifest installed there.
    With AoA among the tasks, the manifest's `metrics` carry the curve's own score (`eval/aoa`) and
    `aoa` its account: words fitted, and every word whose fit failed with the reason."""
    from classit_ray.eval.harness import evaluate
    from classit_ray.train.checkpoint import read_state

    device, torch_threads = _device(threads)
    names = chosen_checkpoints(stage_dir, selection)
    manifest: dict[str, Any] = {
        "kind": "curve",
        "stage": stage_dir,
        "eval": eval_cfg,
        "checkpoints": names,
        "device": device,
        "torch_threads": torch_threads,
    }
    t0 = time.perf_counter()
    with atomic_dir(out_dir, manifest) as tmp:
        points, failed, skipped = [], {}, {}
        for name in names:
            checkpoint = Path(stage_dir) / name
            words_seen = read_state(checkpoint)["position"]["words_seen"]
            report = evaluate(
                checkpoint, EvalConfig(**eval_cfg), tmp / name, device=device, checkpoint=(name, words_seen)
            )
            failed.update({f"{name}/{task}": message for task, message in report.failed.items()})
            skipped.update({f"{name}/{task}": message for task, message in report.skipped.items()})
            points.append({"checkpoint": name, "words_seen": words_seen, "metrics": report.metrics})
        atomic_write_json(tmp / "curve.json", points)
        scored = [n for n in names if f"{n}/aoa" not in failed]  # a failed checkpoint is in `failed` already
        if "aoa" in eval_cfg["tasks"] and scored:
            manifest.update(aoa_over_curve(tmp, Path(stage_dir).name, scored, eval_cfg["eval_dir"]))
        manifest.update(points=points, failed=failed, skipped=skipped, seconds=time.perf_counter() - t0)
    return read_manifest(out_dir)  # the winner's, as in `evaluate_into`


def aoa_over_curve(model_dir: Path, model_name: str, names: list[str], eval_dir: str) -> dict:
    """Gather the AoA surprisals the checkpoints `names` of a curve folder (`model_dir`, a `<model>/`
    of the results layout) wrote into the official `main/.../AoA_word/surprisal.json`, fit every
    word and correlate with the children's AoA (`eval/aoa.py`); {"metrics", "aoa"} for the manifest."""
    from classit_ray.eval.formats import task_dir

    rows = [
        row
        for name in names
        for row in read_json(model_dir / name / "zero_shot" / BACKEND / aoa.OUTPUT_DIR / aoa.OUTPUT_FILE)["results"]
    ]
    out = model_dir / "main" / "zero_shot" / BACKEND / aoa.OUTPUT_DIR
    atomic_write_json(out / aoa.OUTPUT_FILE, aoa.official_output(model_name, rows, total_steps=len(names)))
    data = aoa.read_aoa(task_dir(eval_dir, False, "aoa"))  # read (and checked) by every checkpoint already
    result = aoa.acquisition(rows, data.child_aoa)
    atomic_write_json(out / aoa.FITS_FILE, result)
    return {"metrics": result["metrics"], "aoa": {k: v for k, v in result.items() if k not in ("metrics", "fits")}}
