"""The toy world's GLUE fine-tuning sets (`glue_filtered/<task>.{train,valid}.jsonl`), in the
release's fields: each of the seven subtasks is learnable from the knowledge base (`lexicon.py`),
and its labels are balanced in every prefix, so the fast set's first rows are balanced too.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

from classit_ray.eval.formats import GLUE_FIELDS, GLUE_NUM_LABELS
from classit_ray.toyworld.evalfiles import ANIMAL_LIST, NAME_LIST, PLACES_WITH_ANIMALS, cap, rng_for, unique, write_both
from classit_ray.toyworld.lexicon import (
    ANIMALS,
    ANIMALS_AT,
    FACTS,
    LECTURE_QUESTIONS,
    MASS_HYPERNYMS,
    NAMES,
    NOUNS,
    PEOPLE,
    PLACES,
    THINGS,
    VERBS,
    a_hypernym,
    article,
    class_of,
)

GLUE_ROWS = {
    "train": (300, 96),
    "valid": (102, 48),
}  # (full, fast) rows per split; multiples of 6: balanced for 2 and 3 labels


def _generic(rng: random.Random, noun: str) -> tuple[str, bool]:
    """ "a fox", "foxes" or "the fox", with its number."""
    r = rng.random()
    if r < 0.4:
        return f"{article(noun)} {noun}", False
    return (NOUNS[noun].pl, True) if r < 0.8 else (f"the {noun}", False)


def _other_value(rng: random.Random, noun: str, relation: str) -> tuple[str, str, str, str]:
    """The predicate of `relation` for another noun, with another value."""
    return rng.choice([f[relation] for f in FACTS.values() if relation in f and f[relation] != FACTS[noun][relation]])


def _passage(rng: random.Random, noun: str, relations: list[str]) -> str:
    """ "Foxes are mammals. They live in the forest.": the KB's facts about `noun`, one per relation."""
    subject, plural = _generic(rng, noun)
    sentences = []
    for relation in relations:
        sentences.append(f"{cap(subject)} {FACTS[noun][relation][plural]}.")
        subject = "they" if plural else "it"
    return " ".join(sentences)


def _question(rng: random.Random, noun: str, relation: str) -> str:
    plural = rng.random() < 0.4
    return LECTURE_QUESTIONS[relation][plural].format(NOUNS[noun].pl if plural else f"{article(noun)} {noun}")


def _boolq(rng: random.Random, label: int) -> dict:
    """A lower-case yes/no question ("does a fox eat berries and mice") about a passage; 1 = yes."""
    noun = rng.choice(tuple(FACTS))
    relations = rng.sample(tuple(FACTS[noun]), min(4, len(FACTS[noun])))
    asked = rng.choice([r for r in relations if r != "animal"])  # every animal is one: no false value
    subject, plural = _generic(rng, noun)
    predicate = FACTS[noun][asked] if label else _other_value(rng, noun, asked)
    first, rest = predicate[plural].split(" ", 1)
    question = (
        f"{first} {subject} {rest}"
        if first in ("is", "are", "can")
        else f"{'do' if plural else 'does'} {subject} {predicate[1]}"
    )
    return {"question": question, "passage": _passage(rng, noun, relations)}


def _mnli(rng: random.Random, label: int) -> dict:
    """0 entailment (a hypernym, someone, something), 1 neutral (more than said), 2 contradiction (not)."""
    name, noun = rng.choice(NAME_LIST), rng.choice(tuple(FACTS))
    verb = VERBS[rng.choice(("see", "find", "want", "like"))]
    np = f"{article(noun)} {noun}"
    if label == 0:
        cls = class_of(noun)
        hypernym = (
            rng.choice(("an animal", a_hypernym(cls)))
            if noun in ANIMALS
            else f"some {cls}"
            if cls in MASS_HYPERNYMS
            else a_hypernym(cls)
        )
        options = (f"{name} {verb.past} {hypernym}.", f"Someone {verb.past} {np}.", f"{name} {verb.past} something.")
    elif label == 1:
        other = rng.choice([n for n in FACTS if n != noun and (n in ANIMALS) == (noun in ANIMALS)])
        someone_else = rng.choice([n for n in NAME_LIST if n != name])
        options = (
            f"{name} {verb.past} {article(other)} {other}.",
            f"{name} {verb.past} {np} in the {rng.choice(tuple(PLACES))}.",
            f"{someone_else} {verb.past} {np}.",
        )
    else:
        options = (
            f"{name} did not {verb.base} {np}.",
            f"Nobody {verb.past} {np}.",
            f"{name} did not {verb.base} anything.",
        )
    return {"premise": f"{name} {verb.past} {np}.", "hypothesis": rng.choice(options)}


def _same_or_not(
    rng: random.Random, label: int, render: Callable[[str, str], str], asked: frozenset | None = None
) -> tuple[str, str]:
    """Two renderings of one (noun, relation) fact (label 1), or of another relation or noun (label 0)."""
    noun = rng.choice(tuple(FACTS))
    relations = [r for r in FACTS[noun] if asked is None or r in asked]
    relation = rng.choice(relations)
    first = render(noun, relation)
    while True:
        if label:
            second = render(noun, relation)
        elif rng.random() < 0.5:
            second = render(noun, rng.choice([r for r in relations if r != relation]))
        else:
            second = render(rng.choice([n for n in FACTS if relation in FACTS[n] and n != noun]), relation)
        if second != first:
            return first, second


