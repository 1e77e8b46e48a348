"""The evaluation harness: a constant model scores chance with 100% ties; the batched scorer equals
the one-at-a-time reference; official aggregations; a broken task fails alone; results layout."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from classit_ray.config import EvalConfig
from classit_ray.eval.harness import evaluate
from classit_ray.eval.items import ChoiceItem, EvalDataError
from classit_ray.eval.scorer import DummyLM, HFCausalLM
from classit_ray.eval.zero_shot import ItemResult, entity_tracking_accuracy, macro_accuracy, score_items, wug_spearman

ZERO_SHOT = ["blimp", "blimp_supplement", "ewok", "entity_tracking", "wug_adj", "wug_past"]


@pytest.fixture(scope="module")
def random_model(prepared, tmp_path_factory) -> Path:
    """An untrained tiny model saved with the toy tokenizer: enough to test the plumbing."""
    from transformers import LlamaForCausalLM

    from classit_ray.model import llama_config

    out = tmp_path_factory.mktemp("model") / "final"
    torch.manual_seed(0)
    LlamaForCausalLM(llama_config("tiny", pad_token_id=0, bos_token_id=1, eos_token_id=2)).save_pretrained(str(out))
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy2(prepared.tokenizer_dir / name, out / name)
    return out


def test_constant_model_scores_chance_with_all_ties(toy_world):
    # The clean convention's ties; the official convention's are in tests/test_eval_parity.py.
    report = evaluate(
        "unused", EvalConfig(eval_dir=str(toy_world["eval_dir"]), tasks=ZERO_SHOT, convention="clean"), lm=DummyLM()
    )
    assert not report.failed
    for task in ("blimp", "blimp_supplement", "ewok"):
        assert report.metrics[f"eval/{task}"] == pytest.approx(0.5)  # not 100%, as the official evaluator gives
        assert report.metrics[f"eval/ties/{task}"] == 1.0
    assert report.metrics["eval/ties/entity_tracking"] == 1.0
    assert 0 < report.metrics["eval/entity_tracking"] < 0.6  # 1 / number of options, per group


def assert_same_as_reference(lm: HFCausalLM, items: list[ChoiceItem]) -> None:
    """The fast scorer's sums equal the one-sequence-at-a-time reference's to fp32 rounding (1e-5
    per scored token) and choose the same candidate of every item."""
    requests = [request for item in items for request in item.requests()]
    fast, reference = lm.loglikelihood(requests), lm.loglikelihood_one_by_one(requests)
    for (context, continuation), f, r in zip(requests, fast, reference):
        assert abs(f - r) <= 1e-5 * lm.encode(context, continuation)[1], (context, continuation, f, r)
    pos = 0
    for item in items:
        n = len(item.candidates)
        ours, ref = fast[pos : pos + n], reference[pos : pos + n]
        assert ours.index(max(ours)) == ref.index(max(ref)), item.id
        pos += n


@pytest.mark.parametrize("name", ["blimp", "blimp_supplement", "ewok", "entity_tracking", "wug_adj", "comps"])
def test_fast_scorer_equals_the_reference_scorer(random_model, toy_world, name):
    """Shared trunks (a context and the candidates' common first tokens, run once), rows packed in
    small batches, the LM head on scored positions alone: none changes a score or a prediction.
    Entity tracking takes its longest items (5 operations), whose contexts are shared by 2-4 options."""
    from classit_ray.eval.formats import task_dir
    from classit_ray.eval.registry import get_task

    task = get_task(name)
    items = task.read(task_dir(toy_world["eval_dir"], False, task.spec.subdir))
    if name == "entity_tracking":
        items = [item for item in items if item.group.endswith("_5_ops")]
    lm = HFCausalLM(random_model, batch_size=8, max_batch_tokens=512)  # several batches, shared and plain rows mixed
    assert_same_as_reference(lm, items[::3][:40])


def test_fast_scorer_on_chained_contexts_prefixes_and_identical_candidates(random_model):
    """Reading's chained contexts share all but the last word; a candidate that is the start of
    another, or identical to another, still gets its own exact score (identical ones tie exactly)."""
    lm = HFCausalLM(random_model, batch_size=4)
    words = "the little dog saw a big red ball in the garden".split()
    chained = [(" ".join(words[:i]), " " + words[i]) for i in range(1, len(words))]
    requests = [
        *chained,
        ("The dog", " runs"),
        ("The dog", " runs fast."),
        ("", "A cat."),
        ("", "A cat."),
        ("", "A cat sat."),
    ]
    fast, reference = lm.loglikelihood(requests), lm.loglikelihood_one_by_one(requests)
    assert fast == pytest.approx(reference, abs=1e-4)
    assert fast[-3] == fast[-2]
    lm._split = None  # a model whose logits are not the head of the decoder's output: the full model's logits
    assert lm.loglikelihood(requests) == pytest.approx(reference, abs=1e-4)


def test_scorer_prepends_bos_and_scores_only_the_continuation(random_model):
    lm = HFCausalLM(random_model)
    ids, n = lm.encode("The dog", " runs.")
    assert ids[0] == lm.tokenizer.bos_token_id
    assert lm.tokenizer.decode(ids[-n:]) == " runs."
    whole, n_whole = lm.encode("", "The dog runs.")
    assert n_whole == len(whole) - 1  # every token after <s> is scored, the first word too


def result(group: str, credit: float) -> ItemResult:
    item = ChoiceItem("t", group, f"{group}_0", "", ("a", "b"))
    return ItemResult(item, [0.0, 0.0], 0, credit, False)


def test_blimp_macro_average_over_uids():
    results = [result("uid_a", 1.0)] * 3 + [result("uid_a", 0.0)] + [result("uid_b", 0.0)] * 10
    assert macro_accuracy(results) == pytest.approx((0.75 + 0.0) / 2)  # not the item mean 3/14


def test_entity_tracking_averages_ops_then_files():
    results = (
        [result("regular_0_ops", 1.0)] * 4
        + [result("regular_1_ops", 0.0)]
        + [result("ambiref_0_ops", 0.5)]
        + [result("move_contents_2_ops", 1.0)] * 2
        + [result("move_contents_3_ops", 0.0)] * 2
    )
    # regular: (1 + 0) / 2; ambiref: 0.5; move_contents: (1 + 0) / 2
    assert entity_tracking_accuracy(results) == pytest.approx((0.5 + 0.5 + 0.5) / 3)


def test_ties_get_fractional_credit_and_wug_is_spearman():
    class Fixed:
        def __init__(self, scores):
            self.scores = scores

        def loglikelihood(self, requests):
            return self.scores[: len(requests)]

    item = ChoiceItem("entity_tracking", "regular_0_ops", "x", "ctx", ("a", "b", "c"))
    (r,) = score_items(Fixed([-1.0, -1.0, -3.0]), [item], "clean")
    assert r.tie and r.credit == 0.5
    wugs = [
        ChoiceItem("wug_adj", "f", f"f_{i}", "", ("x", "y"), correct=-1, target=t)
        for i, t in enumerate([0.1, 0.5, 0.9])
    ]
    results = score_items(Fixed([-3.0, -1.0, -2.0, -2.0, -1.0, -3.0]), wugs, "clean")
    assert wug_spearman(results) == pytest.approx(1.0)  # model preference ranks exactly like the humans'


def test_spearman_is_pandas_spearman_with_ties_and_missing_values():
    import random

    import pandas as pd

    from classit_ray.eval.zero_shot import spearman

    rng = random.Random(0)
    for n in (2, 5, 50, 200):
        x = [rng.choice([0.1, 0.2, 0.3, rng.random()]) for _ in range(n)]  # many ties
        y = [rng.choice([float("nan"), rng.random(), 0.5]) if i % 7 == 0 else rng.random() for i in range(n)]
        expected = pd.Series(x).corr(pd.Series(y), method="spearman")
        assert spearman(x, y) == pytest.approx(expected, nan_ok=True, abs=1e-12)
    assert math.isnan(spearman([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))  # no variance: undefined, as in pandas


def test_broken_task_fails_alone_and_results_layout(random_model, toy_world, tmp_path):
    eval_dir = tmp_path / "evaluation_data"
    shutil.copytree(toy_world["eval_dir"], eval_dir)
    ewok = next((eval_dir / "fast_eval").glob("ewok_*/*.jsonl"))  # the release names it ewok_fast in fast_eval/
    ewok.write_text('{"Context1": "no targets here"}\n')
    report = evaluate(random_model, EvalConfig(eval_dir=str(eval_dir), tasks=["blimp", "ewok"]), tmp_path / "results")
    assert "ewok" in report.failed and "Target1" in report.failed["ewok"] and ewok.name in report.failed["ewok"]
    assert "eval/ewok" not in report.metrics and 0 <= report.metrics["eval/blimp"] <= 1
    # <dataset> is the folder read, as the official script names it: blimp_fast in a fast evaluation.
    predictions = json.loads(
        (tmp_path / "results" / "zero_shot" / "causal" / "blimp" / "blimp_fast" / "predictions.json").read_text()
    )
    uid, entry = next(iter(predictions.items()))
    assert entry["predictions"][0]["id"] == f"{uid}_0" and isinstance(entry["predictions"][0]["pred"], str)
    saved = json.loads((tmp_path / "results" / "metrics.json").read_text())
    assert saved["failed"].keys() == {"ewok"}


def test_model_without_tokenizer_is_a_clear_error(random_model, tmp_path):
    bare = tmp_path / "bare"
    shutil.copytree(random_model, bare)
    for f in bare.glob("tokenizer*"):
        f.unlink()
    with pytest.raises(EvalDataError, match=r"bare: no tokenizer"):
        HFCausalLM(bare)


@pytest.mark.slow
def test_cli_prints_scores_and_writes_results(random_model, toy_world, tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "classit_ray.eval",
            "--model",
            str(random_model),
            "--data",
            str(toy_world["eval_dir"]),
            "--tasks",
            "blimp",
            "wug_past",
            "--results",
            str(tmp_path / "results"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "eval/blimp" in out.stdout and "eval/wug_past" in out.stdout
    name = random_model.parent.name
    assert (tmp_path / "results" / name / "final" / "metrics.json").is_file()


def test_config_registry_and_metrics_read_one_task_table():
    from classit_ray import metrics
    from classit_ray.config import EVAL_TASKS
    from classit_ray.eval import formats
    from classit_ray.eval.registry import TASKS
    from classit_ray.eval.tasks import GLUE_TASKS, TASK_SPECS

    # config, registry and analysis all read the one light table
    assert EVAL_TASKS == tuple(TASK_SPECS) == tuple(TASKS)
    assert all(TASKS[name].spec is spec for name, spec in TASK_SPECS.items())
    assert metrics.HIGHER_IS_BETTER.keys() == {m for spec in TASK_SPECS.values() for m in spec.scores}
    assert metrics.GLUE_TASKS is GLUE_TASKS
    assert tuple(formats.GLUE_FIELDS) == GLUE_TASKS  # the GLUE reader knows exactly the table's subtasks
    assert metrics.ZERO_SHOT_TASKS == tuple(ZERO_SHOT)
    # every score is better higher but the interactive task's reply NLLs (tests/test_interactive.py) and
    # the AoA words' surprisal at a curve's checkpoint (tests/test_aoa.py)
    lower = {m for m, higher in metrics.HIGHER_IS_BETTER.items() if not higher}
    assert lower == {f"eval/interactive_nll/{c}" for c in ("switchboard", "simple_wiki")} | {"eval/aoa_surprisal"}
    assert "eval/glue_avg" in metrics.HIGHER_IS_BETTER


def test_dispatch_through_the_registry_reports_each_tasks_scores(toy_world, tmp_path):
    from classit_ray.eval.registry import TASKS

    tasks = [*ZERO_SHOT, "reading"]  # all but GLUE, which fine-tunes a real model
    report = evaluate("unused", EvalConfig(eval_dir=str(toy_world["eval_dir"]), tasks=tasks), tmp_path, lm=DummyLM())
    assert not report.failed
    ties = {f"eval/ties/{t}" for t in ("blimp", "blimp_supplement", "ewok", "entity_tracking")}  # not WUG's ρ
    eye = ("RTfirstfix", "RTfirstpass", "RTgopast", "RTrightbound")
    reading = {"eval/reading_eye", "eval/reading_spr", *(f"eval/reading_eye/{c}" for c in eye)}
    assert report.metrics.keys() == {f"eval/{t}" for t in ZERO_SHOT} | ties | reading
    for name in tasks:
        assert TASKS[name].spec.scores.keys() <= report.metrics.keys()  # every declared score is reported
    written = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.json")}
    # The official layout: <--task>/<the data folder read> (the supplement runs as `blimp`; the fast names).
    datasets = {
        "blimp/blimp_fast",
        "blimp/supplement_fast",
        "ewok/ewok_fast",
        "entity_tracking/entity_tracking_fast",
        "wug_adj/wug_adj_nominalization",
        "wug_past/wug_past_tense",
        "reading",
    }
    assert written == {"metrics.json"} | {f"zero_shot/causal/{d}/predictions.json" for d in datasets}


# ---- COMPS, data layouts and GLUE subtasks through the harness and the command line -----------------


def comps_file(path: Path, rows: list[tuple[str, str, str]]) -> None:
    """COMPS rows in the release's fields: (prefix_acceptable, prefix_unacceptable, property_phrase)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "".join(
            json.dumps(
                {
                    "id": i,
                    "property": phrase,
                    "prefix_acceptable": good,
                    "prefix_unacceptable": bad,
                    "property_phrase": phrase,
                    "negative_sample_type": "taxonomic",
                }
            )
            + "\n"
            for i, (good, bad, phrase) in enumerate(rows)
        )
    )


