"""The toy world's lexicon and knowledge base: every word with its inflections, and every fact.

This file is data plus the three regular inflection rules. `grammar.py` builds sentences from
it, `toyworld.py` writes the BabyLM-shaped corpus with it, and the toy evaluation sets read the
same tables, so a fact the corpus states is exactly the fact an evaluation item tests. The world
is small on purpose (~60 nouns, ~50 verbs, 20 animal kinds, 26 thing kinds): a ~1M-parameter
model sees each word and fact often enough to learn it from a few hundred thousand words.
"""

from __future__ import annotations

from dataclasses import dataclass

_VOWELS = frozenset("aeiou")


def s_form(stem: str) -> str:
    """Regular plural / third-person -s: `wug`→`wugs`, `dax`→`daxes`, `carry`→`carries`."""
    if stem.endswith(("s", "x", "z", "ch", "sh", "o")):
        return stem + "es"
    if stem.endswith("y") and stem[-2] not in _VOWELS:
        return stem[:-1] + "ies"
    return stem + "s"


def ed_form(stem: str) -> str:
    """Regular past -ed: `blick`→`blicked`, `tove`→`toved`, `carry`→`carried`."""
    if stem.endswith("e"):
        return stem + "d"
    if stem.endswith("y") and stem[-2] not in _VOWELS:
        return stem[:-1] + "ied"
    return stem + "ed"


# Adjective nominalisation follows the stem's ending, as English mostly does: Latinate endings
# take -ity (normal→normality, active→activity, able→ability), the rest take -ness
# (happy→happiness, foolish→foolishness). The nonce adjectives below are split between both
# patterns, so a model can only rate a new nonce adjective well by learning the rule.
_ITY_ENDINGS = ("al", "ic", "ive", "able", "ar")


def nominalize(adjective: str) -> str:
    """`trovial`→`troviality`, `spandive`→`spandivity`, `snorpy`→`snorpiness`, `plonkish`→`plonkishness`."""
    if adjective.endswith("able"):
        return adjective[:-4] + "ability"
    if adjective.endswith("ive"):
        return adjective[:-1] + "ity"
    if adjective.endswith(_ITY_ENDINGS):
        return adjective + "ity"
    if adjective.endswith("y"):
        return adjective[:-1] + "iness"
    return adjective + "ness"


def takes_ity(adjective: str) -> bool:
    """Whether `nominalize` gives the -ity form (the pattern the WUG items probe)."""
    return adjective.endswith(_ITY_ENDINGS)


def article(word: str) -> str:
    """The indefinite article before `word`: "an apple", "a key"."""
    return "an" if word[0] in _VOWELS else "a"


