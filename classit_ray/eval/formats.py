"""Readers of the BabyLM 2025 `evaluation_data/` folder: each file format, validated strictly.

One function per format (FORMATS.md is the reference): the zero-shot tasks read into `ChoiceItem`s,
the reading-time data into a DataFrame, the GLUE tasks into row dicts. JSONL is streamed line by
line. A malformed file raises `EvalDataError` naming the file, the line and the field, and saying
what was expected: `.../blimp_filtered/anaphor_agreement.jsonl:12: missing field 'sentence_bad'`.

The real release names some `fast_eval/` folders differently from their `full_eval/` ones
(`blimp_fast`, `supplement_fast`, `ewok_fast`, `entity_tracking_fast`) and has GLUE only in
`full_eval/`; `task_dir` takes the `full_eval` name and finds either.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from classit_ray.eval.items import ChoiceItem, EvalDataError

SPLITS = {False: "full_eval", True: "fast_eval"}
# full_eval folder name -> its name in the release's fast_eval/ (tried first, then the full name).
FAST_NAMES = {"blimp_filtered": "blimp_fast", "supplement_filtered": "supplement_fast",
              "ewok_filtered": "ewok_fast", "entity_tracking": "entity_tracking_fast"}
ENTITY_TRACKING_FILES = ("regular", "ambiref", "move_contents")
WUG_TASKS = ("wug_adj", "wug_past")

READING_FILE = "reading_data.csv"
READING_TEXT_COLUMNS = ("item", "word", "prev_item", "prev_word")
READING_NUMERIC_COLUMNS = ("RTfirstfix", "RTfirstpass", "RTgopast", "RTrightbound", "self_paced_reading_time",
                           "Subtlex_log10", "length", "context_length", "prev_length")
READING_COLUMNS = READING_TEXT_COLUMNS + READING_NUMERIC_COLUMNS

# Text fields per GLUE task, in the order a classifier concatenates them.
GLUE_FIELDS: dict[str, tuple[str, ...]] = {
    "boolq": ("question", "passage"), "mnli": ("premise", "hypothesis"), "mrpc": ("sentence1", "sentence2"),
    "multirc": ("question", "answer", "paragraph"), "qqp": ("question1", "question2"),
    "rte": ("sentence1", "sentence2"), "wsc": ("span1_text", "span2_text", "text"),
}
GLUE_NUM_LABELS: dict[str, int] = {task: 3 if task == "mnli" else 2 for task in GLUE_FIELDS}
GLUE_SPLITS = ("train", "valid")


def task_dir(eval_dir: str | Path, fast: bool, subdir: str) -> Path:
    """The folder of one task: `<eval_dir>/{fast_eval|full_eval}/<subdir>` (or its fast-release name).

    `eval_dir` is the `evaluation_data/` folder holding `full_eval/` and `fast_eval/`, or one of
    those two folders itself (which must then be the one `fast` asks for). `subdir` is the
    `full_eval` name (`blimp_filtered`, `reading`, ...); in `fast_eval/` the release's own name
    (`blimp_fast`) is tried first. Some unzip tools nest a folder as
    `fast_eval/evaluation_data/fast_eval/<name>`; that is found too.
    """
    root = Path(eval_dir).expanduser()
    split = SPLITS[bool(fast)]
    if not root.is_dir():
        raise EvalDataError(f"{root}: evaluation folder not found; expected the BabyLM evaluation_data/ folder")
    if root.name in SPLITS.values():
        if root.name != split:
            raise EvalDataError(f"{root}: is a {root.name}/ folder but fast={bool(fast)} asks for {split}/; "
                                f"pass the evaluation_data/ folder that holds both, or set fast={not fast}")
        split_dir = root
    else:
        split_dir = root / split
        if not split_dir.is_dir():
            raise EvalDataError(f"{root}: no {split}/ folder; expected the BabyLM evaluation_data/ folder "
                                f"(with full_eval/ and fast_eval/) or a {split}/ folder itself")
    names = [FAST_NAMES[subdir], subdir] if fast and subdir in FAST_NAMES else [subdir]
    for base in (split_dir, split_dir / "evaluation_data" / split):
        for name in names:
            if (base / name).is_dir():
                return base / name
    hint = "; the BabyLM release has GLUE only in full_eval/ (fast=False)" if fast and subdir == "glue_filtered" else ""
    raise EvalDataError(f"{split_dir}: no {' or '.join(n + '/' for n in names)} folder{hint}")


# ---------------------------------------------------------------------------------------- JSONL


def _jsonl_files(folder: Path) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise EvalDataError(f"{folder}: folder not found")
    files = sorted(folder.glob("*.jsonl"))
    if not files:
        raise EvalDataError(f"{folder}: no .jsonl files")
    return files


def _jsonl_rows(path: Path) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line; the file must hold at least one."""
    if not path.is_file():
        raise EvalDataError(f"{path}: file not found")
    seen = False
    with open(path, "rb") as f:  # bytes, decoded line by line: a bad byte is reported on its own line
        for lineno, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8-sig" if lineno == 1 else "utf-8")  # tolerate a BOM
            except UnicodeDecodeError:
                raise EvalDataError(f"{path}:{lineno}: not UTF-8 text") from None
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise EvalDataError(f"{path}:{lineno}: not valid JSON ({e.msg} at column {e.colno})") from None
            if not isinstance(obj, dict):
                raise EvalDataError(f"{path}:{lineno}: expected a JSON object; got {type(obj).__name__}")
            seen = True
            yield lineno, obj
    if not seen:
        raise EvalDataError(f"{path}: empty file; expected one JSON object per line")


