"""Sentence, document and minimal-pair generators of the toy world.

Every function takes an explicit `random.Random`, never the global one, so a seed fixes a corpus or
an evaluation set. The corpus writer (`toyworld.py`) and the toy evaluation sets call the same
functions over the same lexicon and knowledge base (`lexicon.py`), so what an evaluation item
tests is a pattern the corpus really contains, at a real frequency:

- subject-verb agreement with the head noun across a PP or a relative-clause attractor
  ("The key near the boxes is grey.", "The dogs that the girl likes run.");
- determiner-noun and pronoun-verb agreement; irregular and regular past tense;
- congruent questions and answers ("What did the girl see? The girl saw the ball.");
- facts: an animal's class, habitat, food, colour, sound and movement; a thing's category,
  colour, size, material or taste. Predicate adjectives always state the KB's value, so every
  source repeats the same facts;
- entity tracking (items put into, moved between and removed from boxes);
- nonce-word morphology (plural -s, past -ed, -ness vs -ity by the stem's ending).

The minimal-pair generators return `(good, bad)` sentences that differ in exactly one word.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from classit_ray.toyworld.lexicon import (
    ACTIONS,
    ADULT_SPEAKERS,
    ANIMAL_TRANSITIVES,
    ANIMALS,
    ANIMALS_AT,
    BACKCHANNELS,
    FACTS,
    FILLERS,
    HAVE,
    HYPERNYM_MEMBERS,
    HYPERNYMS,
    INTRANSITIVES,
    LECTURE_QUESTIONS,
    NAMES,
    NONCE_ADJECTIVES,
    NONCE_NOUNS,
    NONCE_VERBS,
    NOUNS,
    PERSON_ADJECTIVES,
    PETS,
    PLACES,
    PREPOSITIONS,
    THINGS,
    TRANSITIVES,
    VERBS,
    Noun,
    Verb,
    a_hypernym,
    and_list,
    article,
    ed_form,
    nominalize,
    s_form,
)

ATTRACTORS = ("none", "pp", "object_rc", "subject_rc")
_ATTRACTOR_WEIGHTS = ("none",) * 9 + ("pp",) * 5 + ("object_rc",) * 3 + ("subject_rc",) * 3

# "the" is as common as the rest together, as in English; "a" becomes "an" before a vowel.
SINGULAR_DETERMINERS = ("a", "this", "that", "every", "each")
PLURAL_DETERMINERS = ("these", "those", "many", "several", "two", "three")
_SG_DETS = ("the",) * 5 + SINGULAR_DETERMINERS
_PL_DETS = ("the",) * 6 + PLURAL_DETERMINERS

_BY_KIND = {kind: tuple(n for n in NOUNS.values() if n.kind == kind) for kind in ("person", "animal", "thing")}
_BY_KIND["food"] = tuple(NOUNS[t] for t, f in THINGS.items() if f.taste)
_PEOPLE, _ANIMAL_NOUNS, _THING_NOUNS = _BY_KIND["person"], _BY_KIND["animal"], _BY_KIND["thing"]
_OBJECTS = tuple(NOUNS[t] for t, f in THINGS.items() if f.material)  # things that are not food
_ANIMATE = _PEOPLE + _ANIMAL_NOUNS
_NAMEABLE = _ANIMAL_NOUNS + _THING_NOUNS  # what a parent points at and names
_ALL_NOUNS = _ANIMATE + _THING_NOUNS
_SOUNDING = tuple(a for a, f in ANIMALS.items() if f.sound)
_NAME_LIST = tuple(NAMES)
_TRANSITIVE_NAMES = tuple(TRANSITIVES)
_ANY_OBJECT_VERBS = ("see", "find", "like", "watch")  # take people and things alike
_ANIMAL_INTRANSITIVES = {a: INTRANSITIVES["animal"] + (f.moves,) for a, f in ANIMALS.items()}


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


# Adjectives that are true of a noun: the KB's values for animals and things (so "The keys near
# the box are grey." also teaches a fact), any mood for people.
_PRENOMINAL = {n.sg: PERSON_ADJECTIVES for n in _PEOPLE}
_PRENOMINAL.update({a: (f.colour,) for a, f in ANIMALS.items()})
_PRENOMINAL.update({t: (f.colour, f.size) for t, f in THINGS.items()})
_PREDICATIVE = dict(_PRENOMINAL)
_PREDICATIVE.update(
    {t: (f.colour, f.size, f"made of {f.material}" if f.material else f.taste) for t, f in THINGS.items()}
)
_FACT_NOUNS = tuple(FACTS)
_FACT_RELATIONS = {noun: tuple(facts) for noun, facts in FACTS.items()}
_STORY_RELATIONS = ("habitat", "food", "colour", "sound")


def noun_phrase(rng: random.Random, noun: Noun, plural: bool, det: str | None = None) -> str:
    """`the red fox`, `two keys`, `an apple`: a determiner of the noun's number, sometimes a true adjective."""
    word = noun.pl if plural else noun.sg
    if rng.random() < 0.15:
        word = f"{rng.choice(_PRENOMINAL[noun.sg])} {word}"
    det = det or rng.choice(_PL_DETS if plural else _SG_DETS)
    return f"{article(word) if det == 'a' else det} {word}"


