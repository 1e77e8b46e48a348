"""Write the toy world's BabyLM 2025 evaluation data, in the real release's layout and formats.

Every item is built from the toy grammar and knowledge base (`grammar.py`, `lexicon.py`), so
a model pretrained on the toy corpus can beat chance, and read back by the same readers
(`classit_ray/eval/formats.py`) that read the real files:

    OUT/evaluation_data/full_eval/{blimp_filtered, supplement_filtered, ewok_filtered, entity_tracking,
                                   wug_adj_nominalization, wug_past_tense, comps, reading, glue_filtered, aoa}/
    OUT/evaluation_data/fast_eval/{blimp_fast, supplement_fast, ewok_fast, entity_tracking_fast,
                                   wug_adj_nominalization, wug_past_tense, reading, glue_filtered}/

As in the release, `fast_eval/` is a subset of `full_eval/` (the first items of each file) under
the release's fast folder names; the WUG sets are small and are the same in both; COMPS and AoA
(`aoadata.py`) are in `full_eval/` only. Unlike the release, `fast_eval/` also has a smaller GLUE set, for quick
fine-tuning tests, and all three entity-tracking files.

Reading times (`reading/reading_data.csv`) are simulated from a KNOWN surprisal process
(`reading.py`), so the reading-time regression can be checked against it.

The same seed gives byte-identical files; each task draws from its own `random.Random` stream
(`evalfiles.py`). GLUE's fine-tuning sets are written by `gluedata.py`.
"""

from __future__ import annotations

import csv
import math
import random
import re
from collections.abc import Callable
from functools import partial
from pathlib import Path

from classit_ray.eval.formats import COMPS_FILES, FAST_NAMES, READING_COLUMNS, READING_FILE
from classit_ray.toyworld import EVAL_DIR
from classit_ray.toyworld.aoadata import write_toy_aoa
from classit_ray.toyworld.evalfiles import (
    ANIMAL_LIST,
    FAST,
    FULL,
    NAME_LIST,
    PLACES_WITH_ANIMALS,
    cap,
    rng_for,
    unique,
    write_both,
    write_jsonl,
)
from classit_ray.toyworld.gluedata import write_toy_glue
from classit_ray.toyworld.grammar import (
    agreement_pair,
    box_contents,
    box_story,
    determiner_noun_pair,
    noun_phrase,
    pronoun_agreement_pair,
    qa_congruence_pair,
)
from classit_ray.toyworld.lexicon import (
    ANIMALS,
    ANIMALS_AT,
    FACTS,
    HYPERNYMS,
    NAMES,
    NONCE_ADJECTIVES,
    NONCE_NOUNS,
    NONCE_VERBS,
    NOUNS,
    PEOPLE,
    PETS,
    PLACES,
    PREPOSITIONS,
    THINGS,
    VERBS,
    article,
    class_of,
    ed_form,
    takes_ity,
)
from classit_ray.toyworld.reading import BigramLM, corpus_lines, reading_rows

# (full, fast) sizes.
BLIMP_ITEMS = (150, 40)  # per UID file
SUPPLEMENT_ITEMS = (100, 30)  # per file
EWOK_ITEMS = (100, 30)  # per domain file
ENTITY_ITEMS = (25, 8)  # per file and number of operations (0-5)
WUG_ITEMS = {"wug_adj_nominalization": 200, "wug_past_tense": 200}  # the same in fast_eval
# 200 each: Spearman's standard error at no correlation is 1/sqrt(n - 1), 0.07 here; with 50 past-tense
# items (0.14) the pretrained toy models' 0.00 and 0.09 could not be told from chance (bench/toy_tasks.py).
COMPS_ITEMS = {stem: 200 if stem == "comps_base" else 60 for stem in COMPS_FILES}  # full_eval only, as in the release
READING_ROWS = (1726, 500)

_THING_LIST = tuple(THINGS)
_OBJECTS = tuple(t for t, f in THINGS.items() if f.material)
_FOODS = tuple(t for t, f in THINGS.items() if f.taste)
_EDIBLE_CLASSES = frozenset({"fruit", "vegetable", "treat", "food", "plant"})


