"""Write the toy world's BabyLM 2025 evaluation data, in the real release's layout and formats.

Every item is built from the toy grammar and knowledge base (`grammar.py`, `lexicon.py`), so
a model pretrained on the toy corpus can beat chance, and read back by the same readers
(`classit_ray/eval/formats.py`) that read the real files:

    OUT/evaluation_data/full_eval/{blimp_filtered, supplement_filtered, ewok_filtered, entity_tracking,
                                   wug_adj_nominalization, wug_past_tense, comps, reading, glue_filtered}/
    OUT/evaluation_data/fast_eval/{blimp_fast, supplement_fast, ewok_fast, entity_tracking_fast,
                                   wug_adj_nominalization, wug_past_tense, reading, glue_filtered}/

As in the release, `fast_eval/` is a subset of `full_eval/` (the first items of each file) under
the release's fast folder names; the WUG sets are small and are the same in both; COMPS is in
`full_eval/` only. Unlike the release, `fast_eval/` also has a smaller GLUE set, for quick
fine-tuning tests, and all three entity-tracking files.

Reading times (`reading/reading_data.csv`) are simulated from a KNOWN surprisal process
(`reading.py`), so the reading-time regression can be checked against it.

The same seed gives byte-identical files; each task draws from its own `random.Random` stream.
"""

from __future__ import annotations

import csv
import json
import math
import random
import re
from collections.abc import Callable, Iterable
from pathlib import Path

from classit_ray.toyworld import EVAL_DIR
from classit_ray.toyworld.grammar import (
    agreement_pair, box_contents, box_story, determiner_noun_pair, noun_phrase, pronoun_agreement_pair,
    qa_congruence_pair,
)
from classit_ray.toyworld.lexicon import (
    ANIMALS, ANIMALS_AT, FACTS, HYPERNYMS, LECTURE_QUESTIONS, MASS_HYPERNYMS, NAMES, NONCE_ADJECTIVES, NONCE_NOUNS,
    NONCE_VERBS, NOUNS, PEOPLE, PETS, PLACES, PREPOSITIONS, THINGS, VERBS, a_hypernym, article, ed_form, takes_ity,
)
from classit_ray.toyworld.reading import BigramLM, corpus_lines, reading_rows
from classit_ray.eval.formats import COMPS_FILES, FAST_NAMES, GLUE_FIELDS, GLUE_NUM_LABELS, READING_COLUMNS, READING_FILE

FULL, FAST = "full_eval", "fast_eval"

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
GLUE_ROWS = {"train": (300, 96), "valid": (102, 48)}  # multiples of 6: balanced for 2 and 3 labels

_NAMES = tuple(NAMES)
_ANIMAL_LIST, _THING_LIST = tuple(ANIMALS), tuple(THINGS)
_PLACES_WITH_ANIMALS = tuple(p for p in PLACES if ANIMALS_AT[p])
_OBJECTS = tuple(t for t, f in THINGS.items() if f.material)
_FOODS = tuple(t for t, f in THINGS.items() if f.taste)
_EDIBLE_CLASSES = frozenset({"fruit", "vegetable", "treat", "food", "plant"})


def _rng(seed: int, stream: str) -> random.Random:
    return random.Random(f"toyeval:{seed}:{stream}")  # str seeds are hashed stably (SHA-512)


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _unique(make: Callable[[], tuple], n: int, seen: set | None = None, key: Callable = lambda x: x) -> list:
    """`n` results of `make()` with distinct `key`s, none of them in `seen` (which is updated)."""
    seen = set() if seen is None else seen
    out = []
    for _ in range(200 * n):
        item = make()
        if key(item) not in seen:
            seen.add(key(item))
            out.append(item)
            if len(out) == n:
                return out
    raise RuntimeError(f"only {len(out)} distinct items of the {n} asked for; the generator's space is too small")


