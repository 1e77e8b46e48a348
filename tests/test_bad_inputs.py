"""Every bad input the issues name, through the command line a user runs, in one table.

Each row breaks one thing (a config field, a corpus file, an instruction parquet, an evaluation
file, a model folder, a study path, a cluster YAML) and runs the command that would meet it. The
user must get one line — `error: ...` (or, for one evaluation task, `FAILED task: ...` while the
others run) — that names the file or field and what was expected, an exit code of 1 (bad data)
or 2 (bad config), and no traceback.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from conftest import write_tiny_random_model

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Env:
    """What a row may build on: a scratch folder and copies of the toy world's parts."""

    tmp: Path
    toy: dict

    def _copy(self, part: str, name: str) -> Path:
        """A private copy of one part of the toy world, to break."""
        dst = self.tmp / name
        if not dst.exists():
            shutil.copytree(self.toy[part], dst)
        return dst

    def corpus(self) -> Path:
        return self._copy("corpus_dir", "corpus")

    def pairs(self) -> Path:
        return self._copy("instruct_dir", "class_it")

    def eval_data(self) -> Path:
        return self._copy("eval_dir", "evaluation_data")

    def model(self) -> Path:
        dst = self.tmp / "model"
        if not dst.exists():
            write_tiny_random_model(dst, ["the fox eats the berries", "a dog runs"])
        return dst


# ---- the commands ------------------------------------------------------------------------------
def prepare(*args: str) -> Callable[[Env], tuple[Callable, list[str]]]:
    from classit_ray.commands import prepare as main

    return lambda env: (main, ["--work-dir", str(env.tmp / "work"), *args])


def pretrain(*args: str):
    from classit_ray.commands import pretrain as main

    return lambda env: (main, ["--work-dir", str(env.tmp / "work"), *args])


def evaluate(*args: str):
    from classit_ray.eval.__main__ import main

    return lambda env: (main, ["--results", str(env.tmp / "results"), *args])


def study(*args: str):
    spec = importlib.util.spec_from_file_location("curriculum_grid", ROOT / "studies" / "curriculum_grid.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from classit_ray.study.cli import main

    return lambda env: (
        lambda argv: main(module.build, "curriculum_grid.py", "", argv=argv),
        ["--dry-run", "--storage", str(env.tmp / "storage"), *args],
    )


def pairs_cli(*args: str):
    from classit_ray.data.instruct_pairs.__main__ import main

    return lambda env: (main, list(args))


def check_cluster(*args: str):
    from classit_ray.study.cluster_check import main

    return lambda env: (main, list(args))


# ---- breaking things ---------------------------------------------------------------------------
def write(relative: str, content: str | bytes, base: str = "tmp") -> Callable[[Env], None]:
    def setup(env: Env) -> None:
        root = {"tmp": env.tmp, "corpus": env.corpus(), "eval": env.eval_data(), "pairs": env.pairs()}[base]
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)

    return setup


def drop_pair_column(env: Env) -> None:
    path = env.pairs() / "switchboard" / "train-00000-of-00001.parquet"
    pd.read_parquet(path).drop(columns=["reply"]).to_parquet(path)


def drop_jsonl_field(env: Env) -> None:
    path = env.eval_data() / "fast_eval" / "blimp_fast" / "determiner_noun_agreement.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    del rows[2]["sentence_bad"]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def empty_task_folder(env: Env) -> None:
    folder = env.eval_data() / "fast_eval" / "ewok_fast"
    shutil.rmtree(folder)
    folder.mkdir()


def drop_csv_column(env: Env) -> None:
    path = env.eval_data() / "fast_eval" / "reading" / "reading_data.csv"
    pd.read_csv(path).drop(columns=["RTfirstpass"]).to_csv(path, index=False)