def _forms(verb: Verb, plural: bool, past: bool) -> tuple[str, str]:
    """(the form agreeing with the subject, the form of the other number)."""
    if past:
        return verb.past, verb.past
    return (verb.base, verb.s3) if plural else (verb.s3, verb.base)


def _be(plural: bool, past: bool) -> tuple[str, str]:
    if past:
        return ("were", "was") if plural else ("was", "were")
    return ("are", "is") if plural else ("is", "are")


def _object_of(rng: random.Random, verb: str, subject: Noun) -> Noun:
    if verb == "eat" and subject.kind == "animal":
        return NOUNS[rng.choice(ANIMALS[subject.sg].foods)]
    return rng.choice(_BY_KIND[rng.choice(TRANSITIVES[verb])])


def _predicate(rng: random.Random, subject: Noun, plural: bool, past: bool) -> tuple[str, str, str]:
    """(agreeing verb, that verb in the other number, rest): a predicate that fits the subject."""
    r = rng.random()
    if r < 0.3 or (subject.kind == "thing" and r < 0.7):
        return (*_be(plural, past), rng.choice(_PREDICATIVE[subject.sg]))
    if subject.kind == "thing":
        return (*_forms(VERBS[rng.choice(INTRANSITIVES["thing"])], plural, past), "")
    if r < 0.42 and subject.kind == "person":
        return (*_forms(HAVE, plural, past), noun_phrase(rng, rng.choice(_THING_NOUNS), rng.random() < 0.35))
    if r < 0.62:
        names = INTRANSITIVES["person"] if subject.kind == "person" else _ANIMAL_INTRANSITIVES[subject.sg]
        return (*_forms(VERBS[rng.choice(names)], plural, past), "")
    verb = rng.choice(_TRANSITIVE_NAMES if subject.kind == "person" else ANIMAL_TRANSITIVES)
    obj = _object_of(rng, verb, subject)
    return (*_forms(VERBS[verb], plural, past), noun_phrase(rng, obj, rng.random() < 0.35))


def _subject_noun(rng: random.Random, animate: bool = False) -> Noun:
    r = rng.random()
    if r < 0.4:
        return rng.choice(_PEOPLE)
    return rng.choice(_ANIMAL_NOUNS if animate or r < 0.7 else _THING_NOUNS)