def _write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def _both(root: Path, full_name: str, file_name: str, rows: list[dict], n_fast: int) -> None:
    """Write all rows to full_eval/<full_name>/<file_name> and the first n_fast to its fast_eval twin."""
    _write_jsonl(root / FULL / full_name / file_name, rows)
    _write_jsonl(root / FAST / FAST_NAMES.get(full_name, full_name) / file_name, rows[:n_fast])


# BLiMP and its supplement: (good, bad) pairs that differ in one word (the auxiliary moves in one).
_IRREGULAR_INTRANSITIVE = {"run": "person", "sleep": "person", "sing": "person", "sit": "person", "hide": "person",
                           "swim": "person", "fall": "thing", "break": "thing"}
_IRREGULAR_TRANSITIVE = {"eat": _FOODS, "see": _ANIMAL_LIST + _THING_LIST, "find": _ANIMAL_LIST + _THING_LIST,
                         "hold": _OBJECTS, "throw": _OBJECTS, "bring": _OBJECTS, "take": _OBJECTS}


def _person(rng: random.Random) -> str:
    if rng.random() < 0.4:
        return rng.choice(_NAMES)
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
    head = _cap(subject)
    tail = f" {rest}." if rest else "."
    return f"{head} {VERBS[verb].past}{tail}", f"{head} {ed_form(verb)}{tail}"


BLIMP_UIDS: dict[str, tuple[str, str, Callable[[random.Random], tuple[str, str]]]] = {
    "subject_verb_agreement_simple": ("morphology", "subject_verb_agreement", lambda rng: agreement_pair(rng, "none")),
    "subject_verb_agreement_pp_attractor": ("morphology", "subject_verb_agreement", lambda rng: agreement_pair(rng, "pp")),
    "subject_verb_agreement_rc_attractor": (
        "morphology", "subject_verb_agreement", lambda rng: agreement_pair(rng, rng.choice(("object_rc", "subject_rc")))),
    "determiner_noun_agreement": ("morphology", "determiner_noun_agreement", determiner_noun_pair),
    "pronoun_verb_agreement": ("morphology", "subject_verb_agreement", pronoun_agreement_pair),
    "irregular_past_tense": ("morphology", "irregular_forms", irregular_past_pair),
}


def _class_of(noun: str) -> str:
    return ANIMALS[noun].cls if noun in ANIMALS else THINGS[noun].category


def hypernym_pair(rng: random.Random) -> tuple[str, str]:
    """("Robins are birds.", "Robins are tools."): the KB's class against a false one."""
    noun = rng.choice(tuple(FACTS))
    cls = _class_of(noun)
    banned = {cls} | (_EDIBLE_CLASSES if noun in _FOODS else set())
    wrong = rng.choice([c for c in HYPERNYMS if c not in banned])
    subject = _cap(NOUNS[noun].pl)
    return f"{subject} are {HYPERNYMS[cls]}.", f"{subject} are {HYPERNYMS[wrong]}."


def qa_congruence_tricky_pair(rng: random.Random) -> tuple[str, str]:
    """("Who did Anna see? The boy.", "Who did Anna see? The cup."): a fragment answer, no verb to lean on."""
    good, bad = qa_congruence_pair(rng)
    question = good.split("? ", 1)[0]
    return f"{question}? The {good.split()[-1]}", f"{question}? The {bad.split()[-1]}"


def subject_aux_inversion_pair(rng: random.Random) -> tuple[str, str]:
    """("Is the key that is near the box grey?", "Is the key that near the box is grey?"): the main
    clause's auxiliary is fronted, not the relative clause's."""
    noun = NOUNS[rng.choice(_THING_LIST + _ANIMAL_LIST)]
    plural = rng.random() < 0.4
    aux = "are" if plural else "is"
    other = NOUNS[rng.choice([t for t in _THING_LIST if t != noun.sg])]
    pp = f"{rng.choice(PREPOSITIONS)} the {other.pl if rng.random() < 0.4 else other.sg}"
    adjective = ANIMALS[noun.sg].colour if noun.sg in ANIMALS else rng.choice((THINGS[noun.sg].colour, THINGS[noun.sg].size))
    np = f"the {noun.pl if plural else noun.sg}"
    return f"{_cap(aux)} {np} that {aux} {pp} {adjective}?", f"{_cap(aux)} {np} that {pp} {aux} {adjective}?"


