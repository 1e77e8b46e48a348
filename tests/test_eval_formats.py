"""The BabyLM evaluation readers on hand-written rows in the real formats, and their error messages:
each names the file, the line and the field, and says what was expected."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from classit_ray.eval.formats import (
    GLUE_FIELDS,
    GLUE_NUM_LABELS,
    READING_COLUMNS,
    DataLayout,
    find_layout,
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
from classit_ray.eval.items import ChoiceItem, EvalDataError


def jsonl(path: Path, rows: list) -> Path:
    """Rows as JSONL; a str row is written as the raw line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def blimp_row(good: str, bad: str, uid: str) -> dict:
    return {
        "sentence_good": good,
        "sentence_bad": bad,
        "field": "morphology",
        "UID": uid,
        "linguistics_term": "anaphor_agreement",
        "pairID": "0",
    }


READING_HEADER = ",".join(READING_COLUMNS)


def test_task_dir_finds_full_and_fast_folders_under_their_release_names(tmp_path):
    root = tmp_path / "evaluation_data"
    for sub in (
        "full_eval/blimp_filtered",
        "fast_eval/blimp_fast",
        "full_eval/reading",
        "fast_eval/reading",
        "full_eval/glue_filtered",
        "fast_eval/evaluation_data/fast_eval/ewok_fast",
    ):
        (root / sub).mkdir(parents=True)
    assert task_dir(root, False, "blimp_filtered") == root / "full_eval" / "blimp_filtered"
    assert task_dir(root, True, "blimp_filtered") == root / "fast_eval" / "blimp_fast"
    assert task_dir(root, True, "reading") == root / "fast_eval" / "reading"
    assert task_dir(root / "full_eval", False, "reading") == root / "full_eval" / "reading"
    assert task_dir(root / "fast_eval", True, "blimp_filtered") == root / "fast_eval" / "blimp_fast"
    # A nesting some unzip tools leave behind.
    assert task_dir(root, True, "ewok_filtered") == root / "fast_eval" / "evaluation_data" / "fast_eval" / "ewok_fast"

    # A split folder finds the other one beside it (a fast evaluation reads GLUE from full_eval/).
    assert task_dir(root / "fast_eval", False, "glue_filtered") == root / "full_eval" / "glue_filtered"
    assert task_dir(root / "full_eval", True, "reading") == root / "fast_eval" / "reading"
    # A task folder holds its own task, whatever the split.
    for folder in (root / "full_eval" / "blimp_filtered", root / "fast_eval" / "blimp_fast"):
        assert task_dir(folder, True, "blimp_filtered") == task_dir(folder, False, "blimp_filtered") == folder

    lone = tmp_path / "elsewhere" / "full_eval"
    lone.mkdir(parents=True)
    with pytest.raises(
        EvalDataError, match=r"is a full_eval/ folder but fast=True asks for fast_eval/, and there is no fast_eval/"
    ):
        task_dir(lone, True, "reading")
    with pytest.raises(EvalDataError, match=r"is the folder of the blimp task alone, not of ewok"):
        task_dir(root / "full_eval" / "blimp_filtered", False, "ewok_filtered")
    with pytest.raises(EvalDataError, match=r"no supplement_fast/ or supplement_filtered/ folder"):
        task_dir(root, True, "supplement_filtered")
    with pytest.raises(EvalDataError, match=r"GLUE only in full_eval"):
        task_dir(root, True, "glue_filtered")
    with pytest.raises(EvalDataError, match=re.escape(f"{tmp_path}: no full_eval/ or fast_eval/ folder")):
        task_dir(tmp_path, False, "reading")
    with pytest.raises(EvalDataError, match="not found"):
        task_dir(tmp_path / "nowhere", False, "reading")


