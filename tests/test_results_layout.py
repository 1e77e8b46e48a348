"""The results folder an evaluation writes is the official pipeline's (babylm/evaluation-pipeline-2025):
`zero_shot/causal/<official --task>/<data folder>/predictions.json` with `{UID: {"predictions": [{"id",
"pred"[, "prob"]}]}}`, and `zero_shot/causal/reading/predictions.json`, as its scripts write them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from classit_ray.atomic import read_json
from classit_ray.config import EvalConfig
from classit_ray.eval.harness import evaluate


class LengthLM:
    """Longer continuations are less likely: a model that picks and ties deterministically."""

    def loglikelihood(self, requests):
        return [-float(len(context) % 7 + len(continuation)) for context, continuation in requests]

    def word_loglikelihood(self, requests):
        return self.loglikelihood(requests)


FAST = {  # (official --task folder, data folder, UIDs)
    "blimp": ("blimp", "blimp_fast", None),
    "blimp_supplement": ("blimp", "supplement_fast", None),
    "ewok": ("ewok", "ewok_fast", None),
    "entity_tracking": ("entity_tracking", "entity_tracking_fast", None),
    "wug_adj": ("wug_adj", "wug_adj_nominalization", {"wug_adj"}),
    "wug_past": ("wug_past", "wug_past_tense", {"wug_past"}),
}


@pytest.fixture(scope="module")
def fast_results(toy_world, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("results") / "toy" / "chck_1M"
    cfg = EvalConfig(eval_dir=toy_world["eval_dir"], tasks=[*FAST, "reading"], fast=True)
    report = evaluate(Path("unused"), cfg, out, lm=LengthLM())
    assert not report.failed, report.failed
    return out


def test_choice_tasks_write_the_official_paths_uids_and_fields(fast_results, toy_world):
    root = fast_results / "zero_shot" / "causal"
    for task, (folder, dataset, uids) in FAST.items():
        predictions = read_json(root / folder / dataset / "predictions.json")
        if uids is not None:
            assert set(predictions) == uids, task
        for uid, entry in predictions.items():
            assert list(entry) == ["predictions"]
            ids = [p["id"] for p in entry["predictions"]]
            assert ids == [f"{uid}_{i}" for i in range(len(ids))], task  # the official `<UID>_<n>`
            assert all(isinstance(p["pred"], str) for p in entry["predictions"])
            if task.startswith("wug"):
                assert all(0.0 <= p["prob"] <= 1.0 for p in entry["predictions"])
            else:
                assert all(set(p) == {"id", "pred"} for p in entry["predictions"])
    assert not (root / "blimp_supplement").exists() and not (root / "blimp" / "supplement_filtered").exists()


def test_predictions_are_the_completions_the_official_collation_compares(fast_results, toy_world):
    """EWoK's `pred` is `" " + Target` (collation strips it and compares with Target1), entity
    tracking's the chosen option (compared with options[0]): not the whole sentence."""
    data = Path(toy_world["eval_dir"]) / "fast_eval"
    root = fast_results / "zero_shot" / "causal"
    targets = {
        " " + r[t]
        for f in (data / "ewok_fast").glob("*.jsonl")
        for r in map(json.loads, f.read_text().splitlines())
        for t in ("Target1", "Target2")
    }
    ewok = read_json(root / "ewok" / "ewok_fast" / "predictions.json")
    assert all(p["pred"] in targets for e in ewok.values() for p in e["predictions"])
    options = {
        o
        for f in (data / "entity_tracking_fast").glob("*.jsonl")
        for r in map(json.loads, f.read_text().splitlines())
        for o in r["options"]
    }
    et = read_json(root / "entity_tracking" / "entity_tracking_fast" / "predictions.json")
    assert all(p["pred"] in options for e in et.values() for p in e["predictions"])


def test_reading_predictions_are_the_surprisals_per_row(fast_results, toy_world):
    rows = (Path(toy_world["eval_dir"]) / "fast_eval" / "reading" / "reading_data.csv").read_text().splitlines()[1:]
    predictions = read_json(fast_results / "zero_shot" / "causal" / "reading" / "predictions.json")["reading"][
        "predictions"
    ]
    assert len(predictions) == len(rows) and [p["id"] for p in predictions] == list(range(len(rows)))
    assert all(set(p) == {"id", "pred", "prev_pred"} and p["pred"] > 0 for p in predictions)
