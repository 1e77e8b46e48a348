"""A node of the cell graph carries one resolved settings object: it is what the node's key hashes
(with its inputs' keys) and all its body is given besides its inputs' artifacts. Changing a
setting changes the key exactly when it can change what the body computes: a key that stays while
the body reads something new is a stale cache hit, the worst bug a content-addressed store has."""

from __future__ import annotations

import dataclasses

import pytest

from classit_ray.cell.execute import _eval_config
from classit_ray.cell.graph import build_graph
from classit_ray.config import Config, EvalConfig, OptimizerConfig
from classit_ray.config_load import apply_overrides

# One other valid value for every evaluation setting: a new setting must be added here, with where
# it matters below, or this test fails.
EVAL_ALTERNATIVES = {
    "eval_dir": "/data/babylm/evaluation_data", "tasks": ["blimp", "glue"], "fast": False, "convention": "clean",
    "batch_size": 32, "finetune_epochs": 3, "glue_tasks": ["boolq"], "checkpoints": ["chck_1M"],
}
# The settings that can change what each evaluation node computes. An evaluation scores its model
# (the learning curve's checkpoints are the curve's); a curve runs the zero-shot tasks alone, always
# on the fast data, so neither `fast` nor the fine-tuning settings can reach it.
MATTERS = {
    "eval": set(EVAL_ALTERNATIVES) - {"checkpoints"},
    "curve": set(EVAL_ALTERNATIVES) - {"fast", "finetune_epochs", "glue_tasks"},
}
BASE = {"instruct.curriculum": "switchboard>wiki"}  # every endpoint: pretrain, stage1, final


def nodes(overrides: dict) -> dict[str, object]:
    graph = build_graph(apply_overrides(Config(), {**BASE, **overrides}), "/store")
    return {n.label: n for n in graph.nodes}, graph


def test_every_evaluation_setting_is_accounted_for():
    assert set(EVAL_ALTERNATIVES) == {f.name for f in dataclasses.fields(EvalConfig)}


@pytest.mark.parametrize("setting", sorted(EVAL_ALTERNATIVES))
def test_an_evaluation_key_changes_exactly_when_its_body_can_compute_something_else(setting):
    before, g0 = nodes({})
    after, g1 = nodes({f"eval.{setting}": EVAL_ALTERNATIVES[setting]})
    for label, node in before.items():
        if node.kind not in MATTERS:
            continue
        other = after[label]
        assert (node.key != other.key) == (setting in MATTERS[node.kind]), (label, setting)
        # The key follows the settings object, and the body reads only that object (and its inputs).
        assert (node.settings != other.settings) == (node.key != other.key), (label, setting)
        # What `cell/execute.py` hands the body: the evaluation settings, and a curve's checkpoints.
        body_changed = (_eval_config(node, g0), node.settings.get("checkpoints")) != (
            _eval_config(other, g1), other.settings.get("checkpoints"))
        assert body_changed == (setting in MATTERS[node.kind]), (label, setting)


def test_the_body_reads_the_toy_world_it_needs_where_the_key_names_it_by_its_generator():
    before, graph = nodes({})
    node = before["eval@final"]
    assert node.settings["eval"]["eval_dir"].startswith("toyworld:")  # no machine's path in a key
    world = next(n for n in graph.nodes if n.kind == "toyworld")
    assert world.key in node.needs
    assert _eval_config(node, graph)["eval_dir"] == f"{world.path}/evaluation_data"
    assert "evaluator" not in _eval_config(node, graph)  # the key's version stamp, not a setting
    EvalConfig(**_eval_config(node, graph))  # what the body builds from it


@pytest.mark.parametrize("section", ["pretrain", "instruct"])
def test_a_training_key_changes_whenever_the_stage_its_body_runs_does(section):
    """A training node's body runs its `StageSpec`: every optimizer setting that reaches the spec
    changes the key, except `max_steps` (a stage stopped early is not finished, never reused)."""
    before, _ = nodes({})
    for f in dataclasses.fields(OptimizerConfig):
        value = getattr(getattr(Config(), section), f.name)
        if f.name == "micro_batch_size":  # it must divide the batch
            other = value // 2
        else:
            other = {bool: lambda v: not v, int: lambda v: v * 2 or 1, float: lambda v: v / 2 or 0.1}[type(value)](value)
        after, _ = nodes({f"{section}.{f.name}": other})
        for label, node in before.items():
            if node.kind != section:
                continue
            spec_changed = node.spec.optim != after[label].spec.optim
            assert spec_changed, (label, f.name)
            assert (node.key != after[label].key) == (f.name != "max_steps"), (label, f.name)