# BLiMP and its supplement: (good, bad) pairs that differ in one word (the auxiliary moves in one).
_IRREGULAR_INTRANSITIVE = {
    "run": "person",
    "sleep": "person",
    "sing": "person",
    "sit": "person",
    "hide": "person",
    "swim": "person",
    "fall": "thing",
    "break": "thing",
}
_IRREGULAR_TRANSITIVE = {
    "eat": _FOODS,
    "see": ANIMAL_LIST + _THING_LIST,
    "find": ANIMAL_LIST + _THING_LIST,
    "hold": _OBJECTS,
    "throw": _OBJECTS,
    "bring": _OBJECTS,
    "take": _OBJECTS,
}


def _person(rng: random.Random) -> str:
    if rng.random() < 0.4:
        return rng.choice(NAME_LIST)
    noun = rng.choice(PEOPLE)
    return f"the {noun.pl if rng.random() < 0.3 else noun.sg}"


def irregular_past_pair(rng: random.Random) -> tuple[str, str]:
    """("The girl ate the apple.", "The girl eated the apple."): bad regularizes an irregular past."""
    r = rng.random()
    if r < 0.4:
        verb = rng.choice(tuple(_IRREGULAR_TRANSITIVE))
        obj = noun_phrase(rng, NOUNS[rng.choice(_IRREGULAR_TRANSITIVE[verb])], rng.random() < 0.35, det="the")
        subject, rest = _person(rng), obj
    elif r < 0.55:
        verb, subject = "go", _person(rng)
        rest = f"to the {rng.choice(tuple(PLACES))}"
    elif r < 0.65:
        animal = rng.choice([a for a, f in ANIMALS.items() if f.sound])
        verb, subject, rest = "say", f"the {animal}", ANIMALS[animal].sound
    elif r < 0.72:
        verb, subject, rest = "fly", f"the {rng.choice([a for a, f in ANIMALS.items() if f.moves == 'fly'])}", ""
    else:
        verb = rng.choice(tuple(_IRREGULAR_INTRANSITIVE))
        kind = _IRREGULAR_INTRANSITIVE[verb]
        subject = _person(rng) if kind == "person" else f"the {rng.choice(_THING_LIST)}"
        rest = ""
    head = cap(subject)
    tail = f" {rest}." if rest else "."
    return f"{head} {VERBS[verb].past}{tail}", f"{head} {ed_form(verb)}{tail}"


BLIMP_UIDS: dict[str, tuple[str, str, Callable[[random.Random], tuple[str, str]]]] = {
    "subject_verb_agreement_simple": ("morphology", "subject_verb_agreement", lambda rng: agreement_pair(rng, "none")),
    "subject_verb_agreement_pp_attractor": (
        "morphology",
        "subject_verb_agreement",
        lambda rng: agreement_pair(rng, "pp"),
    ),
    "subject_verb_agreement_rc_attractor": (
        "morphology",
        "subject_verb_agreement",
        lambda rng: agreement_pair(rng, rng.choice(("object_rc", "subject_rc"))),
    ),
    "determiner_noun_agreement": ("morphology", "determiner_noun_agreement", determiner_noun_pair),
    "pronoun_verb_agreement": ("morphology", "subject_verb_agreement", pronoun_agreement_pair),
    "irregular_past_tense": ("morphology", "irregular_forms", irregular_past_pair),
}


def hypernym_pair(rng: random.Random) -> tuple[str, str]:
    """("Robins are birds.", "Robins are tools."): the KB's class against a false one."""
    noun = rng.choice(tuple(FACTS))
    cls = class_of(noun)
    banned = {cls} | (_EDIBLE_CLASSES if noun in _FOODS else set())
    wrong = rng.choice([c for c in HYPERNYMS if c not in banned])
    subject = cap(NOUNS[noun].pl)
    return f"{subject} are {HYPERNYMS[cls]}.", f"{subject} are {HYPERNYMS[wrong]}."