class ByContext:
    """A fixed log-probability per context; records what is scored."""

    def __init__(self, scores: dict[str, float]):
        self.scores, self.requests = scores, []

    def loglikelihood(self, requests):
        self.requests += requests
        return [self.scores[context] for context, _ in requests]


def test_comps_accuracy_is_the_mean_over_its_four_subsets(tmp_path):
    folder = tmp_path / "evaluation_data" / "full_eval" / "comps"
    wug, wug_cat = "A wug is a dog. Therefore, a wug", "A wug is a cat. Therefore, a wug"
    before, before_bad = (
        "A dax is a cat. A wug is a dog. Therefore, a wug",
        "A dax is a dog. A wug is a cat. Therefore, a wug",
    )
    between, between_bad = (
        "A wug is a dog. A dax is a cat. Therefore, a wug",
        "A wug is a cat. A dax is a dog. Therefore, a wug",
    )
    comps_file(
        folder / "comps_base.jsonl",
        [("A dog", "A cat", "can bark."), ("A robin", "A penguin", "can fly."), ("A fish", "A bird", "can swim.")],
    )
    comps_file(folder / "comps_wugs.jsonl", [(wug, wug_cat, "can bark.")])
    comps_file(folder / "comps_wugs_dist-before.jsonl", [(before, before_bad, "can bark.")])
    comps_file(folder / "comps_wugs_dist-in-between.jsonl", [(between, between_bad, "can bark.")])
    lm = ByContext(
        {
            "A dog": -1,
            "A cat": -2,
            "A robin": -1,
            "A penguin": -3,
            "A fish": -4,
            "A bird": -2,  # base: 2 of 3
            wug: -1,
            wug_cat: -2,
            before: -3,
            before_bad: -1,
            between: -2,
            between_bad: -2,
        }
    )  # 1, 0, a tie: 1/2
    cfg = EvalConfig(eval_dir=str(folder.parents[1]), tasks=["comps"], fast=False, convention="clean")  # a tie: 1/2
    report = evaluate("unused", cfg, tmp_path / "results", lm=lm)
    assert not report.failed and not report.skipped
    assert report.metrics["eval/comps"] == pytest.approx((2 / 3 + 1 + 0 + 0.5) / 4)  # not the item mean 3.5 / 6
    assert report.metrics["eval/ties/comps"] == pytest.approx(1 / 6)
    assert {continuation for _, continuation in lm.requests} == {
        " can bark.",
        " can fly.",
        " can swim.",
    }  # the phrase alone
    predictions = json.loads(
        (tmp_path / "results" / "zero_shot" / "causal" / "comps" / "comps" / "predictions.json").read_text()
    )
    assert list(predictions) == ["base", "wugs", "wugs_dist_before", "wugs_dist_in_between"]
    assert predictions["base"]["predictions"] == [
        {"id": "base_0", "pred": "A dog can bark."},
        {"id": "base_1", "pred": "A robin can fly."},
        {"id": "base_2", "pred": "A bird can swim."},
    ]
    # The official fast evaluation has no COMPS: a fast run lists it as skipped, not failed.
    fast = evaluate("unused", EvalConfig(eval_dir=cfg.eval_dir, tasks=["comps"]), lm=lm)
    assert list(fast.skipped) == ["comps"] and not fast.failed and not fast.metrics
    # The full evaluation needs all four files: its score averages over them.
    (folder / "comps_wugs.jsonl").unlink()
    broken = evaluate("unused", cfg, lm=lm)
    assert broken.failed["comps"].startswith(f"{folder / 'comps_wugs.jsonl'}: file not found") and not broken.metrics


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    from conftest import write_tiny_random_model

    return write_tiny_random_model(
        tmp_path_factory.mktemp("tiny") / "final", ["the fox eats the berries", "a dog runs"]
    )