def _agreement_parts(
    rng: random.Random, attractor: str, plural: bool, attractor_plural: bool, past: bool, head: Noun | None = None
) -> tuple[str, str, str, str]:
    """(subject with its attractor, agreeing verb, other-number verb, rest of the predicate)."""
    head = head or _subject_noun(rng, animate=attractor == "subject_rc")
    if attractor == "subject_rc" and head.kind == "thing":  # "the keys that like the boy": no
        attractor = "object_rc"
    subject = noun_phrase(rng, head, plural)
    if attractor == "pp":
        other = head
        while other is head:  # "the cups with each cup" would be no attractor
            other = rng.choice(_THING_NOUNS if rng.random() < 0.6 else _ANIMATE)
        subject = f"{subject} {rng.choice(PREPOSITIONS)} {noun_phrase(rng, other, attractor_plural)}"
    elif attractor == "object_rc":  # "the dogs that the girl likes": the RC verb agrees with "girl"
        rc_subject = rng.choice(_ANIMATE)
        verb = _forms(VERBS[rng.choice(_ANY_OBJECT_VERBS)], attractor_plural, past)[0]
        subject = f"{subject} that {noun_phrase(rng, rc_subject, attractor_plural)} {verb}"
    elif attractor == "subject_rc":  # "the girl that likes the dogs": the attractor is the RC object
        verb = _forms(VERBS[rng.choice(_ANY_OBJECT_VERBS)], plural, past)[0]
        subject = f"{subject} that {verb} {noun_phrase(rng, rng.choice(_ALL_NOUNS), attractor_plural)}"
    return (subject, *_predicate(rng, head, plural, past))


def _join(*parts: str) -> str:
    return " ".join(p for p in parts if p)


def agreement_sentence(
    rng: random.Random, attractor: str | None = None, past: bool | None = None, head: Noun | None = None
) -> str:
    """A sentence whose verb agrees with its head noun, across an attractor of either number."""
    attractor = attractor or rng.choice(_ATTRACTOR_WEIGHTS)
    past = rng.random() < 0.3 if past is None else past
    subject, verb, _, rest = _agreement_parts(rng, attractor, rng.random() < 0.45, rng.random() < 0.5, past, head)
    return _cap(_join(subject, verb, rest)) + "."


def agreement_pair(rng: random.Random, attractor: str) -> tuple[str, str]:
    """(good, bad) where bad's verb agrees with nothing; any attractor has the other number."""
    if attractor not in ATTRACTORS:
        raise ValueError(f"attractor must be one of {', '.join(ATTRACTORS)}; got {attractor!r}")
    plural = rng.random() < 0.5
    subject, good, bad, rest = _agreement_parts(rng, attractor, plural, not plural, past=False)
    return _cap(_join(subject, good, rest)) + ".", _cap(_join(subject, bad, rest)) + "."


def _person_subject(rng: random.Random) -> tuple[str, bool]:
    """A name or a definite person noun phrase, with its number."""
    if rng.random() < 0.4:
        return rng.choice(_NAME_LIST), False
    plural = rng.random() < 0.3
    noun = rng.choice(_PEOPLE)
    return f"the {noun.pl if plural else noun.sg}", plural


def determiner_noun_pair(rng: random.Random) -> tuple[str, str]:
    """("Anna sees these keys.", "Anna sees these key."): bad's noun disagrees with its determiner."""
    subject, subject_plural = _person_subject(rng)
    verb = rng.choice(_TRANSITIVE_NAMES)
    noun = _object_of(rng, verb, NOUNS["girl"])
    plural = rng.random() < 0.5
    det = rng.choice(PLURAL_DETERMINERS if plural else SINGULAR_DETERMINERS)
    adjective = f"{rng.choice(_PRENOMINAL[noun.sg])} " if rng.random() < 0.3 else ""
    if det == "a":
        det = article(adjective or noun.sg)
    head = _cap(_join(subject, _forms(VERBS[verb], subject_plural, rng.random() < 0.4)[0], det))
    good, bad = (noun.pl, noun.sg) if plural else (noun.sg, noun.pl)
    return f"{head} {adjective}{good}.", f"{head} {adjective}{bad}."


_PRONOUNS = (
    ("he", False, "person"),
    ("she", False, "person"),
    ("it", False, "animal"),
    ("it", False, "thing"),
    ("they", True, "person"),
    ("they", True, "animal"),
    ("they", True, "thing"),
)


def _pronoun_parts(rng: random.Random, past: bool) -> tuple[str, str, str, str]:
    pronoun, plural, kind = rng.choice(_PRONOUNS)
    return (pronoun, *_predicate(rng, rng.choice(_BY_KIND[kind]), plural, past))