def qa_congruence_tricky_pair(rng: random.Random) -> tuple[str, str]:
    """("Who did Anna see? The boy.", "Who did Anna see? The cup."): a fragment answer, no verb to lean on."""
    good, bad = qa_congruence_pair(rng)
    question = good.split("? ", 1)[0]
    return f"{question}? The {good.split()[-1]}", f"{question}? The {bad.split()[-1]}"


def subject_aux_inversion_pair(rng: random.Random) -> tuple[str, str]:
    """("Is the key that is near the box grey?", "Is the key that near the box is grey?"): the main
    clause's auxiliary is fronted, not the relative clause's."""
    noun = NOUNS[rng.choice(_THING_LIST + ANIMAL_LIST)]
    plural = rng.random() < 0.4
    aux = "are" if plural else "is"
    other = NOUNS[rng.choice([t for t in _THING_LIST if t != noun.sg])]
    pp = f"{rng.choice(PREPOSITIONS)} the {other.pl if rng.random() < 0.4 else other.sg}"
    adjective = (
        ANIMALS[noun.sg].colour if noun.sg in ANIMALS else rng.choice((THINGS[noun.sg].colour, THINGS[noun.sg].size))
    )
    np = f"the {noun.pl if plural else noun.sg}"
    return f"{cap(aux)} {np} that {aux} {pp} {adjective}?", f"{cap(aux)} {np} that {pp} {aux} {adjective}?"


def turn_taking_pair(rng: random.Random) -> tuple[str, str]:
    """("A: Do you have a dog? B: Yes, I have a dog.", "... B: Yes, you have a dog."): the answer's
    pronoun must switch with the speaker."""
    r = rng.random()
    thing, pet = NOUNS[rng.choice(_THING_LIST)], rng.choice(PETS)
    you = VERBS[rng.choice(("see", "find", "want", "like"))]
    me = VERBS[rng.choice(("take", "hold", "drop", "bring"))]
    question, answer, pronouns = (
        (f"Do you have {article(pet)} {pet}?", f"Yes, {{}} have {article(pet)} {pet}.", ("I", "you"))
        if r < 0.3
        else (f"Did you {you.base} the {thing.sg}?", f"Yes, {{}} {you.past} the {thing.sg}.", ("I", "you"))
        if r < 0.55
        else (f"Did I {me.base} the {thing.pl}?", f"Yes, {{}} {me.past} the {thing.pl}.", ("you", "I"))
        if r < 0.8
        else (f"Can you find the {thing.sg}?", f"No, {{}} can't find the {thing.sg}.", ("I", "you"))
    )
    return tuple(f"A: {question} B: {answer.format(p)}" for p in pronouns)


SUPPLEMENT_UIDS: dict[str, Callable[[random.Random], tuple[str, str]]] = {
    "hypernym": hypernym_pair,
    "qa_congruence_easy": qa_congruence_pair,
    "qa_congruence_tricky": qa_congruence_tricky_pair,
    "subject_aux_inversion": subject_aux_inversion_pair,
    "turn_taking": turn_taking_pair,
}


def _write_minimal_pairs(root: Path, seed: int) -> None:
    for uid, (field, term, make) in BLIMP_UIDS.items():
        rng = rng_for(seed, f"blimp:{uid}")
        pairs = unique(partial(make, rng), BLIMP_ITEMS[0])
        rows = [
            {"sentence_good": g, "sentence_bad": b, "field": field, "UID": uid, "linguistics_term": term}
            for g, b in pairs
        ]
        write_both(root, "blimp_filtered", f"{uid}.jsonl", rows, BLIMP_ITEMS[1])
    for uid, make in SUPPLEMENT_UIDS.items():
        rng = rng_for(seed, f"supplement:{uid}")
        rows = [{"sentence_good": g, "sentence_bad": b} for g, b in unique(partial(make, rng), SUPPLEMENT_ITEMS[0])]
        write_both(root, "supplement_filtered", f"{uid}.jsonl", rows, SUPPLEMENT_ITEMS[1])


# EWoK
def _two(rng: random.Random, pool: tuple[str, ...], differ: Callable[[str, str], object]) -> tuple[str, str]:
    """Two members of `pool` for which `differ(a, b)` holds."""
    while True:
        a, b = rng.sample(pool, 2)
        if differ(a, b):
            return a, b


