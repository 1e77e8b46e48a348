"""The toy world's evaluation data: read back by every real-format reader, full and fast sizes,
determinism, items that are right by the toy grammar and KB, and reading times that follow the
documented surprisal process."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from classit_ray.eval.formats import (
    COMPS_FILES,
    GLUE_FIELDS,
    GLUE_NUM_LABELS,
    read_blimp,
    read_comps,
    read_entity_tracking,
    read_ewok,
    read_glue,
    read_reading,
    read_supplement,
    read_wug,
    task_dir,
)
from classit_ray.toyworld.evaldata import write_toy_eval
from classit_ray.toyworld.lexicon import ANIMALS, ANIMALS_AT, FACTS, NOUNS, ed_form, takes_ity
from classit_ray.toyworld.reading import RT_PROCESS, BigramLM, normalize

ZERO_SHOT = {  # reader, folder, (full, fast) item counts
    "blimp": (read_blimp, "blimp_filtered", (900, 240)),
    "supplement": (read_supplement, "supplement_filtered", (500, 150)),
    "ewok": (read_ewok, "ewok_filtered", (600, 180)),
    "entity_tracking": (read_entity_tracking, "entity_tracking", (450, 144)),
    "wug_adj": (lambda f: read_wug(f, "wug_adj"), "wug_adj_nominalization", (200, 200)),
    "wug_past": (lambda f: read_wug(f, "wug_past"), "wug_past_tense", (200, 200)),
}


@pytest.fixture(scope="module")
def eval_dir(toy_world) -> Path:
    return Path(toy_world["eval_dir"])


def all_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_every_reader_reads_full_and_fast_and_fast_is_a_smaller_subset(eval_dir):
    assert eval_dir.name == "evaluation_data" and (eval_dir / "fast_eval" / "blimp_fast").is_dir()
    for name, (read, folder, (n_full, n_fast)) in ZERO_SHOT.items():
        full, fast = read(task_dir(eval_dir, False, folder)), read(task_dir(eval_dir, True, folder))
        assert (len(full), len(fast)) == (n_full, n_fast), name
        assert {(i.id, i.context, i.candidates) for i in fast} <= {(i.id, i.context, i.candidates) for i in full}, name
    full, fast = (read_reading(task_dir(eval_dir, f, "reading")) for f in (False, True))
    assert (len(full), len(fast)) == (1726, 500) and full.head(500).equals(fast)
    for task in GLUE_FIELDS:
        train, valid = read_glue(task_dir(eval_dir, False, "glue_filtered"), task)
        fast_train, fast_valid = read_glue(task_dir(eval_dir, True, "glue_filtered"), task)
        assert (len(train), len(valid), len(fast_train), len(fast_valid)) == (300, 102, 96, 48), task
        assert fast_train == train[:96] and fast_valid == valid[:48]


def test_same_seed_gives_identical_bytes_and_another_seed_differs(tmp_path):
    a = all_bytes(write_toy_eval(tmp_path / "a", seed=1))
    b = all_bytes(write_toy_eval(tmp_path / "b", seed=1))
    c = all_bytes(write_toy_eval(tmp_path / "c", seed=2))
    assert a == b
    assert a.keys() == c.keys() and all(a[k] != c[k] for k in a)
    with pytest.raises(FileExistsError, match="evaluation_data"):
        write_toy_eval(tmp_path / "a", seed=1)


def test_minimal_pairs_differ_in_exactly_one_word(eval_dir):
    items = read_blimp(task_dir(eval_dir, False, "blimp_filtered"))
    items += read_supplement(task_dir(eval_dir, False, "supplement_filtered"))
    assert len({i.group for i in items}) == 11
    for item in items:
        good, bad = (c.split() for c in item.candidates)
        if item.group == "subject_aux_inversion":  # the auxiliary moves: same words, another order
            assert sorted(good) == sorted(bad) and good != bad, item
        else:
            assert len(good) == len(bad) and sum(g != b for g, b in zip(good, bad)) == 1, item
    irregular = [i for i in items if i.group == "irregular_past_tense"]
    assert any(" ate " in i.candidates[0] and " eated " in i.candidates[1] for i in irregular)


def test_glue_labels_are_balanced_and_train_and_valid_do_not_overlap(eval_dir):
    for task, fields in GLUE_FIELDS.items():
        train, valid = read_glue(task_dir(eval_dir, False, "glue_filtered"), task)
        for rows in (train, valid, train[:96], valid[:48]):
            counts = Counter(r["label"] for r in rows)
            assert sorted(counts) == list(range(GLUE_NUM_LABELS[task])) and len(set(counts.values())) == 1, (
                task,
                counts,
            )
        text = lambda r, fields=fields: tuple(r[f] for f in fields)
        assert not {text(r) for r in train} & {text(r) for r in valid}, task
        assert len({text(r) for r in train}) == len(train), task
        raw = (eval_dir / "full_eval" / "glue_filtered" / f"{task}.valid.jsonl").read_text().splitlines()[0]
        assert re.fullmatch(r"\{" + ", ".join(f'"{f}": ".*"' for f in fields) + r', "label": \d\}', raw), raw


def _replay(prefix: str) -> str:
    """The true contents of the queried box, by simulating the story's operations."""
    setup, *operations, query = re.split(r"(?<=\.) ", prefix)
    boxes = [
        [] if text == "nothing" else text.split(" and ")
        for text in re.findall(r"Box \d+ contains (.*?)(?=, Box \d+ contains |\.$)", setup)
    ]
    where = lambda item: next(i for i, b in enumerate(boxes) if item in b)
    for op in operations:
        if m := re.fullmatch(r"Put (the \w+) into Box (\d+)\.", op):
            boxes[int(m[2])].append(m[1])
        elif m := re.fullmatch(r"Move the contents of Box (\d+) to Box (\d+)\.", op):
            boxes[int(m[2])] += boxes[int(m[1])]
            boxes[int(m[1])] = []
        elif m := re.fullmatch(r"Move (the \w+)(?: from Box (\d+))? to Box (\d+)\.", op):
            boxes[int(m[2]) if m[2] else where(m[1])].remove(m[1])
            boxes[int(m[3])].append(m[1])
        else:
            m = re.fullmatch(r"Remove (the \w+)(?: from Box (\d+))?\.", op)
            boxes[int(m[2]) if m[2] else where(m[1])].remove(m[1])
    box = boxes[int(re.fullmatch(r"Box (\d+) contains", query)[1])]
    return f" {' and '.join(box) if box else 'nothing'}."