def test_find_layout_tells_the_data_folder_a_split_and_a_task_folder_apart(tmp_path):
    root = tmp_path / "evaluation_data"
    for sub in ("full_eval/comps", "full_eval/reading", "fast_eval/entity_tracking_fast", "fast_eval/wug_past_tense"):
        (root / sub).mkdir(parents=True)
    (root / "full_eval" / "reading" / "reading_data.csv").write_text(READING_HEADER + "\n")
    assert find_layout(root) == DataLayout(root, "evaluation_data")
    assert find_layout(root / "full_eval") == DataLayout(root / "full_eval", "split", "full_eval")
    assert find_layout(root / "fast_eval") == DataLayout(root / "fast_eval", "split", "fast_eval")
    # A task folder's split comes from the split folder it sits in, or from the release's fast name.
    assert find_layout(root / "full_eval" / "comps") == DataLayout(
        root / "full_eval" / "comps", "task", "full_eval", "comps"
    )
    et = root / "fast_eval" / "entity_tracking_fast"
    assert find_layout(et) == DataLayout(et, "task", "fast_eval", "entity_tracking")
    assert find_layout(root / "fast_eval" / "wug_past_tense").task == "wug_past"
    csv = root / "full_eval" / "reading" / "reading_data.csv"  # the path the official --data_path takes
    assert find_layout(csv) == DataLayout(csv.parent, "task", "full_eval", "reading")
    (tmp_path / "copy" / "blimp_fast").mkdir(parents=True)
    (tmp_path / "copy" / "blimp_filtered").mkdir()
    assert find_layout(tmp_path / "copy" / "blimp_fast") == DataLayout(
        tmp_path / "copy" / "blimp_fast", "task", "fast_eval", "blimp"
    )
    assert find_layout(tmp_path / "copy" / "blimp_filtered").split is None  # the name says no split
    fails_with(
        lambda: find_layout(tmp_path / "copy"),
        f"{tmp_path / 'copy'}: no full_eval/ or fast_eval/ folder; expected the BabyLM evaluation_data/ folder",
    )


def test_blimp_items_are_whole_sentences_grouped_by_uid(tmp_path):
    folder = tmp_path / "blimp_filtered"
    uid = "anaphor_gender_agreement"
    jsonl(
        folder / f"{uid}.jsonl",
        [
            blimp_row("Mary saw herself.", "Mary saw himself.", uid),
            blimp_row("Tom saw himself.", "Tom saw herself.", uid),
            "",
        ],
    )
    jsonl(folder / "adjunct_island.jsonl", [blimp_row("Who did you see?", "Who did you see Mary?", "adjunct_island")])
    items = read_blimp(folder)
    assert [i.id for i in items] == ["adjunct_island_0", "anaphor_gender_agreement_0", "anaphor_gender_agreement_1"]
    first = items[1]
    assert first == ChoiceItem(
        "blimp",
        uid,
        f"{uid}_0",
        "",
        ("Mary saw herself.", "Mary saw himself."),
        0,
        None,
        f"{folder / f'{uid}.jsonl'}:1",
    )


def test_supplement_takes_its_uid_from_the_file_stem(tmp_path):
    folder = tmp_path / "supplement_filtered"
    pair = {"sentence_good": "A: Do you? B: I do.", "sentence_bad": "A: Do you? B: You do."}
    jsonl(folder / "turn_taking.jsonl", [pair, pair])
    items = read_supplement(folder)
    assert [(i.task, i.group, i.id) for i in items] == [
        ("blimp_supplement", "turn_taking", "turn_taking_0"),
        ("blimp_supplement", "turn_taking", "turn_taking_1"),
    ]
    assert items[0].context == "" and items[0].candidates == ("A: Do you? B: I do.", "A: Do you? B: You do.")


def test_ewok_scores_a_space_and_the_target_after_context1(tmp_path):
    folder = tmp_path / "ewok_filtered"
    row = {
        "Context1": "The piano is in front of Ali.",
        "Context2": "The piano is behind Ali.",
        "Target1": "Ali can see the piano.",
        "Target2": "Ali cannot see the piano.",
        "Domain": "spatial-relations",
        "ContextType": "direct",
        "ContextDiff": "antonym",
        "TargetDiff": "negation",
    }
    jsonl(folder / "spatial-relations.jsonl", [row])
    (item,) = read_ewok(folder)
    assert item.context == "The piano is in front of Ali."
    assert item.candidates == (" Ali can see the piano.", " Ali cannot see the piano.")
    assert (item.task, item.group, item.id, item.correct) == ("ewok", "spatial-relations", "spatial-relations_0", 0)