def turn_taking_pair(rng: random.Random) -> tuple[str, str]:
    """("A: Do you have a dog? B: Yes, I have a dog.", "... B: Yes, you have a dog."): the answer's
    pronoun must switch with the speaker."""
    r = rng.random()
    thing, pet = NOUNS[rng.choice(_THING_LIST)], rng.choice(PETS)
    you = VERBS[rng.choice(("see", "find", "want", "like"))]
    me = VERBS[rng.choice(("take", "hold", "drop", "bring"))]
    question, answer, pronouns = (
        (f"Do you have {article(pet)} {pet}?", f"Yes, {{}} have {article(pet)} {pet}.", ("I", "you")) if r < 0.3 else
        (f"Did you {you.base} the {thing.sg}?", f"Yes, {{}} {you.past} the {thing.sg}.", ("I", "you")) if r < 0.55 else
        (f"Did I {me.base} the {thing.pl}?", f"Yes, {{}} {me.past} the {thing.pl}.", ("you", "I")) if r < 0.8 else
        (f"Can you find the {thing.sg}?", f"No, {{}} can't find the {thing.sg}.", ("I", "you")))
    return tuple(f"A: {question} B: {answer.format(p)}" for p in pronouns)


SUPPLEMENT_UIDS: dict[str, Callable[[random.Random], tuple[str, str]]] = {
    "hypernym": hypernym_pair, "qa_congruence_easy": qa_congruence_pair,
    "qa_congruence_tricky": qa_congruence_tricky_pair, "subject_aux_inversion": subject_aux_inversion_pair,
    "turn_taking": turn_taking_pair,
}


def _write_minimal_pairs(root: Path, seed: int) -> None:
    for uid, (field, term, make) in BLIMP_UIDS.items():
        rng = _rng(seed, f"blimp:{uid}")
        pairs = _unique(lambda: make(rng), BLIMP_ITEMS[0])
        rows = [{"sentence_good": g, "sentence_bad": b, "field": field, "UID": uid, "linguistics_term": term}
                for g, b in pairs]
        _both(root, "blimp_filtered", f"{uid}.jsonl", rows, BLIMP_ITEMS[1])
    for uid, make in SUPPLEMENT_UIDS.items():
        rng = _rng(seed, f"supplement:{uid}")
        rows = [{"sentence_good": g, "sentence_bad": b} for g, b in _unique(lambda: make(rng), SUPPLEMENT_ITEMS[0])]
        _both(root, "supplement_filtered", f"{uid}.jsonl", rows, SUPPLEMENT_ITEMS[1])


# EWoK
def _two(rng: random.Random, pool: tuple[str, ...], differ: Callable[[str, str], object]) -> tuple[str, str]:
    """Two members of `pool` for which `differ(a, b)` holds."""
    while True:
        a, b = rng.sample(pool, 2)
        if differ(a, b):
            return a, b


def _habitats(rng: random.Random) -> tuple[str, str, str, str]:
    p1, p2 = rng.sample(_PLACES_WITH_ANIMALS, 2)
    name = rng.choice(_NAMES)
    a1, a2 = rng.choice(ANIMALS_AT[p1]), rng.choice(ANIMALS_AT[p2])
    return (f"{name} went to the {p1}.", f"{name} went to the {p2}.",
            f"There {NAMES[name]} saw {article(a1)} {a1}.", f"There {NAMES[name]} saw {article(a2)} {a2}.")


def _diets(rng: random.Random) -> tuple[str, str, str, str]:
    foods = lambda a: set(ANIMALS[a].foods)
    a1, a2 = _two(rng, _ANIMAL_LIST, lambda a, b: foods(a) - foods(b) and foods(b) - foods(a))
    f1, f2 = rng.choice(sorted(foods(a1) - foods(a2))), rng.choice(sorted(foods(a2) - foods(a1)))
    return f"The {a1} was hungry.", f"The {a2} was hungry.", f"It ate {NOUNS[f1].pl}.", f"It ate {NOUNS[f2].pl}."