def test_entity_tracking_option_0_is_the_true_state_after_the_operations(eval_dir):
    items = read_entity_tracking(task_dir(eval_dir, False, "entity_tracking"))
    files = ("regular", "ambiref", "move_contents")
    assert Counter(i.group for i in items) == {f"{f}_{n}_ops": 25 for f in files for n in range(6)}
    for item in items:
        assert item.candidates[0] == _replay(item.context), item
        assert item.candidates[0] not in item.candidates[1:] and len(item.candidates) >= 2
        ops = item.context.count(".") - 1
        assert ops == int(item.group.split("_")[-2]), item
        if item.group.startswith("ambiref") and ops:
            assert " from Box" not in item.context
        if item.group.startswith("move_contents") and ops:
            assert "Move the contents of Box" in item.context
        if item.group.startswith(("regular", "ambiref")):
            assert "contents" not in item.context


def test_ewok_targets_follow_the_knowledge_base(eval_dir):
    items = read_ewok(task_dir(eval_dir, False, "ewok_filtered"))
    assert len({i.group for i in items}) == 6
    for item in items:
        assert item.candidates[0] != item.candidates[1] and all(c.startswith(" ") for c in item.candidates)
        if item.group == "animal-habitats":
            place = re.search(r"the (\w+)\.$", item.context)[1]
            assert item.candidates[0].rstrip(".").split()[-1] in ANIMALS_AT[place]
        if item.group == "animal-diets":
            animal = item.context.split()[1]
            eaten = item.candidates[0].rstrip(".").split()[-1]
            assert eaten in {NOUNS[f].pl for f in ANIMALS[animal].foods}


def test_comps_is_in_full_eval_alone_and_its_property_holds_of_the_acceptable_concept_only(eval_dir):
    assert not list((eval_dir / "fast_eval").glob("comps*"))  # as in the release
    items = read_comps(task_dir(eval_dir, False, "comps"))
    assert Counter(i.group for i in items) == {
        "base": 200,
        "wugs": 60,
        "wugs_dist_before": 60,
        "wugs_dist_in_between": 60,
    }
    for stem in COMPS_FILES:
        for line in (eval_dir / "full_eval" / "comps" / f"{stem}.jsonl").read_text().splitlines():
            row = json.loads(line)
            relation, noun = row["property"].split(":")
            other = row["unacceptable_concept"]
            assert row["acceptable_concept"] == noun and row["property_phrase"] == f"{FACTS[noun][relation][0]}."
            assert FACTS[other].get(relation, ("",))[0] != FACTS[noun][relation][0]  # false of the distractor
            for prefix, concept in ((row["prefix_acceptable"], noun), (row["prefix_unacceptable"], other)):
                if stem == "comps_base":
                    assert prefix.split()[-1] == concept, row
                else:  # the concept the claimed nonce word was said to be
                    said = dict(re.findall(r"An? (\w+) is an? (\w+)\.", prefix))
                    assert said[prefix.split()[-1]] == concept and prefix.startswith(tuple(f"A {w}" for w in said)), row
            if stem != "comps_base":
                assert (row["prefix_acceptable"].count(". ") == 1) == (stem == "comps_wugs")