def test_entity_tracking_groups_by_file_and_operations_and_adds_no_space(tmp_path):
    folder = tmp_path / "entity_tracking"
    for stem in ("regular", "ambiref", "move_contents"):
        jsonl(
            folder / f"{stem}.jsonl",
            [
                {
                    "input_prefix": "Box 0 contains the car. Box 0 contains",
                    "options": [" the car.", " nothing."],
                    "numops": 0,
                    "sample_id": 1,
                },
                {
                    "input_prefix": "Box 0 contains the car. Move the car from Box 0 to Box 1. Box 1 contains",
                    "options": [" the car.", " nothing.", " the cross."],
                    "numops": 1,
                },
            ],
        )
    items = read_entity_tracking(folder)
    assert [i.group for i in items[:2]] == ["regular_0_ops", "regular_1_ops"]
    assert {i.group for i in items} == {f"{s}_{n}_ops" for s in ("regular", "ambiref", "move_contents") for n in (0, 1)}
    assert items[1].candidates == (" the car.", " nothing.", " the cross.")
    assert items[1].context.endswith("Box 1 contains") and items[1].id == "regular_1_ops_0"


def test_entity_tracking_reads_numops_written_as_digits_and_a_fast_folder_of_regular_alone(tmp_path):
    # The release's fast set is entity_tracking_fast/regular.jsonl alone (the official collation
    # sizes only regular_*_ops there); the official reader formats numops into the group name.
    folder = tmp_path / "fast_eval" / "entity_tracking_fast"
    jsonl(
        folder / "regular.jsonl",
        [
            {
                "input_prefix": "Box 0 contains the car, Box 1 contains nothing. Box 1 contains",
                "options": [" nothing.", " the car."],
                "numops": "0",
            },
            {
                "input_prefix": "Box 0 contains the car. Move the car from Box 0 to Box 1. Box 1 contains",
                "options": [" the car.", " nothing."],
                "numops": "1",
            },
            {
                "input_prefix": "Box 0 contains the bag. Remove the bag from Box 0. Box 0 contains",
                "options": [" nothing.", " the bag."],
                "numops": 1,
            },
        ],
    )
    items = read_entity_tracking(folder)
    assert [(i.group, i.id) for i in items] == [
        ("regular_0_ops", "regular_0_ops_0"),
        ("regular_1_ops", "regular_1_ops_0"),
        ("regular_1_ops", "regular_1_ops_1"),
    ]


def comps_row(good: str, bad: str, phrase: str) -> dict:
    return {
        "id": 0,
        "property": "can bark",
        "acceptable_concept": "dog",
        "unacceptable_concept": "cat",
        "prefix_acceptable": good,
        "prefix_unacceptable": bad,
        "property_phrase": phrase,
        "negative_sample_type": "taxonomic",
    }


def test_comps_scores_the_shared_property_phrase_after_each_prefix_grouped_by_subset(tmp_path):
    folder = tmp_path / "comps"
    jsonl(
        folder / "comps_base.jsonl",
        [comps_row("A dog", "A cat", "can bark."), comps_row("A robin", "A penguin", "can fly.")],
    )
    jsonl(
        folder / "comps_wugs_dist-in-between.jsonl",
        [
            comps_row(
                "A wug is a dog. A dax is a cat. Therefore, a wug",
                "A wug is a cat. A dax is a dog. Therefore, a wug",
                "can bark.",
            )
        ],
    )
    items = read_comps(folder)
    assert [(i.task, i.group, i.id) for i in items] == [
        ("comps", "base", "base_0"),
        ("comps", "base", "base_1"),
        ("comps", "wugs_dist_in_between", "wugs_dist_in_between_0"),
    ]
    # Only " " + property_phrase is scored, after each prefix; candidate 0 is the acceptable one.
    assert items[0].requests() == [("A dog", " can bark."), ("A cat", " can bark.")] and items[0].correct == 0
    assert items[0].text(1) == "A cat can bark."  # the sentence an official prediction records
    assert items[2].requests()[1] == ("A wug is a cat. A dax is a dog. Therefore, a wug", " can bark.")
    jsonl(
        folder / "comps_wugs.jsonl",
        [{"prefix_acceptable": "A wug is a dog. Therefore, a wug", "property_phrase": "can bark."}],
    )
    fails_with(lambda: read_comps(folder), f"{folder / 'comps_wugs.jsonl'}:1: missing field 'prefix_unacceptable'")
    jsonl(tmp_path / "other" / "comps_extra.jsonl", [comps_row("A dog", "A cat", "can bark.")])
    fails_with(
        lambda: read_comps(tmp_path / "other"), f"{tmp_path / 'other'}: none of comps_base.jsonl, comps_wugs.jsonl"
    )