def pronoun_sentence(rng: random.Random) -> str:
    """ "She has a ball.", "They are red.", "It sleeps.": pronoun-verb agreement."""
    pronoun, verb, _, rest = _pronoun_parts(rng, rng.random() < 0.3)
    return _cap(_join(pronoun, verb, rest)) + "."


def pronoun_agreement_pair(rng: random.Random) -> tuple[str, str]:
    """("They have a ball.", "They has a ball."): bad's verb disagrees with the pronoun."""
    pronoun, good, bad, rest = _pronoun_parts(rng, past=False)
    return _cap(_join(pronoun, good, rest)) + ".", _cap(_join(pronoun, bad, rest)) + "."


def _kind_subject(rng: random.Random, noun: str) -> tuple[str, bool]:
    """A generic subject for a KB kind: "a fox", "foxes" or "the fox", with its number."""
    r = rng.random()
    if r < 0.4:
        return f"{article(noun)} {noun}", False
    return (NOUNS[noun].pl, True) if r < 0.8 else (f"the {noun}", False)


def fact_sentence(rng: random.Random, noun: str | None = None, relation: str | None = None) -> str:
    """A KB fact about an animal or thing kind: "A fox eats berries and mice.", "Keys are made of metal."."""
    noun = noun or rng.choice(_FACT_NOUNS)
    relation = relation or rng.choice(_FACT_RELATIONS[noun])
    subject, plural = _kind_subject(rng, noun)
    return f"{_cap(subject)} {FACTS[noun][relation][plural]}."


def qa_pair(rng: random.Random) -> tuple[str, str]:
    """("What did the girl eat?", "The girl ate the apple."): a question and its congruent answer.

    "Who" asks for a person, "what" for an animal or a thing, so the answer's object must match
    the question word; a subject question ("Who ate the apple?") is answered by a person.
    """
    subject, plural = _person_subject(rng)
    verb = VERBS[rng.choice(_TRANSITIVE_NAMES)]
    obj = _object_of(rng, verb.base, NOUNS["girl"])
    obj_np = f"the {obj.pl if rng.random() < 0.3 else obj.sg}"
    form = rng.random()
    if form < 0.25:
        return f"Who {verb.past} {obj_np}?", f"{_cap(subject)} {verb.past} {obj_np}."
    wh = "Who" if obj.kind == "person" else "What"
    if form < 0.65:
        return f"{wh} did {subject} {verb.base}?", f"{_cap(subject)} {verb.past} {obj_np}."
    does = "do" if plural else "does"
    return f"{wh} {does} {subject} {verb.base}?", f"{_cap(subject)} {_forms(verb, plural, False)[0]} {obj_np}."


def qa_congruence_pair(rng: random.Random) -> tuple[str, str]:
    """(good, bad) question-answer texts; bad answers "Who" with a thing or "What" with a person."""
    subject, plural = _person_subject(rng)
    verb = VERBS[rng.choice(_ANY_OBJECT_VERBS)]
    who = rng.random() < 0.5
    right, wrong = rng.choice(_PEOPLE), rng.choice(_OBJECTS)
    if not who:
        right, wrong = wrong, right
    obj_plural = rng.random() < 0.3
    if rng.random() < 0.5:
        question, answer_verb = f"did {subject} {verb.base}?", verb.past
    else:
        question, answer_verb = f"{'do' if plural else 'does'} {subject} {verb.base}?", _forms(verb, plural, False)[0]
    prefix = f"{'Who' if who else 'What'} {question} {_cap(subject)} {answer_verb} the"
    return (f"{prefix} {right.pl if obj_plural else right.sg}.", f"{prefix} {wrong.pl if obj_plural else wrong.sg}.")


_PLACE_LIST = tuple(PLACES)
_HYPERNYM_LIST = tuple(HYPERNYM_MEMBERS)
_ANIMAL_CLASSES = frozenset(f.cls for f in ANIMALS.values())


