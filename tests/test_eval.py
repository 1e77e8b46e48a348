"""The evaluation harness: a constant model scores chance with 100% ties; the batched scorer equals
the one-at-a-time reference; official aggregations; a broken task fails alone; results layout."""

from __future__ import annotations

import json
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
    report = evaluate("unused", EvalConfig(eval_dir=str(toy_world["eval_dir"]), tasks=ZERO_SHOT), lm=DummyLM())
    assert not report.failed
    for task in ("blimp", "blimp_supplement", "ewok"):
        assert report.metrics[f"eval/{task}"] == pytest.approx(0.5)  # not 100%, as the official evaluator gives
        assert report.metrics[f"eval/ties/{task}"] == 1.0
    assert report.metrics["eval/ties/entity_tracking"] == 1.0
    assert 0 < report.metrics["eval/entity_tracking"] < 0.6  # 1 / number of options, per group


def test_batched_scorer_equals_one_at_a_time(random_model, toy_world):
    from classit_ray.eval.formats import read_ewok, task_dir

    lm = HFCausalLM(random_model, batch_size=16)
    items = read_ewok(task_dir(toy_world["eval_dir"], True, "ewok_filtered"))[:40]
    requests = [(it.context, c) for it in items for c in it.candidates]
    assert lm.loglikelihood(requests) == pytest.approx(lm.loglikelihood_one_by_one(requests), abs=1e-4)


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
        [result("regular_0_ops", 1.0)] * 4 + [result("regular_1_ops", 0.0)]
        + [result("ambiref_0_ops", 0.5)] + [result("move_contents_2_ops", 1.0)] * 2 + [result("move_contents_3_ops", 0.0)] * 2
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
    (r,) = score_items(Fixed([-1.0, -1.0, -3.0]), [item])
    assert r.tie and r.credit == 0.5
    wugs = [ChoiceItem("wug_adj", "f", f"f_{i}", "", ("x", "y"), correct=-1, target=t) for i, t in enumerate([0.1, 0.5, 0.9])]
    results = score_items(Fixed([-3.0, -1.0, -2.0, -2.0, -1.0, -3.0]), wugs)
    assert wug_spearman(results) == pytest.approx(1.0)  # model preference ranks exactly like the humans'


def test_broken_task_fails_alone_and_results_layout(random_model, toy_world, tmp_path):
    eval_dir = tmp_path / "evaluation_data"
    shutil.copytree(toy_world["eval_dir"], eval_dir)
    ewok = next((eval_dir / "fast_eval").glob("ewok_*/*.jsonl"))  # the release names it ewok_fast in fast_eval/
    ewok.write_text('{"Context1": "no targets here"}\n')
    report = evaluate(random_model, EvalConfig(eval_dir=str(eval_dir), tasks=["blimp", "ewok"]), tmp_path / "results")
    assert "ewok" in report.failed and "Target1" in report.failed["ewok"] and ewok.name in report.failed["ewok"]
    assert "eval/ewok" not in report.metrics and 0 <= report.metrics["eval/blimp"] <= 1
    predictions = json.loads((tmp_path / "results" / "zero_shot" / "causal" / "blimp" / "blimp_filtered" / "predictions.json").read_text())
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


def test_cli_prints_scores_and_writes_results(random_model, toy_world, tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "classit_ray.eval", "--model", str(random_model), "--data", str(toy_world["eval_dir"]),
         "--tasks", "blimp", "wug_past", "--results", str(tmp_path / "results")],
        capture_output=True, text=True, timeout=300,
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
    assert all(metrics.HIGHER_IS_BETTER.values()) and "eval/glue_avg" in metrics.HIGHER_IS_BETTER


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
    datasets = {"blimp": "blimp_filtered", "blimp_supplement": "supplement_filtered", "ewok": "ewok_filtered",
                "entity_tracking": "entity_tracking", "wug_adj": "wug_adj_nominalization", "wug_past": "wug_past_tense"}
    assert written == {"metrics.json"} | {f"zero_shot/causal/{t}/{d}/predictions.json" for t, d in datasets.items()}