def test_wug_candidates_are_tab_separated_and_ratio_is_the_target(tmp_path):
    folder = tmp_path / "wug_adj_nominalization"
    jsonl(
        folder / "wug_adj.jsonl",
        [
            {
                "sentences": "The wug is very glorbic. Its glorbicity is clear.\t"
                "The wug is very glorbic. Its glorbicness is clear.",
                "ratio": 0.75,
            },
            {"sentences": "He is snorpy. His snorpiness shows.\tHe is snorpy. His snorpity shows.", "ratio": "0.2"},
        ],
    )
    items = read_wug(folder, "wug_adj")
    assert items[0].candidates == (
        "The wug is very glorbic. Its glorbicity is clear.",
        "The wug is very glorbic. Its glorbicness is clear.",
    )
    assert [i.target for i in items] == [0.75, 0.2]
    assert all(i.correct == -1 and i.context == "" and i.group == "wug_adj" for i in items)
    assert [i.id for i in items] == ["wug_adj_0", "wug_adj_1"]
    with pytest.raises(ValueError, match="wug_adj, wug_past"):
        read_wug(folder, "wug")


def test_reading_keeps_every_column_with_numbers_as_floats_and_words_as_text(tmp_path):
    path = tmp_path / "reading" / "reading_data.csv"
    path.parent.mkdir()
    path.write_text(
        f"{READING_HEADER}\n"
        "The cat,sat,The,cat,200,210,250,220,300,3.1,3,2,3\n"
        "The cat sat,NA,The cat,sat,190,,260,230,,4.5,2,3,3\n",
        encoding="utf-8",
    )
    frame = read_reading(path.parent)
    assert list(frame.columns) == list(READING_COLUMNS) and len(frame) == 2
    assert frame["word"].tolist() == ["sat", "NA"]  # "NA" is a word, not a missing value
    assert frame["RTfirstfix"].tolist() == [200.0, 190.0] and math.isnan(frame["RTfirstpass"].iloc[1])
    assert frame["length"].dtype == float
    assert read_reading(path).equals(frame)  # the CSV itself, as the official --data_path gives it


def test_reading_restores_the_context_none_that_pandas_reads_as_missing(tmp_path):
    # "None of the city people dress like that.": "of" has the one-word context "None", an empty
    # cell in the release (pandas reads "None" as missing); so has the word before "the". The
    # release also carries the ERP columns the official script correlates; they are kept.
    path = tmp_path / "reading" / "reading_data.csv"
    path.parent.mkdir()
    path.write_text(
        f"{READING_HEADER},ELAN,LAN,N400,P600,EPNP,PNP\n"
        ",of,,None,97.33,97.33,130.95,102.67,277.58,6.21,2,1,4,-0.51,-2.63,0.59,0.67,-1.55,-0.46\n"
        "None of,the,,of,90.0,100.38,100.38,100.38,245.52,7.41,3,2,2,0.17,-1.5,-1.72,0.0,-0.21,1.58\n"
        "Roger,smiled,,Roger,88.1,95.2,120.4,99.0,260.3,4.12,6,1,5,0.1,0.2,0.3,0.4,0.5,0.6\n",
        encoding="utf-8",
    )
    frame = read_reading(path)
    assert frame["item"].tolist() == ["None", "None of", "Roger"]  # as the official fillna("None") gives
    # The previous word's context: "None" where it had one (context_length 2), empty where the
    # previous word opened the sentence (context_length 1).
    assert frame["prev_item"].tolist() == ["", "None", ""]
    assert frame["prev_word"].tolist() == ["None", "of", "Roger"] and "N400" in frame.columns