def _residents(place: str) -> str:
    """ "Foxes, owls and wolves live in the forest."."""
    animals = [NOUNS[a].pl for a in ANIMALS_AT[place]]
    return f"{_cap(and_list(animals))} live {PLACES[place]} the {place}."


def _hypernym_sentences(cls: str) -> list[str]:
    """ "A bird is an animal. Robins, owls, ducks and geese are birds."."""
    first = [f"{_cap(a_hypernym(cls))} is an animal."] if cls in _ANIMAL_CLASSES else []
    members = and_list([NOUNS[m].pl for m in HYPERNYM_MEMBERS[cls]])
    return first + [f"{_cap(members)} are {HYPERNYMS[cls]}."]


def lecture_qa_item(rng: random.Random) -> tuple[str, str, str]:
    """("What does a fox eat?", "A fox eats berries and mice. It lives in the forest.", "A fox eats
    berries and mice."): a question about the KB, a lecture-like reply (the fact asked for, then
    one or two more, drawn at random), and its known answer: the reply's first sentence, which the
    question and the KB alone decide."""
    r = rng.random()
    if r < 0.1:
        place = rng.choice(_PLACE_LIST)
        answer = _residents(place)
        return f"What lives {PLACES[place]} the {place}?", answer, answer
    if r < 0.2:
        cls = rng.choice(_HYPERNYM_LIST)
        subject = a_hypernym(cls)
        sentences = _hypernym_sentences(cls)
        return f"What is {subject}?", " ".join(sentences), sentences[0]
    noun = rng.choice(_FACT_NOUNS)
    relations = [rel for rel in _FACT_RELATIONS[noun] if rel in LECTURE_QUESTIONS]
    asked = rng.choice(relations)
    plural = rng.random() < 0.4
    subject = NOUNS[noun].pl if plural else f"{article(noun)} {noun}"
    facts = FACTS[noun]
    sentences = [f"{_cap(subject)} {facts[asked][plural]}."]
    pronoun = "They" if plural else "It"
    for extra in rng.sample([rel for rel in relations if rel != asked], rng.randint(1, 2)):
        sentences.append(f"{pronoun} {facts[extra][plural]}.")
    return LECTURE_QUESTIONS[asked][plural].format(subject), " ".join(sentences), sentences[0]


def lecture_qa_pair(rng: random.Random) -> tuple[str, str]:
    """(question, reply) of `lecture_qa_item`, with the same draws."""
    question, reply, _ = lecture_qa_item(rng)
    return question, reply


def _paragraphs(rng: random.Random, sentences: list[str]) -> list[str]:
    """Sentences cut into paragraphs of two to four."""
    out = []
    while sentences:
        k = rng.randint(2, 4)
        out.append(" ".join(sentences[:k]))
        sentences = sentences[k:]
    return out


def wiki_article(rng: random.Random) -> tuple[str, list[str]]:
    """(title, paragraphs) of an encyclopedia article on a KB kind, a place or a hypernym."""
    r = rng.random()
    if r < 0.1:
        place = rng.choice(_PLACE_LIST)
        sentences = [f"{_cap(article(place))} {place} is a place.", _residents(place)]
        for animal in ANIMALS_AT[place]:  # "The foxes in the forest are red.": a PP attractor
            relation = rng.choice(("colour", "food", "moves"))
            sentences.append(f"The {NOUNS[animal].pl} {PLACES[place]} the {place} {FACTS[animal][relation][1]}.")
        return _cap(place), _paragraphs(rng, sentences)
    if r < 0.2:
        cls = rng.choice(_HYPERNYM_LIST)
        sentences = _hypernym_sentences(cls)
        for member in HYPERNYM_MEMBERS[cls]:
            sentences.append(fact_sentence(rng, member))
        return _cap(cls), _paragraphs(rng, sentences)
    noun = rng.choice(_FACT_NOUNS)
    head = "class" if noun in ANIMALS else "category"
    relations = [rel for rel in _FACT_RELATIONS[noun] if rel != head]
    rng.shuffle(relations)
    subject, plural = _kind_subject(rng, noun)
    sentences = [f"{_cap(subject)} {FACTS[noun][head][plural]}."]
    for relation in relations:
        # Half the follow-ups refer back with a pronoun of the last subject's number: "They eat ...".
        if rng.random() < 0.5:
            subject = "they" if plural else "it"
        else:
            subject, plural = _kind_subject(rng, noun)
        sentences.append(f"{_cap(subject)} {FACTS[noun][relation][plural]}.")
    for _ in range(rng.randint(1, 3)):
        sentences.append(agreement_sentence(rng, past=False, head=NOUNS[noun]))
    return _cap(noun), _paragraphs(rng, sentences)


