"""The official BabyLM 2025 pipeline's conventions (`eval.convention: official`), carried by
hand-written snippets in the release's own formats, offline and without the official code.

The tokenizer is a byte-level BPE whose merges are written out here, so every token of every
example is known by hand; the expected log-probabilities are computed from a plain forward pass
over token ids chosen by hand, by the official rule:
- choice tasks (`sentence_zero_shot/dataset.py`): the whole sentence is tokenized, and the tokens
  whose character span ends past the prefix are the candidate's, the first token never;
- reading (`reading/evaluation_functions.get_p2`): the word tokenized alone without a leading
  space, each further subword scored after the sentence extended by the decoded subwords before
  it, tokenized afresh; a missing `item` is the context "None", a missing `prev_item` no score;
- ties go to the first candidate, credited in full; each OLS is fitted on the rows it has.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from classit_ray.config import Config, ConfigError, EvalConfig
from classit_ray.eval.items import ChoiceItem
from classit_ray.eval.reading import delta_r2, official_surprisals, reading_scores
from classit_ray.eval.scorer import DummyLM, HFCausalLM
from classit_ray.eval.zero_shot import score_items

# Merges in priority order: " the", "the", " hat", "Box", " contains", " two", "wug", " saw".
MERGES = [
    ("Ġ", "t"),
    ("Ġt", "h"),
    ("Ġth", "e"),
    ("t", "h"),
    ("th", "e"),
    ("Ġ", "h"),
    ("Ġh", "a"),
    ("Ġha", "t"),
    ("B", "o"),
    ("Bo", "x"),
    ("Ġ", "c"),
    ("Ġc", "o"),
    ("Ġco", "n"),
    ("Ġcon", "t"),
    ("Ġcont", "a"),
    ("Ġconta", "i"),
    ("Ġcontai", "n"),
    ("Ġcontain", "s"),
    ("Ġt", "w"),
    ("Ġtw", "o"),
    ("w", "u"),
    ("wu", "g"),
    ("Ġ", "s"),
    ("Ġs", "a"),
    ("Ġsa", "w"),
]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A random tiny LLaMA with the hand-merged BPE; its tokenizer adds <s> as this project's do."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

    from classit_ray.model import llama_config

    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2}
    for symbol in pre_tokenizers.ByteLevel.alphabet():
        vocab.setdefault(symbol, len(vocab))
    for a, b in MERGES:
        vocab.setdefault(a + b, len(vocab))
    tok = Tokenizer(models.BPE(vocab=vocab, merges=MERGES))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    out = tmp_path_factory.mktemp("parity") / "model"
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    hf.save_pretrained(out)
    torch.manual_seed(0)
    config = llama_config("tiny", pad_token_id=0, bos_token_id=1, eos_token_id=2)
    config.vocab_size = 512
    LlamaForCausalLM(config).save_pretrained(str(out))
    return out


def tokens(lm: HFCausalLM, ids: list[int]) -> list[str]:
    return lm.tokenizer.convert_ids_to_tokens(ids)


def ids_of(lm: HFCausalLM, *pieces: str) -> list[int]:
    return lm.tokenizer.convert_tokens_to_ids(list(pieces))


def reference(lm: HFCausalLM, ids: list[int], scored: int) -> float:
    """Σ log p of the last `scored` tokens of `ids`, one plain forward pass."""
    with torch.no_grad():
        logits = lm.model(input_ids=torch.tensor([ids])).logits[0].float()
    logprobs = torch.log_softmax(logits[:-1], dim=-1).gather(-1, torch.tensor(ids[1:])[:, None])[:, 0]
    return float(logprobs[-scored:].sum())


def test_a_prefix_ending_in_a_space_scores_the_option_from_the_token_for_space_the(model_dir):
    # Entity tracking's release prefix ends in a space: the whole sentence has " the", which the
    # official rule gives the option; the clean rule keeps the context's lone space token apart.
    official, clean = HFCausalLM(model_dir, convention="official"), HFCausalLM(model_dir, convention="clean")
    ids, n = official.encode("Box 1 contains ", "the hat.")
    assert tokens(official, ids) == ["<s>", "Box", "Ġ", "1", "Ġcontains", "Ġthe", "Ġhat", "."] and n == 3
    ids_clean, n_clean = clean.encode("Box 1 contains ", "the hat.")
    assert tokens(clean, ids_clean[-n_clean:]) == ["the", "Ġhat", "."] and tokens(clean, ids_clean)[-4] == "Ġ"
    [score] = official.loglikelihood([("Box 1 contains ", "the hat.")])
    by_hand = ids_of(official, "<s>", "Box", "Ġ", "1", "Ġcontains", "Ġthe", "Ġhat", ".")
    assert score == pytest.approx(reference(official, by_hand, 3), abs=1e-5)


def test_a_token_across_the_boundary_belongs_to_the_option(model_dir):
    # "contains t" + "he hat.": " the" spans the boundary; its span ends past the prefix, so it is scored.
    lm = HFCausalLM(model_dir, convention="official")
    ids, n = lm.encode("Box 1 contains t", "he hat.")
    assert tokens(lm, ids[-n:]) == ["Ġthe", "Ġhat", "."]


def test_an_option_beginning_with_punctuation_leaves_the_space_token_in_the_context(model_dir):
    # After a prefix ending in a space, " ," is two tokens here ("Ġ", ","): the space token ends where
    # the option starts, so it is the context's, and the option's first token is the comma.
    lm = HFCausalLM(model_dir, convention="official")
    ids, n = lm.encode("Box 1 contains ", ", the hat.")
    assert tokens(lm, ids[-n:]) == [",", "Ġthe", "Ġhat", "."] and tokens(lm, ids)[-n - 1] == "Ġ"
    # A whole sentence (BLiMP, WUG: no context): every token after <s>, the first word included.
    ids, n = lm.encode("", "Box 1 contains the hat.")
    assert n == len(ids) - 1 and tokens(lm, ids)[0] == "<s>"


def test_a_word_of_several_subwords_is_chained_over_freshly_tokenized_contexts(model_dir):
    # "wugs" alone is "wug" + "s"; "s" is scored after "I saw two" + "wug" tokenized afresh.
    lm = HFCausalLM(model_dir)
    assert tokens(lm, lm.tokenizer("wugs", add_special_tokens=False).input_ids) == ["wug", "s"]
    [logprob] = lm.word_loglikelihood([("I saw two", "wugs")])
    first = ids_of(lm, "<s>", "I", "Ġsaw", "Ġtwo", "wug")
    second = ids_of(lm, "<s>", "I", "Ġsaw", "Ġtwo", "wug", "s")
    assert tokens(lm, lm.tokenizer("I saw twowug").input_ids) == ["<s>", "I", "Ġsaw", "Ġtwo", "wug"]
    assert logprob == pytest.approx(reference(lm, first, 1) + reference(lm, second, 1), abs=1e-5)
    # Without a leading space: not the clean convention's " wugs" after the sentence.
    [clean] = HFCausalLM(model_dir, convention="clean").loglikelihood([("I saw two", " wugs")])
    assert abs(clean - logprob) > 1e-3


class WordRecorder:
    """log p(word | sentence) = −(letters in the word); records what it is asked."""

    def __init__(self):
        self.requests: list[tuple[str, str]] = []

    def word_loglikelihood(self, requests):
        self.requests += requests
        return [-float(len(word)) for _, word in requests]


def test_a_reading_row_with_a_missing_previous_word_has_no_previous_surprisal():
    # As the official script reads the CSV: a missing item is the context "None"; a missing
    # prev_item (empty, or "None" as the reader restores a lost one) leaves prev_pred NaN.
    df = pd.DataFrame(
        {
            "item": ["The", "", "The dog"],
            "word": ["dog", "of", "ran"],
            "prev_item": ["", "None", "The"],
            "prev_word": ["", "x", "dog"],
        }
    )
    lm = WordRecorder()
    pred, prev = official_surprisals(lm, df)
    assert pred == [3.0, 2.0, 3.0]
    assert math.isnan(prev[0]) and math.isnan(prev[1]) and prev[2] == 3.0
    assert lm.requests == [("The", "dog"), ("None", "of"), ("The dog", "ran"), ("The", "dog")]


def test_official_fits_each_regression_on_the_rows_it_has():
    rng = np.random.default_rng(0)
    n = 300
    df = pd.DataFrame({"a": rng.standard_normal(n), "b": rng.standard_normal(n), "p": rng.standard_normal(n)})
    df["y"] = df["a"] + df["p"] + rng.standard_normal(n)
    df.loc[:59, "p"] = np.nan  # the baseline keeps these rows, the full model drops them
    import statsmodels.formula.api as smf

    base = smf.ols("y ~ a + b + a:b", data=df[["y", "a", "b"]].dropna()).fit().rsquared
    full = smf.ols("y ~ a + b + a:b + p", data=df.dropna()).fit().rsquared
    assert delta_r2(df, "p", ["a", "b"], "y", same_rows=False) == pytest.approx(100 * (full - base) / (1 - base))
    same_base = smf.ols("y ~ a + b + a:b", data=df.dropna()).fit().rsquared
    assert delta_r2(df, "p", ["a", "b"], "y") == pytest.approx(100 * (full - same_base) / (1 - same_base))


def test_official_ties_go_to_the_first_candidate_in_full():
    items = [ChoiceItem("blimp", "uid", f"uid_{i}", "", ("a", "b")) for i in range(4)]
    assert [r.credit for r in score_items(DummyLM(), items, "official")] == [1.0] * 4
    assert [r.credit for r in score_items(DummyLM(), items, "clean")] == [0.5] * 4
    assert all(r.chosen == 0 and r.tie for r in score_items(DummyLM(), items, "official"))


def test_the_convention_is_the_default_in_the_key_and_never_mixed(model_dir):
    from classit_ray.cell.graph import eval_settings
    from classit_ray.study.definition import StudyDefinition, check_definition

    assert EvalConfig().convention == "official" and HFCausalLM(model_dir).convention == "official"
    assert eval_settings(Config())["convention"] == "official"
    with pytest.raises(ValueError, match="convention"):  # a scorer of one convention, ties of the other
        score_items(HFCausalLM(model_dir, convention="clean"), [], "official")
    with pytest.raises(ConfigError, match="eval.convention"):
        check_definition(StudyDefinition(base=Config(), grid={"eval.convention": ["official", "clean"]}))


def test_reading_scores_by_the_official_convention_use_the_word_rule():
    rng = np.random.default_rng(2)
    n = 200
    words = ["".join("ab"[int(c)] for c in rng.integers(0, 2, rng.integers(1, 9))) for _ in range(n)]
    df = pd.DataFrame(
        {
            "item": [f"ctx {i}" for i in range(n)],
            "word": words,
            "prev_item": [None if i % 7 == 0 else f"p {i}" for i in range(n)],
            "prev_word": [None if i % 7 == 0 else words[i - 1] for i in range(n)],
            "Subtlex_log10": rng.uniform(1, 5, n),
            "length": rng.integers(1, 9, n).astype(float),
            "context_length": rng.integers(1, 20, n).astype(float),
            "prev_length": rng.integers(1, 9, n).astype(float),
        }
    )
    surprisal = np.array([len(w) for w in words], dtype=float)
    for column in ("RTfirstfix", "RTfirstpass", "RTgopast", "RTrightbound", "self_paced_reading_time"):
        df[column] = 100 + 10 * surprisal + rng.normal(0, 5, n)
    scores = reading_scores(WordRecorder(), df, "official")
    assert scores["reading_eye"] > 50 and scores["reading_spr"] > 50