def _bench_toy_tasks():
    import importlib.util

    spec = importlib.util.spec_from_file_location("toy_tasks", Path(__file__).parents[1] / "bench" / "toy_tasks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_toy_task_can_be_learned_from_its_own_data(eval_dir):
    """The ceilings of bench/toy_tasks.py: the generator's labels never contradict each other (an
    oracle of them scores 1 on every choice task), the WUG ratings follow their rule far beyond
    what their item count can tell from chance (2 standard errors), and a bag-of-words reference
    trained on each GLUE train split beats chance on its eval split by more than 2 standard errors."""
    bench = _bench_toy_tasks()
    for task in ("blimp", "blimp_supplement", "ewok", "entity_tracking", "comps"):
        assert bench.choice_ceiling(eval_dir, task) == (1.0, 0), task
    for task in ("wug_adj", "wug_past"):
        n = len(bench._items(eval_dir, task))
        assert bench.choice_ceiling(eval_dir, task)[0] > 0.7 > 4 / (n - 1) ** 0.5, task
    glue = task_dir(eval_dir, False, "glue_filtered")
    for task in GLUE_FIELDS:
        train, valid = read_glue(glue, task)
        chance = bench.glue_chance(train, valid, task)
        assert bench.reference_classifier(train, valid, task) > chance + 2 * (0.25 / len(valid)) ** 0.5, task


def test_wug_ratios_follow_the_regular_rule(eval_dir):
    adjectives = read_wug(task_dir(eval_dir, False, "wug_adj_nominalization"), "wug_adj")
    ity = {i.candidates[0].split()[4].rstrip("."): i.target for i in adjectives}  # "The fox was very <adj>."
    assert all(0 < r < 1 for r in ity.values())
    by_rule = {rule: np.mean([r for a, r in ity.items() if takes_ity(a) == rule]) for rule in (True, False)}
    assert by_rule[True] > 0.75 and by_rule[False] < 0.25, by_rule
    assert all("ity of" in i.candidates[0] and "ness of" in i.candidates[1] for i in adjectives)
    past = read_wug(task_dir(eval_dir, False, "wug_past_tense"), "wug_past")
    for item in past:
        stem = re.match(r"Today they (\w+)\.", item.candidates[0])[1]
        assert item.candidates[0].endswith(f"they {ed_form(stem)}.") and item.candidates[1] != item.candidates[0]
    assert np.mean([i.target for i in past]) > 0.6


def test_reading_times_follow_the_documented_surprisal_process(toy_world, eval_dir):
    corpus = sorted(Path(toy_world["corpus_dir"]).glob("*.train"))
    lm = BigramLM(line for path in corpus for line in path.read_text(encoding="utf-8").splitlines())
    frame = read_reading(task_dir(eval_dir, False, "reading"))
    words, prev = [normalize(w) for w in frame["word"]], [normalize(w) for w in frame["prev_word"]]
    assert (frame["item"] == frame["prev_item"] + " " + frame["prev_word"]).all()
    assert np.allclose(frame["Subtlex_log10"], [lm.log10_per_million(w) for w in words], atol=1e-4)
    assert (frame["length"] == [len(w) for w in words]).all()
    assert (frame["context_length"] == frame["item"].str.split().str.len()).all()
    surprisal = np.array([lm.surprisal(p, w) for p, w in zip(prev, words)])
    baseline = np.column_stack([np.ones(len(frame)), frame["Subtlex_log10"], frame["length"], frame["context_length"]])
    for column, (_, a, *_rest) in RT_PROCESS.items():
        rt = frame[column].to_numpy()
        r2 = []
        for design in (baseline, np.column_stack([baseline, surprisal])):
            coef, *_ = np.linalg.lstsq(design, rt, rcond=None)
            r2.append(1 - np.var(rt - design @ coef) / np.var(rt))
        assert abs(coef[-1] - a) < 0.15 * a + 1, (column, coef[-1], a)  # the surprisal slope is recovered
        assert 100 * (r2[1] - r2[0]) / (1 - r2[0]) > 10, column