def _sounds(rng: random.Random) -> tuple[str, str, str, str]:
    a1, a2 = _two(rng, tuple(a for a, f in ANIMALS.items() if f.sound), lambda a, b: ANIMALS[a].sound != ANIMALS[b].sound)
    name = rng.choice(_NAMES)
    return (f"{name} saw {article(a1)} {a1}.", f"{name} saw {article(a2)} {a2}.",
            f"It said {ANIMALS[a1].sound}.", f"It said {ANIMALS[a2].sound}.")


def _thing_domain(attribute: str, verb: str, template: str) -> Callable[[random.Random], tuple[str, str, str, str]]:
    def make(rng: random.Random) -> tuple[str, str, str, str]:
        value = lambda t: getattr(THINGS[t], attribute)
        t1, t2 = _two(rng, _OBJECTS if attribute == "material" else _THING_LIST, lambda a, b: value(a) != value(b))
        name = rng.choice(_NAMES)
        return f"{name} {verb} the {t1}.", f"{name} {verb} the {t2}.", template.format(value(t1)), template.format(value(t2))
    return make


# (Context1, Context2, Target1, Target2): each target is what the KB expects after its context, as
# the corpus's stories tell it ("Anna went to the forest. There she saw a fox.", "She had a key.
# It was grey.").
EWOK_DOMAINS = {"animal-habitats": _habitats, "animal-diets": _diets, "animal-sounds": _sounds,
                "object-colours": _thing_domain("colour", "had", "It was {}."),
                "object-materials": _thing_domain("material", "found", "It was made of {}."),
                "object-sizes": _thing_domain("size", "held", "It was {}.")}


def _write_ewok(root: Path, seed: int) -> None:
    for domain, make in EWOK_DOMAINS.items():
        rng = _rng(seed, f"ewok:{domain}")
        rows = [{"Context1": c1, "Context2": c2, "Target1": t1, "Target2": t2, "Domain": domain,
                 "ContextType": "direct", "ContextDiff": "concept swap", "TargetDiff": "concept swap"}
                for c1, c2, t1, t2 in _unique(lambda: make(rng), EWOK_ITEMS[0])]
        _both(root, "ewok_filtered", f"{domain}.jsonl", rows, EWOK_ITEMS[1])


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
        rng = _rng(seed, f"entity_tracking:{variant}")
        full, fast = [], []
        for numops in range(6):
            rows = [entity_tracking_item(rng, variant, numops) for _ in range(ENTITY_ITEMS[0])]
            full += rows
            fast += rows[: ENTITY_ITEMS[1]]
        _write_jsonl(root / FULL / "entity_tracking" / f"{variant}.jsonl", full)
        _write_jsonl(root / FAST / FAST_NAMES["entity_tracking"] / f"{variant}.jsonl", fast)


# WUG: nonce words, and a simulated human preference for candidate 0
# Onsets English words rarely start with, so a nonce word is new to any model, not only a toy one.
_ONSETS = ("bw", "dw", "gw", "pw", "vl", "zw", "shm", "vr", "zl", "dv", "thw", "gn")
_VOWELS = ("a", "e", "i", "o", "u")
_CODAS = ("m", "nt", "nd", "rp", "lk", "b", "g", "v", "z", "sk")
_ITY_SUFFIXES = ("al", "ic", "ive", "able", "ar")
_NESS_SUFFIXES = ("y", "ish", "ful", "less", "")
# Toy irregular pasts by rime (sing/sang, swim/swam, sit/sat, run/ran, hide/hid, sleep/slept, ...).
_IRREGULAR_RIMES = {"ing": "ang", "im": "am", "it": "at", "un": "an", "ide": "id", "eep": "ept", "all": "ell",
                    "eak": "oke", "ake": "ook", "ind": "ound", "old": "eld", "ow": "ew"}