def _get(obj: dict, name: str, where: str):
    if name not in obj:
        raise EvalDataError(f"{where}: missing field {name!r}")
    return obj[name]


def _text(obj: dict, name: str, where: str, allow_empty: bool = False) -> str:
    value = _get(obj, name, where)
    if not isinstance(value, str) or not (allow_empty or value.strip()):
        raise EvalDataError(f"{where}: field {name!r} must be a {'' if allow_empty else 'non-empty '}string; got {value!r}")
    return value


def _integer(obj: dict, name: str, where: str, low: int = 0, high: int | None = None) -> int:
    value = _get(obj, name, where)
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value >= high):
        wanted = f"an integer in [{low}, {high - 1}]" if high is not None else f"an integer >= {low}"
        raise EvalDataError(f"{where}: field {name!r} must be {wanted}; got {value!r}")
    return value


def _number(obj: dict, name: str, where: str) -> float:
    value = _get(obj, name, where)
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        raise EvalDataError(f"{where}: field {name!r} must be a finite number; got {value!r}")
    return number


def _minimal_pairs(folder: Path, task: str, group_from_field: bool) -> list[ChoiceItem]:
    items, counts = [], Counter()
    for path in _jsonl_files(folder):
        for lineno, obj in _jsonl_rows(path):
            where = f"{path}:{lineno}"
            good, bad = _text(obj, "sentence_good", where), _text(obj, "sentence_bad", where)
            group = _text(obj, "UID", where) if group_from_field else path.stem
            items.append(ChoiceItem(task, group, f"{group}_{counts[group]}", "", (good, bad), 0, None, where))
            counts[group] += 1
    return items


def read_blimp(folder: str | Path) -> list[ChoiceItem]:
    """`blimp_filtered/<UID>.jsonl`: (sentence_good, sentence_bad) after an empty context, grouped by `UID`."""
    return _minimal_pairs(Path(folder), "blimp", group_from_field=True)


def read_supplement(folder: str | Path) -> list[ChoiceItem]:
    """`supplement_filtered/*.jsonl`: like BLiMP, but the file stem is the UID."""
    return _minimal_pairs(Path(folder), "blimp_supplement", group_from_field=False)


def read_ewok(folder: str | Path) -> list[ChoiceItem]:
    """`ewok_filtered/<Domain>.jsonl`: context `Context1`, candidates `" " + Target1` / `" " + Target2`."""
    items, counts = [], Counter()
    for path in _jsonl_files(Path(folder)):
        for lineno, obj in _jsonl_rows(path):
            where = f"{path}:{lineno}"
            context = _text(obj, "Context1", where)
            targets = (" " + _text(obj, "Target1", where), " " + _text(obj, "Target2", where))
            domain = _text(obj, "Domain", where)
            items.append(ChoiceItem("ewok", domain, f"{domain}_{counts[domain]}", context, targets, 0, None, where))
            counts[domain] += 1
    return items


def read_entity_tracking(folder: str | Path) -> list[ChoiceItem]:
    """`entity_tracking/{regular,ambiref,move_contents}.jsonl`: `input_prefix` + each of `options`
    (no space added; index 0 correct), grouped by `<file>_<numops>_ops`."""
    folder = Path(folder)
    _jsonl_files(folder)  # a clear message for a missing or empty folder
    items, counts = [], Counter()
    for stem in ENTITY_TRACKING_FILES:
        path = folder / f"{stem}.jsonl"
        if not path.is_file():
            present = ", ".join(p.name for p in sorted(folder.glob("*.jsonl")))
            raise EvalDataError(f"{path}: file not found; entity tracking needs "
                                f"{', '.join(s + '.jsonl' for s in ENTITY_TRACKING_FILES)} (found {present})")
        for lineno, obj in _jsonl_rows(path):
            where = f"{path}:{lineno}"
            prefix = _text(obj, "input_prefix", where)
            options = _get(obj, "options", where)
            if (not isinstance(options, list) or len(options) < 2
                    or not all(isinstance(o, str) and o.strip() for o in options)):
                raise EvalDataError(f"{where}: field 'options' must be a list of at least 2 non-empty strings; "
                                    f"got {options!r}")
            group = f"{stem}_{_integer(obj, 'numops', where)}_ops"
            item_id = f"{group}_{counts[group]}"
            items.append(ChoiceItem("entity_tracking", group, item_id, prefix, tuple(options), 0, None, where))
            counts[group] += 1
    return items