def _spoken(rng: random.Random, text: str, filler_rate: float) -> str:
    """Sometimes a filler before the utterance, as people speak; names and "I" keep their capital."""
    if rng.random() >= filler_rate:
        return text
    first = text.split(" ", 1)[0]
    if first not in NAMES and first not in ("I", "I'm"):
        text = text[0].lower() + text[1:]
    return f"{rng.choice(FILLERS)} {text}"


def _pet_exchange(rng: random.Random) -> tuple[str, str]:
    """("Do you have a dog?", "Yes, I have two dogs. They are brown.")."""
    pet = NOUNS[rng.choice(PETS)]
    fact = FACTS[pet.sg][rng.choice(("food", "colour"))]
    r = rng.random()
    if r < 0.4:
        answer = f"Yes, I have {rng.choice(('two', 'three'))} {pet.pl}. They {fact[1]}."
    elif r < 0.7:
        answer = f"Yes, I have {article(pet.sg)} {pet.sg}. It {fact[0]}."
    else:
        plural = rng.random() < 0.4
        owner = f"my {rng.choice(('friends', 'sisters', 'brothers') if plural else ('friend', 'sister', 'brother'))}"
        answer = f"No, but {owner} {'have' if plural else 'has'} {article(pet.sg)} {pet.sg}."
    return f"Do you have {article(pet.sg)} {pet.sg}?", answer


def dialogue(rng: random.Random, n_turns: int, filler_rate: float = 0.3) -> list[str]:
    """`n_turns` utterances of a two-person conversation, speakers alternating (A first).

    Turns come in exchanges: a question is answered by the next turn, a statement gets a
    backchannel or a statement back, so each turn is a sensible reply to the one before. With an
    odd `n_turns` the last exchange is cut after its first turn.
    """
    turns: list[str] = []
    while len(turns) < n_turns:
        r = rng.random()
        if r < 0.3:
            first, second = qa_pair(rng)
        elif r < 0.5:
            first, lecture = lecture_qa_pair(rng)
            fact = lecture.split(". ", 1)[0].rstrip(".")
            second = f"I think {fact[0].lower()}{fact[1:]}."
        elif r < 0.62:
            first, second = _pet_exchange(rng)
        else:
            first = rng.choice((agreement_sentence, pronoun_sentence, fact_sentence))(rng)
            second = rng.choice(BACKCHANNELS) if rng.random() < 0.5 else agreement_sentence(rng)
        turns.append(_spoken(rng, first, filler_rate))
        turns.append(_spoken(rng, second, filler_rate))
    return turns[:n_turns]


def child_directed_utterance(rng: random.Random) -> str:
    """What a parent says to a toddler: short, concrete, about the objects and animals at hand."""
    noun = rng.choice(_ANIMAL_NOUNS if rng.random() < 0.5 else _THING_NOUNS)
    a = article(noun.sg)
    r = rng.random()
    if r < 0.1:
        return f"Look at the {noun.sg}!"
    if r < 0.2:
        return f"Where is the {noun.sg}?" if rng.random() < 0.6 else f"Where are the {noun.pl}?"
    if r < 0.3:
        return f"Is that {a} {noun.sg}?"
    if r < 0.4:
        return f"Can you find the {noun.pl if rng.random() < 0.3 else noun.sg}?"
    if r < 0.5:
        return f"That's {article(_PRENOMINAL[noun.sg][0])} {_PRENOMINAL[noun.sg][0]} {noun.sg}."
    if r < 0.6:
        return f"Put the {rng.choice(_OBJECTS).sg} in the {rng.choice(('box', 'cup', 'basket'))}."
    if r < 0.7:
        return fact_sentence(rng, noun.sg)
    return agreement_sentence(rng, "none" if r < 0.95 else None)