_OTHER_RIMES = {"ork": "ark", "ump": "omp", "ast": "ust", "elf": "olf", "ool": "ail", "arb": "orb", "esk": "osk",
                "ong": "ang", "ush": "osh", "oft": "eft", "ilm": "alm", "urn": "arn"}


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
    adjectives = _unique(lambda: _nonce(rng, rng.choice((_ITY_SUFFIXES, _NESS_SUFFIXES))), n, set(NONCE_ADJECTIVES))
    rows = []
    for adjective in adjectives:
        wug, name = NOUNS[rng.choice(_ANIMAL_LIST)], rng.choice(_NAMES)
        frame = f"The {wug.sg} was very {adjective}. {name} liked the {{}} of the {wug.pl}."
        ratio = _sigmoid((2.0 if takes_ity(adjective) else -2.0) + rng.gauss(0, 0.8))
        rows.append({"sentences": f"{frame.format(ity_form(adjective))}\t{frame.format(ness_form(adjective))}",
                     "ratio": round(ratio, 3)})
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
    for stem, irregular, rhymes in _unique(make, n, set(NONCE_VERBS) | set(VERBS), key=lambda x: x[0]):
        frame = f"Today they {stem}. Yesterday they {{}}."
        ratio = _sigmoid(2.0 - 1.8 * rhymes + rng.gauss(0, 0.6))
        rows.append({"sentences": f"{frame.format(ed_form(stem))}\t{frame.format(irregular)}", "ratio": round(ratio, 3)})
    return rows


def _write_wug(root: Path, seed: int) -> None:
    makers = {"wug_adj_nominalization": _wug_adj_rows, "wug_past_tense": _wug_past_rows}
    for name, make in makers.items():
        rows = make(_rng(seed, name), WUG_ITEMS[name])
        _both(root, name, f"{name}.jsonl", rows, len(rows))


# COMPS: a property of one concept against a concept that lacks it, plain or inherited by a nonce
# concept ("A wug is a fox. Therefore, a wug eats berries and mice.").
COMPS_RELATIONS = {"animal": ("habitat", "food", "colour", "sound", "moves"), "thing": ("colour", "size", "material", "taste")}


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
    pool = _ANIMAL_LIST if kind == "animal" else _THING_LIST
    while True:
        noun = rng.choice(pool)
        relation = rng.choice([r for r in COMPS_RELATIONS[kind] if r in FACTS[noun]])
        others = [o for o in pool if o != noun and _lacks(noun, o, relation)]
        if others:
            same_class = [o for o in others if _class_of(o) == _class_of(noun)]
            return noun, rng.choice(same_class if same_class and rng.random() < 0.5 else others), relation


def comps_row(rng: random.Random, stem: str) -> dict:
    """One COMPS row of file `stem`, in the release's fields. The two sentences differ before the
    shared `property_phrase`: base names the concept ("A fox" / "A cow"); the wugs files let a
    nonce concept inherit from it ("A wug is a fox. Therefore, a wug"), with a second nonce concept
    bound to the distractor before or in between (the `dist` files)."""
    noun, other, relation = comps_concepts(rng)
    a = lambda n: f"{article(n)} {n}"
    if stem == "comps_base":
        good, bad = _cap(a(noun)), _cap(a(other))
    else:
        wug, dax = rng.sample(NONCE_NOUNS, 2)
        claim = f"Therefore, {a(wug)}"
        if stem == "comps_wugs":
            good, bad = (f"{_cap(a(wug))} is {a(n)}. {claim}" for n in (noun, other))
        elif stem == "comps_wugs_dist-before":
            good = f"{_cap(a(dax))} is {a(other)}. {_cap(a(wug))} is {a(noun)}. {claim}"
            bad = f"{_cap(a(dax))} is {a(noun)}. {_cap(a(wug))} is {a(other)}. {claim}"
        else:
            good = f"{_cap(a(wug))} is {a(noun)}. {_cap(a(dax))} is {a(other)}. {claim}"
            bad = f"{_cap(a(wug))} is {a(other)}. {_cap(a(dax))} is {a(noun)}. {claim}"
    return {"property": f"{relation}:{noun}", "acceptable_concept": noun, "unacceptable_concept": other,
            "prefix_acceptable": good, "prefix_unacceptable": bad, "property_phrase": f"{FACTS[noun][relation][0]}.",
            "negative_sample_type": "taxonomic" if _class_of(other) == _class_of(noun) else "random"}