def _habitats(rng: random.Random) -> tuple[str, str, str, str]:
    p1, p2 = rng.sample(PLACES_WITH_ANIMALS, 2)
    name = rng.choice(NAME_LIST)
    a1, a2 = rng.choice(ANIMALS_AT[p1]), rng.choice(ANIMALS_AT[p2])
    return (
        f"{name} went to the {p1}.",
        f"{name} went to the {p2}.",
        f"There {NAMES[name]} saw {article(a1)} {a1}.",
        f"There {NAMES[name]} saw {article(a2)} {a2}.",
    )


def _diets(rng: random.Random) -> tuple[str, str, str, str]:
    foods = lambda a: set(ANIMALS[a].foods)
    a1, a2 = _two(rng, ANIMAL_LIST, lambda a, b: foods(a) - foods(b) and foods(b) - foods(a))
    f1, f2 = rng.choice(sorted(foods(a1) - foods(a2))), rng.choice(sorted(foods(a2) - foods(a1)))
    return f"The {a1} was hungry.", f"The {a2} was hungry.", f"It ate {NOUNS[f1].pl}.", f"It ate {NOUNS[f2].pl}."


def _sounds(rng: random.Random) -> tuple[str, str, str, str]:
    a1, a2 = _two(
        rng, tuple(a for a, f in ANIMALS.items() if f.sound), lambda a, b: ANIMALS[a].sound != ANIMALS[b].sound
    )
    name = rng.choice(NAME_LIST)
    return (
        f"{name} saw {article(a1)} {a1}.",
        f"{name} saw {article(a2)} {a2}.",
        f"It said {ANIMALS[a1].sound}.",
        f"It said {ANIMALS[a2].sound}.",
    )


def _thing_domain(attribute: str, verb: str, template: str) -> Callable[[random.Random], tuple[str, str, str, str]]:
    def make(rng: random.Random) -> tuple[str, str, str, str]:
        value = lambda t: getattr(THINGS[t], attribute)
        t1, t2 = _two(rng, _OBJECTS if attribute == "material" else _THING_LIST, lambda a, b: value(a) != value(b))
        name = rng.choice(NAME_LIST)
        return (
            f"{name} {verb} the {t1}.",
            f"{name} {verb} the {t2}.",
            template.format(value(t1)),
            template.format(value(t2)),
        )

    return make


# (Context1, Context2, Target1, Target2): each target is what the KB expects after its context, as
# the corpus's stories tell it ("Anna went to the forest. There she saw a fox.", "She had a key.
# It was grey.").
EWOK_DOMAINS = {
    "animal-habitats": _habitats,
    "animal-diets": _diets,
    "animal-sounds": _sounds,
    "object-colours": _thing_domain("colour", "had", "It was {}."),
    "object-materials": _thing_domain("material", "found", "It was made of {}."),
    "object-sizes": _thing_domain("size", "held", "It was {}."),
}


def _write_ewok(root: Path, seed: int) -> None:
    for domain, make in EWOK_DOMAINS.items():
        rng = rng_for(seed, f"ewok:{domain}")
        rows = [
            {
                "Context1": c1,
                "Context2": c2,
                "Target1": t1,
                "Target2": t2,
                "Domain": domain,
                "ContextType": "direct",
                "ContextDiff": "concept swap",
                "TargetDiff": "concept swap",
            }
            for c1, c2, t1, t2 in unique(partial(make, rng), EWOK_ITEMS[0])
        ]
        write_both(root, "ewok_filtered", f"{domain}.jsonl", rows, EWOK_ITEMS[1])


# Entity tracking
_SETUP_BOX = re.compile(r"Box \d+ contains (.*?)(?=, Box \d+ contains |\.$)")