def test_boolq_labels_written_true_and_false_read_as_1_and_0(tmp_path):
    folder = tmp_path / "glue_filtered"
    row = {"question": "does a fox eat mice", "passage": "Foxes eat berries and mice.", "idx": 0}
    jsonl(folder / "boolq.train.jsonl", [{**row, "label": True}, {**row, "label": False}])
    jsonl(folder / "boolq.valid.jsonl", [{**row, "label": 1}])
    assert '"label": true' in (folder / "boolq.train.jsonl").read_text()  # JSON true, as SuperGLUE's BoolQ writes it
    train, valid = read_glue(folder, "boolq")
    assert [r["label"] for r in train + valid] == [1, 0, 1] and all(type(r["label"]) is int for r in train)


def test_glue_rows_carry_the_task_fields_and_an_integer_label(tmp_path):
    folder = tmp_path / "glue_filtered"
    row = {"premise": "Anna saw a fox.", "hypothesis": "Anna saw an animal.", "label": 2, "idx": 7}
    jsonl(folder / "mnli.train.jsonl", [row, {**row, "label": 0}])
    jsonl(folder / "mnli.valid.jsonl", [{**row, "label": 1}])
    train, valid = read_glue(folder, "mnli")
    assert train == [
        {"premise": "Anna saw a fox.", "hypothesis": "Anna saw an animal.", "label": 2},
        {"premise": "Anna saw a fox.", "hypothesis": "Anna saw an animal.", "label": 0},
    ]
    assert valid[0]["label"] == 1
    assert GLUE_NUM_LABELS == {"boolq": 2, "mnli": 3, "mrpc": 2, "multirc": 2, "qqp": 2, "rte": 2, "wsc": 2}
    assert GLUE_FIELDS["wsc"] == ("span1_text", "span2_text", "text") and GLUE_FIELDS["multirc"][-1] == "paragraph"


# ------------------------------------------------------------------------------ error messages


def fails_with(read, message: str) -> None:
    with pytest.raises(EvalDataError) as error:
        read()
    assert str(error.value).startswith(message), str(error.value)


def test_malformed_jsonl_names_file_line_and_field(tmp_path):
    blimp = tmp_path / "blimp_filtered" / "anaphor_agreement.jsonl"
    good = blimp_row("Mary saw herself.", "Mary saw himself.", "anaphor_agreement")
    jsonl(blimp, [good, {"sentence_good": "Mary saw herself.", "UID": "anaphor_agreement"}])
    fails_with(lambda: read_blimp(blimp.parent), f"{blimp}:2: missing field 'sentence_bad'")
    jsonl(blimp, [good, good, '{"sentence_good": "x",'])
    fails_with(lambda: read_blimp(blimp.parent), f"{blimp}:3: not valid JSON")
    jsonl(blimp, [[1, 2]])
    fails_with(lambda: read_blimp(blimp.parent), f"{blimp}:1: expected a JSON object; got list")
    jsonl(blimp, [{**good, "sentence_bad": ""}])
    fails_with(lambda: read_blimp(blimp.parent), f"{blimp}:1: field 'sentence_bad' must be a non-empty string")
    jsonl(blimp, [])
    fails_with(lambda: read_blimp(blimp.parent), f"{blimp}: empty file")
    blimp.write_bytes(json.dumps(good).encode() + b"\n" + b'{"sentence_good": "caf\xe9"}\n')
    fails_with(lambda: read_blimp(blimp.parent), f"{blimp}:2: not UTF-8 text")

    (tmp_path / "ewok_filtered").mkdir()
    fails_with(lambda: read_ewok(tmp_path / "ewok_filtered"), f"{tmp_path / 'ewok_filtered'}: no .jsonl files")
    fails_with(lambda: read_supplement(tmp_path / "nowhere"), f"{tmp_path / 'nowhere'}: folder not found")
    ewok = jsonl(tmp_path / "ewok" / "social-relations.jsonl", [{"Context1": "c", "Target1": "t", "Domain": "d"}])
    fails_with(lambda: read_ewok(ewok.parent), f"{ewok}:1: missing field 'Target2'")


