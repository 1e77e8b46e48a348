"""The toy world: real BabyLM line formats and shares, CLASS_IT parquet, determinism, atomic and
idempotent writing, the phenomena it is built to teach, and minimal pairs for its evaluation."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from classit_ray.toyworld import grammar as toygrammar
from classit_ray.toyworld import world as toyworld
from classit_ray.toyworld.lexicon import FACTS, NONCE_NOUNS, NONCE_VERBS, NOUNS, VERBS, ed_form, nominalize, s_form
from classit_ray.toyworld.world import SOURCE_PERCENT, write_toy_world

N = 40_000  # the session `toy_world` fixture's size
SOURCES = ("bnc_spoken", "childes", "gutenberg", "open_subtitles", "simple_wiki", "switchboard")
HEADER = re.compile(r"^= = = .+ = = =$")
LABEL = re.compile(r"^\S+:\t")


def lines_of(toy: dict, source: str) -> list[str]:
    text = (Path(toy["corpus_dir"]) / f"{source}.train").read_text(encoding="utf-8")
    assert text.endswith("\n") and "\n\n" not in text
    return text.splitlines()


def all_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_six_files_in_the_real_line_formats(toy_world):
    switchboard = lines_of(toy_world, "switchboard")
    assert all(re.match(r"^[AB]:\t\S", line) for line in switchboard)
    speakers = [line[0] for line in switchboard]
    assert all(a != b for a, b in zip(speakers, speakers[1:])), "Switchboard turns must alternate A/B"

    childes = lines_of(toy_world, "childes")
    assert HEADER.match(childes[0]) and re.match(r"^= = = \w+\.cha = = =$", childes[0])
    assert all(HEADER.match(line) or re.match(r"^\*[A-Z]{3}:\t", line) for line in childes)
    codes = {line[1:4] for line in childes if line.startswith("*")}
    assert {"MOT", "CHI", "FAT", "INV"} <= codes
    assert any(re.search(r"\[\w+\]", line) for line in childes)

    wiki = lines_of(toy_world, "simple_wiki")
    headers = [i for i, line in enumerate(wiki) if HEADER.match(line)]
    assert headers[0] == 0 and len(headers) > 20
    assert all(j - i > 1 for i, j in zip(headers, headers[1:])), "every article has a paragraph"
    for source in ("gutenberg", "open_subtitles", "bnc_spoken"):
        assert not any(HEADER.match(line) or LABEL.match(line) for line in lines_of(toy_world, source)), source


def test_word_total_and_shares_follow_the_real_mix(toy_world):
    counts = {s: len(" ".join(lines_of(toy_world, s)).split()) for s in SOURCES}
    assert toy_world["words"] == {f"{s}.train": counts[s] for s in SOURCES}
    total = sum(counts.values())
    assert abs(total - N) <= 0.01 * N
    for source, percent in SOURCE_PERCENT.items():
        share = 100 * counts[source] / total
        assert abs(share - 100 * percent / sum(SOURCE_PERCENT.values())) < 1.5, (source, share)


def test_instruction_parquet_has_the_class_it_columns(toy_world):
    for config, percent in toyworld.INSTRUCT_PERCENT.items():
        path = Path(toy_world["instruct_dir"]) / config / "train-00000-of-00001.parquet"
        table = pq.read_table(path)
        # CLASS_IT's columns, and the optional `answer` the interactive evaluation checks (data/class_it.py)
        assert table.schema.names == ["prompt", "reply", "source", "text", "answer"]
        assert all(t == pa.string() for t in table.schema.types)
        rows = table.to_pandas()
        assert len(rows) == toy_world["pairs"][config]
        assert (rows["source"] == config).all()
        assert (rows["text"] == rows["prompt"] + "\n" + rows["reply"]).all()
        words = sum(len(p.split()) + len(r.split()) for p, r in zip(rows["prompt"], rows["reply"]))
        assert percent * N / 100 <= words < percent * N / 100 + 200
    wiki = pq.read_table(Path(toy_world["instruct_dir"]) / "simple_wiki").to_pandas()
    assert wiki["prompt"].str.endswith("?").all() and wiki["reply"].str.endswith(".").all()
    assert ("What does a fox eat?", "A fox eats berries and mice.") in {
        (p, r.split(". ")[0] + ".") for p, r in zip(wiki["prompt"], wiki["reply"])
    }


def test_switchboard_pairs_are_consecutive_turns_of_different_speakers(toy_world):
    rows = pq.read_table(Path(toy_world["instruct_dir"]) / "switchboard").to_pandas()
    # Pairs slide along each conversation, so a reply is the next row's prompt except where a new
    # conversation starts; and a question is answered by the other speaker, not asked twice.
    chained = (rows["reply"].iloc[:-1].to_numpy() == rows["prompt"].iloc[1:].to_numpy()).mean()
    assert chained > 0.8
    assert not any(p == r for p, r in zip(rows["prompt"], rows["reply"]))


def test_same_seed_gives_identical_bytes_and_another_seed_differs(tmp_path):
    a = all_bytes(Path(write_toy_world(tmp_path / "a", words=20_000, seed=3)["corpus_dir"]).parent)
    b = all_bytes(Path(write_toy_world(tmp_path / "b", words=20_000, seed=3)["corpus_dir"]).parent)
    c = all_bytes(Path(write_toy_world(tmp_path / "c", words=20_000, seed=4)["corpus_dir"]).parent)
    assert a == b
    assert a.keys() == c.keys() and all(a[k] != c[k] for k in a if k.endswith((".train", ".parquet")))


def test_recall_is_idempotent_and_other_parameters_are_refused(tmp_path):
    out = tmp_path / "world"
    first = write_toy_world(out, words=5_000, seed=0)
    stamp = (out / "train_toy" / "childes.train").stat().st_mtime_ns
    assert write_toy_world(out, words=5_000, seed=0) == first
    assert (out / "train_toy" / "childes.train").stat().st_mtime_ns == stamp
    with pytest.raises(ValueError, match=re.escape(str(out))):
        write_toy_world(out, words=6_000, seed=0)
    with pytest.raises(ValueError, match="seed=1"):
        write_toy_world(out, words=5_000, seed=1)
    (tmp_path / "other").mkdir()
    with pytest.raises(ValueError, match="toyworld.json"):
        write_toy_world(tmp_path / "other", words=5_000)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other", "world"], "no temporary directory left"


def test_a_failed_write_leaves_nothing_behind(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(toyworld, "_write_pairs", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        write_toy_world(tmp_path / "world", words=5_000)
    assert list(tmp_path.iterdir()) == []


def test_the_corpus_contains_the_phenomena_it_teaches(toy_world):
    text = {s: "\n".join(lines_of(toy_world, s)) for s in SOURCES}
    everything = "\n".join(text.values())
    # Agreement across attractors, in every source but the tiny Switchboard.
    for source in ("bnc_spoken", "childes", "gutenberg", "open_subtitles", "simple_wiki"):
        assert re.search(
            r"\b(near|behind|under|beside|with|by) (the|these|those|a|an|this|that|two) (\w+ )?\w+ (is|are|was|were)\b",
            text[source],
        ), source
    assert re.search(
        r"\bthat (the|these|those) \w+ (likes|like|sees|see|finds|find|watches|watch) (is|are|runs|run)\b", everything
    )
    # Congruent questions and answers, answered by the next speaker.
    sw = lines_of(toy_world, "switchboard")
    assert any(
        re.match(r"A:\t(.*, )?[Ww]hat did (\w+) (\w+)\?$", a) and b.startswith("B:\t") for a, b in zip(sw, sw[1:])
    )
    assert re.search(r"\*MOT:\tWho \w+ the \w+\?", text["childes"])
    # Facts of the KB, and irregular past tense, in the encyclopedia and the stories.
    wiki = text["simple_wiki"].lower()
    stated = [
        (noun, relation)
        for noun, facts in FACTS.items()
        for relation, (sg, pl, _, _) in facts.items()
        if f"{noun} {sg}." in wiki or f"{NOUNS[noun].pl} {pl}." in wiki
    ]
    assert len(stated) > 0.6 * sum(len(facts) for facts in FACTS.values())
    assert re.search(r"\b(eats?|ate) berries and mice\b", text["gutenberg"] + text["simple_wiki"])
    assert re.search(r"\b(ate|saw|found|held|took|brought|threw|went)\b", text["gutenberg"])
    # Entity tracking and nonce morphology.
    assert re.search(r"Move the \w+ from Box \d to Box \d\.", text["gutenberg"])
    assert any(f"two {s_form(n)}" in text["gutenberg"] for n in NONCE_NOUNS)
    assert any(f"Yesterday they {ed_form(v)}." in text["gutenberg"] for v in NONCE_VERBS)
    assert re.search(r"\b\w+(ness|ity) of the \w+\.", text["gutenberg"])


@pytest.mark.parametrize(
    "make_pair",
    [
        *(lambda rng, a=a: toygrammar.agreement_pair(rng, a) for a in toygrammar.ATTRACTORS),
        toygrammar.determiner_noun_pair,
        toygrammar.qa_congruence_pair,
        toygrammar.pronoun_agreement_pair,
    ],
)
def test_minimal_pairs_differ_in_exactly_one_word(make_pair):
    rng = random.Random(0)
    for _ in range(300):
        good, bad = make_pair(rng)
        g, b = good.split(), bad.split()
        assert len(g) == len(b) and sum(x != y for x, y in zip(g, b)) == 1, (good, bad)


def test_attractor_pairs_put_the_attractor_in_the_other_number():
    singular = {v.s3 for v in VERBS.values()} | {"is", "has"}
    rng = random.Random(1)
    for _ in range(200):
        good, bad = toygrammar.agreement_pair(rng, "object_rc")
        # "The dogs that the girl likes run." / "... likes runs.": the word before the verb is the
        # RC verb, which agrees with the attractor, so it has bad's number and not good's.
        g, b = good.rstrip(".").split(), bad.rstrip(".").split()
        i = next(k for k, (x, y) in enumerate(zip(g, b)) if x != y)
        assert (g[i - 1] in singular) == (b[i] in singular) != (g[i] in singular), good


def test_generators_use_only_the_rng_they_are_given():
    random.seed(123)
    expected = random.random()
    random.seed(123)
    outputs = []
    for seed in (5, 5):
        rng = random.Random(seed)
        outputs.append(
            [
                toygrammar.story_paragraph(rng),
                toygrammar.wiki_article(rng),
                toygrammar.dialogue(rng, 6),
                toygrammar.childes_exchange(rng),
                toygrammar.entity_tracking_story(rng),
                toygrammar.qa_pair(rng),
            ]
        )
    assert outputs[0] == outputs[1]
    assert random.random() == expected


def test_entity_tracking_state_follows_the_operations():
    rng = random.Random(2)
    for _ in range(200):
        story = toygrammar.box_story(rng, n_boxes=4, n_ops=5)
        boxes = [re.findall(r"the \w+", part) for part in story.setup.rstrip(".").split(", Box ")]
        for op in story.operations:
            if m := re.fullmatch(r"Move the contents of Box (\d) to Box (\d)\.", op):
                src, dst = int(m[1]), int(m[2])
                boxes[dst] += boxes[src]
                boxes[src] = []
            elif m := re.fullmatch(r"Move (the \w+) from Box (\d) to Box (\d)\.", op):
                boxes[int(m[2])].remove(m[1])
                boxes[int(m[3])].append(m[1])
            elif m := re.fullmatch(r"Remove (the \w+) from Box (\d)\.", op):
                boxes[int(m[2])].remove(m[1])
            else:
                m = re.fullmatch(r"Put (the \w+) into Box (\d)\.", op)
                boxes[int(m[2])].append(m[1])
        assert boxes == story.contents


def test_nonce_morphology_follows_regular_patterns():
    assert [s_form(w) for w in ("wug", "dax", "blorx")] == ["wugs", "daxes", "blorxes"]
    assert [ed_form(v) for v in ("blick", "plome")] == ["blicked", "plomed"]
    assert [nominalize(a) for a in ("trovial", "glorbic", "spandive", "flimable", "snorpy", "blithish", "dwarm")] == [
        "troviality",
        "glorbicity",
        "spandivity",
        "flimability",
        "snorpiness",
        "blithishness",
        "dwarmness",
    ]


def test_cli_prints_words_per_file_and_pairs_per_config(tmp_path, capsys):
    toyworld.main([str(tmp_path / "w"), "--words", "3000", "--seed", "2"])
    out = capsys.readouterr().out
    assert all(f"{s}.train" in out for s in SOURCES) and "simple_wiki" in out and "words/s" in out
