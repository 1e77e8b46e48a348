"""Files in the release's layout, from seeded streams: what every writer of the toy world's
evaluation data shares (`evaldata.py`, `gluedata.py`).

Each task draws from a `random.Random` of its own (`rng_for(seed, "blimp")`), so adding a task or
changing one leaves every other task's files byte for byte as they were.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterable
from pathlib import Path

from classit_ray.eval.formats import FAST_NAMES
from classit_ray.toyworld.lexicon import ANIMALS, ANIMALS_AT, NAMES, PLACES

FULL, FAST = "full_eval", "fast_eval"
# The lexicon's pools both writers draw from, in a fixed order (a seeded choice needs one).
NAME_LIST, ANIMAL_LIST = tuple(NAMES), tuple(ANIMALS)
PLACES_WITH_ANIMALS = tuple(p for p in PLACES if ANIMALS_AT[p])


def rng_for(seed: int, stream: str) -> random.Random:
    return random.Random(f"toyeval:{seed}:{stream}")  # str seeds are hashed stably (SHA-512)


def cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def unique(make: Callable[[], tuple], n: int, seen: set | None = None, key: Callable = lambda x: x) -> list:
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


def write_jsonl(path: Path, rows: Iterable[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


def write_both(root: Path, full_name: str, file_name: str, rows: list[dict], n_fast: int) -> None:
    """Write all rows to full_eval/<full_name>/<file_name> and the first n_fast to its fast_eval twin."""
    write_jsonl(root / FULL / full_name / file_name, rows)
    write_jsonl(root / FAST / FAST_NAMES.get(full_name, full_name) / file_name, rows[:n_fast])