def _child_utterance(rng: random.Random) -> str:
    """A toddler's turn: one to four words, sometimes an action."""
    noun = rng.choice(_NAMEABLE)
    return rng.choice(
        (
            f"{noun.sg}.",
            f"the {noun.sg}.",
            f"I want the {noun.sg}.",
            f"my {noun.sg}!",
            f"more {rng.choice(_BY_KIND['food']).pl}.",
            "yes.",
            "no.",
            "uh oh.",
            "what's that?",
            rng.choice(ACTIONS),
        )
    )


def childes_exchange(rng: random.Random) -> list[tuple[str, str]]:
    """A few (speaker code, utterance) turns between an adult (MOT, FAT or INV) and the child (CHI)."""
    adult = rng.choice(ADULT_SPEAKERS)
    r = rng.random()
    if r < 0.15:  # animal sounds, the classic child-directed quiz
        animal = rng.choice(_SOUNDING)
        sound = ANIMALS[animal].sound
        return [
            (adult, f"What does the {animal} say?"),
            ("CHI", f"{sound}!"),
            (adult, f"Yes, the {animal} says {sound}."),
        ]
    if r < 0.25:
        noun = rng.choice(_NAMEABLE).sg
        return [
            (adult, "What's that?"),
            ("CHI", f"{article(noun)} {noun}."),
            (adult, f"Yes, that's {article(noun)} {noun}. {fact_sentence(rng, noun)}"),
        ]
    if r < 0.4:
        question, answer = qa_pair(rng)
        if rng.random() < 0.5:
            return [(adult, question), ("CHI", answer)]
        return [(adult, question), ("CHI", "I don't know."), (adult, answer)]
    if r < 0.44:  # the wug test, as Berko ran it
        wug = rng.choice(NONCE_NOUNS)
        return [
            (adult, f"This is a {wug}."),
            (adult, "Now there is another one. There are two of them. There are two..."),
            ("CHI", f"{s_form(wug)}!"),
            (adult, f"Yes, two {s_form(wug)}."),
        ]
    turns = [(adult, child_directed_utterance(rng)), ("CHI", _child_utterance(rng))]
    if rng.random() < 0.3:
        turns.append((adult, pronoun_sentence(rng) if rng.random() < 0.5 else child_directed_utterance(rng)))
    return turns


def story_paragraph(rng: random.Random) -> str:
    """A past-tense story about a child who meets an animal where the KB says it lives."""
    name = rng.choice(_NAME_LIST)
    pronoun = NAMES[name]
    place = rng.choice(_PLACE_LIST)
    animal = rng.choice(ANIMALS_AT[place])
    thing = rng.choice(_OBJECTS)
    facts = FACTS[animal]
    prep = PLACES[place]
    sentences = [
        rng.choice(
            (
                f"Once upon a time there was a {'girl' if pronoun == 'she' else 'boy'} named {name}.",
                f"One day {name} went to the {place}.",
                f"{name} lived near the {place}.",
            )
        )
    ]
    sentences.append(f"{_cap(prep)} the {place} {pronoun} saw {article(animal)} {animal}.")
    for relation in rng.sample([rel for rel in _STORY_RELATIONS if rel in facts], 2):
        sentences.append(f"{rng.choice((f'The {animal}', 'It'))} {facts[relation][2]}.")
    if rng.random() < 0.6:  # the narrator's aside, in the present: "Foxes eat berries and mice."
        sentences.append(fact_sentence(rng, animal))
    if rng.random() < 0.5:  # two of a thing, then "they were": pronoun agreement across sentences
        count = rng.choice(("two", "three"))
        verb = VERBS[rng.choice(("find", "see", "want", "hold", "carry"))]
        sentences.append(f"{name} {verb.past} {count} {thing.pl}. They were {rng.choice(_PREDICATIVE[thing.sg])}.")
    else:
        sentences.append(
            f"{_cap(pronoun)} had {article(thing.sg)} {thing.sg}. It was {rng.choice(_PREDICATIVE[thing.sg])}."
        )
    for _ in range(rng.randint(1, 4)):
        sentences.append(agreement_sentence(rng, past=True))
    sentences.append(rng.choice((f"Then {pronoun} went home.", f"{name} was happy.", "The end.")))
    return " ".join(sentences)


