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
    "eval_dir": "/data/babylm/evaluation_data",
    "tasks": ["blimp", "glue"],
    "fast": False,
    "convention": "clean",
    "batch_size": 32,
    "finetune_epochs": 3,
    "glue_tasks": ["boolq"],
    "checkpoints": ["chck_1M"],
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
            _eval_config(other, g1),
            other.settings.get("checkpoints"),
        )
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
            other = {bool: lambda v: not v, int: lambda v: v * 2 or 1, float: lambda v: v / 2 or 0.1}[type(value)](
                value
            )
        after, _ = nodes({f"{section}.{f.name}": other})
        for label, node in before.items():
            if node.kind != section:
                continue
            spec_changed = node.spec.optim != after[label].spec.optim
            assert spec_changed, (label, f.name)
            assert (node.key != after[label].key) == (f.name != "max_steps"), (label, f.name)


# One other valid value for each setting a data stage can read (each section's fields that reach
# the data stages; the others are checked not to move a data key).
DATA_ALTERNATIVES = {
    "corpus.data_dir": "/data/babylm/train_100M",
    "corpus.instruct_dir": "/data/class_it",
    "corpus.sources": ["childes"],
    "corpus.keep_speaker_labels": False,
    "corpus.max_doc_lines": 32,
    "budget.total_words": 100_000,
    "budget.instruct_fraction": 0.2,
    "budget.instruct_configs": ["simple_wiki", "switchboard"],
    "budget.instruct_weights": {"switchboard": 1.0, "simple_wiki": 2.0},
    "budget.holdout_instruct_sources": False,
    "budget.heldout_pairs": 7,
    "budget.seed": 1,
    "tokenizer.vocab_size": 1024,
    "tokenizer.min_frequency": 3,
    "tokenizer.max_train_words": 5000,
    "pretrain.seq_len": 64,
    "pretrain.shard_rows": 100,
    "instruct.max_len": 64,
    "model.preset": "small",
    "pretrain.lr": 1e-3,
    "eval.tasks": ["blimp"],  # none of a data stage's business
}
# Which data nodes each setting reaches: a change reaches the stage that reads it and every stage
# downstream of that (through its input's key). The vocabulary follows the preset when
# tokenizer.vocab_size is 0 (the default).
DATA_MATTERS = {
    "split": {"corpus.", "budget."},
    "tokenizer": {"corpus.", "budget.", "tokenizer.", "model.preset"},
    "pretrain_shards": {"corpus.", "budget.", "tokenizer.", "model.preset", "pretrain.seq_len", "pretrain.shard_rows"},
    "instruct_shards": {"corpus.", "budget.", "tokenizer.", "model.preset", "pretrain.shard_rows", "instruct.max_len"},
}


def test_every_data_setting_is_accounted_for():
    from classit_ray.config import BudgetConfig, CorpusConfig, TokenizerConfig

    for section, cls in (("corpus", CorpusConfig), ("budget", BudgetConfig), ("tokenizer", TokenizerConfig)):
        assert {f"{section}.{f.name}" for f in dataclasses.fields(cls)} <= set(DATA_ALTERNATIVES), section


def _reaches(setting: str, kind: str) -> bool:
    return any(setting.startswith(m) for m in DATA_MATTERS[kind])


@pytest.mark.parametrize("setting", sorted(DATA_ALTERNATIVES))
def test_a_data_key_changes_exactly_when_its_build_can_make_something_else(setting):
    before, _ = nodes({})
    after, _ = nodes({setting: DATA_ALTERNATIVES[setting]})
    for label, node in before.items():
        if node.kind not in DATA_MATTERS or label not in after:
            continue
        other = after[label]
        changed = node.key != other.key
        assert changed == _reaches(setting, node.kind), (label, setting)
        own = node.settings != other.settings
        upstream = [n for n in node.needs if n in {m.key for m in before.values()}] != list(other.needs)
        assert changed == (own or upstream), (label, setting)  # the key moves with what the build reads


def test_a_data_build_reads_what_the_config_says_with_the_toy_world_where_the_key_names_it():
    from classit_ray.config import BudgetConfig
    from classit_ray.data.stages import corpus_config, toy_world_id
    from classit_ray.toyworld import with_toy_world, world_dir

    cfg = apply_overrides(Config(), BASE)
    graph = build_graph(cfg, "/store")
    split = next(n for n in graph.nodes if n.kind == "split")
    source = with_toy_world(cfg, "/store")  # what the builds were given before they read their settings
    assert split.settings["corpus"]["data_dir"] == toy_world_id(cfg)
    assert (
        corpus_config(split.settings["corpus"], toy_world_id(cfg), world_dir("/store", cfg.study.toy_words))
        == source.corpus
    )
    assert BudgetConfig(**split.settings["budget"]) == cfg.budget
    shards = {n.label: n.settings for n in graph.nodes if n.kind in ("pretrain_shards", "instruct_shards")}
    assert shards["pretrain shards"] == {"seq_len": cfg.pretrain.seq_len, "rows": cfg.pretrain.shard_rows}
    assert shards["instruct shards (switchboard)"]["max_len"] == cfg.instruct.max_len
