"""Checkpoints: HF-loadable, self-describing, optimizer state round trip (safetensors, no pickle),
the scaled BabyLM schedule, and clear errors for checkpoints of another model."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

from classit_ray.model import llama_config
from classit_ray.train.checkpoint import (
    CheckpointError,
    babylm_schedule,
    check_compatible,
    load_optimizer,
    load_weights,
    read_state,
    retained,
    save_checkpoint,
)


def test_babylm_schedule_full_scale():
    schedule = babylm_schedule(100_000_000, 1_000_000_000)
    names = [n for _, n in schedule]
    assert names[:3] == ["chck_1M", "chck_2M", "chck_3M"] and "chck_10M" in names and "chck_20M" in names
    assert names[-1] == "chck_1000M" and len(schedule) == 9 + 9 + 10
    assert dict((n, w) for w, n in schedule)["chck_200M"] == 200_000_000


def test_babylm_schedule_scaled_for_toy_budget():
    schedule = babylm_schedule(150_000, 200_000)  # 0.0015 of the real budget; 200K words seen
    assert schedule[0] == (1_500, "chck_1M") and schedule[-1] == (150_000, "chck_100M")
    assert all(w <= 200_000 for w, _ in schedule)


@pytest.fixture
def tiny_checkpoint(tmp_path, prepared):
    torch.manual_seed(0)
    model = LlamaForCausalLM(llama_config("tiny", pad_token_id=0, bos_token_id=1, eos_token_id=2))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(input_ids=torch.tensor([[1, 5, 6, 7]]), labels=torch.tensor([[1, 5, 6, 7]])).loss.backward()
    optimizer.step()
    sha = json.loads((prepared.tokenizer_dir / "manifest.json").read_text())["sha256"]
    state = {"preset": "tiny", "tokenizer_sha256": sha, "position": {"step": 1}}
    save_checkpoint(tmp_path / "ckpt", model, prepared.tokenizer_dir, state, optimizer)
    return tmp_path / "ckpt", model, optimizer, sha


def test_hf_auto_classes_load_it(tiny_checkpoint):
    directory, model, _, _ = tiny_checkpoint
    loaded = AutoModelForCausalLM.from_pretrained(str(directory))
    for (name, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
        torch.testing.assert_close(a, b, msg=name)
    tok = AutoTokenizer.from_pretrained(str(directory))
    assert tok("the dog").input_ids[0] == tok.bos_token_id
    assert read_state(directory)["position"] == {"step": 1}


def test_weights_and_optimizer_round_trip(tiny_checkpoint):
    directory, model, optimizer, _ = tiny_checkpoint
    torch.manual_seed(1)
    fresh = LlamaForCausalLM(llama_config("tiny", pad_token_id=0, bos_token_id=1, eos_token_id=2))
    fresh_opt = torch.optim.AdamW(fresh.parameters(), lr=1e-3)
    load_weights(fresh, directory)
    load_optimizer(fresh_opt, directory)
    for a, b in zip(model.parameters(), fresh.parameters()):
        torch.testing.assert_close(a, b)
    for p_a, p_b in zip(model.parameters(), fresh.parameters()):
        for key in ("exp_avg", "exp_avg_sq", "step"):
            torch.testing.assert_close(optimizer.state[p_a][key], fresh_opt.state[p_b][key])
    assert not list(directory.glob("*.pt")) and not list(directory.glob("*.bin"))  # nothing pickled


def test_checkpoint_from_another_model_is_rejected(tiny_checkpoint):
    directory, _, _, sha = tiny_checkpoint
    assert check_compatible(directory, "tiny", 2048, sha)["preset"] == "tiny"
    with pytest.raises(
        CheckpointError,
        match=r"checkpoint from another model: model preset 'tiny', expected 'small'; vocab_size 2048, expected 8192",
    ):
        check_compatible(directory, "small", 8192, sha)
    with pytest.raises(CheckpointError, match="a different tokenizer"):
        check_compatible(directory, "tiny", 2048, "0" * 64)


def test_unfinished_checkpoint_is_not_a_checkpoint(tiny_checkpoint, tmp_path):
    directory, _, _, _ = tiny_checkpoint
    half = tmp_path / "half"
    shutil.copytree(directory, half)
    (half / "classit_state.json").unlink()
    with pytest.raises(CheckpointError, match=r"half: no classit_state\.json"):
        read_state(half)


def test_a_stage_spec_round_trips_through_its_recorded_dict(tmp_path):
    """What the workers receive and `classit_state.json` records (`asdict`, as JSON) rebuilds the
    same spec, optimizer settings included; its key leaves out `optim.max_steps` (a stopped run
    resumes under its name) and keeps every other optimizer field."""
    import dataclasses

    from classit_ray.config import Config, OptimizerConfig
    from classit_ray.data.stages import plan_data
    from classit_ray.train.stage import StageSpec, pretrain_spec

    spec = pretrain_spec(Config(), plan_data(Config(), tmp_path))
    recorded = json.loads(json.dumps(dataclasses.asdict(spec)))
    assert recorded["optim"]["lr"] == 3e-3
    back = StageSpec.from_dict(recorded)
    assert back == spec and isinstance(back.optim, OptimizerConfig) and back.key == spec.key
    assert (back.accumulation, back.optim.epochs) == (1, 8)
    assert dataclasses.replace(spec, optim=dataclasses.replace(spec.optim, max_steps=7)).key == spec.key
    for name, value in {"lr": 1e-4, "epochs": 2, "seed": 1, "batch_size": 32}.items():
        assert dataclasses.replace(spec, optim=dataclasses.replace(spec.optim, **{name: value})).key != spec.key, name


def test_retention_keeps_what_the_learning_curve_scores_and_a_curve_never_silently_shrinks(tmp_path):
    from classit_ray.atomic import atomic_write_json
    from classit_ray.eval.artifact import chosen_checkpoints

    written = ["chck_1M", "chck_2M", "chck_3M", "chck_5M", "chck_10M", "final"]
    # `curve`: what is read back (final and the curve's points), as weights only; `final`: final
    # whole (to continue training from); `all`: everything whole.
    assert retained(written, "curve", ["log"]) == {
        "final": False,
        "chck_1M": False,
        "chck_2M": False,
        "chck_5M": False,
        "chck_10M": False,
    }
    assert retained(written, "curve", ["chck_3M"]) == {"final": False, "chck_3M": False}
    assert retained(written, "final", ["log"]) == {"final": True}
    assert retained(written, "all", []) == dict.fromkeys(written, True)
    kept = retained(written, "curve", ["log"])
    stage = tmp_path / "pretrain"
    stage.mkdir()
    atomic_write_json(
        stage / "manifest.json", {"checkpoints": sorted(kept), "dropped": ["chck_3M"], "retention": "curve"}
    )
    assert chosen_checkpoints(stage, ["log"]) == ["chck_1M", "chck_2M", "chck_5M", "chck_10M"]
    for selection in (["all"], ["chck_3M"]):  # a point written but not kept is an error naming the setting
        with pytest.raises(
            ValueError, match=r"\['chck_3M'\] were written but not kept \(pretrain.keep_checkpoints='curve'\)"
        ):
            chosen_checkpoints(stage, selection)