def _mrpc(rng: random.Random, label: int) -> dict:
    """ "A fox eats berries and mice." / "Foxes eat berries and mice.": 1 = paraphrase."""
    first, second = _same_or_not(rng, label, lambda noun, relation: _passage(rng, noun, [relation]))
    return {"sentence1": first, "sentence2": second}


def _qqp(rng: random.Random, label: int) -> dict:
    """ "What does a fox eat?" / "What do foxes eat?": 1 = duplicate."""
    first, second = _same_or_not(
        rng, label, lambda noun, relation: _question(rng, noun, relation), frozenset(LECTURE_QUESTIONS)
    )
    return {"question1": first, "question2": second}


def _rte(rng: random.Random, label: int) -> dict:
    """A short story and a claim; GLUE's RTE labels: 0 = entailment, 1 = not entailment."""
    name, place = rng.choice(NAME_LIST), rng.choice(PLACES_WITH_ANIMALS)
    animal = rng.choice(ANIMALS_AT[place])
    text = f"{name} went to the {place}. There {NAMES[name]} saw {article(animal)} {animal}."
    if rng.random() < 0.5:
        text += f" It {FACTS[animal][rng.choice(('colour', 'food', 'class'))][2]}."
    if label == 0:
        options = (
            f"{name} saw {article(animal)} {animal}.",
            f"{name} saw an animal.",
            f"{name} went to the {place}.",
            f"{name} saw {a_hypernym(ANIMALS[animal].cls)}.",
        )
    else:
        other = rng.choice([a for a in ANIMALS if a != animal])
        someone_else = rng.choice([n for n in NAME_LIST if n != name])
        options = (
            f"{name} went to the {rng.choice([p for p in PLACES if p != place])}.",
            f"{name} saw {article(other)} {other}.",
            f"{someone_else} went to the {place}.",
        )
    return {"sentence1": text, "sentence2": rng.choice(options)}


def _wsc(rng: random.Random, label: int) -> dict:
    """Two candidate referents and a pronoun; the KB or common sense picks one. 1 = span1 is it."""
    r, first = rng.random(), rng.random() < 0.5  # whether the pronoun refers to the first noun phrase
    if r < 0.4:  # "The fox ate the berries because they were sweet."
        animal = rng.choice(ANIMAL_LIST)
        food = rng.choice(ANIMALS[animal].foods)
        plural = rng.random() < 0.5
        a, f = (NOUNS[animal].pl, NOUNS[food].pl) if plural else (animal, food)
        pronoun = "they" if plural else "it"
        taste = THINGS[food].taste if food in THINGS else "tasty"
        text = f"The {a} ate the {f} because {pronoun} {'were' if plural else 'was'} {'hungry' if first else taste}."
    elif r < 0.7:  # "The coin fit into the box because it was small."
        a = rng.choice([t for t, f in THINGS.items() if f.size in ("small", "tiny") and f.category != "container"])
        f, pronoun = rng.choice(("box", "basket")), "it"
        text = f"The {a} fit into the {f} because it was {'small' if first else 'big'}."
    else:  # "The farmers fed the dogs because they were hungry."
        a, f, pronoun = rng.choice(PEOPLE).pl, NOUNS[rng.choice(ANIMAL_LIST)].pl, "they"
        text = f"The {a} fed the {f} because they were {'kind' if first else 'hungry'}."
    referent, other = (f"the {a}", f"the {f}") if first else (f"the {f}", f"the {a}")
    return {"span1_text": referent if label else other, "span2_text": pronoun, "text": text}


def _multirc(rng: random.Random, label: int) -> dict:
    """A question on a paragraph and a candidate answer: 1 = correct."""
    noun = rng.choice(tuple(FACTS))
    relations = rng.sample([r for r in FACTS[noun] if r in LECTURE_QUESTIONS], 3)
    asked = relations[0]
    rng.shuffle(relations)
    if label:
        predicate = FACTS[noun][asked]
    elif rng.random() < 0.5:  # true of the noun, but not what was asked
        predicate = FACTS[noun][rng.choice([r for r in relations if r != asked])]
    else:
        predicate = _other_value(rng, noun, asked)
    answer = predicate[0].split(" ", 1)[1]  # "eats berries and mice" -> "berries and mice"
    return {"question": _question(rng, noun, asked), "answer": answer, "paragraph": _passage(rng, noun, relations)}


GLUE_MAKERS: dict[str, Callable[[random.Random, int], dict]] = {
    "boolq": _boolq,
    "mnli": _mnli,
    "mrpc": _mrpc,
    "multirc": _multirc,
    "qqp": _qqp,
    "rte": _rte,
    "wsc": _wsc,
}


def glue_rows(rng: random.Random, task: str, n: int, seen: set) -> list[dict]:
    """`n` distinct rows (none in `seen`); every prefix of `GLUE_NUM_LABELS[task]` rows is balanced."""
    k, rows = GLUE_NUM_LABELS[task], []
    for start in range(0, n, k):
        for label in rng.sample(range(k), k)[: n - start]:
            make = lambda label=label: {**GLUE_MAKERS[task](rng, label), "label": label}
            rows += unique(make, 1, seen, key=lambda row: tuple(row.values()))
    return rows


def write_toy_glue(root: Path, seed: int) -> None:
    """Every subtask's train and valid files under `root/{full_eval,fast_eval}/glue_filtered/`."""
    for task in GLUE_FIELDS:
        rng, seen = rng_for(seed, f"glue:{task}"), set()
        for split, (n_full, n_fast) in GLUE_ROWS.items():
            rows = glue_rows(rng, task, n_full, seen)
            write_both(root, "glue_filtered", f"{task}.{split}.jsonl", rows, n_fast)