def drop_comps_field(env: Env) -> None:
    path = env.eval_data() / "full_eval" / "comps" / "comps_wugs.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    del rows[2]["prefix_unacceptable"]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def glue_label_as_string(env: Env) -> None:
    """A tiny glue_filtered/ whose BoolQ labels are the strings "true"/"false", the rest well formed."""
    from classit_ray.eval.formats import GLUE_FIELDS, GLUE_NUM_LABELS

    folder = env.tmp / "full_eval" / "glue_filtered"
    folder.mkdir(parents=True)
    for task, fields in GLUE_FIELDS.items():
        for split in ("train", "valid"):
            rows = [{**{f: f"the {f} {i}" for f in fields}, "label": i % GLUE_NUM_LABELS[task]} for i in range(6)]
            if task == "boolq" and split == "train":
                rows[1]["label"] = "true"
            (folder / f"{task}.{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def model_without_tokenizer(env: Env) -> None:
    model = env.model()
    shutil.copytree(model, env.tmp / "untokenized")
    (env.tmp / "untokenized" / "tokenizer.json").unlink()


def pickle_only_model(env: Env) -> None:
    model = env.tmp / "pickled"
    shutil.copytree(env.model(), model)
    for f in model.glob("*.safetensors"):
        f.unlink()
    (model / "pytorch_model.bin").write_bytes(b"\x80\x04N.")


def typo_in_cluster_yaml(env: Env) -> None:
    text = (ROOT / "cluster.yaml").read_text().replace("\nmax_workers: 8", "\nmax_worker: 8")
    (env.tmp / "cluster.yaml").write_text(text)


def nothing(env: Env) -> None:
    pass


def toy(env: Env, *parts: str) -> str:
    return str(env.tmp.joinpath(*parts))


@dataclass
class Row:
    what: str
    setup: Callable[[Env], None]
    command: Callable  # -> (Env -> (main, argv)); argv may hold "{tmp}", "{corpus}", "{eval}", "{pairs}", "{model}", "{root}"
    exit_code: int
    expect: tuple[str, ...]  # fragments of the one line: the file or field, and what was expected


C, P = "--set", "corpus.data_dir={corpus}"
NO_PAIRS = ("--set", "budget.instruct_fraction=0", "--set", "instruct.curriculum=none")  # pretraining data only
ROWS = [
    # configs (issue 3)
    Row(
        "unknown key, with a did-you-mean",
        nothing,
        prepare(C, "budget.instruct_fracton=0.1"),
        2,
        ("budget.instruct_fracton", "did you mean", "budget.instruct_fraction"),
    ),
    Row("wrong type", nothing, prepare(C, "pretrain.epochs=many"), 2, ("pretrain.epochs", "expected int", "many")),
    Row(
        "out-of-range value",
        nothing,
        prepare(C, "budget.instruct_fraction=1.5"),
        2,
        ("budget.instruct_fraction", "[0, 1)", "1.5"),
    ),
    Row(
        "impossible budget",
        nothing,
        prepare(C, "budget.total_words=1", C, "budget.instruct_fraction=0.4"),
        2,
        ("impossible budget", "0 instruction words"),
    ),
    Row(
        "curriculum needing a source the budget lacks",
        nothing,
        prepare(C, "budget.instruct_configs=[switchboard]"),
        2,
        ("instruct.curriculum", "'merged' needs instruction data ['simple_wiki']", "budget.instruct_configs"),
    ),
    Row(
        "instruction fraction 0 with a curriculum",
        nothing,
        prepare(C, "budget.instruct_fraction=0"),
        2,
        ("instruct.curriculum", "budget.instruct_fraction is 0", "'none'"),
    ),
    Row(
        "learning-curve checkpoint the schedule never writes",
        nothing,
        prepare(C, "eval.checkpoints=[chck_1000M]"),
        2,
        ("eval.checkpoints", "chck_1000M", "never written"),
    ),
    Row(
        "unknown learning-curve checkpoint",
        nothing,
        prepare(C, "eval.checkpoints=[chck_3000M]"),
        2,
        ("eval.checkpoints", "unknown ['chck_3000M']"),
    ),
    Row(
        "config file that is not YAML",
        write("broken.yaml", "budget: [unclosed\n"),
        prepare("--config", "{tmp}/broken.yaml"),
        2,
        ("broken.yaml", "not valid YAML"),
    ),
    # corpus (issue 3)
    Row(
        "missing corpus folder",
        nothing,
        prepare(C, "corpus.data_dir={tmp}/nowhere", *NO_PAIRS),
        1,
        ("nowhere: corpus folder not found", "train_100M"),
    ),
    Row(
        "empty corpus file",
        write("childes.train", "", base="corpus"),
        prepare(C, P, *NO_PAIRS),
        1,
        ("childes.train: empty file",),
    ),
    Row(
        "non-UTF-8 corpus file",
        write("gutenberg.train", b"Once upon a time.\n\xff\xfe broken\n", base="corpus"),
        prepare(C, P, *NO_PAIRS),
        1,
        ("gutenberg.train:2: not UTF-8",),
    ),
    Row(
        "budget larger than the corpus",
        nothing,
        prepare(C, P, *NO_PAIRS, C, "budget.total_words=100000000"),
        1,
        ("budget asks for 100,000,000 pretraining words", "lower budget.total_words"),
    ),
    # instruction parquet (issue 3)
    Row(
        "fraction the pairs cannot fill",
        nothing,
        prepare(
            C, P, C, "corpus.instruct_dir={pairs}", C, "budget.total_words=200000", C, "budget.instruct_fraction=0.5"
        ),
        1,
        ("instruct_fraction 0.5", "lower budget.instruct_fraction"),
    ),
    Row(
        "instruction parquet without reply",
        drop_pair_column,
        prepare(C, P, C, "corpus.instruct_dir={pairs}"),
        1,
        ("train-00000-of-00001.parquet: missing column(s) reply",),
    ),
    # training (issue 4)
    Row("unknown model preset", nothing, pretrain(C, "model.preset=huge"), 2, ("model.preset", "'huge'")),
    Row(
        "tokenizer vocabulary bigger than the preset's",
        nothing,
        pretrain(C, "tokenizer.vocab_size=999999", C, "model.preset=tiny"),
        2,
        ("tokenizer.vocab_size", "model.preset 'tiny'", "<= 2048"),
    ),
    # evaluation (issue 5): one task fails, named; the others run
    Row(
        "JSONL row missing a field",
        drop_jsonl_field,
        evaluate("--model", "{model}", "--data", "{eval}", "--tasks", "blimp", "ewok"),
        1,
        ("FAILED blimp", "determiner_noun_agreement.jsonl:3", "sentence_bad"),
    ),
    Row(
        "empty task folder",
        empty_task_folder,
        evaluate("--model", "{model}", "--data", "{eval}", "--tasks", "ewok"),
        1,
        (
            "FAILED ewok",
            "ewok_fast",
        ),
    ),
    Row(
        "CSV without a required column",
        drop_csv_column,
        evaluate("--model", "{model}", "--data", "{eval}", "--tasks", "reading"),
        1,
        ("FAILED reading", "reading_data.csv", "RTfirstpass"),
    ),
    # evaluation (issue 15): real-release cases; a GLUE subtask fails alone, named
    Row(
        "COMPS JSONL row missing a field",
        drop_comps_field,
        evaluate("--model", "{model}", "--data", "{eval}/full_eval", "--tasks", "comps"),
        1,
        ("FAILED comps", "comps_wugs.jsonl:3", "prefix_unacceptable"),
    ),
    Row(
        "GLUE subtask label written as a string",
        glue_label_as_string,
        evaluate("--model", "{model}", "--data", "{tmp}/full_eval/glue_filtered", "--finetune-epochs", "1"),
        1,
        ("FAILED glue/boolq", "boolq.train.jsonl:2", "field 'label'", "got 'true'"),
    ),
    Row(
        "eval data folder of no known layout",
        nothing,
        evaluate("--model", "{model}", "--data", "{tmp}"),
        1,
        ("no full_eval/ or fast_eval/ folder", "one task folder"),
    ),
    Row(
        "model folder without a tokenizer",
        model_without_tokenizer,
        evaluate("--model", "{tmp}/untokenized", "--data", "{eval}"),
        1,
        ("untokenized: no tokenizer",),
    ),
    Row(
        "model folder with only pickled weights",
        pickle_only_model,
        evaluate("--model", "{tmp}/pickled", "--data", "{eval}"),
        1,
        ("pickled: no *.safetensors weights", "pytorch_model.bin (pickle"),
    ),
    # studies (issue 6)
    Row(
        "study: unknown curriculum",
        nothing,
        study(C, "instruct.curriculum=backwards"),
        2,
        ("instruct.curriculum", "backwards"),
    ),
    Row(
        "study: fraction outside [0, 1)",
        nothing,
        study(C, "budget.instruct_fraction=1.2"),
        2,
        ("budget.instruct_fraction", "1.2"),
    ),
    Row("study: unknown evaluation task", nothing, study(C, "eval.tasks=[blimp,glu]"), 2, ("eval.tasks", "glu")),
    Row(
        "study: --data-dir not a BabyLM folder",
        nothing,
        study("--data-dir", "{tmp}", "--eval-dir", "{eval}"),
        2,
        ("corpus.data_dir", "no BabyLM source files"),
    ),
    Row(
        "study: storage not writable",
        write("occupied", "a file, not a folder"),
        study("--storage", "{tmp}/occupied", "--work-dir", "{tmp}/work"),
        2,
        ("study.storage_path", "is not writable"),
    ),
    # instruction pairs (issue 7)
    Row(
        "Switchboard file missing",
        nothing,
        pairs_cli("switchboard", "{tmp}/none.train", "--out", "{tmp}/out"),
        1,
        ("none.train: Switchboard file not found",),
    ),
    Row(
        "generator folder that is not a model",
        nothing,
        pairs_cli("simplewiki", "{corpus}", "--generator", "{tmp}", "--out", "{tmp}/out"),
        1,
        ("not a local model folder", "config.json"),
    ),
    # cluster YAML (issue 6)
    Row(
        "cluster YAML with a typo",
        typo_in_cluster_yaml,
        check_cluster("{tmp}/cluster.yaml"),
        1,
        ("cluster.yaml", "'max_worker' was unexpected"),
    ),
    Row("cluster YAML missing", nothing, check_cluster("{tmp}/nope.yaml"), 1, ("nope.yaml", "cluster YAML not found")),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.what for r in ROWS])
def test_bad_input_gives_one_line_naming_the_file_or_field(row, ray_session, toy_world, tmp_path, capsys):
    env = Env(tmp_path, toy_world)
    row.setup(env)
    main, argv = row.command(env)
    paths = {"tmp": str(tmp_path), "root": str(ROOT)}
    for name, make in (("corpus", env.corpus), ("eval", env.eval_data), ("pairs", env.pairs), ("model", env.model)):
        if any("{" + name + "}" in a for a in argv):
            paths[name] = str(make())
    argv = [a.format(**paths) for a in argv]
    code = main(argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    messages = [line for line in err.splitlines() if line.startswith(("error: ", "FAILED "))]
    assert len(messages) == 1, err
    assert code == row.exit_code, err
    for fragment in row.expect:
        assert fragment in messages[0], f"{fragment!r} not in {messages[0]!r}"