def run_cli(capsys, model: Path, data: Path, results: Path, *args: str) -> tuple[int, str, str, dict]:
    """(exit code, stdout, stderr, metrics.json or {}) of `python -m classit_ray.eval` run in-process."""
    from classit_ray.eval.__main__ import main

    code = main(["--model", str(model), "--data", str(data), "--results", str(results), *args])
    out = capsys.readouterr()
    saved = results / model.parent.name / "final" / "metrics.json"
    report = json.loads(saved.read_text()) if saved.is_file() else {}
    if saved.is_file():
        saved.unlink()
    return code, out.out, out.err, report


def test_cli_data_is_the_data_folder_a_split_folder_or_one_task_folder(tiny_model, toy_world, tmp_path, capsys):
    data = Path(toy_world["eval_dir"])
    cases = [  # --data, more arguments, what the first line says, scored, skipped
        (
            data,
            ["--tasks", "blimp", "comps"],
            "evaluation_data/ folder; the fast evaluation reads its fast_eval/",
            {"eval/blimp"},
            {"comps"},
        ),
        (
            data,
            ["--tasks", "comps", "--full"],
            "evaluation_data/ folder; the full evaluation reads its full_eval/",
            {"eval/comps"},
            set(),
        ),
        (
            data / "full_eval",
            ["--tasks", "comps"],
            "full_eval/ folder; the full evaluation",
            {"eval/comps"},
            set(),
        ),  # no --full needed
        (
            data / "fast_eval",
            ["--tasks", "wug_past", "comps"],
            "fast_eval/ folder; the fast evaluation",
            {"eval/wug_past"},
            {"comps"},
        ),
        (
            data / "full_eval" / "blimp_filtered",
            [],
            "blimp_filtered/ folder of the blimp task alone; the full evaluation",
            {"eval/blimp"},
            set(),
        ),
        (
            data / "fast_eval" / "ewok_fast",
            [],
            "ewok_fast/ folder of the ewok task alone; the fast evaluation",
            {"eval/ewok"},
            set(),
        ),
        (
            data / "full_eval" / "comps",
            ["--tasks", "comps"],
            "comps/ folder of the comps task alone; the full evaluation",
            {"eval/comps"},
            set(),
        ),
    ]
    for path, more, said, scored, skipped in cases:
        code, out, err, report = run_cli(capsys, tiny_model, path, tmp_path / "results", *more)
        assert code == 0, err
        assert out.splitlines()[0] == f"data: {path}: {said}"
        assert scored == {m for m in report["metrics"] if not m.startswith("eval/ties/")}, path
        assert set(report["skipped"]) == skipped and not report["failed"]
        assert all(f"skipped {task}: not part of the BabyLM fast evaluation" in out for task in skipped)

    # The flags may not contradict the folder; a task folder holds its task alone.
    for path, more, message in [
        (data / "full_eval", ["--fast"], "is full_eval data but --fast asks for fast_eval/"),
        (data / "full_eval" / "blimp_filtered", ["--tasks", "ewok"], "blimp task alone, but --tasks asks for ewok"),
    ]:
        code, out, err, _ = run_cli(capsys, tiny_model, path, tmp_path / "results", *more)
        lines = err.splitlines()
        assert code == 1 and len(lines) == 1 and lines[0].startswith(f"error: {path}: ") and message in lines[0], err