def read_wug(folder: str | Path, task: str) -> list[ChoiceItem]:
    """`wug_adj_nominalization/*.jsonl` or `wug_past_tense/*.jsonl`: the tab-separated `sentences`
    are the candidates (empty context, no correct index); `ratio` is the human preference for
    candidate 0. `task` is "wug_adj" or "wug_past"."""
    if task not in WUG_TASKS:
        raise ValueError(f"task must be one of {', '.join(WUG_TASKS)}; got {task!r}")
    items, counts = [], Counter()
    for path in _jsonl_files(Path(folder)):
        for lineno, obj in _jsonl_rows(path):
            where = f"{path}:{lineno}"
            candidates = tuple(_text(obj, "sentences", where).split("\t"))
            if len(candidates) < 2 or not all(c.strip() for c in candidates):
                raise EvalDataError(f"{where}: field 'sentences' must hold at least 2 non-empty candidates "
                                    f"separated by a tab; got {obj['sentences']!r}")
            ratio = _number(obj, "ratio", where)
            items.append(ChoiceItem(task, path.stem, f"{path.stem}_{counts[path.stem]}", "", candidates, -1, ratio, where))
            counts[path.stem] += 1
    return items


# --------------------------------------------------------------------------------------- reading


def read_reading(folder: str | Path) -> pd.DataFrame:
    """`reading/reading_data.csv` (or the CSV itself) with every column FORMATS.md lists.

    Text columns stay strings ("NA" is a word, not a missing value); numeric columns are floats,
    an empty cell is NaN (not every RT measure exists for every word). Extra columns are kept.
    Line numbers in messages count the header as line 1.
    """
    path = Path(folder)
    path = path if path.suffix == ".csv" else path / READING_FILE
    if not path.is_file():
        raise EvalDataError(f"{path}: file not found")
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise EvalDataError(f"{path}: not a readable CSV ({e})") from None
    missing = [c for c in READING_COLUMNS if c not in raw.columns]
    if missing:
        raise EvalDataError(f"{path}: missing column{'s' * (len(missing) > 1)} {', '.join(map(repr, missing))}; "
                            f"expected columns {', '.join(READING_COLUMNS)}")
    if raw.empty:
        raise EvalDataError(f"{path}: no rows")
    frame = raw.copy()
    for column in READING_NUMERIC_COLUMNS:
        text = raw[column].str.strip()
        values = pd.to_numeric(text.where(text != ""), errors="coerce")
        bad = values.isna() & ~text.isin(["", "nan", "NaN"])
        if bad.any():
            row = int(bad.to_numpy().argmax())
            raise EvalDataError(f"{path}:{row + 2}: column {column!r} must be numeric; got {raw[column].iloc[row]!r}")
        frame[column] = values.astype(float)
    empty_word = raw["word"].str.strip() == ""
    if empty_word.any():
        raise EvalDataError(f"{path}:{int(empty_word.to_numpy().argmax()) + 2}: column 'word' must not be empty")
    return frame


# ------------------------------------------------------------------------------------------ GLUE


def read_glue(folder: str | Path, task: str) -> tuple[list[dict], list[dict]]:
    """(train rows, valid rows) of `glue_filtered/<task>.{train,valid}.jsonl`: each row a dict of
    the task's `GLUE_FIELDS` (strings) and `label` (an int in [0, GLUE_NUM_LABELS[task]))."""
    if task not in GLUE_FIELDS:
        raise ValueError(f"task must be one of {', '.join(GLUE_FIELDS)}; got {task!r}")
    folder = Path(folder)
    if not folder.is_dir():
        raise EvalDataError(f"{folder}: folder not found")
    splits = []
    for split in GLUE_SPLITS:
        rows = []
        for lineno, obj in _jsonl_rows(folder / f"{task}.{split}.jsonl"):
            where = f"{folder / f'{task}.{split}.jsonl'}:{lineno}"
            row = {name: _text(obj, name, where, allow_empty=True) for name in GLUE_FIELDS[task]}
            row["label"] = _integer(obj, "label", where, 0, GLUE_NUM_LABELS[task])
            rows.append(row)
        splits.append(rows)
    return splits[0], splits[1]
