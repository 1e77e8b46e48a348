"""Age of acquisition: the release's file read strictly, the official surprisal output, the sigmoid
fit per word with its failures counted, the correlation with the children's AoA, the curve that
gathers its checkpoints, and the toy world's AoA data that follows its stated principle."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from classit_ray.atomic import read_json
from classit_ray.config import EvalConfig
from classit_ray.eval import aoa
from classit_ray.eval.artifact import aoa_over_curve
from classit_ray.eval.harness import evaluate
from classit_ray.eval.items import EvalDataError
from classit_ray.metrics import higher_is_better
from classit_ray.toyworld.aoadata import FIRST_MONTHS, MONTHS_PER_DECADE


def write_aoa(folder: Path, words: dict, child: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / aoa.WORDS_FILE).write_text(json.dumps(words))
    (folder / aoa.CHILD_AOA_FILE).write_text(child)
    return folder


GOOD = {
    "dog": [{"context": "I saw a", "word_in_context_stats": {"count": 3}}, {"context": "the"}],
    "ball": [{"context": "Throw the"}],
}


def test_reads_the_release_format_and_the_childrens_aoa(tmp_path):
    data = aoa.read_aoa(write_aoa(tmp_path, GOOD, "word\taoa\ndog\t18\nball\t20.5\n"))
    assert data.contexts == {"dog": ["I saw a", "the"], "ball": ["Throw the"]}
    assert data.child_aoa == {"dog": 18.0, "ball": 20.5}


@pytest.mark.parametrize(
    "words, child, expected",
    [
        (
            {"dog": [{"text": "I saw a"}]},
            "word\taoa\ndog\t18\n",
            "cdi_childes.json: word 'dog', context 0: missing field 'context'",
        ),
        ({"dog": []}, "word\taoa\ndog\t18\n", "cdi_childes.json: word 'dog': no contexts"),
        (GOOD, "word\taoa\ncat\t18\n", "child_aoa.tsv:2: field 'word': unknown word 'cat'"),
        (GOOD, "word\tmonths\ndog\t18\n", "child_aoa.tsv: missing column 'aoa'"),
        (GOOD, "word\taoa\ndog\tsoon\n", "child_aoa.tsv:2: field 'aoa' must be a finite number"),
    ],
)
def test_bad_input_is_one_line_naming_file_and_field_and_exit_1(tmp_path, capsys, words, child, expected):
    folder = write_aoa(tmp_path / "aoa", words, child)
    with pytest.raises(EvalDataError, match=expected.replace("(", r"\(")):
        aoa.read_aoa(folder)
    assert aoa.main([str(folder)]) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and expected in err


class RecordingLM:
    def __init__(self, logprob=lambda context, word: -1.0):
        self.requests, self.logprob = [], logprob

    def loglikelihood(self, requests):
        self.requests += requests
        return [self.logprob(c, w) for c, w in requests]


def test_surprisal_rows_are_the_official_entries_read_as_the_official_causal_backend(tmp_path):
    data = aoa.AoAData({"dog": ["I saw a ", ""], "ball": ["Throw the"]}, {})
    lm = RecordingLM(lambda c, w: -len(w))
    rows = aoa.surprisal_rows(lm, data, "chck_1M", 1500)
    assert lm.requests == [("I saw a", " dog"), ("", "dog"), ("Throw the", " ball")]
    assert rows[0] == {
        "step": "chck_1M",
        "word_count": 1500,
        "target_word": "dog",
        "context_id": 0,
        "context": "I saw a ",
        "surprisal": 4.0,
    }
    out = aoa.official_output("m", rows, total_steps=3)
    assert out["metadata"] == {"model_name": "m", "use_bos_only": False, "total_steps": 3, "completed_steps": 1}


def test_sigmoid_fit_finds_the_midpoint_and_reports_failed_fits():
    x = np.log10([1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5])
    good = aoa.fit_word("dog", x, aoa.sigmoid(x, 2.0, 9.0, 5.0, 4.1))
    assert not good.failed and good.aoa_log10_words == pytest.approx(4.1, abs=1e-3) and good.r2 > 0.999
    flat = aoa.fit_word("the", x, np.full(len(x), 3.0))
    assert "does not fall" in flat.failed and math.isnan(flat.aoa_log10_words)
    early = aoa.fit_word("a", x, aoa.sigmoid(x, 2.0, 9.0, 5.0, 1.5))
    assert "before the first checkpoint" in early.failed
    few = aoa.fit_word("b", x[:3], x[:3])
    assert "at least 4" in few.failed


def synthetic_rows(child: dict[str, float], steps: list[int], noise: float = 0.0) -> list[dict]:
    """Each word learnt at log10 words = 3.3 + (its child AoA - 16) / 6 (earlier for children, earlier here)."""
    rng = np.random.default_rng(0)
    rows = []
    for n, words in enumerate(steps, 1):
        for word, months in child.items():
            s = aoa.sigmoid(np.log10(words), 2.0, 9.0, 6.0, 3.3 + (months - 16.0) / 6.0) + rng.normal(0, noise)
            rows += [
                {
                    "step": f"chck_{n}M",
                    "word_count": words,
                    "target_word": word,
                    "context_id": i,
                    "context": "c",
                    "surprisal": float(s),
                }
                for i in range(2)
            ]
    return rows


def test_model_aoa_correlates_with_the_childrens_and_failures_are_counted():
    child = {f"w{i}": 16.0 + i for i in range(12)}
    steps = [1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000]
    rows = synthetic_rows(child, steps, noise=0.05)
    rows += [{**r, "target_word": "flat", "surprisal": 5.0} for r in rows if r["target_word"] == "w0"]
    result = aoa.acquisition(rows, {**child, "flat": 20.0})
    assert result["metrics"]["eval/aoa"] > 0.95 and result["spearman"] > 0.95
    assert result["words"] == 13 and result["fitted"] == 12 and list(result["failed"]) == ["flat"]
    assert {f["word"] for f in result["fits"]} == {*child, "flat"}
    assert higher_is_better("eval/aoa") and not higher_is_better("eval/aoa_surprisal")


def test_curve_checkpoints_write_official_surprisals_and_the_curve_gathers_and_fits(tmp_path):
    """Through the harness as the learning curve runs it, one checkpoint at a time with a model
    whose surprisal of each word falls on a known schedule."""
    child = {f"w{i}": 16.0 + 2 * i for i in range(8)}
    folder = write_aoa(
        tmp_path / "evaluation_data" / "full_eval" / "aoa",
        {w: [{"context": "say"}, {"context": "we say"}] for w in child},
        "word\taoa\n" + "".join(f"{w}\t{m}\n" for w, m in child.items()),
    )
    (tmp_path / "evaluation_data" / "fast_eval").mkdir()
    cfg = EvalConfig(eval_dir=str(folder.parents[1]), tasks=["aoa", "blimp"][:1], fast=True)
    model = tmp_path / "curve"
    names = []
    for n, words in enumerate([1000, 2000, 5000, 10_000, 20_000, 50_000, 100_000, 200_000], 1):
        name = f"chck_{n}M"
        x = math.log10(words)
        lm = RecordingLM(lambda c, w, x=x: -float(aoa.sigmoid(x, 2.0, 9.0, 6.0, 3.0 + (child[w.strip()] - 16.0) / 8.0)))
        report = evaluate(model / name, cfg, model / name, lm=lm, checkpoint=(name, words))
        assert not report.failed and report.metrics["eval/aoa_surprisal"] > 0
        one = read_json(model / name / "zero_shot" / "causal" / "AoA_word" / "surprisal.json")
        assert {r["step"] for r in one["results"]} == {name} and len(one["results"]) == 16
        names.append(name)
    single = evaluate(model / "final", cfg, None, lm=RecordingLM())
    assert "aoa" in single.skipped and not single.metrics  # a model alone has no AoA
    summary = aoa_over_curve(model, "curve", names, cfg.eval_dir)
    assert summary["metrics"]["eval/aoa"] > 0.99 and summary["aoa"]["fitted"] == 8 and not summary["aoa"]["failed"]
    merged = read_json(model / "main" / "zero_shot" / "causal" / "AoA_word" / "surprisal.json")
    assert merged["metadata"]["total_steps"] == merged["metadata"]["completed_steps"] == 8
    assert len(merged["results"]) == 8 * 16
    assert set(merged["results"][0]) == {"step", "word_count", "target_word", "context_id", "context", "surprisal"}
    assert len(read_json(model / "main" / "zero_shot" / "causal" / "AoA_word" / "aoa_fits.json")["fits"]) == 8


def test_toy_world_aoa_data_follows_its_stated_principle(toy_world):
    folder = Path(toy_world["eval_dir"]) / "full_eval" / "aoa"
    data = aoa.read_aoa(folder)
    assert len(data.contexts) == 24 and all(len(c) == 4 for c in data.contexts.values())
    assert set(data.child_aoa) == set(data.contexts) and min(data.child_aoa.values()) == FIRST_MONTHS
    assert not (Path(toy_world["eval_dir"]) / "fast_eval" / "aoa").exists()  # full_eval alone, as in the release
    # More frequent in the child-directed speech -> earlier, by MONTHS_PER_DECADE per factor of ten.
    lines = (Path(toy_world["corpus_dir"]) / "childes.train").read_text().splitlines()
    heard = " ".join(
        line.split("\t", 1)[1].lower() for line in lines if line.startswith("*") and not line.startswith("*CHI")
    )
    tokens = [t.strip(".,!?;:\"'()[]") for t in heard.split()]
    counts = {w: tokens.count(w) for w in data.child_aoa}
    top = max(counts.values())
    for word, months in data.child_aoa.items():
        assert months == pytest.approx(FIRST_MONTHS + MONTHS_PER_DECADE * math.log10(top / counts[word]), abs=0.01), (
            word
        )
