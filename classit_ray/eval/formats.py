"""Readers of the BabyLM 2025 `evaluation_data/` folder: each file format, validated strictly.

One function per format (FORMATS.md is the reference): the zero-shot tasks read into `ChoiceItem`s,
the reading-time data into a DataFrame, the GLUE tasks into row dicts. JSONL is streamed line by
line. A malformed file raises `EvalDataError` naming the file, the line and the field, and saying
what was expected: `.../blimp_filtered/anaphor_agreement.jsonl:12: missing field 'sentence_bad'`.
What the official pipeline (`babylm/evaluation-pipeline-2025`) accepts from the release is
accepted here too: entity tracking's `numops` as a string of digits, BoolQ-style JSON `true` /
`false` labels, a reading-data `item` that pandas read as missing (the word "None").

Where the data is: `find_layout` tells which folder `--data` names (the `evaluation_data/` folder,
its `full_eval/` or `fast_eval/`, or one task folder); `task_dir` finds one task's folder in it.
The real release names some `fast_eval/` folders differently from their `full_eval/` ones
(`blimp_fast`, `supplement_fast`, `ewok_fast`, `entity_tracking_fast`), has GLUE and COMPS only in
`full_eval/`, and its fast entity tracking holds `regular.jsonl` alone.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from classit_ray.eval.items import ChoiceItem, EvalDataError
from classit_ray.eval.tasks import TASK_SPECS

if TYPE_CHECKING:  # pandas is imported where the reading CSV is read: the choice tasks start faster without it
    import pandas as pd

SPLITS = {False: "full_eval", True: "fast_eval"}
# full_eval folder name -> its name in the release's fast_eval/ (tried first, then the full name).
FAST_NAMES = {
    "blimp_filtered": "blimp_fast",
    "supplement_filtered": "supplement_fast",
    "ewok_filtered": "ewok_fast",
    "entity_tracking": "entity_tracking_fast",
}
ENTITY_TRACKING_FILES = ("regular", "ambiref", "move_contents")
# COMPS file stem -> its subset, the UID the official evaluator groups and names predictions by.
COMPS_FILES = {
    "comps_base": "base",
    "comps_wugs": "wugs",
    "comps_wugs_dist-before": "wugs_dist_before",
    "comps_wugs_dist-in-between": "wugs_dist_in_between",
}
WUG_TASKS = ("wug_adj", "wug_past")

READING_FILE = "reading_data.csv"
READING_TEXT_COLUMNS = ("item", "word", "prev_item", "prev_word")
READING_NUMERIC_COLUMNS = (
    "RTfirstfix",
    "RTfirstpass",
    "RTgopast",
    "RTrightbound",
    "self_paced_reading_time",
    "Subtlex_log10",
    "length",
    "context_length",
    "prev_length",
)
READING_COLUMNS = READING_TEXT_COLUMNS + READING_NUMERIC_COLUMNS
# The one context pandas reads as missing in the release: a sentence opening with "None" ("None of
# the city people ...") gives the next word the one-word context "None", written as an empty cell.
READING_LOST_CONTEXT = "None"

# Text fields per GLUE task, in the order a classifier concatenates them.
GLUE_FIELDS: dict[str, tuple[str, ...]] = {
    "boolq": ("question", "passage"),
    "mnli": ("premise", "hypothesis"),
    "mrpc": ("sentence1", "sentence2"),
    "multirc": ("question", "answer", "paragraph"),
    "qqp": ("question1", "question2"),
    "rte": ("sentence1", "sentence2"),
    "wsc": ("span1_text", "span2_text", "text"),
}
GLUE_NUM_LABELS: dict[str, int] = {task: 3 if task == "mnli" else 2 for task in GLUE_FIELDS}
GLUE_SPLITS = ("train", "valid")


# --------------------------------------------------------------------------------------- layout

# Task folder name (full_eval or fast_eval release name) -> task.
# (The interactive task reads a budget split's held-out pairs, not a folder of the evaluation data.)
TASK_FOLDERS: dict[str, str] = {
    **{spec.subdir: name for name, spec in TASK_SPECS.items() if spec.fast_source != "heldout"},
    **{FAST_NAMES[spec.subdir]: name for name, spec in TASK_SPECS.items() if spec.subdir in FAST_NAMES},
}


@dataclass(frozen=True)
class DataLayout:
    """What an evaluation data path is: the `evaluation_data/` folder (with `full_eval/` and
    `fast_eval/`), one of those two folders, or one task's folder (`blimp_filtered/`,
    `entity_tracking_fast/`, `reading/` or its `reading_data.csv`)."""

    root: Path  # the folder (a task's CSV is replaced by its folder)
    kind: Literal["evaluation_data", "split", "task"]
    split: str | None = None  # "full_eval" or "fast_eval" where the path itself says which
    task: str | None = None  # the task a task folder holds

    def describe(self, fast: bool) -> str:
        """One line for people: which layout was found, and which evaluation runs on it."""
        which = "fast evaluation" if fast else "full evaluation"
        if self.kind == "evaluation_data":
            return f"{self.root}: evaluation_data/ folder; the {which} reads its {SPLITS[fast]}/"
        if self.kind == "split":
            return f"{self.root}: {self.split}/ folder; the {which}"
        return f"{self.root}: {self.root.name}/ folder of the {self.task} task alone; the {which}"


def find_layout(path: str | Path) -> DataLayout:
    """The layout of `path` (see `DataLayout`); EvalDataError naming the path when it is none of them."""
    root = Path(path).expanduser()
    if root.is_file() and root.name == READING_FILE:
        root = root.parent
    if not root.is_dir():
        raise EvalDataError(f"{root}: evaluation folder not found; expected the BabyLM evaluation_data/ folder")
    if root.name in SPLITS.values():
        return DataLayout(root, "split", root.name)
    if any((root / split).is_dir() for split in SPLITS.values()):
        return DataLayout(root, "evaluation_data")
    if root.name in TASK_FOLDERS:
        split = (
            root.parent.name
            if root.parent.name in SPLITS.values()
            else ("fast_eval" if root.name in FAST_NAMES.values() else None)
        )
        return DataLayout(root, "task", split, TASK_FOLDERS[root.name])
    raise EvalDataError(
        f"{root}: no full_eval/ or fast_eval/ folder; expected the BabyLM evaluation_data/ folder, "
        f"its full_eval/ or fast_eval/, or one task folder ({', '.join(sorted(TASK_FOLDERS))})"
    )


def task_dir(eval_dir: str | Path, fast: bool, subdir: str) -> Path:
    """The folder of one task: `<eval_dir>/{fast_eval|full_eval}/<subdir>` (or its fast-release name).

    `eval_dir` is any layout `find_layout` knows. A `full_eval/` or `fast_eval/` folder finds the
    other split beside it (GLUE is read from `full_eval/` in a fast evaluation); a task folder
    holds its own task only. `subdir` is the `full_eval` name (`blimp_filtered`, `reading`, ...);
    in `fast_eval/` the release's own name (`blimp_fast`) is tried first. Some unzip tools nest a
    folder as `fast_eval/evaluation_data/fast_eval/<name>`; that is found too.
    """
    layout = find_layout(eval_dir)
    root, split = layout.root, SPLITS[bool(fast)]
    if layout.kind == "task":
        if layout.task != TASK_FOLDERS[subdir]:
            raise EvalDataError(
                f"{root}: is the folder of the {layout.task} task alone, not of {TASK_FOLDERS[subdir]}; "
                "pass the evaluation_data/ folder to evaluate other tasks"
            )
        return root
    if layout.kind == "split":
        split_dir = root if root.name == split else root.parent / split
        if not split_dir.is_dir():
            raise EvalDataError(
                f"{root}: is a {root.name}/ folder but fast={bool(fast)} asks for {split}/, and there is no "
                f"{split}/ beside it; pass the evaluation_data/ folder that holds both"
            )
    else:
        split_dir = root / split
        if not split_dir.is_dir():
            raise EvalDataError(
                f"{root}: no {split}/ folder; expected the BabyLM evaluation_data/ folder "
                f"(with full_eval/ and fast_eval/) or a {split}/ folder itself"
            )
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
        raise EvalDataError(
            f"{where}: field {name!r} must be a {'' if allow_empty else 'non-empty '}string; got {value!r}"
        )
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


def _numops(obj: dict, where: str) -> int:
    """`numops`: an integer >= 0, or a string of digits (the official reader only formats it into
    the group name, so "2" and 2 are the same group there too)."""
    value = _get(obj, "numops", where)
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise EvalDataError(f"{where}: field 'numops' must be an integer >= 0 or a string of digits; got {value!r}")
    return value


def _known_files(folder: Path, stems) -> list[str]:
    """Which of a task's known `<stem>.jsonl` files `folder` holds, in the task's order; an error
    when it holds none of them (and a clear one for a missing or empty folder)."""
    _jsonl_files(folder)
    found = [stem for stem in stems if (folder / f"{stem}.jsonl").is_file()]
    if not found:
        present = ", ".join(p.name for p in sorted(folder.glob("*.jsonl")))
        raise EvalDataError(f"{folder}: none of {', '.join(s + '.jsonl' for s in stems)} (found {present})")
    return found


def read_entity_tracking(folder: str | Path) -> list[ChoiceItem]:
    """`entity_tracking/{regular,ambiref,move_contents}.jsonl`: `input_prefix` + each of `options`
    (no space added; index 0 correct), grouped by `<file>_<numops>_ops`.

    Reads those of the three files the folder holds (the release's fast set holds `regular.jsonl`
    alone); whether an absent one fails the task is the harness's rule (`Task.parts`)."""
    folder = Path(folder)
    stems = _known_files(folder, ENTITY_TRACKING_FILES)
    items, counts = [], Counter()
    for stem in stems:
        path = folder / f"{stem}.jsonl"
        for lineno, obj in _jsonl_rows(path):
            where = f"{path}:{lineno}"
            prefix = _text(obj, "input_prefix", where)
            options = _get(obj, "options", where)
            if (
                not isinstance(options, list)
                or len(options) < 2
                or not all(isinstance(o, str) and o.strip() for o in options)
            ):
                raise EvalDataError(
                    f"{where}: field 'options' must be a list of at least 2 non-empty strings; got {options!r}"
                )
            group = f"{stem}_{_numops(obj, where)}_ops"
            item_id = f"{group}_{counts[group]}"
            items.append(ChoiceItem("entity_tracking", group, item_id, prefix, tuple(options), 0, None, where))
            counts[group] += 1
    return items


