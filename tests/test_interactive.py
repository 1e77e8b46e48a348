"""The interactive task: reply NLL per word by hand, greedy answers checked, its metrics' direction
through z-scores and findings, and its place in a cell's graph (the split's held-out pairs)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import write_tiny_random_model

from classit_ray import analysis, metrics
from classit_ray.analysis import comparisons, wording
from classit_ray.config import EvalConfig
from classit_ray.data.tokenizer import BOS, EOS, PROMPT, REPLY
from classit_ray.eval import interactive
from classit_ray.eval.harness import evaluate
from classit_ray.eval.scorer import HFCausalLM
from classit_ray.eval.tasks import TASK_SPECS, ZERO_SHOT_TASKS

TEXTS = ["what does a fox eat", "a fox eats berries and mice", "it lives in the forest", "oh really", "right"] * 20


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return write_tiny_random_model(tmp_path_factory.mktemp("interactive_model"), TEXTS)


def _heldout(folder, config: str, rows: list[tuple[str, str, str]]):
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=["prompt", "reply", "answer"]).to_parquet(folder / f"{config}.parquet")
    return folder


def test_reply_nll_per_word_is_a_direct_forward_pass_by_hand(tiny_model, tmp_path):
    prompt, reply = "what does a fox eat?", "a fox eats berries and mice."
    report = evaluate(
        tiny_model,
        EvalConfig(eval_dir="unused", tasks=["interactive"]),
        tmp_path / "out",
        heldout_dir=_heldout(tmp_path / "heldout", "switchboard", [(prompt, reply, "")]),
    )
    assert not report.failed and "interactive/gen" in report.skipped  # no known answer here
    # By hand: <s> <|prompt|> prompt <|reply|> reply </s>, the reply's tokens and </s> summed, over its 6 words.
    lm = HFCausalLM(tiny_model)
    tok = lm.tokenizer
    special = [tok.convert_tokens_to_ids(t) for t in (BOS, PROMPT, REPLY, EOS)]
    p_ids, r_ids = (tok(t, add_special_tokens=False).input_ids for t in (prompt, reply))
    ids = [special[0], special[1], *p_ids, special[2], *r_ids, special[3]]
    with torch.no_grad():
        logprobs = torch.log_softmax(lm.model(torch.tensor([ids])).logits[0].float(), -1)
    first = len(ids) - len(r_ids) - 1
    nll = -sum(float(logprobs[p - 1, ids[p]]) for p in range(first, len(ids)))
    assert report.metrics["eval/interactive_nll/switchboard"] == pytest.approx(nll / 6, rel=1e-5)
    assert (tmp_path / "out" / "interactive" / "heldout" / "predictions.json").is_file()


def test_greedy_replies_batched_with_left_padding_equal_one_at_a_time(tiny_model):
    lm = HFCausalLM(tiny_model, batch_size=8)
    renderer = interactive.template_renderer(lm)
    prompts = ["what does a fox eat?", "oh really", "it lives in the forest and a fox eats mice"]
    batched = interactive.greedy_replies(lm, renderer, prompts, [5, 3, 7])
    alone = [interactive.greedy_replies(lm, renderer, [p], [n])[0] for p, n in zip(prompts, [5, 3, 7])]
    assert batched == alone


def test_generation_accuracy_counts_the_first_sentence_against_the_known_answer(tiny_model, tmp_path, monkeypatch):
    # A stand-in generator: every question gets the same reply, right for one answer and wrong for the other.
    monkeypatch.setattr(
        interactive,
        "greedy_replies",
        lambda lm, r, prompts, budgets: ["a fox eats  mice. It lives in the forest."] * len(prompts),
    )
    rows = [
        ("What does a fox eat?", "A fox eats mice. It is red.", "A fox eats mice."),
        ("What does a cat eat?", "A cat eats fish.", "A cat eats fish."),
        ("Hello?", "Hi.", ""),
    ]  # no known answer: not a question of the accuracy
    report = evaluate(
        tiny_model,
        EvalConfig(eval_dir="unused", tasks=["interactive"]),
        None,
        heldout_dir=_heldout(tmp_path / "heldout", "simple_wiki", rows),
    )
    assert report.metrics["eval/interactive_gen"] == 0.5
    assert interactive.answer_matches("Lions live on the hill! And more", "lions live on the hill.")
    assert not interactive.answer_matches("Lions live on the hill and", "Lions live on the hill.")


def test_without_heldout_pairs_the_task_is_skipped_not_failed(tiny_model, tmp_path):
    report = evaluate(tiny_model, EvalConfig(eval_dir="unused", tasks=["interactive"]), None)
    assert report.skipped.keys() == {"interactive"} and not report.failed and not report.metrics
    (tmp_path / "empty").mkdir()
    report = evaluate(
        tiny_model, EvalConfig(eval_dir="unused", tasks=["interactive"]), None, heldout_dir=tmp_path / "empty"
    )
    assert "interactive" in report.skipped and not report.failed


def test_interactive_metrics_have_their_direction_and_flow_into_zscores_and_findings():
    assert TASK_SPECS["interactive"].scores == {
        "eval/interactive_nll/switchboard": False,
        "eval/interactive_nll/simple_wiki": False,
        "eval/interactive_gen": True,
    }
    assert "interactive" not in ZERO_SHOT_TASKS
    assert metrics.higher_is_better("eval/interactive_nll/switchboard") is False
    nll, gen = "eval/interactive_nll/switchboard", "eval/interactive_gen"
    rows = []
    for seed in range(4):
        base = 3.0 + 0.1 * seed
        for curriculum, drop, acc in (("none", 0.0, 0.1), ("merged", 0.5 + 0.1 * seed, 0.3 + 0.01 * seed)):
            rows.append(
                {
                    "model.preset": "tiny",
                    "pretrain.seed": seed,
                    "instruct.seed": seed,
                    "instruct.curriculum": curriculum,
                    "status": "ok",
                    nll: base - drop,
                    gen: acc,
                }
            )
    df = pd.DataFrame(rows)
    assert analysis.task_columns(df) == [nll, gen]
    z = analysis.zscores(df)
    tuned = df["instruct.curriculum"] == "merged"
    assert (z.loc[tuned, nll] > 0).all() and (z.loc[~tuned, nll] < 0).all()  # lower NLL: positive z
    x = df[nll]
    assert z.loc[0, nll] == pytest.approx(-(x[0] - x.mean()) / x.std(ddof=1))
    table = comparisons.paired_comparisons(df).set_index(["a", "b", "measure"])
    row = table.loc[("merged", "none", nll)]
    assert row["mean"] == pytest.approx(np.mean([0.5, 0.6, 0.7, 0.8])) and row["better"] == 4  # the NLL decrease
    text = "\n".join(wording.findings(comparisons.paired_comparisons(df)))
    assert "merged vs none" in text and math.isfinite(row["p"])