def entity_tracking_item(rng: random.Random, variant: str, numops: int) -> dict:
    """One item: a box story, "Box i contains" and options (index 0 the box's true contents).

    regular: put / remove / move operations; move_contents: at least one "Move the contents of
    Box i to Box j." (when numops > 0); ambiref: operations name the item but not its box
    ("Move the apple to Box 2.", "Remove the apple."), so the reader must resolve where it is.
    Distractors are the box's first contents and other boxes' contents.
    """
    for _ in range(1000):
        story = box_story(rng, rng.randint(3, 5), numops)
        moved_contents = any(op.startswith("Move the contents") for op in story.operations)
        if moved_contents == (variant == "move_contents" and numops > 0):
            break
    else:
        raise RuntimeError(f"no {variant} story with {numops} operations")
    operations = story.operations
    if variant == "ambiref":
        operations = [re.sub(r" from Box \d+", "", op) for op in operations]
    box = rng.randrange(len(story.contents))
    correct = f" {box_contents(story.contents[box])}."
    initial = [f" {text}." for text in _SETUP_BOX.findall(story.setup)]
    others = [f" {box_contents(c)}." for i, c in enumerate(story.contents) if i != box]
    distractors = list(dict.fromkeys(o for o in [initial[box], *others, *initial] if o != correct))
    if not distractors:  # every box holds the same: offer an item that was never there
        distractors = [f" the {rng.choice([t for t in _THING_LIST if f'the {t}' not in correct])}."]
    rng.shuffle(distractors)
    prefix = " ".join([story.setup, *operations, f"Box {box} contains"])
    return {"input_prefix": prefix, "options": [correct, *distractors[:3]], "numops": numops}


def _write_entity_tracking(root: Path, seed: int) -> None:
    for variant in ("regular", "ambiref", "move_contents"):
        rng = rng_for(seed, f"entity_tracking:{variant}")
        full, fast = [], []
        for numops in range(6):
            rows = [entity_tracking_item(rng, variant, numops) for _ in range(ENTITY_ITEMS[0])]
            full += rows
            fast += rows[: ENTITY_ITEMS[1]]
        write_jsonl(root / FULL / "entity_tracking" / f"{variant}.jsonl", full)
        write_jsonl(root / FAST / FAST_NAMES["entity_tracking"] / f"{variant}.jsonl", fast)


# WUG: nonce words, and a simulated human preference for candidate 0
# Onsets English words rarely start with, so a nonce word is new to any model, not only a toy one.
_ONSETS = ("bw", "dw", "gw", "pw", "vl", "zw", "shm", "vr", "zl", "dv", "thw", "gn")
_VOWELS = ("a", "e", "i", "o", "u")
_CODAS = ("m", "nt", "nd", "rp", "lk", "b", "g", "v", "z", "sk")
_ITY_SUFFIXES = ("al", "ic", "ive", "able", "ar")
_NESS_SUFFIXES = ("y", "ish", "ful", "less", "")
# Toy irregular pasts by rime (sing/sang, swim/swam, sit/sat, run/ran, hide/hid, sleep/slept, ...).
_IRREGULAR_RIMES = {
    "ing": "ang",
    "im": "am",
    "it": "at",
    "un": "an",
    "ide": "id",
    "eep": "ept",
    "all": "ell",
    "eak": "oke",
    "ake": "ook",
    "ind": "ound",
    "old": "eld",
    "ow": "ew",
}
_OTHER_RIMES = {
    "ork": "ark",
    "ump": "omp",
    "ast": "ust",
    "elf": "olf",
    "ool": "ail",
    "arb": "orb",
    "esk": "osk",
    "ong": "ang",
    "ush": "osh",
    "oft": "eft",
    "ilm": "alm",
    "urn": "arn",
}


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def _nonce(rng: random.Random, suffixes: tuple[str, ...]) -> str:
    return rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS) + rng.choice(suffixes)


def ity_form(adjective: str) -> str:
    """The -ity nominalization, whatever the stem: `trovial`→`troviality`, `snorpy`→`snorpity`."""
    if adjective.endswith("able"):
        return adjective[:-4] + "ability"
    return (adjective[:-1] if adjective.endswith(("e", "y")) else adjective) + "ity"


