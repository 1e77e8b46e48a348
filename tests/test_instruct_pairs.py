"""Instruction pairs from raw BabyLM files: Switchboard pairing rules, Simple Wiki passages, the
Q&A parser, generation through Ray Data (a stub generator and a tiny random model), resume, the
command line, and the words they add to the budget table."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from conftest import write_lines, write_tiny_random_model

from classit_ray.data.instruct_pairs.generate import GenerationConfig, WorkState, generate_simplewiki_pairs
from classit_ray.data.instruct_pairs.output import MANIFEST, PairCounts
from classit_ray.data.instruct_pairs.passages import PassageRules, chunk_article, iter_articles, write_passages
from classit_ray.data.instruct_pairs.qa import QARules, parse_pairs
from classit_ray.data.instruct_pairs.switchboard import (
    TurnRules,
    build_switchboard_pairs,
    is_backchannel,
    iter_turns,
    turn_pairs,
)

ROOT = Path(__file__).resolve().parents[1]


def pairs_of(lines: list[str], rules: TurnRules = TurnRules(min_words=1)) -> tuple[list[tuple[str, str]], PairCounts]:
    counts = PairCounts("switchboard")
    return list(turn_pairs(iter_turns(lines, counts), rules, counts)), counts


# --- Switchboard pairing rules, on hand-written turns -------------------------------------------


def test_a_reply_is_the_other_speakers_next_turn_and_prompts_the_one_after():
    pairs, _ = pairs_of(["A:\tdo you have a dog?", "B:\tyes, two of them.", "A:\twhat are their names?"])
    assert pairs == [("do you have a dog?", "yes, two of them."), ("yes, two of them.", "what are their names?")]


def test_consecutive_turns_of_one_speaker_merge_unless_told_not_to():
    lines = ["A:\tdo you have a dog?", "B:\tyes, two dogs.", "B:\tthey are brown.", "A:\toh, nice ones?"]
    merged, _ = pairs_of(lines)
    assert merged == [
        ("do you have a dog?", "yes, two dogs. they are brown."),
        ("yes, two dogs. they are brown.", "oh, nice ones?"),
    ]
    unmerged, _ = pairs_of(lines, TurnRules.unfiltered())
    # Unmerged, the run's first line answers the prompt and its last line prompts: the toy world's rule.
    assert unmerged == [("do you have a dog?", "yes, two dogs."), ("they are brown.", "oh, nice ones?")]


def test_backchannel_replies_are_dropped_and_counted_but_still_prompt_the_next_turn():
    lines = [
        "A:\tI went to the store on Monday.",
        "B:\tUh-huh.",
        "A:\tand they had no milk at all.",
        "B:\tOh, really?",
        "A:\tyes",
        "B:\tMm-hmm, yeah.",
    ]
    pairs, counts = pairs_of(lines)
    assert pairs == [("Uh-huh.", "and they had no milk at all."), ("Oh, really?", "yes")]
    assert counts.drops == {"backchannel_reply": 3} and counts.dropped == 3
    kept, _ = pairs_of(lines, TurnRules(min_words=1, drop_backchannel_replies=False))
    assert len(kept) == 5
    assert is_backchannel("Uh-huh, yeah.") and is_backchannel("oh REALLY?!")
    assert not is_backchannel("yes") and not is_backchannel("yeah, I think so") and not is_backchannel("")


def test_word_limits_apply_to_prompt_and_reply():
    lines = [
        "A:\tso what do you do?",
        "B:\tteaching",
        "A:\tyou teach what subject then?",
        "B:\t" + " ".join(["word"] * 12),
    ]
    pairs, counts = pairs_of(lines, TurnRules(min_words=2, max_words=10))
    assert pairs == []  # (q, teaching): reply short; (teaching, q): prompt short; (q, 12 words): reply long
    assert counts.drops == {"too_short": 2, "too_long": 1}
    with pytest.raises(ValueError, match="min_words"):
        TurnRules(min_words=5, max_words=2)


def test_no_pair_spans_a_blank_line_header_or_unlabelled_line():
    lines = [
        "A:\tdo you like it here?",
        "B:\tyes, very much indeed.",
        "",
        "A:\tnew conversation starts here.",
        "= = = sw02001 = = =",
        "B:\tanother one entirely.",
        "some stray text",
        "A:\tand one more time.",
    ]
    pairs, counts = pairs_of(lines)
    assert pairs == [("do you like it here?", "yes, very much indeed.")]
    assert counts.seen == {"unlabelled_lines": 1}


def test_build_switchboard_pairs_writes_the_class_it_layout_with_counts(tmp_path):
    src = write_lines(
        tmp_path / "switchboard.train",
        [
            "A:\tdo you have any pets at home?",
            "B:\tUh-huh.",
            "A:\twhat kind of pets are they?",
            "B:\twe have a cat and a dog.",
            "B:\tthe dog is old.",
            "A:\thow old is the dog now?",
            "B:\tabout twelve years.",
        ],
    )
    counts = build_switchboard_pairs(src, tmp_path / "out")
    out = tmp_path / "out" / "switchboard"
    rows = pd.read_parquet(out)  # `_manifest.json` and `_words.md` are skipped by pyarrow
    assert list(rows.columns) == ["prompt", "reply", "source", "text"]
    # (pets?, Uh-huh.): a backchannel reply; (Uh-huh., what kind?): a one-word prompt, under min_words 2.
    assert list(zip(rows["prompt"], rows["reply"])) == [
        ("what kind of pets are they?", "we have a cat and a dog. the dog is old."),
        ("we have a cat and a dog. the dog is old.", "how old is the dog now?"),
        ("how old is the dog now?", "about twelve years."),
    ]
    assert (rows["source"] == "switchboard").all() and (rows["text"] == rows["prompt"] + "\n" + rows["reply"]).all()
    manifest = json.loads((out / MANIFEST).read_text())
    words = sum(len(p.split()) + len(r.split()) for p, r in zip(rows["prompt"], rows["reply"]))
    assert manifest["counts"]["pairs"] == counts.pairs == 3 and manifest["counts"]["words"] == counts.words == words
    assert manifest["counts"]["drops"] == {"backchannel_reply": 1, "too_short": 1} and manifest["generated"] is False
    assert manifest["rules"]["min_words"] == 2 and len(manifest["input"]["sha256"]) == 64
    assert "| switchboard | 3 | " in (out / "_words.md").read_text()
    # A rebuild with other rules replaces the output whole.
    again = build_switchboard_pairs(src, tmp_path / "out", TurnRules(min_words=1, drop_backchannel_replies=False))
    assert again.pairs == 5 and len(pd.read_parquet(out)) == 5
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["switchboard"]  # no temporary folder left


def test_switchboard_bad_input_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.train: Switchboard file not found"):
        build_switchboard_pairs(tmp_path / "missing.train", tmp_path / "out")
    prose = write_lines(tmp_path / "prose.train", ["Once upon a time there was a fox.", "It lived in a wood."])
    with pytest.raises(ValueError, match=r"prose.train: no Switchboard pairs \(.*unlabelled_lines 2"):
        build_switchboard_pairs(prose, tmp_path / "out")
    assert not (tmp_path / "out" / "switchboard").exists()  # nothing half-written
    foreign = tmp_path / "release" / "switchboard"
    foreign.mkdir(parents=True)
    (foreign / "train-00000-of-00001.parquet").write_bytes(b"downloaded")
    good = write_lines(tmp_path / "sw.train", ["A:\twhat is your name then?", "B:\tmy name is Sam."])
    with pytest.raises(FileExistsError, match="did not write"):
        build_switchboard_pairs(good, tmp_path / "release")
    assert (foreign / "train-00000-of-00001.parquet").read_bytes() == b"downloaded"


# --- Simple Wiki passages and the Q&A parser -----------------------------------------------------


def test_articles_are_chunked_into_passages_of_whole_paragraphs(tmp_path):
    long_paragraph = " ".join(f"Sentence number {i} is here." for i in range(30))  # 150 words
    src = write_lines(
        tmp_path / "simple_wiki.train",
        [
            "= = = Fox = = =",
            "A fox is an animal. " * 5,
            "Foxes eat mice and berries. " * 4,
            "= = = Stub = = =",
            "Tiny.",
            "= = = Long = = =",
            long_paragraph,
        ],
    )
    titles = [t for t, _ in iter_articles(src)]
    assert titles == ["Fox", "Stub", "Long"]
    rules = PassageRules(max_words=60, min_words=10)
    assert list(chunk_article(["a b c", "d e", "f g h i"], PassageRules(max_words=5, min_words=1))) == [
        "a b c\nd e",
        "f g h i",
    ]
    long_chunks = list(chunk_article([long_paragraph], rules))
    assert all(len(c.split()) <= 60 and c.endswith("here.") for c in long_chunks)  # cut after a sentence
    assert " ".join(long_chunks) == long_paragraph
    counts = write_passages(src, tmp_path / "passages.parquet", rules)
    table = pq.read_table(tmp_path / "passages.parquet").to_pandas()
    assert table["passage"].tolist() == list(range(len(table)))
    assert table["title"].tolist() == ["Fox"] + ["Long"] * 3  # Fox: 41 words in one passage; Stub too short
    assert counts.drops == {} and counts.seen == {"articles": 3, "passages": 4, "passages_too_short": 1}


WELL_FORMED = """Here are three questions.
Q: What does a fox eat?
A: A fox eats mice and berries.
Question 2: Where does the fox live?
Answer 2: The fox lives in the forest,
in a hole under a tree.
3. **Q:** What colour is a fox?
**A:** A fox is red."""

PASSAGE = "A fox is a red animal. Foxes eat mice and berries. The fox lives in the forest, in a hole under a tree."


def test_parser_keeps_well_formed_pairs_in_the_usual_variants():
    counts = PairCounts("simple_wiki")
    pairs = parse_pairs(WELL_FORMED, PASSAGE, QARules(), counts)
    assert pairs == [
        ("What does a fox eat?", "A fox eats mice and berries."),
        ("Where does the fox live?", "The fox lives in the forest, in a hole under a tree."),
        ("What colour is a fox?", "A fox is red."),
    ]
    assert counts.dropped == 0


@pytest.mark.parametrize(
    "generation, reason",
    [
        ("Q: What does a fox eat?\nQ: Where does it live?\nA: In the forest.", "unpaired"),
        ("A: Foxes eat mice.", "unpaired"),
        ("Q: Tell me what a fox eats.\nA: A fox eats mice.", "not_a_question"),
        ("Q: Fox?\nA: Mice and berries.", "too_short"),
        ("Q: What does a fox eat?\nA: " + "mice " * 100, "too_long"),
        ("Q: What does a fox eat?\nA: Rockets travel quickly through outer space.", "ungrounded"),
        ("Q: What does a fox eat?\nA: \ufffd\ufffd mice berries", "not_text"),
        ("Q: What ,,, ?? ## eat?\nA: ;; ## %% ** !!", "not_text"),
        ("ĠtheĠĠ ,, random tokens the model made up", "no_pairs"),
    ],
)
def test_parser_drops_and_counts_malformed_pairs(generation, reason):
    counts = PairCounts("simple_wiki")
    pairs = parse_pairs(generation, PASSAGE, QARules(), counts)
    assert reason in counts.drops, counts.drops
    if reason != "unpaired":
        assert pairs == [] and counts.drops == {reason: 1}


def test_a_repeated_question_is_a_duplicate():
    counts = PairCounts("simple_wiki")
    pairs = parse_pairs(
        "Q: What does a fox eat?\nA: Mice.\nQ: what does a FOX eat?\nA: Berries and mice.",
        PASSAGE,
        QARules(min_answer_words=1),
        counts,
    )
    assert pairs == [("What does a fox eat?", "Mice.")] and counts.drops == {"duplicate": 1}


# --- Generation through Ray Data -----------------------------------------------------------------


def stub_pairs(title: str, passage: str) -> list[tuple[str, str]]:
    """What the stub generator writes about a passage: one question per sentence, up to three."""
    sentences = re.findall(r"[^.!?]+[.!?]", passage)
    return [
        (f"What does the text about {title} say in sentence {i + 1}?", s.strip()) for i, s in enumerate(sentences[:3])
    ]


def make_stub_generator():
    """A generator factory (run in each Ray Data actor) returning well-formed Q&A text."""

    def generate(prompts: list[str]) -> list[str]:
        outputs = []
        for prompt in prompts:
            title = re.search(r'article "(.*)"\.', prompt).group(1)
            passage = prompt.split("\n\n")[1]
            outputs.append("\n".join(f"Q: {q}\nA: {a}" for q, a in stub_pairs(title, passage)))
        return outputs

    return generate


@pytest.fixture(scope="module")
def wiki_file(toy_world) -> Path:
    return Path(toy_world["corpus_dir"]) / "simple_wiki.train"


@pytest.fixture
def picklable_tests():
    # Ray workers cannot import this test module: ship the stub by value.
    import ray.cloudpickle

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield
    ray.cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


SMALL = PassageRules(max_words=80, min_words=20)


@pytest.mark.slow
def test_stub_generation_end_to_end_with_resume(ray_session, picklable_tests, wiki_file, tmp_path):
    out = tmp_path / "out"
    cfg = GenerationConfig(batch_size=4, part_passages=4, replicas=2)
    first = generate_simplewiki_pairs(wiki_file, out, make_stub_generator, cfg, SMALL, limit=6)
    passages = pq.read_table(out / "_work" / "simple_wiki" / "passages.parquet").to_pandas()
    assert len(passages) > 12
    expected = [p for t, text in zip(passages["title"], passages["text"]) for p in stub_pairs(t, text)]
    n_first = sum(len(stub_pairs(t, x)) for t, x in zip(passages["title"][:6], passages["text"][:6]))
    assert first.pairs == n_first and first.seen["generations"] == 6
    assert len(pd.read_parquet(out / "simple_wiki")) == n_first

    # Resume: the first six passages are skipped, the rest generated.
    counts = generate_simplewiki_pairs(wiki_file, out, make_stub_generator, cfg, SMALL)
    manifest = json.loads((out / "simple_wiki" / MANIFEST).read_text())
    assert manifest["this_run"]["seen"]["generations"] == len(passages) - 6
    rows = pd.read_parquet(out / "simple_wiki")
    assert list(zip(rows["prompt"], rows["reply"])) == expected  # the parsed pairs, in passage order
    assert counts.pairs == len(expected) and counts.dropped == manifest["counts"]["dropped"]
    assert counts.words == sum(len(q.split()) + len(a.split()) for q, a in expected)
    assert manifest["generated"] is True and manifest["generated_words"] == counts.words
    assert sorted(WorkState(out).done().tolist()) == list(range(len(passages)))

    # Nothing left: a third run generates nothing and writes the same pairs.
    generate_simplewiki_pairs(wiki_file, out, make_stub_generator, cfg, SMALL)
    assert json.loads((out / "simple_wiki" / MANIFEST).read_text())["this_run"]["seen"]["generations"] == 0
    assert pd.read_parquet(out / "simple_wiki").equals(rows)

    # Other settings in the same folder are refused, naming what changed.
    with pytest.raises(ValueError, match="generation.*pairs_per_passage"):
        generate_simplewiki_pairs(
            wiki_file, out, make_stub_generator, dataclasses.replace(cfg, pairs_per_passage=5), SMALL
        )


def make_flaky_generator(poison: str, flag: str):
    """The stub, except that while the file `flag` exists a batch holding `poison` raises (a
    replica dying mid-run); the same factory, so a rerun has the same settings."""
    generate = make_stub_generator()

    def flaky(prompts: list[str]) -> list[str]:
        if Path(flag).exists() and any(poison in p for p in prompts):
            raise RuntimeError("generator poisoned")
        return generate(prompts)

    return flaky


@pytest.mark.slow
def test_a_crash_keeps_finished_passages_and_the_rerun_completes_them(
    ray_session, picklable_tests, wiki_file, tmp_path
):
    import functools

    out, flag = tmp_path / "out", tmp_path / "poisoned"
    flag.touch()
    cfg = GenerationConfig(batch_size=2, replicas=1, part_passages=1000)
    write_passages(wiki_file, tmp_path / "passages.parquet", SMALL)
    passages = pq.read_table(tmp_path / "passages.parquet").to_pandas()
    generator = functools.partial(make_flaky_generator, passages["text"].iloc[-1], str(flag))
    with pytest.raises(Exception, match="generator poisoned"):
        generate_simplewiki_pairs(wiki_file, out, generator, cfg, SMALL)
    done = WorkState(out).done()
    assert 0 < len(done) < len(passages)  # the batches that finished were written, the poisoned one was not
    assert not (out / "simple_wiki").exists()  # no output until every passage is done

    flag.unlink()
    counts = generate_simplewiki_pairs(wiki_file, out, generator, cfg, SMALL)
    manifest = json.loads((out / "simple_wiki" / MANIFEST).read_text())
    assert manifest["this_run"]["seen"]["generations"] == len(passages) - len(done)
    expected = [p for t, text in zip(passages["title"], passages["text"]) for p in stub_pairs(t, text)]
    rows = pd.read_parquet(out / "simple_wiki")
    assert list(zip(rows["prompt"], rows["reply"])) == expected and counts.pairs == len(expected)


@pytest.mark.slow
def test_a_tiny_random_model_is_parsed_cleanly_into_counted_drops(ray_session, wiki_file, tmp_path):
    model = write_tiny_random_model(tmp_path / "model", wiki_file.read_text().splitlines()[:200])
    from classit_ray.data.instruct_pairs.__main__ import main

    out = tmp_path / "out"
    argv = [
        "simplewiki",
        str(wiki_file.parent),
        "--generator",
        str(model),
        "--out",
        str(out),
        "--limit",
        "4",
        "--max-new-tokens",
        "16",
        "--batch-size",
        "2",
        "--max-passage-words",
        "80",
        "--min-passage-words",
        "20",
    ]
    assert main(argv) == 0
    manifest = json.loads((out / "simple_wiki" / MANIFEST).read_text())
    counts = manifest["counts"]
    assert counts["pairs"] == 0 and counts["seen"]["generations"] == 4
    # Every generation is accounted for: with no pair kept, each dropped at least one candidate.
    assert counts["dropped"] >= 4
    assert len(pd.read_parquet(out / "simple_wiki")) == 0
    assert manifest["settings"]["generator"]["model_type"] == "llama"
    parts = pd.read_parquet(out / "_work" / "simple_wiki" / "parts")
    assert len(parts) == 4 and all(isinstance(g, str) for g in parts["generation"])  # raw generations kept to audit


def test_generation_bad_input_is_named(ray_session, wiki_file, tmp_path):
    with pytest.raises(FileNotFoundError, match="not a local model folder"):
        generate_simplewiki_pairs(wiki_file, tmp_path / "out", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="Simple Wikipedia file not found"):
        generate_simplewiki_pairs(tmp_path / "missing.train", tmp_path / "out", make_stub_generator)
    with pytest.raises(ValueError, match="pairs_per_passage must be >= 1"):
        GenerationConfig(pairs_per_passage=0)


# --- The command line and the budget table -------------------------------------------------------


def test_switchboard_command_line(toy_world, tmp_path):
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "classit_ray.data.instruct_pairs",
            "switchboard",
            toy_world["corpus_dir"],
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert re.search(r"switchboard: [\d,]+ pairs, [\d,]+ words; dropped [\d,]+ \(", run.stdout)
    assert "| config | pairs | prompt words |" in run.stdout and "switchboard: 100%" in run.stderr  # the progress bar
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "classit_ray.data.instruct_pairs",
            "switchboard",
            str(tmp_path / "none.train"),
            "--out",
            str(tmp_path / "o2"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert bad.returncode == 1 and "none.train: Switchboard file not found" in bad.stderr


@pytest.mark.slow
def test_generated_words_count_toward_the_instruction_budget_and_show_in_the_table(
    ray_session, picklable_tests, toy_world, wiki_file, tmp_path
):
    from classit_ray.config import Config
    from classit_ray.data.budget import split_budget

    out = tmp_path / "pairs"
    build_switchboard_pairs(Path(toy_world["corpus_dir"]) / "switchboard.train", out, TurnRules(min_words=1))
    generate_simplewiki_pairs(wiki_file, out, make_stub_generator, GenerationConfig(batch_size=8), SMALL)
    cfg = Config()
    corpus = dataclasses.replace(cfg.corpus, data_dir=toy_world["corpus_dir"], instruct_dir=str(out))
    budget = dataclasses.replace(
        cfg.budget, total_words=20_000, instruct_fraction=0.02, heldout_pairs=0
    )  # 59 switchboard pairs: none to spare
    manifest = split_budget(corpus, budget, tmp_path / "split")
    instruct = manifest["table"]["instruct"]
    assert instruct["simple_wiki"]["generated"] == instruct["simple_wiki"]["words"] > 0
    assert instruct["switchboard"]["generated"] == 0 and instruct["switchboard"]["words"] > 0
    assert 400 - 60 < manifest["words"]["instruct"] <= 400  # within a pair of the target
    assert manifest["generated_words"] == instruct["simple_wiki"]["words"]
    table = (tmp_path / "split" / "budget.md").read_text()
    assert "| generated |" in table
    assert f"| instruct | simple_wiki | {instruct['simple_wiki']['words']:,} | " in table
    assert re.search(rf"\| \*\*instruct\*\* \| all \| .* \| {instruct['simple_wiki']['words']:,} \| \|", table)


def test_rebuilding_pairs_with_other_settings_changes_the_split_key(toy_world, tmp_path):
    from classit_ray.config import Config
    from classit_ray.data.stages import plan_data

    out = tmp_path / "pairs"
    cfg = Config()
    cfg = dataclasses.replace(
        cfg, corpus=dataclasses.replace(cfg.corpus, data_dir=toy_world["corpus_dir"], instruct_dir=str(out))
    )
    src = Path(toy_world["corpus_dir"]) / "switchboard.train"

    def split_key() -> str:
        return plan_data(cfg, tmp_path / "work").keys["split"]

    before = split_key()  # no pairs built yet: the folder is named by its path alone
    build_switchboard_pairs(src, out)
    first = split_key()
    build_switchboard_pairs(src, out)
    assert split_key() == first != before  # the same pairs again: the same split
    build_switchboard_pairs(src, out, TurnRules(min_words=1))
    assert split_key() != first  # other pairs in the same folder: a new split, never the stale one