def test_malformed_wug_and_entity_tracking_rows_name_file_line_and_field(tmp_path):
    wug = tmp_path / "wug_past_tense" / "wug_past.jsonl"
    jsonl(wug, [{"sentences": "They blicked.", "ratio": 0.5}])
    fails_with(
        lambda: read_wug(wug.parent, "wug_past"),
        f"{wug}:1: field 'sentences' must hold at least 2 non-empty candidates separated by a tab",
    )
    jsonl(wug, [{"sentences": "a\tb", "ratio": "high"}])
    fails_with(lambda: read_wug(wug.parent, "wug_past"), f"{wug}:1: field 'ratio' must be a finite number; got 'high'")

    folder = tmp_path / "entity_tracking"
    row = {"input_prefix": "Box 0 contains", "options": [" the car.", " nothing."], "numops": 1}
    jsonl(folder / "other.jsonl", [row])
    fails_with(
        lambda: read_entity_tracking(folder), f"{folder}: none of regular.jsonl, ambiref.jsonl, move_contents.jsonl"
    )
    for stem in ("regular", "ambiref", "move_contents"):
        jsonl(folder / f"{stem}.jsonl", [row, {**row, "numops": "two"}])
    fails_with(
        lambda: read_entity_tracking(folder),
        f"{folder / 'regular.jsonl'}:2: field 'numops' must be an integer >= 0 or a string of digits; got 'two'",
    )
    jsonl(folder / "regular.jsonl", [{**row, "options": " the car."}])
    fails_with(
        lambda: read_entity_tracking(folder),
        f"{folder / 'regular.jsonl'}:1: field 'options' must be a list of at least 2 non-empty strings",
    )


def test_malformed_reading_csv_names_the_column_and_line(tmp_path):
    path = tmp_path / "reading" / "reading_data.csv"
    path.parent.mkdir()
    row = "The cat,sat,The,cat,200,210,250,220,300,3.1,3,2,3"
    path.write_text(READING_HEADER.replace(",RTgopast", "") + "\n" + row + "\n", encoding="utf-8")
    fails_with(lambda: read_reading(path.parent), f"{path}: missing column 'RTgopast'")
    path.write_text(f"{READING_HEADER}\n{row}\n{row.replace(',3,2,3', ',three,2,3')}\n", encoding="utf-8")
    fails_with(lambda: read_reading(path.parent), f"{path}:3: column 'length' must be numeric; got 'three'")
    fails_with(lambda: read_reading(tmp_path), f"{tmp_path / 'reading_data.csv'}: file not found")


@pytest.mark.parametrize(
    "task, label, expected",
    [
        ("mnli", "entailment", "an integer in [0, 2]; got 'entailment'"),
        ("mnli", True, "an integer in [0, 2]; got True"),  # true/false is a two-label answer
        ("rte", 2, "an integer in [0, 1] or JSON true/false; got 2"),
        (
            "boolq",
            "true",
            "an integer in [0, 1] or JSON true/false; got 'true'",
        ),  # a string: broken, as for the official reader
        ("mrpc", 1.0, "an integer in [0, 1] or JSON true/false; got 1.0"),
    ],
)
def test_a_glue_label_that_is_not_an_integer_of_the_task_names_file_and_line(tmp_path, task, label, expected):
    folder = tmp_path / "glue_filtered"
    row = {field: "text" for field in GLUE_FIELDS[task]}
    jsonl(folder / f"{task}.train.jsonl", [{**row, "label": 0}, {**row, "label": label}])
    jsonl(folder / f"{task}.valid.jsonl", [{**row, "label": 1}])
    fails_with(lambda: read_glue(folder, task), f"{folder / f'{task}.train.jsonl'}:2: field 'label' must be {expected}")
    (folder / f"{task}.valid.jsonl").unlink()
    jsonl(folder / f"{task}.train.jsonl", [{**row, "label": 0}])
    fails_with(lambda: read_glue(folder, task), f"{folder / f'{task}.valid.jsonl'}: file not found")
    jsonl(folder / f"{task}.valid.jsonl", [{"label": 0}])
    fails_with(
        lambda: read_glue(folder, task), f"{folder / f'{task}.valid.jsonl'}:1: missing field '{GLUE_FIELDS[task][0]}'"
    )