def nonce_paragraph(rng: random.Random) -> str:
    """Nonce words used with regular morphology: "Today they blick. Yesterday they blicked."."""
    wug, blick, adjective = rng.choice(NONCE_NOUNS), rng.choice(NONCE_VERBS), rng.choice(NONCE_ADJECTIVES)
    wugs = s_form(wug)
    name = rng.choice(_NAME_LIST)
    sentences = [
        f"There was a {wug} {rng.choice(('in', 'near', 'behind'))} the {rng.choice(_PLACE_LIST)}.",
        f"Then another {wug} came, and now there were two {wugs}.",
    ]
    if rng.random() < 0.8:
        sentences += [
            f"Every day the {wugs} {blick}.",
            f"The little {wug} {s_form(blick)} too.",
            f"Today they {blick}. Yesterday they {ed_form(blick)}.",
        ]
    if rng.random() < 0.8:
        sentences += [f"The {wug} was very {adjective}.", f"{name} liked the {nominalize(adjective)} of the {wugs}."]
    return " ".join(sentences)


@dataclass
class BoxStory:
    """An entity-tracking episode: boxes with items, then operations on them."""

    setup: str  # "Box 0 contains the apple, Box 1 contains nothing, Box 2 contains the key and the coin."
    operations: list[str]  # "Move the apple from Box 0 to Box 2.", ...
    contents: list[list[str]]  # each box's items after all operations, e.g. ["the key", "the apple"]


def box_contents(items: list[str]) -> str:
    """ "the key and the apple", or "nothing"."""
    return " and ".join(items) if items else "nothing"


def box_story(rng: random.Random, n_boxes: int, n_ops: int) -> BoxStory:
    """Boxes with zero to two items each, then `n_ops` put / remove / move / move-contents operations."""
    pool = [f"the {n.sg}" for n in rng.sample(_THING_NOUNS, 2 * n_boxes + n_ops)]
    boxes = [[pool.pop() for _ in range(rng.randint(0, 2))] for _ in range(n_boxes)]
    setup = ", ".join(f"Box {i} contains {box_contents(b)}" for i, b in enumerate(boxes)) + "."
    operations = []
    for _ in range(n_ops):
        full = [i for i, b in enumerate(boxes) if b]
        r = rng.random()
        if not full or r < 0.25:
            i = rng.randrange(n_boxes)
            boxes[i].append(pool.pop())
            operations.append(f"Put {boxes[i][-1]} into Box {i}.")
            continue
        src = rng.choice(full)
        dst = rng.choice([i for i in range(n_boxes) if i != src])
        if r < 0.45:
            item = boxes[src].pop(rng.randrange(len(boxes[src])))
            operations.append(f"Remove {item} from Box {src}.")
        elif r < 0.85:
            item = boxes[src].pop(rng.randrange(len(boxes[src])))
            boxes[dst].append(item)
            operations.append(f"Move {item} from Box {src} to Box {dst}.")
        else:
            boxes[dst] += boxes[src]
            boxes[src] = []
            operations.append(f"Move the contents of Box {src} to Box {dst}.")
    return BoxStory(setup, operations, boxes)


def entity_tracking_story(rng: random.Random) -> str:
    """A box story told in full: setup, operations, and what some boxes contain afterwards."""
    n_boxes = rng.randint(3, 5)
    story = box_story(rng, n_boxes, rng.randint(1, 5))
    shown = sorted(rng.sample(range(n_boxes), rng.randint(1, n_boxes)))
    ending = " ".join(f"Box {i} contains {box_contents(story.contents[i])}." for i in shown)
    return f"{story.setup} {' '.join(story.operations)} Now {ending}"