def and_list(items: list[str]) -> str:
    """ "foxes", "foxes and owls", "foxes, owls and wolves"."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


@dataclass(frozen=True, slots=True)
class Noun:
    sg: str
    pl: str
    kind: str  # "person", "animal" or "thing"


@dataclass(frozen=True, slots=True)
class Verb:
    base: str  # plural present, and the bare form after "did" / "does" / "can"
    s3: str  # third person singular present
    past: str


@dataclass(frozen=True, slots=True)
class AnimalFacts:
    cls: str  # hypernym below "animal": mammal, bird, ...
    habitat: str  # a key of PLACES
    foods: tuple[str, ...]  # singular nouns of what it eats
    colour: str
    sound: str  # "" where the corpus names no sound
    moves: str  # base form of its typical movement verb ("A duck can swim.")


@dataclass(frozen=True, slots=True)
class ThingFacts:
    category: str  # toy, tool, fruit, ... (mass categories take no article: "A chair is furniture.")
    colour: str
    size: str
    material: str  # "" for food
    taste: str  # "" for what is not food


IRREGULAR_PLURALS = {
    "man": "men",
    "woman": "women",
    "child": "children",
    "goose": "geese",
    "mouse": "mice",
    "wolf": "wolves",
    "knife": "knives",
    "leaf": "leaves",
}


def _nouns(kind: str, words) -> list[Noun]:
    return [Noun(w, IRREGULAR_PLURALS.get(w) or s_form(w), kind) for w in words]


def _verbs(spec: str) -> dict[str, Verb]:
    """`"run/ran walk"` → verbs with regular -s, and regular -ed unless a `/past` is given."""
    out = {}
    for item in spec.split():
        base, _, past = item.partition("/")
        out[base] = Verb(base, s_form(base), past or ed_form(base))
    return out


NAMES = {
    "Anna": "she",
    "Ben": "he",
    "Mia": "she",
    "Tom": "he",
    "Lily": "she",
    "Sam": "he",
    "Emma": "she",
    "Max": "he",
    "Zoe": "she",
    "Leo": "he",
    "Ella": "she",
    "Jack": "he",
}

PLACES = {
    "house": "in",
    "forest": "in",
    "garden": "in",
    "pond": "in",
    "field": "in",
    "farm": "on",
    "cave": "in",
    "hill": "on",
    "desert": "in",
    "sea": "in",
}

ANIMALS = {
    "dog": AnimalFacts("mammal", "house", ("cookie", "carrot"), "brown", "woof", "run"),
    "cat": AnimalFacts("mammal", "house", ("mouse", "egg"), "black", "meow", "climb"),
    "fox": AnimalFacts("mammal", "forest", ("berry", "mouse"), "red", "yip", "run"),
    "robin": AnimalFacts("bird", "garden", ("worm", "seed"), "red", "tweet", "fly"),
    "owl": AnimalFacts("bird", "forest", ("mouse", "frog"), "grey", "hoot", "fly"),
    "duck": AnimalFacts("bird", "pond", ("seed", "leaf"), "yellow", "quack", "swim"),
    "goose": AnimalFacts("bird", "field", ("leaf", "nut"), "white", "honk", "fly"),
    "mouse": AnimalFacts("mammal", "field", ("nut", "berry"), "grey", "squeak", "run"),
    "rabbit": AnimalFacts("mammal", "field", ("carrot", "flower"), "white", "", "hop"),
    "horse": AnimalFacts("mammal", "farm", ("apple", "carrot"), "brown", "neigh", "run"),
    "cow": AnimalFacts("mammal", "farm", ("leaf", "pear"), "black", "moo", "walk"),
    "pig": AnimalFacts("mammal", "farm", ("egg", "cake"), "pink", "oink", "walk"),
    "bear": AnimalFacts("mammal", "cave", ("berry", "nut"), "brown", "growl", "climb"),
    "wolf": AnimalFacts("mammal", "forest", ("rabbit", "duck"), "grey", "howl", "run"),
    "lion": AnimalFacts("mammal", "hill", ("cow", "horse"), "yellow", "roar", "run"),
    "frog": AnimalFacts("amphibian", "pond", ("bee", "worm"), "green", "ribbit", "hop"),
    "snake": AnimalFacts("reptile", "desert", ("mouse", "egg"), "green", "hiss", "crawl"),
    "bee": AnimalFacts("insect", "garden", ("flower",), "yellow", "buzz", "fly"),
    "crab": AnimalFacts("shellfish", "sea", ("worm", "seed"), "red", "", "crawl"),
    "worm": AnimalFacts("bug", "garden", ("leaf",), "pink", "", "crawl"),
}

THINGS = {
    "key": ThingFacts("tool", "grey", "small", "metal", ""),
    "knife": ThingFacts("tool", "grey", "small", "metal", ""),
    "spoon": ThingFacts("tool", "white", "small", "metal", ""),
    "umbrella": ThingFacts("tool", "purple", "big", "cloth", ""),
    "cabinet": ThingFacts("furniture", "brown", "big", "wood", ""),
    "chair": ThingFacts("furniture", "blue", "big", "wood", ""),
    "table": ThingFacts("furniture", "brown", "big", "wood", ""),
    "lamp": ThingFacts("furniture", "white", "small", "glass", ""),
    "box": ThingFacts("container", "yellow", "big", "paper", ""),
    "cup": ThingFacts("container", "white", "small", "glass", ""),
    "bottle": ThingFacts("container", "green", "small", "glass", ""),
    "basket": ThingFacts("container", "brown", "big", "straw", ""),
    "ball": ThingFacts("toy", "red", "small", "rubber", ""),
    "kite": ThingFacts("toy", "blue", "big", "paper", ""),
    "drum": ThingFacts("toy", "green", "big", "wood", ""),
    "bell": ThingFacts("toy", "yellow", "small", "metal", ""),
    "hat": ThingFacts("clothing", "black", "small", "cloth", ""),
    "shoe": ThingFacts("clothing", "brown", "small", "cloth", ""),
    "coin": ThingFacts("treasure", "yellow", "tiny", "gold", ""),
    "ring": ThingFacts("treasure", "yellow", "tiny", "gold", ""),
    "boat": ThingFacts("vehicle", "white", "huge", "wood", ""),
    "car": ThingFacts("vehicle", "red", "big", "metal", ""),
    "apple": ThingFacts("fruit", "red", "small", "", "sweet"),
    "pear": ThingFacts("fruit", "green", "small", "", "sweet"),
    "lemon": ThingFacts("fruit", "yellow", "small", "", "sour"),
    "berry": ThingFacts("fruit", "blue", "tiny", "", "sweet"),
    "carrot": ThingFacts("vegetable", "orange", "small", "", "crunchy"),
    "cake": ThingFacts("treat", "pink", "big", "", "sweet"),
    "cookie": ThingFacts("treat", "brown", "small", "", "sweet"),
    "egg": ThingFacts("food", "white", "small", "", "soft"),
    "nut": ThingFacts("food", "brown", "tiny", "", "crunchy"),
    "seed": ThingFacts("food", "black", "tiny", "", "crunchy"),
    "leaf": ThingFacts("plant", "green", "small", "", "bitter"),
    "flower": ThingFacts("plant", "purple", "small", "", "sweet"),
}

# Hypernyms with their plurals; the mass ones take no article ("A coin is treasure.").
HYPERNYMS = {
    "mammal": "mammals",
    "bird": "birds",
    "amphibian": "amphibians",
    "reptile": "reptiles",
    "insect": "insects",
    "shellfish": "shellfish",
    "bug": "bugs",
    "tool": "tools",
    "container": "containers",
    "toy": "toys",
    "vehicle": "vehicles",
    "fruit": "fruits",
    "vegetable": "vegetables",
    "treat": "treats",
    "plant": "plants",
    "furniture": "furniture",
    "clothing": "clothing",
    "treasure": "treasure",
    "food": "food",
}
MASS_HYPERNYMS = frozenset({"furniture", "clothing", "treasure", "food"})

PEOPLE = _nouns("person", "boy girl man woman child baby teacher farmer doctor king queen friend".split())
NOUNS: dict[str, Noun] = {n.sg: n for n in PEOPLE + _nouns("animal", ANIMALS) + _nouns("thing", THINGS)}

PERSON_ADJECTIVES = ("happy", "sad", "tired", "hungry", "kind", "tall", "busy", "quiet")

VERBS = _verbs(
    "run/ran walk sleep/slept sing/sang jump laugh smile sit/sat play hide/hid swim/swam "
    "dance cry fall/fell roll break/broke fly/flew hop/hopped climb crawl eat/ate see/saw "
    "find/found want like watch hold/held carry drop/dropped throw/threw push bring/brought "
    "take/took chase help love go/went put/put move give/gave live say/said"
)
# "have" and "be" are irregular in the present too, so they are spelled out.
HAVE = Verb("have", "has", "had")

# Which intransitive verbs fit which kind of subject (an animal also does its KB movement).
INTRANSITIVES = {
    "person": ("run", "walk", "sleep", "sing", "jump", "laugh", "smile", "sit", "play", "hide", "swim", "dance", "cry"),
    "animal": ("sleep", "hide", "sit", "play", "eat"),
    "thing": ("fall", "roll", "break"),
}
# Transitive verbs by the kinds of object they take; "eat" takes food (for an animal, its KB food).
TRANSITIVES = {
    "see": ("person", "animal", "thing"),
    "find": ("person", "animal", "thing"),
    "want": ("animal", "thing"),
    "like": ("person", "animal", "thing"),
    "watch": ("person", "animal", "thing"),
    "eat": ("food",),
    "hold": ("thing",),
    "carry": ("thing",),
    "drop": ("thing",),
    "throw": ("thing",),
    "push": ("thing",),
    "bring": ("thing",),
    "take": ("thing",),
    "chase": ("person", "animal"),
    "help": ("person", "animal"),
    "love": ("person", "animal"),
}
# Verbs an animal can do to something (people can do all of TRANSITIVES).
ANIMAL_TRANSITIVES = ("see", "find", "want", "like", "watch", "eat", "chase")

PREPOSITIONS = ("near", "behind", "under", "beside", "next to", "with", "by")

# Spoken register: fillers before an utterance, backchannels as a whole turn, the pets people
# ask each other about; CHILDES adult speaker codes (weighted: mostly the mother) and actions.
FILLERS = ("Uh,", "Um,", "Well,", "Yeah,", "You know,", "Oh,", "So")
BACKCHANNELS = ("Yeah.", "Uh-huh.", "Oh, really?", "Right.", "I see.", "Okay.", "Oh, I know.", "Mm.")
PETS = ("dog", "cat", "rabbit", "mouse", "horse", "pig", "duck", "frog")
ADULT_SPEAKERS = ("MOT",) * 6 + ("FAT",) * 3 + ("INV",)
ACTIONS = ("[laughs]", "[claps]", "[points]", "[cries]", "[sings]")

# Nonce stems for the WUG-style morphology: nouns take -s/-es, verbs -s and -ed, adjectives
# -ness or -ity by `nominalize`. They occur only in morphological frames, never with facts.
NONCE_NOUNS = ("wug", "dax", "fep", "zorp", "tove", "glim", "blorx", "snib")
NONCE_VERBS = ("blick", "gorp", "trusk", "snarf", "flink", "zerk", "plome", "drell")
NONCE_ADJECTIVES = (
    "trovial",
    "glorbic",
    "spandive",
    "flimable",
    "zintular",
    "brental",
    "florvic",
    "gambive",
    "snorpy",
    "blithish",
    "grumful",
    "plonkless",
    "dwarm",
    "quimsy",
    "frobbish",
    "spornful",
)


def class_of(noun: str) -> str:
    """An animal's class ("bird") or a thing's category ("fruit")."""
    return ANIMALS[noun].cls if noun in ANIMALS else THINGS[noun].category


def a_hypernym(cls: str) -> str:
    """ "a mammal", "an insect", but "furniture": a singular hypernym as a predicate noun."""
    return cls if cls in MASS_HYPERNYMS else f"{article(cls)} {cls}"


def _fact_table() -> dict[str, dict[str, tuple[str, str, str, str]]]:
    def be(rest: str) -> tuple[str, str, str, str]:
        return f"is {rest}", f"are {rest}", f"was {rest}", f"were {rest}"

    def verb(v: Verb, rest: str) -> tuple[str, str, str, str]:
        return f"{v.s3} {rest}", f"{v.base} {rest}", f"{v.past} {rest}", f"{v.past} {rest}"

    table: dict[str, dict[str, tuple[str, str, str, str]]] = {}
    for name, f in ANIMALS.items():
        kind, kinds = a_hypernym(f.cls), HYPERNYMS[f.cls]
        facts = {
            "class": (f"is {kind}", f"are {kinds}", f"was {kind}", f"were {kinds}"),
            "animal": ("is an animal", "are animals", "was an animal", "were animals"),
            "habitat": verb(VERBS["live"], f"{PLACES[f.habitat]} the {f.habitat}"),
            "food": verb(VERBS["eat"], and_list([NOUNS[x].pl for x in f.foods])),
            "colour": be(f.colour),
            "moves": (f"can {f.moves}", f"can {f.moves}", f"could {f.moves}", f"could {f.moves}"),
        }
        if f.sound:
            facts["sound"] = verb(VERBS["say"], f.sound)
        table[name] = facts
    for name, f in THINGS.items():
        kind, kinds = a_hypernym(f.category), HYPERNYMS[f.category]
        facts = {
            "category": (f"is {kind}", f"are {kinds}", f"was {kind}", f"were {kinds}"),
            "colour": be(f.colour),
            "size": be(f.size),
        }
        if f.material:
            facts["material"] = be(f"made of {f.material}")
        else:
            facts["taste"] = (f"tastes {f.taste}", f"taste {f.taste}", f"tasted {f.taste}", f"tasted {f.taste}")
        table[name] = facts
    return table


# Every fact of the KB as a predicate: FACTS["fox"]["food"] = ("eats berries and mice",
# "eat berries and mice", "ate berries and mice", "ate berries and mice") — present singular,
# present plural, past singular, past plural — so a generator picks a form by index, with no
# string building in the corpus loop.
FACTS = _fact_table()
ANIMALS_AT = {p: tuple(a for a, f in ANIMALS.items() if f.habitat == p) for p in PLACES}
HYPERNYM_MEMBERS: dict[str, list[str]] = {}
for _kind, _facts in [*((a, f.cls) for a, f in ANIMALS.items()), *((t, f.category) for t, f in THINGS.items())]:
    HYPERNYM_MEMBERS.setdefault(_facts, []).append(_kind)

# The question a lecture answers, per relation: (about "a fox", about "foxes").
LECTURE_QUESTIONS = {
    "class": ("What kind of animal is {}?", "What kind of animals are {}?"),
    "habitat": ("Where does {} live?", "Where do {} live?"),
    "food": ("What does {} eat?", "What do {} eat?"),
    "colour": ("What colour is {}?", "What colour are {}?"),
    "sound": ("What sound does {} make?", "What sound do {} make?"),
    "moves": ("How does {} move?", "How do {} move?"),
    "category": ("What is {}?", "What are {}?"),
    "size": ("How big is {}?", "How big are {}?"),
    "material": ("What is {} made of?", "What are {} made of?"),
    "taste": ("How does {} taste?", "How do {} taste?"),
}