def read_comps(folder: str | Path) -> list[ChoiceItem]:
    """`comps/{comps_base, comps_wugs, comps_wugs_dist-before, comps_wugs_dist-in-between}.jsonl`:
    two candidates that share the continuation `" " + property_phrase` after different contexts,
    `prefix_acceptable` (index 0, correct) and `prefix_unacceptable`; only the property phrase is
    scored. Grouped by subset (`COMPS_FILES`: base, wugs, wugs_dist_before, wugs_dist_in_between),
    the UID of the official predictions. Reads those of the four files the folder holds."""
    folder = Path(folder)
    stems = _known_files(folder, COMPS_FILES)
    items, counts = [], Counter()
    for stem in stems:
        path, group = folder / f"{stem}.jsonl", COMPS_FILES[stem]
        for lineno, obj in _jsonl_rows(path):
            where = f"{path}:{lineno}"
            prefixes = (_text(obj, "prefix_acceptable", where), _text(obj, "prefix_unacceptable", where))
            phrase = " " + _text(obj, "property_phrase", where)
            items.append(
                ChoiceItem(
                    "comps", group, f"{group}_{counts[group]}", "", (phrase, phrase), 0, None, where, contexts=prefixes
                )
            )
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
                raise EvalDataError(
                    f"{where}: field 'sentences' must hold at least 2 non-empty candidates "
                    f"separated by a tab; got {obj['sentences']!r}"
                )
            ratio = _number(obj, "ratio", where)
            # Grouped by the task, the UID the official reader gives every WUG item (`decode_wug`).
            items.append(ChoiceItem(task, task, f"{task}_{counts[task]}", "", candidates, -1, ratio, where))
            counts[task] += 1
    return items