def ness_form(adjective: str) -> str:
    """The -ness nominalization, whatever the stem: `snorpy`→`snorpiness`, `trovial`→`trovialness`."""
    return (adjective[:-1] + "i" if adjective.endswith("y") else adjective) + "ness"


def _wug_adj_rows(rng: random.Random, n: int) -> list[dict]:
    """Candidate 0 takes -ity, candidate 1 -ness; `ratio` (share preferring -ity) follows the toy
    world's rule (-ity after -al/-ic/-ive/-able/-ar) plus noise: sigmoid(±2 + Normal(0, 0.8))."""
    adjectives = unique(lambda: _nonce(rng, rng.choice((_ITY_SUFFIXES, _NESS_SUFFIXES))), n, set(NONCE_ADJECTIVES))
    rows = []
    for adjective in adjectives:
        wug, name = NOUNS[rng.choice(ANIMAL_LIST)], rng.choice(NAME_LIST)
        frame = f"The {wug.sg} was very {adjective}. {name} liked the {{}} of the {wug.pl}."
        ratio = _sigmoid((2.0 if takes_ity(adjective) else -2.0) + rng.gauss(0, 0.8))
        rows.append(
            {
                "sentences": f"{frame.format(ity_form(adjective))}\t{frame.format(ness_form(adjective))}",
                "ratio": round(ratio, 3),
            }
        )
    return rows


def _wug_past_rows(rng: random.Random, n: int) -> list[dict]:
    """Candidate 0 is the regular -ed past, candidate 1 a vowel-change past; `ratio` (share preferring
    -ed) is high, lower where the stem rhymes with a toy irregular verb (spling→splang):
    sigmoid(2 − 1.8·rhymes + Normal(0, 0.6))."""

    def make() -> tuple[str, str, bool]:
        rimes = _IRREGULAR_RIMES if rng.random() < 0.5 else _OTHER_RIMES
        rime, onset = rng.choice(tuple(rimes)), rng.choice(_ONSETS)
        return onset + rime, onset + rimes[rime], rimes is _IRREGULAR_RIMES

    rows = []
    for stem, irregular, rhymes in unique(make, n, set(NONCE_VERBS) | set(VERBS), key=lambda x: x[0]):
        frame = f"Today they {stem}. Yesterday they {{}}."
        ratio = _sigmoid(2.0 - 1.8 * rhymes + rng.gauss(0, 0.6))
        rows.append(
            {"sentences": f"{frame.format(ed_form(stem))}\t{frame.format(irregular)}", "ratio": round(ratio, 3)}
        )
    return rows


def _write_wug(root: Path, seed: int) -> None:
    makers = {"wug_adj_nominalization": _wug_adj_rows, "wug_past_tense": _wug_past_rows}
    for name, make in makers.items():
        rows = make(rng_for(seed, name), WUG_ITEMS[name])
        write_both(root, name, f"{name}.jsonl", rows, len(rows))


# COMPS: a property of one concept against a concept that lacks it, plain or inherited by a nonce
# concept ("A wug is a fox. Therefore, a wug eats berries and mice.").
COMPS_RELATIONS = {
    "animal": ("habitat", "food", "colour", "sound", "moves"),
    "thing": ("colour", "size", "material", "taste"),
}


def _lacks(noun: str, other: str, relation: str) -> bool:
    """Whether the KB's `relation` of `noun` is false of `other` (for food: no food in common)."""
    if relation not in FACTS[other] or FACTS[other][relation] == FACTS[noun][relation]:
        return False
    return relation != "food" or not set(ANIMALS[noun].foods) & set(ANIMALS[other].foods)


def comps_concepts(rng: random.Random) -> tuple[str, str, str]:
    """(noun, a noun of the same kind that lacks the property, relation): the property is
    FACTS[noun][relation]; half the time the distractor is of the noun's own class where one lacks
    the property (COMPS's taxonomic negatives), else any concept of its kind that lacks it."""
    kind = "animal" if rng.random() < 0.6 else "thing"
    pool = ANIMAL_LIST if kind == "animal" else _THING_LIST
    while True:
        noun = rng.choice(pool)
        relation = rng.choice([r for r in COMPS_RELATIONS[kind] if r in FACTS[noun]])
        others = [o for o in pool if o != noun and _lacks(noun, o, relation)]
        if others:
            same_class = [o for o in others if class_of(o) == class_of(noun)]
            return noun, rng.choice(same_class if same_class and rng.random() < 0.5 else others), relation