def test_cli_fast_entity_tracking_of_regular_alone_skips_the_other_files(tiny_model, tmp_path, capsys):
    # The release's fast set: entity_tracking_fast/regular.jsonl alone, numops written as digits.
    rows = [
        {
            "input_prefix": f"Box 0 contains the car. Box {n % 2} contains",
            "options": [" the car.", " nothing."],
            "numops": str(n),
        }
        for n in range(3)
    ]
    fast = tmp_path / "evaluation_data" / "fast_eval" / "entity_tracking_fast"
    fast.mkdir(parents=True)
    (fast / "regular.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    code, out, err, report = run_cli(capsys, tiny_model, fast, tmp_path / "results")
    assert code == 0, err
    assert 0 <= report["metrics"]["eval/entity_tracking"] <= 1
    assert (
        set(report["skipped"]) == {"entity_tracking/ambiref", "entity_tracking/move_contents"} and not report["failed"]
    )
    assert f"skipped entity_tracking/ambiref: {fast}: no ambiref.jsonl in this fast set" in out
    # The same folder as full data lacks two files: the task fails, named, and nothing is scored.
    full = tmp_path / "evaluation_data" / "full_eval" / "entity_tracking"
    shutil.copytree(fast, full)
    code, out, err, report = run_cli(capsys, tiny_model, full, tmp_path / "results")
    assert code == 1 and [line for line in err.splitlines() if line.startswith("FAILED")] == [
        f"FAILED entity_tracking: {full / 'ambiref.jsonl'}: file not found; the full evaluation of entity_tracking needs "
        "regular.jsonl, ambiref.jsonl, move_contents.jsonl"
    ]
    assert "eval/entity_tracking" not in report["metrics"]


def glue_folder(root: Path, boolq_labels: list) -> Path:
    """A tiny glue_filtered/ in the release's format: 6 train and 6 valid rows per subtask."""
    from classit_ray.eval.formats import GLUE_FIELDS, GLUE_NUM_LABELS

    folder = root / "full_eval" / "glue_filtered"
    folder.mkdir(parents=True, exist_ok=True)
    for task, fields in GLUE_FIELDS.items():
        for split in ("train", "valid"):
            labels = boolq_labels if task == "boolq" else [i % GLUE_NUM_LABELS[task] for i in range(6)]
            rows = [
                {**{f: f"the {f} of row {i}" for f in fields}, "label": label, "idx": i}
                for i, label in enumerate(labels)
            ]
            (folder / f"{task}.{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def test_cli_a_failing_glue_subtask_is_listed_as_failed_and_no_partial_average_is_reported(
    tiny_model, tmp_path, capsys
):
    # BoolQ labels written as the strings "true"/"false": broken (the official reader fails on them too).
    folder = glue_folder(tmp_path / "a", ["false", "true", "false", "true", "false", "true"])
    code, out, err, report = run_cli(capsys, tiny_model, folder, tmp_path / "results", "--finetune-epochs", "1")
    assert code == 1
    assert [line for line in err.splitlines() if line.startswith(("FAILED", "error:"))] == [
        f"FAILED glue/boolq: {folder / 'boolq.train.jsonl'}:1: field 'label' must be an integer in [0, 1] or JSON true/false; got 'false'"
    ]
    assert set(report["failed"]) == {"glue/boolq"}
    assert {m for m in report["metrics"]} == {
        f"eval/glue/{t}" for t in ("mnli", "mrpc", "multirc", "qqp", "rte", "wsc")
    }  # no glue_avg
    # A missing file fails its subtask alone, named.
    (folder / "boolq.train.jsonl").unlink()
    code, out, err, report = run_cli(capsys, tiny_model, folder, tmp_path / "results", "--finetune-epochs", "1")
    assert code == 1 and report["failed"] == {"glue/boolq": f"{folder / 'boolq.train.jsonl'}: file not found"}
    # JSON true/false, as SuperGLUE's BoolQ writes them, are labels 1/0: every subtask scores, and the average is whole.
    folder = glue_folder(tmp_path / "b", [False, True, False, True, False, True])
    code, out, err, report = run_cli(capsys, tiny_model, folder, tmp_path / "results", "--finetune-epochs", "1")
    assert code == 0, err
    assert not report["failed"] and report["metrics"]["eval/glue_avg"] == pytest.approx(
        sum(report["metrics"][f"eval/glue/{t}"] for t in ("boolq", "mnli", "mrpc", "multirc", "qqp", "rte", "wsc")) / 7
    )


def test_cli_glue_tasks_fine_tunes_only_the_subtasks_asked_for_and_reports_no_average(tiny_model, tmp_path, capsys):
    """`eval.glue_tasks` (`--glue-tasks`): the toy studies fine-tune MNLI and RTE alone (recipes.TOY_EVAL)."""
    folder = glue_folder(tmp_path, ["false"] * 6)  # BoolQ broken: not asked for, so not read
    code, out, err, report = run_cli(
        capsys, tiny_model, folder, tmp_path / "results", "--finetune-epochs", "1", "--glue-tasks", "rte", "mnli"
    )
    assert code == 0, err
    assert set(report["metrics"]) == {"eval/glue/mnli", "eval/glue/rte"} and not report["failed"]