# --------------------------------------------------------------------------------------- reading


def read_reading(folder: str | Path) -> pd.DataFrame:
    """`reading/reading_data.csv` (or the CSV itself) with every column FORMATS.md lists.

    Text columns stay strings ("NA" is a word, not a missing value); numeric columns are floats,
    an empty cell is NaN (not every RT measure exists for every word). Extra columns are kept.
    Line numbers in messages count the header as line 1.

    An empty `item` is the context "None" (`READING_LOST_CONTEXT`), as the official pipeline
    restores it (`fillna("None")` after pandas read it as missing), so every row's context is the
    official one. An empty `prev_item` on a row whose `context_length` is 2 or more is restored the
    same way: the previous word had a one-word context (the official script leaves it missing and
    drops the row from the self-paced fit). An empty `prev_item` with `context_length` 1 stays
    empty: the previous word opened the sentence.
    """
    import pandas as pd

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
        raise EvalDataError(
            f"{path}: missing column{'s' * (len(missing) > 1)} {', '.join(map(repr, missing))}; "
            f"expected columns {', '.join(READING_COLUMNS)}"
        )
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
    frame.loc[raw["item"].str.strip() == "", "item"] = READING_LOST_CONTEXT
    lost_previous = (
        (raw["prev_item"].str.strip() == "") & (raw["prev_word"].str.strip() != "") & (frame["context_length"] >= 2)
    )
    frame.loc[lost_previous, "prev_item"] = READING_LOST_CONTEXT
    return frame


# ------------------------------------------------------------------------------------------ GLUE


def _label(obj: dict, where: str, num_labels: int) -> int:
    """An integer label in [0, num_labels). A two-label task also takes JSON `true` / `false`
    (1 / 0), as SuperGLUE's BoolQ writes them and the official reader takes them (a bool is an
    int to torch and to its `pred == label` scoring); the strings "true" / "false" are not labels."""
    value = _get(obj, "label", where)
    if isinstance(value, bool) and num_labels == 2:
        return int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < num_labels:
        also = " or JSON true/false" if num_labels == 2 else ""
        raise EvalDataError(f"{where}: field 'label' must be an integer in [0, {num_labels - 1}]{also}; got {value!r}")
    return value


def read_glue(folder: str | Path, task: str) -> tuple[list[dict], list[dict]]:
    """(train rows, valid rows) of `glue_filtered/<task>.{train,valid}.jsonl`: each row a dict of
    the task's `GLUE_FIELDS` (strings) and `label` (an int in [0, GLUE_NUM_LABELS[task]); see `_label`)."""
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
            row["label"] = _label(obj, where, GLUE_NUM_LABELS[task])
            rows.append(row)
        splits.append(rows)
    return splits[0], splits[1]