def comps_row(rng: random.Random, stem: str) -> dict:
    """One COMPS row of file `stem`, in the release's fields. The two sentences differ before the
    shared `property_phrase`: base names the concept ("A fox" / "A cow"); the wugs files let a
    nonce concept inherit from it ("A wug is a fox. Therefore, a wug"), with a second nonce concept
    bound to the distractor before or in between (the `dist` files)."""
    noun, other, relation = comps_concepts(rng)
    a = lambda n: f"{article(n)} {n}"
    if stem == "comps_base":
        good, bad = cap(a(noun)), cap(a(other))
    else:
        wug, dax = rng.sample(NONCE_NOUNS, 2)
        claim = f"Therefore, {a(wug)}"
        if stem == "comps_wugs":
            good, bad = (f"{cap(a(wug))} is {a(n)}. {claim}" for n in (noun, other))
        elif stem == "comps_wugs_dist-before":
            good = f"{cap(a(dax))} is {a(other)}. {cap(a(wug))} is {a(noun)}. {claim}"
            bad = f"{cap(a(dax))} is {a(noun)}. {cap(a(wug))} is {a(other)}. {claim}"
        else:
            good = f"{cap(a(wug))} is {a(noun)}. {cap(a(dax))} is {a(other)}. {claim}"
            bad = f"{cap(a(wug))} is {a(other)}. {cap(a(dax))} is {a(noun)}. {claim}"
    return {
        "property": f"{relation}:{noun}",
        "acceptable_concept": noun,
        "unacceptable_concept": other,
        "prefix_acceptable": good,
        "prefix_unacceptable": bad,
        "property_phrase": f"{FACTS[noun][relation][0]}.",
        "negative_sample_type": "taxonomic" if class_of(other) == class_of(noun) else "random",
    }


def _write_comps(root: Path, seed: int) -> None:
    for stem, n in COMPS_ITEMS.items():
        rng = rng_for(seed, f"comps:{stem}")
        rows = unique(
            partial(comps_row, rng, stem),
            n,
            key=lambda r: (r["prefix_acceptable"], r["prefix_unacceptable"], r["property_phrase"]),
        )
        write_jsonl(root / FULL / "comps" / f"{stem}.jsonl", [{"id": i, **row} for i, row in enumerate(rows)])


def _write_reading(root: Path, seed: int, corpus_dir: Path | None) -> None:
    lm = BigramLM(corpus_lines(corpus_dir, seed))
    rows = reading_rows(lm, rng_for(seed, "reading"), READING_ROWS[0])
    for split, n in ((FULL, READING_ROWS[0]), (FAST, READING_ROWS[1])):
        path = root / split / "reading" / READING_FILE
        path.parent.mkdir(parents=True)
        with open(path, "w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=READING_COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows[:n])


def write_toy_eval(out_dir: str | Path, seed: int = 0, corpus_dir: str | Path | None = None) -> Path:
    """Write `out_dir/evaluation_data/{full_eval,fast_eval}/...` for the toy world; return that folder.

    `corpus_dir` is the toy corpus (`*.train`) the reading-time surprisals are estimated from
    (grammar-generated text when None). Refuses an `out_dir` that already has `evaluation_data/`.
    """
    root = Path(out_dir).expanduser() / EVAL_DIR
    if root.exists():
        raise FileExistsError(f"{root} already exists; remove it or choose another directory")
    _write_minimal_pairs(root, seed)
    _write_ewok(root, seed)
    _write_entity_tracking(root, seed)
    _write_wug(root, seed)
    _write_comps(root, seed)
    _write_reading(root, seed, None if corpus_dir is None else Path(corpus_dir))
    write_toy_glue(root, seed)
    write_toy_aoa(root, seed, None if corpus_dir is None else Path(corpus_dir))
    return root
