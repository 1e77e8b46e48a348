"""Config loading, saving, overrides and validation (fast, offline)."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import os
import pickle
import typing

import pytest

from classit_ray import config_load as config_load_module
from classit_ray.config import (
    EVAL_TASKS,
    Config,
    ConfigError,
    InstructConfig,
    OptimizerConfig,
    PretrainConfig,
    config_hash,
    config_to_dict,
)
from classit_ray.config_checks import validate
from classit_ray.config_load import apply_overrides, config_from_dict, load_config, save_config


def problems_of(d: dict) -> list[str]:
    """The problems config_from_dict reports for `d` (it must raise)."""
    with pytest.raises(ConfigError) as info:
        config_from_dict(d)
    return info.value.problems


def assert_one_problem_containing(problems: list[str], *fragments: str) -> None:
    matching = [p for p in problems if all(f in p for f in fragments)]
    assert len(matching) == 1, f"{fragments} not found exactly once in {problems}"


def a_custom_config() -> Config:
    cfg = Config()
    cfg.budget.instruct_fraction = 0.2
    cfg.budget.instruct_weights = {"switchboard": 2.0, "simple_wiki": 1.0}
    cfg.corpus.sources = ["childes", "switchboard", "simple_wiki"]
    cfg.model.preset = "small"
    cfg.instruct.curriculum = "wiki>switchboard"
    cfg.eval.tasks = ["blimp", "ewok"]
    cfg.study.name = "run-1.a"
    return cfg


# ---- round trips -------------------------------------------------------------------------------


def test_defaults_are_valid():
    assert validate(Config()) == []
    assert Config().eval.tasks == list(EVAL_TASKS)


def test_the_stage_sections_share_one_optimizer_dataclass():
    # Declared once: both sections have exactly OptimizerConfig's fields (and types) at their top
    # level, so the dotted paths stay `pretrain.lr` and `instruct.lr`.
    shared = typing.get_type_hints(OptimizerConfig)
    for section in (PretrainConfig, InstructConfig):
        assert issubclass(section, OptimizerConfig)
        types = typing.get_type_hints(section)
        assert {name: types[name] for name in shared} == shared
        assert [f.name for f in dataclasses.fields(section)][: len(shared)] == list(
            shared
        )  # declared first, in one order
    assert set(typing.get_type_hints(PretrainConfig)) & set(typing.get_type_hints(InstructConfig)) == set(shared)
    # Only the defaults differ, as intended.
    pretrain, instruct = OptimizerConfig.of(PretrainConfig()), OptimizerConfig.of(InstructConfig())
    assert (pretrain.lr, pretrain.epochs, pretrain.warmup_steps, pretrain.weight_decay) == (3e-3, 8, 20, 0.1)
    assert (instruct.lr, instruct.epochs, instruct.warmup_steps, instruct.weight_decay) == (2.5e-4, 10, 10, 0.0)
    assert dataclasses.replace(pretrain, lr=2.5e-4, epochs=10, warmup_steps=10, weight_decay=0.0) == instruct
    # Every shared field is range-checked in both sections.
    problems = problems_of({stage: {"lr": 0.0, "max_steps": -1} for stage in ("pretrain", "instruct")})
    for path in ("pretrain.lr", "instruct.lr", "pretrain.max_steps", "instruct.max_steps"):
        assert_one_problem_containing(problems, f"{path}: expected")


def test_the_toy_instruction_recipe_keeps_the_paper_recipes_ratios_to_pretraining():
    # Issue 16: the toy recipe is set by the paper-scale recipe's ratios, not by what it gives.
    from classit_ray.recipes import PAPER

    cfg, paper = Config(), PAPER.overrides
    assert cfg.instruct.lr / cfg.pretrain.lr == pytest.approx(paper["instruct.lr"] / paper["pretrain.lr"])
    assert (cfg.instruct.epochs, cfg.pretrain.epochs) == (paper["instruct.epochs"], paper["pretrain.epochs"])


def test_dict_round_trip_is_plain_builtins():
    cfg = a_custom_config()
    d = config_to_dict(cfg)
    assert json.loads(json.dumps(d)) == d  # nothing but builtins
    assert d["budget"]["instruct_weights"] == {"switchboard": 2.0, "simple_wiki": 1.0}
    assert config_from_dict(d) == cfg


def test_missing_keys_and_empty_sections_take_defaults():
    assert config_from_dict({}) == Config()
    cfg = config_from_dict({"budget": {"seed": 3}, "eval": None})
    assert cfg.budget.seed == 3
    assert cfg.budget.total_words == Config().budget.total_words
    assert cfg.eval == Config().eval


def test_int_is_accepted_and_widened_for_float_fields():
    cfg = config_from_dict(
        {"pretrain": {"lr": 1, "grad_clip": 0}, "budget": {"instruct_weights": {"switchboard": 1, "simple_wiki": 1}}}
    )
    assert cfg.pretrain.lr == 1.0 and isinstance(cfg.pretrain.lr, float)
    assert isinstance(cfg.pretrain.grad_clip, float)
    assert isinstance(cfg.budget.instruct_weights["switchboard"], float)


def test_config_from_dict_does_not_alias_the_input():
    d = {"corpus": {"sources": ["childes", "gutenberg"]}}
    cfg = config_from_dict(d)
    cfg.corpus.sources.append("switchboard")
    assert d["corpus"]["sources"] == ["childes", "gutenberg"]


@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".json"])
def test_file_round_trip(tmp_path, suffix):
    cfg = a_custom_config()
    path = tmp_path / f"study{suffix}"
    save_config(cfg, path)
    assert load_config(path) == cfg
    assert load_config(str(path)) == cfg
    if suffix == ".json":
        assert json.loads(path.read_text())["model"]["preset"] == "small"


def test_empty_yaml_file_gives_defaults(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing set\n")
    assert load_config(path) == Config()


# ---- overrides ---------------------------------------------------------------------------------


def test_overrides_from_dict():
    cfg = Config()
    new = apply_overrides(cfg, {"budget.instruct_fraction": 0.1, "model.preset": "small", "pretrain.lr": 1})
    assert new.budget.instruct_fraction == 0.1
    assert new.model.preset == "small"
    assert new.pretrain.lr == 1.0 and isinstance(new.pretrain.lr, float)


def test_overrides_from_cli_strings_parse_types():
    new = apply_overrides(
        Config(),
        [
            "budget.instruct_fraction=0.1",
            "pretrain.use_gpu=true",
            "pretrain.epochs=3",
            "eval.tasks=[blimp, ewok]",
            "model.preset=small",
            "budget.instruct_weights={switchboard: 2, simple_wiki: 1}",
            "study.name = spaced",
        ],
    )
    assert new.budget.instruct_fraction == 0.1
    assert new.pretrain.use_gpu is True
    assert new.pretrain.epochs == 3
    assert new.eval.tasks == ["blimp", "ewok"]
    assert new.model.preset == "small"
    assert new.budget.instruct_weights == {"switchboard": 2.0, "simple_wiki": 1.0}
    assert new.study.name == "spaced"


def test_a_single_cli_string_is_one_override():
    assert apply_overrides(Config(), "model.preset=small").model.preset == "small"


def test_overrides_never_mutate_or_alias_the_argument():
    cfg = a_custom_config()
    before = copy.deepcopy(cfg)
    new = apply_overrides(cfg, {"model.preset": "tiny", "pretrain.epochs": 2})
    assert cfg == before
    assert new is not cfg and new.model.preset == "tiny"
    new.corpus.sources.append("gutenberg")  # the copy's lists are its own
    assert cfg == before


def test_overrides_collect_every_problem():
    with pytest.raises(ConfigError) as info:
        apply_overrides(
            Config(),
            [
                "budget.instruct_fracton=0.1",
                "budgt.seed=1",
                "pretrain.epochs=many",
                "model.preset=smal",
                "no_equals_sign",
                "budget=1",
                "eval.tasks=[unclosed",
            ],
        )
    problems = info.value.problems
    assert len(problems) == 7, problems
    assert "unknown key 'budget.instruct_fracton' (did you mean 'budget.instruct_fraction'?)" in problems
    assert "unknown key 'budgt.seed' (did you mean 'budget.seed'?)" in problems
    assert "pretrain.epochs: expected int, got str 'many'" in problems
    assert_one_problem_containing(problems, "model.preset", "'smal'", "did you mean 'small'")
    assert_one_problem_containing(problems, "'no_equals_sign'", "key=value")
    assert_one_problem_containing(problems, "'budget'", "dotted path")
    assert_one_problem_containing(problems, "eval.tasks=[unclosed", "not valid YAML")


def test_overrides_are_validated():
    with pytest.raises(ConfigError, match=r"budget\.instruct_fraction: expected a fraction in \[0, 1\), got 1\.5"):
        apply_overrides(Config(), {"budget.instruct_fraction": 1.5})


# ---- error reporting ---------------------------------------------------------------------------


def test_several_problems_are_reported_together():
    with pytest.raises(ConfigError) as info:
        config_from_dict(
            {
                "budget": {"instruct_fracton": 0.1, "total_words": 0},
                "pretrain": {"epochs": "many", "lr": -1.0},
                "model": {"preset": "smal"},
                "study": {"name": "bad name!"},
            }
        )
    err = info.value
    assert len(err.problems) == 6, err.problems
    text = str(err)
    assert text.splitlines()[0] == "config has 6 problems:"
    for problem in err.problems:
        assert f"  - {problem}" in text.splitlines()
    assert_one_problem_containing(err.problems, "budget.instruct_fracton")
    assert_one_problem_containing(err.problems, "budget.total_words", "> 0", "got 0")
    assert_one_problem_containing(err.problems, "pretrain.epochs: expected int, got str 'many'")
    assert_one_problem_containing(err.problems, "pretrain.lr", "> 0", "-1.0")
    assert_one_problem_containing(err.problems, "model.preset", "'smal'")
    assert_one_problem_containing(err.problems, "study.name", "'bad name!'")


def test_a_single_problem_is_one_line():
    err = ConfigError(["x: expected y, got z"])
    assert str(err) == "config: x: expected y, got z"
    assert str(ConfigError(["p"], "cfg.yaml")) == "cfg.yaml: p"
    assert isinstance(err, ValueError)


def test_config_error_survives_pickling():  # Ray ships exceptions between processes
    err = pickle.loads(pickle.dumps(ConfigError(["a", "b"], "f.yaml")))
    assert err.problems == ["a", "b"] and err.source == "f.yaml"
    assert str(err).startswith("f.yaml: config has 2 problems:")


@pytest.mark.parametrize(
    "d, expected",
    [
        (
            {"budget": {"instruct_fracton": 0.1}},
            "unknown key 'budget.instruct_fracton' (did you mean 'budget.instruct_fraction'?)",
        ),
        ({"pretrian": {}}, "unknown key 'pretrian' (did you mean 'pretrain'?)"),
        ({"pretrain": {"zzz": 1}}, "unknown key 'pretrain.zzz'"),
    ],
)
def test_unknown_keys(d, expected):
    assert problems_of(d) == [expected]


@pytest.mark.parametrize(
    "path, value, suggestion",
    [
        ("model.preset", "smal", "small"),
        ("instruct.curriculum", "wiki>switchbord", "wiki>switchboard"),
        ("instruct.loss_on", "replies", "reply"),
        ("corpus.sources", ["childs"], "childes"),
        ("budget.instruct_configs", ["switchbord"], "switchboard"),
        ("eval.tasks", ["blimp_suplement"], "blimp_supplement"),
    ],
)
def test_did_you_mean_for_unknown_values(path, value, suggestion):
    section, key = path.split(".")
    problems = problems_of({section: {key: value}})
    bad = value[0] if isinstance(value, list) else value
    assert_one_problem_containing(problems, path, repr(bad), f"(did you mean {suggestion!r}?)", "expected one of")


@pytest.mark.parametrize(
    "d, expected",
    [
        ({"pretrain": {"epochs": "many"}}, "pretrain.epochs: expected int, got str 'many'"),
        ({"pretrain": {"epochs": 2.5}}, "pretrain.epochs: expected int, got float 2.5"),
        ({"pretrain": {"epochs": True}}, "pretrain.epochs: expected int, got bool True"),
        ({"pretrain": {"lr": False}}, "pretrain.lr: expected float, got bool False"),
        ({"pretrain": {"use_gpu": 1}}, "pretrain.use_gpu: expected bool, got int 1"),
        ({"model": {"preset": 100}}, "model.preset: expected str, got int 100"),
        ({"corpus": {"sources": "childes"}}, "corpus.sources: expected list[str], got str 'childes'"),
        ({"corpus": {"sources": ["childes", 3]}}, "corpus.sources[1]: expected str, got int 3"),
        (
            {"budget": {"instruct_weights": ["switchboard"]}},
            "budget.instruct_weights: expected dict[str, float], got list ['switchboard']",
        ),
        (
            {"budget": {"instruct_weights": {"switchboard": "x"}}},
            "budget.instruct_weights['switchboard']: expected float, got str 'x'",
        ),
        ({"budget": {"instruct_weights": {1: 1.0}}}, "budget.instruct_weights key 1: expected str, got int 1"),
        ({"budget": 5}, "budget: expected a mapping, got int 5"),
    ],
)
def test_wrong_types(d, expected):
    assert expected in problems_of(d)


def test_top_level_must_be_a_mapping():
    with pytest.raises(ConfigError, match="top level: expected a mapping, got list"):
        config_from_dict([1, 2])


@pytest.mark.parametrize(
    "path, value",
    [
        ("budget.total_words", 0),
        ("budget.instruct_fraction", -0.1),
        ("budget.instruct_fraction", 1.0),
        ("budget.instruct_fraction", float("nan")),
        ("corpus.sources", []),
        ("corpus.max_doc_lines", 0),
        ("tokenizer.vocab_size", 100),
        ("tokenizer.min_frequency", 0),
        ("tokenizer.max_train_words", -1),
        ("pretrain.epochs", 0),
        ("pretrain.batch_size", 0),
        ("pretrain.micro_batch_size", 0),
        ("pretrain.lr", 0.0),
        ("pretrain.min_lr_ratio", 1.5),
        ("pretrain.warmup_steps", -1),
        ("pretrain.weight_decay", -0.1),
        ("pretrain.grad_clip", -1.0),
        ("pretrain.seq_len", 4),
        ("pretrain.num_workers", 0),
        ("pretrain.shard_rows", 0),
        ("instruct.epochs", 0),
        ("instruct.lr", -1e-3),
        ("instruct.min_lr_ratio", -0.5),
        ("instruct.max_len", 7),
        ("eval.batch_size", 0),
        ("eval.finetune_epochs", -1),
        ("study.name", ""),
        ("study.name", "a/b"),
        ("study.num_cpus", -1),
        ("study.toy_words", 999),
    ],
)
def test_out_of_range_values(path, value):
    section, key = path.split(".")
    problems = problems_of({section: {key: value}})
    assert_one_problem_containing(problems, f"{path}: expected", f"got {value!r}")


@pytest.mark.parametrize(
    "path, value",
    [
        ("tokenizer.vocab_size", 0),
        ("tokenizer.vocab_size", 512),
        ("pretrain.grad_clip", 0.0),
        ("pretrain.min_lr_ratio", 0.0),
        ("pretrain.min_lr_ratio", 1.0),
        ("budget.instruct_fraction", 0.0),
        ("study.name", "Run_1.b-2"),
        ("study.toy_words", 1000),
        ("eval.tasks", []),
    ],
)
def test_boundary_values_are_accepted(path, value):
    section, key = path.split(".")
    # No instruction data means no curriculum to train on it: the pretrained model alone.
    instruct = {"instruct": {"curriculum": "none"}} if path == "budget.instruct_fraction" else {}
    config_from_dict({**instruct, section: {key: value}})


def test_batch_must_split_over_micro_batches_and_workers():
    problems = problems_of({"pretrain": {"num_workers": 3}})  # 16 is not a multiple of 16 × 3
    assert_one_problem_containing(problems, "pretrain.batch_size", "16 × 3", "got 16")
    assert_one_problem_containing(problems, "instruct.batch_size", "16 × 3", "got 16")
    config_from_dict(
        {
            "pretrain": {"num_workers": 2, "batch_size": 64, "micro_batch_size": 8},
            "instruct": {"batch_size": 32, "micro_batch_size": 16},
        }
    )


def test_instruct_weights_are_checked():
    problems = problems_of(
        {"budget": {"instruct_configs": ["switchboard"], "instruct_weights": {"simple_wiki": 1.0, "switchboard": -1.0}}}
    )
    assert_one_problem_containing(problems, "budget.instruct_weights", "'simple_wiki'", "budget.instruct_configs")
    assert_one_problem_containing(problems, "budget.instruct_weights['switchboard']", ">= 0", "-1.0")
    zero = problems_of({"budget": {"instruct_weights": {"switchboard": 0.0, "simple_wiki": 0.0}}})
    assert_one_problem_containing(zero, "budget.instruct_weights", "summing to > 0")


# ---- impossible budgets ------------------------------------------------------------------------


def test_impossible_budget_instruction_fraction_without_configs():
    problems = problems_of({"budget": {"instruct_configs": []}})
    assert_one_problem_containing(problems, "impossible budget", "budget.instruct_configs is empty")
    config_from_dict(
        {"budget": {"instruct_configs": [], "instruct_fraction": 0.0}, "instruct": {"curriculum": "none"}}
    )  # no instruction data: fine


def test_impossible_budget_all_sources_held_out():
    held_out = {"corpus": {"sources": ["switchboard", "simple_wiki"]}}
    assert_one_problem_containing(problems_of(held_out), "impossible budget", "no pretraining source left")
    # Not held out, or no instruction data at all: the sources stay in pretraining.
    config_from_dict({**held_out, "budget": {"holdout_instruct_sources": False}})
    config_from_dict({**held_out, "budget": {"instruct_fraction": 0.0}, "instruct": {"curriculum": "none"}})
    # Only the configs in use are held out.
    # (every curriculum trains on both configs, so only the baseline can use one alone)
    config_from_dict(
        {
            "corpus": {"sources": ["switchboard"]},
            "budget": {"instruct_configs": ["simple_wiki"]},
            "instruct": {"curriculum": "none"},
        }
    )


def test_impossible_budget_no_pretraining_words():
    problems = problems_of({"budget": {"total_words": 1, "instruct_fraction": 0.6}})
    assert_one_problem_containing(problems, "impossible budget", "0 pretraining words")


def test_impossible_budget_no_instruction_words():
    problems = problems_of({"budget": {"total_words": 1, "instruct_fraction": 0.4}})
    assert problems == [p for p in problems if "0 instruction words" in p] and len(problems) == 1
    config_from_dict(
        {"budget": {"total_words": 1, "instruct_fraction": 0.0}, "instruct": {"curriculum": "none"}}
    )  # no instruction data wanted


# ---- files -------------------------------------------------------------------------------------


def test_bad_yaml_names_the_file(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("budget: [unclosed\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: ") and "\n" not in str(info.value)
    assert "not valid YAML" in info.value.problems[0]


def test_bad_json_names_the_file(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON") as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_missing_file_names_the_file(tmp_path):
    path = tmp_path / "nowhere.yaml"
    with pytest.raises(ConfigError, match="cannot read the file") as info:
        load_config(path)
    assert str(info.value).startswith(str(path))


def test_top_level_not_a_mapping_names_the_file(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="top level: expected a mapping") as info:
        load_config(path)
    assert str(info.value).startswith(str(path))


def test_validation_problems_name_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("pretrain:\n  epochs: 0\nmodel:\n  preset: smal\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.source == str(path)
    assert str(info.value).startswith(f"{path}: config has 2 problems:")


def test_unsupported_suffix(tmp_path):
    with pytest.raises(ConfigError, match="unsupported suffix '.toml'"):
        save_config(Config(), tmp_path / "c.toml")
    with pytest.raises(ConfigError, match="unsupported suffix '.toml'"):
        load_config(tmp_path / "c.toml")


def test_save_config_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "sub" / "study.yaml"
    save_config(Config(), path)  # creates the folder
    save_config(a_custom_config(), path)  # replaces the file
    assert os.listdir(path.parent) == ["study.yaml"]  # no temp files left behind
    assert load_config(path) == a_custom_config()

    def crash(src, dst):
        raise OSError("disk gone")

    monkeypatch.setattr(config_load_module.os, "replace", crash)
    with pytest.raises(OSError, match="disk gone"):
        save_config(Config(), path)
    assert os.listdir(path.parent) == ["study.yaml"]  # the temp file is cleaned up
    assert load_config(path) == a_custom_config()  # and the old file is intact


# ---- hashing -----------------------------------------------------------------------------------


def test_config_hash_is_stable_and_order_independent():
    h = config_hash({"a": 1, "b": [1, 2]})
    assert len(h) == 16 and set(h) <= set("0123456789abcdef")
    assert h == config_hash({"b": [1, 2], "a": 1})
    assert h == hashlib.sha256(b'{"a":1,"b":[1,2]}').hexdigest()[:16]  # canonical JSON, not repr
    assert config_hash({"a": 2, "b": [1, 2]}) != h


def test_config_hash_of_dataclass_matches_its_dict():
    cfg = a_custom_config()
    assert config_hash(cfg) == config_hash(config_to_dict(cfg))
    assert config_hash(cfg) == config_hash(config_from_dict(json.loads(json.dumps(config_to_dict(cfg)))))
    assert config_hash(cfg) != config_hash(Config())


def test_a_curriculum_and_the_instruction_data_it_trains_on_agree():
    # Every choice field names its allowed values in its type; a wrong type and a wrong value differ.
    assert_one_problem_containing(
        problems_of({"instruct": {"curriculum": 3}}), "instruct.curriculum: expected str, got int 3"
    )
    problems = problems_of({"instruct": {"curriculum": "nonne"}})
    assert_one_problem_containing(problems, "instruct.curriculum: unknown value 'nonne'", "did you mean 'none'")
    assert len(problems) == 1  # the field defaulted for being wrong is not checked against the others
    # No instruction data: only the pretrained model (`none`) has nothing to train on it.
    assert_one_problem_containing(
        problems_of({"budget": {"instruct_fraction": 0.0}}), "instruct.curriculum", "'merged'", "'none'"
    )
    config_from_dict(
        {"budget": {"instruct_fraction": 0.1}, "instruct": {"curriculum": "none"}}
    )  # the baseline of a tuned cell
    # A curriculum naming a config the budget leaves out (or weighs 0) is refused before any stage.
    for budget in (
        {"instruct_configs": ["simple_wiki"]},
        {"instruct_weights": {"simple_wiki": 1.0, "switchboard": 0.0}},
    ):
        assert_one_problem_containing(
            problems_of({"budget": budget, "instruct": {"curriculum": "switchboard>wiki"}}),
            "instruct.curriculum",
            "needs instruction data ['switchboard']",
        )


def test_learning_curve_checkpoints_are_ones_the_schedule_writes():
    assert Config().eval.checkpoints == ["log"]
    config_from_dict({"eval": {"checkpoints": ["all"]}})
    config_from_dict({"eval": {"checkpoints": []}})
    # 150,000 words × 0.913 pretraining × 8 epochs = 1,095,600 words seen; chck_N M is written at N/100 of 150,000.
    config_from_dict({"eval": {"checkpoints": ["chck_1M", "chck_700M"]}})
    problems = problems_of({"eval": {"checkpoints": ["chck_800M", "chck_15M", "final"]}})
    assert_one_problem_containing(problems, "eval.checkpoints", "['chck_800M'] are never written", "1,095,600 words")
    assert_one_problem_containing(problems, "eval.checkpoints", "unknown ['chck_15M', 'final']")