def _write_comps(root: Path, seed: int) -> None:
    for stem, n in COMPS_ITEMS.items():
        rng = _rng(seed, f"comps:{stem}")
        rows = _unique(lambda: comps_row(rng, stem), n, key=lambda r: (r["prefix_acceptable"], r["prefix_unacceptable"], r["property_phrase"]))
        _write_jsonl(root / FULL / "comps" / f"{stem}.jsonl", [{"id": i, **row} for i, row in enumerate(rows)])


def _write_reading(root: Path, seed: int, corpus_dir: Path | None) -> None:
    lm = BigramLM(corpus_lines(corpus_dir, seed))
    rows = reading_rows(lm, _rng(seed, "reading"), READING_ROWS[0])
    for split, n in ((FULL, READING_ROWS[0]), (FAST, READING_ROWS[1])):
        path = root / split / "reading" / READING_FILE
        path.parent.mkdir(parents=True)
        with open(path, "w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=READING_COLUMNS, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows[:n])


# GLUE: learnable from the KB, labels balanced
def _generic(rng: random.Random, noun: str) -> tuple[str, bool]:
    """"a fox", "foxes" or "the fox", with its number."""
    r = rng.random()
    if r < 0.4:
        return f"{article(noun)} {noun}", False
    return (NOUNS[noun].pl, True) if r < 0.8 else (f"the {noun}", False)


def _other_value(rng: random.Random, noun: str, relation: str) -> tuple[str, str, str, str]:
    """The predicate of `relation` for another noun, with another value."""
    return rng.choice([f[relation] for f in FACTS.values() if relation in f and f[relation] != FACTS[noun][relation]])


def _passage(rng: random.Random, noun: str, relations: list[str]) -> str:
    """"Foxes are mammals. They live in the forest.": the KB's facts about `noun`, one per relation."""
    subject, plural = _generic(rng, noun)
    sentences = []
    for relation in relations:
        sentences.append(f"{_cap(subject)} {FACTS[noun][relation][plural]}.")
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
    question = f"{first} {subject} {rest}" if first in ("is", "are", "can") else \
        f"{'do' if plural else 'does'} {subject} {predicate[1]}"
    return {"question": question, "passage": _passage(rng, noun, relations)}


def _mnli(rng: random.Random, label: int) -> dict:
    """0 entailment (a hypernym, someone, something), 1 neutral (more than said), 2 contradiction (not)."""
    name, noun = rng.choice(_NAMES), rng.choice(tuple(FACTS))
    verb = VERBS[rng.choice(("see", "find", "want", "like"))]
    np = f"{article(noun)} {noun}"
    if label == 0:
        cls = _class_of(noun)
        hypernym = (rng.choice(("an animal", a_hypernym(cls))) if noun in ANIMALS
                    else f"some {cls}" if cls in MASS_HYPERNYMS else a_hypernym(cls))
        options = (f"{name} {verb.past} {hypernym}.", f"Someone {verb.past} {np}.", f"{name} {verb.past} something.")
    elif label == 1:
        other = rng.choice([n for n in FACTS if n != noun and (n in ANIMALS) == (noun in ANIMALS)])
        someone_else = rng.choice([n for n in _NAMES if n != name])
        options = (f"{name} {verb.past} {article(other)} {other}.",
                   f"{name} {verb.past} {np} in the {rng.choice(tuple(PLACES))}.", f"{someone_else} {verb.past} {np}.")
    else:
        options = (f"{name} did not {verb.base} {np}.", f"Nobody {verb.past} {np}.", f"{name} did not {verb.base} anything.")
    return {"premise": f"{name} {verb.past} {np}.", "hypothesis": rng.choice(options)}


def _same_or_not(rng: random.Random, label: int, render: Callable[[str, str], str],
                 asked: frozenset | None = None) -> tuple[str, str]:
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
    """"A fox eats berries and mice." / "Foxes eat berries and mice.": 1 = paraphrase."""
    first, second = _same_or_not(rng, label, lambda noun, relation: _passage(rng, noun, [relation]))
    return {"sentence1": first, "sentence2": second}


def _qqp(rng: random.Random, label: int) -> dict:
    """"What does a fox eat?" / "What do foxes eat?": 1 = duplicate."""
    first, second = _same_or_not(rng, label, lambda noun, relation: _question(rng, noun, relation),
                                 frozenset(LECTURE_QUESTIONS))
    return {"question1": first, "question2": second}


def _rte(rng: random.Random, label: int) -> dict:
    """A short story and a claim; GLUE's RTE labels: 0 = entailment, 1 = not entailment."""
    name, place = rng.choice(_NAMES), rng.choice(_PLACES_WITH_ANIMALS)
    animal = rng.choice(ANIMALS_AT[place])
    text = f"{name} went to the {place}. There {NAMES[name]} saw {article(animal)} {animal}."
    if rng.random() < 0.5:
        text += f" It {FACTS[animal][rng.choice(('colour', 'food', 'class'))][2]}."
    if label == 0:
        options = (f"{name} saw {article(animal)} {animal}.", f"{name} saw an animal.", f"{name} went to the {place}.",
                   f"{name} saw {a_hypernym(ANIMALS[animal].cls)}.")
    else:
        other = rng.choice([a for a in ANIMALS if a != animal])
        someone_else = rng.choice([n for n in _NAMES if n != name])
        options = (f"{name} went to the {rng.choice([p for p in PLACES if p != place])}.",
                   f"{name} saw {article(other)} {other}.", f"{someone_else} went to the {place}.")
    return {"sentence1": text, "sentence2": rng.choice(options)}


def _wsc(rng: random.Random, label: int) -> dict:
    """Two candidate referents and a pronoun; the KB or common sense picks one. 1 = span1 is it."""
    r, first = rng.random(), rng.random() < 0.5  # whether the pronoun refers to the first noun phrase
    if r < 0.4:  # "The fox ate the berries because they were sweet."
        animal = rng.choice(_ANIMAL_LIST)
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
        a, f, pronoun = rng.choice(PEOPLE).pl, NOUNS[rng.choice(_ANIMAL_LIST)].pl, "they"
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
    "boolq": _boolq, "mnli": _mnli, "mrpc": _mrpc, "multirc": _multirc, "qqp": _qqp, "rte": _rte, "wsc": _wsc}


def glue_rows(rng: random.Random, task: str, n: int, seen: set) -> list[dict]:
    """`n` distinct rows (none in `seen`); every prefix of `GLUE_NUM_LABELS[task]` rows is balanced."""
    k, rows = GLUE_NUM_LABELS[task], []
    for start in range(0, n, k):
        for label in rng.sample(range(k), k)[: n - start]:
            make = lambda: {**GLUE_MAKERS[task](rng, label), "label": label}
            rows += _unique(make, 1, seen, key=lambda row: tuple(row.values()))
    return rows


def _write_glue(root: Path, seed: int) -> None:
    for task in GLUE_FIELDS:
        rng, seen = _rng(seed, f"glue:{task}"), set()
        for split, (n_full, n_fast) in GLUE_ROWS.items():
            rows = glue_rows(rng, task, n_full, seen)
            _both(root, "glue_filtered", f"{task}.{split}.jsonl", rows, n_fast)


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
    _write_glue(root, seed)
    return root
