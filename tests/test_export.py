"""`classit-ray export` on stages written in the artifact store's layout (a tiny model saved
straight into `pretrain/<key>/{chck_*,final}` and `instruct/<key>/final`, no training): the
folders and the git repository load with the auto classes alone and hold the source weights,
each revision named by the words it saw; BabyLM's fixed names only where they are true; bad
input is one line, exit 1, nothing written. Nothing here reaches the network."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

from classit_ray.atomic import atomic_write_json
from classit_ray.export import main, millions, plan_revisions
from classit_ray.model import llama_config
from classit_ray.train.checkpoint import save_checkpoint

TOK, SHARDS, PRE, INS = "a" * 16, "b" * 16, "c" * 16, "d" * 16


def write_store(
    root: Path,
    budget: int,
    per_step: int,
    points: dict[str, int],
    final_steps: int,
    dropped=(),
    keys: tuple[str, str, str] = (TOK, PRE, INS),
) -> Path:
    """A store holding a tokenizer, a pretraining whose checkpoints were written at the steps
    crossing `points` (stored name -> words) with `per_step` words a step, an instruction stage
    from its final model, and an evaluation of that stage's final model."""
    from classit_ray.data.tokenizer import build_bpe, save_hf_tokenizer

    tok_key, pre_key, ins_key = keys
    tok_dir = root / "tokenizer" / tok_key
    tok = build_bpe(iter([["the fox eats the berries", "a dog runs to the fox"]]), vocab_size=300, min_frequency=1)
    save_hf_tokenizer(tok, tok_dir)
    atomic_write_json(
        tok_dir / "manifest.json",
        {
            "kind": "tokenizer",
            "vocab_size": tok.get_vocab_size(),
            "trained_on_words": 11,
            "sha256": "0" * 64,
            "special_tokens": {"<pad>": 0, "<s>": 1, "</s>": 2},
        },
    )
    optim = {"epochs": 2, "seed": 0, "lr": 3e-3, "batch_size": 16}
    spec = {
        "stage": "pretrain",
        "name": "pretrain",
        "preset": "tiny",
        "budget_words": budget,
        "inputs": [tok_key, SHARDS],
        "optim": optim,
        "words": budget,
        "tokenizer_sha256": "0" * 64,
    }
    config = llama_config("tiny", vocab_size=tok.get_vocab_size(), bos_token_id=1, eos_token_id=2, pad_token_id=0)
    steps = {name: -(-words // per_step) for name, words in points.items()}
    steps["final"] = final_steps
    for n, (name, step) in enumerate(sorted(steps.items(), key=lambda kv: kv[1])):
        torch.manual_seed(n)  # every checkpoint its own weights
        save_checkpoint(
            root / "pretrain" / pre_key / name,
            LlamaForCausalLM(config),
            tok_dir,
            {"preset": "tiny", "position": {"step": step, "words_seen": step * per_step}},
        )
    atomic_write_json(
        root / "pretrain" / pre_key / "manifest.json",
        {
            "kind": "pretrain_stage",
            "spec": spec,
            "checkpoints": sorted(steps),
            "dropped": sorted(dropped),
            "retention": "curve",
        },
    )
    torch.manual_seed(99)
    save_checkpoint(
        root / "instruct" / ins_key / "final",
        LlamaForCausalLM(config),
        tok_dir,
        {"preset": "tiny", "position": {"step": 7, "words_seen": 700}},
    )
    ins = {
        **spec,
        "stage": "instruct",
        "name": "instruct-merged-1-switchboard+simple_wiki",
        "budget_words": 0,
        "words": 350,
        "inputs": [tok_key, "e" * 16, pre_key],
    }
    atomic_write_json(
        root / "instruct" / ins_key / "manifest.json", {"kind": "instruct_stage", "spec": ins, "checkpoints": ["final"]}
    )
    atomic_write_json(
        root / "eval" / ("f" * 16) / "manifest.json",
        {
            "kind": "eval",
            "model": str(root / "instruct" / ins_key / "final"),
            "eval": {"fast": True},
            "metrics": {"eval/blimp": 0.75, "eval/ties/blimp": 0.0},
        },
    )
    return root


@pytest.fixture(scope="module")
def toy_store(tmp_path_factory) -> Path:
    """A toy run: budget 150K words, so its `chck_1M` stands for 1,500 words; chck_3M not kept."""
    points = {"chck_1M": 1_500, "chck_2M": 3_000, "chck_5M": 7_500}
    return write_store(
        tmp_path_factory.mktemp("store"), 150_000, 512, points, final_steps=40, dropped=["chck_3M", "chck_4M"]
    )


def run(capsys, *args: str) -> tuple[int, str, list[str]]:
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err.splitlines()


def assert_same_weights(folder: Path, checkpoint: Path) -> None:
    loaded = AutoModelForCausalLM.from_pretrained(str(folder))
    source = load_file(str(checkpoint / "model.safetensors"))
    state = loaded.state_dict()
    for name, tensor in source.items():
        torch.testing.assert_close(state[name], tensor, rtol=0, atol=0, msg=name)
    AutoTokenizer.from_pretrained(str(folder))("the fox")


def test_words_name_a_revision_exactly():
    words = (1_500, 3_000, 2_000_000, 1_000_001, 150_000)
    assert [millions(w) for w in words] == ["0.0015", "0.003", "2", "1.000001", "0.15"]


def test_export_writes_a_folder_and_a_git_branch_per_revision_each_loading_its_source(toy_store, tmp_path, capsys):
    code, out, err = run(
        capsys,
        "--stage",
        str(toy_store / "instruct" / INS),
        "--out",
        str(tmp_path / "out"),
        "--git",
        str(tmp_path / "repo"),
        "--title",
        "org/toy",
    )
    assert code == 0, err
    pre = toy_store / "pretrain" / PRE
    expected = {
        "main": toy_store / "instruct" / INS / "final",
        "chck_0.0015M": pre / "chck_1M",
        "chck_0.003M": pre / "chck_2M",
        "chck_0.0075M": pre / "chck_5M",
    }
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(expected)
    for name, checkpoint in expected.items():
        folder = tmp_path / "out" / name
        assert not (folder / "classit_state.json").exists() and not (folder / "optimizer.safetensors").exists()
        assert_same_weights(folder, checkpoint)
    card = (tmp_path / "out" / "main" / "README.md").read_text()
    for fact in (
        PRE,
        INS,
        "instruct-merged-1-switchboard+simple_wiki",
        "| eval/blimp | 0.7500 |",
        "| chck_0.0015M |",
        "1,536",
        "Word budget 150,000 words",
        "| parameters |",
        'from_pretrained("org/toy", revision="main")',
    ):
        assert fact in card, fact
    assert "eval/ties" not in card

    repo = tmp_path / "repo"

    def git(*args: str) -> list[str]:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True)
        return done.stdout.split()

    branches = git("branch", "--format=%(refname:short)")
    assert sorted(branches) == sorted(expected)
    for name, checkpoint in expected.items():
        git("checkout", "-q", name)
        files = git("ls-files")
        assert "README.md" in files and "model.safetensors" in files and "classit_state.json" not in files
        assert_same_weights(repo, checkpoint)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_a_stage_key_in_a_store_exports_like_its_folder(toy_store, tmp_path, capsys):
    code, out, err = run(
        capsys, "--stage", PRE, "--work-dir", str(toy_store), "--out", str(tmp_path / "out"), "--revisions", "chck_2M"
    )  # a revision by its stored name
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["chck_0.003M", "main"]
    assert_same_weights(tmp_path / "out" / "main", toy_store / "pretrain" / PRE / "final")


@pytest.mark.parametrize(
    "args, said",
    [
        (["--revisions", "chck_3M"], r"revision chck_3M was written but not kept \(pretrain.keep_checkpoints='curve'"),
        (
            ["--revisions", "chck_0.0045M"],
            r"revision chck_0.0045M was written but not kept \(pretrain.keep_checkpoints=",
        ),
        (["--revisions", "chck_9M"], r"no revision chck_9M; it kept \['chck_0.0015M', 'chck_0.003M', 'chck_0.0075M'\]"),
        (
            ["--names", "babylm"],
            r"saw 20,480 words, fewer than BabyLM's first revision chck_1M \(1,000,000 words\); "
            r"export with --names words",
        ),
    ],
)
def test_bad_input_is_one_line_and_nothing_is_written(toy_store, tmp_path, capsys, args, said):
    code, out, err = run(
        capsys,
        "--stage",
        str(toy_store / "instruct" / INS),
        "--out",
        str(tmp_path / "out"),
        "--git",
        str(tmp_path / "repo"),
        *args,
    )
    assert code == 1 and len(err) == 1 and err[0].startswith("error: "), err
    assert re.search(said, err[0]), err[0]
    assert list(tmp_path.iterdir()) == []


def test_push_without_a_token_is_one_line_and_writes_nothing(toy_store, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    stage = str(toy_store / "instruct" / INS)
    code, out, err = run(capsys, "--stage", stage, "--push", "org/toy", "--out", str(tmp_path / "out"))
    assert code == 1 and err == [
        "error: --push org/toy: no hub token; set HF_TOKEN to a write token "
        "(https://huggingface.co/settings/tokens) in the environment"
    ]
    assert list(tmp_path.iterdir()) == []


def test_an_unfinished_cell_is_named(tmp_path, capsys):
    code, out, err = run(capsys, "--work-dir", str(tmp_path / "store"), "--out", str(tmp_path / "out"))
    assert code == 1 and len(err) == 1 and "the cell's pretrain stage is not finished" in err[0], err
    assert not (tmp_path / "out").exists()


def test_babylm_names_at_the_track_budget_and_every_one_reached_must_be_kept(tmp_path):
    """At 100M words the names by words seen are BabyLM's own; a reached name that was not kept
    is refused naming the setting."""
    points = {"chck_1M": 1_000_000, "chck_2M": 2_000_000}
    store = write_store(tmp_path / "full", 100_000_000, 4_096, points, final_steps=700)  # 2.87M words at the end
    names = [r.name for r in plan_revisions([store / "pretrain" / PRE], "babylm")]
    assert names == ["main", "chck_1M", "chck_2M"]
    manifest = json.loads((store / "pretrain" / PRE / "manifest.json").read_text())
    manifest.update(checkpoints=["chck_1M", "final"], dropped=["chck_2M"])
    (store / "pretrain" / PRE / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=r"revision chck_2M was written but not kept \(pretrain.keep_checkpoints="):
        plan_revisions([store / "pretrain" / PRE], "babylm")
    assert [r.name for r in plan_revisions([store / "pretrain" / PRE], "words")] == ["main", "chck_1M"]

    # A 10M-word run (strict-small): its chck_10M stands for 1M words, so it is BabyLM's chck_1M;
    # its chck_5M (0.5M words) is true but no name of the track, and is left out.
    points = {"chck_5M": 500_000, "chck_10M": 1_000_000, "chck_20M": 2_000_000}
    small = write_store(tmp_path / "small", 10_000_000, 4_096, points, final_steps=600)
    assert [r.name for r in plan_revisions([small / "pretrain" / PRE], "words")] == [
        "main",
        "chck_0.5M",
        "chck_1M",
        "chck_2M",
    ]
    assert [(r.name, r.stored) for r in plan_revisions([small / "pretrain" / PRE], "babylm")] == [
        ("main", "final"),
        ("chck_1M", "chck_10M"),
        ("chck_2M", "chck_20M"),
    ]
    # A toy budget whose run went past 1M words: its checkpoints stand for other counts.
    toy = write_store(tmp_path / "toy", 150_000, 4_096, {"chck_1M": 1_500}, final_steps=600)
    with pytest.raises(
        ValueError,
        match=r"BabyLM's revision chck_1M \(1,000,000 words\) cannot be met: no "
        r"checkpoint was written there \(this run's are chck_0.0015M, BabyLM's points "
        r"scaled to its budget of 150,000 words\); export with --names words",
    ):
        plan_revisions([toy / "pretrain" / PRE], "babylm")


def test_the_card_carries_the_studys_mean_and_interval_over_the_seeds_of_the_cell(toy_store, tmp_path):
    """`--study`: the trials of the exported cell's condition (every config column equal, seeds
    aside), their mean with its 95% t interval, beside the model's own score."""
    import pandas as pd

    from classit_ray.config import Config
    from classit_ray.export import Source, _study_intervals, model_card, plan_revisions

    rows = [
        {"instruct.curriculum": c, "pretrain.seed": s, "eval/blimp": b, "status": "ok"}
        for c, s, b in [("merged", 0, 0.70), ("merged", 1, 0.74), ("merged", 2, 0.78), ("none", 0, 0.10)]
    ]
    pd.DataFrame(rows).to_csv(tmp_path / "results.csv", index=False)
    intervals = _study_intervals(str(tmp_path), Config())
    mean, low, high, n = intervals["eval/blimp"]
    assert n == 3 and mean == pytest.approx(0.74) and low < 0.70 < 0.78 < high  # t(2) interval of three values
    chain = [toy_store / "pretrain" / PRE, toy_store / "instruct" / INS]
    source = Source(chain, evaluation={"metrics": {"eval/blimp": 0.75}})
    card = model_card(source, plan_revisions(chain), "org/toy", intervals)
    assert f"| eval/blimp | 0.7500 | 0.7400 [{low:.4f}, {high:.4f}] (3) |" in card


def test_a_cell_exports_its_last_stage_with_its_budget_split_and_curriculum(tmp_path, capsys):
    """No --stage: the cell of the config (defaults here: the toy world, `merged`), its stages
    found where its stage graph puts them."""
    import dataclasses

    from classit_ray.cell.graph import build_graph
    from classit_ray.config import Config

    store = tmp_path / "store"
    cfg = Config()
    cfg = dataclasses.replace(cfg, study=dataclasses.replace(cfg.study, work_dir=str(store)))
    graph = build_graph(cfg, store)
    pre, ins = graph.pretrain.key, graph.of_kind("instruct")[0].key
    write_store(
        store,
        cfg.budget.total_words,
        512,
        {"chck_1M": 1_500},
        final_steps=40,
        keys=(graph.data.keys["tokenizer"], pre, ins),
    )
    atomic_write_json(
        graph.data.split_dir / "manifest.json",
        {
            "kind": "budget_split",
            "budget": dataclasses.asdict(cfg.budget),
            "words": {"pretrain": 136_950, "instruct": 13_045},
            "table": {"pretrain": {"childes": {"words": 136_950}}, "instruct": {"switchboard": {"words": 13_045}}},
        },
    )
    code, out, err = run(capsys, "--work-dir", str(store), "--out", str(tmp_path / "out"))
    assert code == 0, err
    card = (tmp_path / "out" / "main" / "README.md").read_text()
    for fact in (
        pre,
        ins,
        "Curriculum: `merged`",
        "Split: 136,950 pretraining words and 13,045 instruction words",
        "| pretrain | childes | 136,950 |",
        "| eval/blimp | 0.7500 |",
    ):
        assert fact in card, fact
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["chck_0.0015M", "main"]
