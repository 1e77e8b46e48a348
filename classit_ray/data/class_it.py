"""Read instruction pairs in the CLASS_IT release layout (`colinglab/CLASS_IT` on the HF hub).

`instruct_dir` is a local folder, or a hub dataset id (`colinglab/CLASS_IT`), read from its
snapshot in the hub cache (`hub.py`: fetched once, offline with `HF_HUB_OFFLINE=1`).

Each config (`switchboard`, `simple_wiki`) is parquet with string columns `prompt`, `reply`,
`source`, `text`. Accepted on disk: the hub download layout `<dir>/<config>/*.parquet`, or a
single `<dir>/<config>.parquet`. Only `prompt` and `reply` are required; `source` and `text` are
filled in when absent. Pair words = whitespace tokens of prompt + reply (the budget's unit).

An optional string column `answer` holds what a reply must state where that is known (the toy
world's knowledge-base questions: the fact asked for, the reply's first sentence); "" where it is
not, and for every pair of data without the column (the CLASS_IT release: no known answers). The
interactive evaluation checks generated replies against it.

Pairs built by `instruct_pairs/` carry a manifest in their folder, `<dir>/<config>/_manifest.json`:
what made them and whether a model wrote them (`"generated": true`), which the budget table reports.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from classit_ray import hub
from classit_ray.atomic import read_json

REQUIRED_COLUMNS = ("prompt", "reply")
COLUMNS = ("prompt", "reply", "source", "text")
ANSWER = "answer"  # optional: the known answer a reply must state, "" where none is known
SCHEMA = pa.schema([(c, pa.string()) for c in COLUMNS])
ANSWERED_SCHEMA = pa.schema([(c, pa.string()) for c in (*COLUMNS, ANSWER)])
PARQUET_NAME = "train-00000-of-00001.parquet"  # the hub's name for a config's one file


def pair_text(prompt: str, reply: str) -> str:
    """The `text` column: the pair as one string, prompt then reply."""
    return f"{prompt}\n{reply}"


def pair_table(prompts: list[str], replies: list[str], source: str, answers: list[str] | None = None) -> pa.Table:
    """Pairs in the CLASS_IT layout (`prompt, reply, source, text`), with `answer` when given."""
    texts = [pair_text(p, r) for p, r in zip(prompts, replies)]
    columns = [
        pa.array(prompts, pa.string()),
        pa.array(replies, pa.string()),
        pa.array([source] * len(prompts), pa.string()),
        pa.array(texts, pa.string()),
    ]
    if answers is None:
        return pa.Table.from_arrays(columns, schema=SCHEMA)
    return pa.Table.from_arrays([*columns, pa.array(answers, pa.string())], schema=ANSWERED_SCHEMA)


def pair_words(prompt: str, reply: str) -> int:
    return len(prompt.split()) + len(reply.split())


def instruct_root(instruct_dir: str | Path) -> Path:
    """The local folder of `corpus.instruct_dir`: itself, or a hub dataset's snapshot."""
    return hub.resolve(instruct_dir, "dataset")


def instruct_data_named(instruct_dir: str | Path) -> bool:
    """`corpus.instruct_dir` names instruction data: a local folder that exists, or a hub id."""
    return bool(str(instruct_dir)) and (Path(instruct_dir).expanduser().is_dir() or hub.is_hub_id(instruct_dir))


def read_provenance(instruct_dir: str | Path, config: str) -> dict:
    """The manifest `instruct_pairs/` wrote beside a config's pairs; for a hub dataset without
    one, the release and the commit read (so the split's key changes with a new release); {}
    for pairs from elsewhere."""
    root = instruct_root(instruct_dir)
    path = root / config / "_manifest.json"
    if path.is_file():
        return read_json(path)
    return {"hub": str(instruct_dir), "commit": root.name} if hub.is_hub_id(instruct_dir) else {}


class InstructDataError(ValueError):
    """Instruction parquet is missing or malformed; the message names the file and column."""


def config_files(instruct_dir: str | Path, config: str) -> list[Path]:
    root = instruct_root(instruct_dir)
    if not root.is_dir():
        raise InstructDataError(f"{root}: instruction data folder not found; expected {config}/*.parquet inside it")
    files = sorted((root / config).glob("*.parquet")) if (root / config).is_dir() else []
    if not files and (root / f"{config}.parquet").is_file():
        files = [root / f"{config}.parquet"]
    if not files:
        raise InstructDataError(
            f"{root}: no parquet for instruction config {config!r}; expected {config}/*.parquet or {config}.parquet"
        )
    return files


def read_pairs(instruct_dir: str | Path, config: str) -> pd.DataFrame:
    """All pairs of one config, in file order, with a `words` column; validated per file."""
    frames = []
    for path in config_files(instruct_dir, config):
        try:
            schema = pq.read_schema(path)
        except Exception as e:  # pyarrow raises several types for a file that is not parquet
            raise InstructDataError(f"{path}: not a readable parquet file ({e})") from None
        missing = [c for c in REQUIRED_COLUMNS if c not in schema.names]
        if missing:
            raise InstructDataError(
                f"{path}: missing column(s) {', '.join(missing)}; expected prompt, reply (found: {', '.join(schema.names)})"
            )
        frame = pq.read_table(path, columns=[c for c in (*COLUMNS, ANSWER) if c in schema.names]).to_pandas()
        if ANSWER in frame and not frame[ANSWER].map(lambda v: isinstance(v, str)).all():
            row = int((~frame[ANSWER].map(lambda v: isinstance(v, str))).to_numpy().nonzero()[0][0])
            raise InstructDataError(
                f'{path}: row {row}: column {ANSWER!r} must be a string ("" for none), got {frame[ANSWER].iloc[row]!r}'
            )
        for column in REQUIRED_COLUMNS:
            bad = frame[column].map(lambda v: not isinstance(v, str) or not v.strip())
            if bad.any():
                row = int(bad.to_numpy().nonzero()[0][0])
                raise InstructDataError(
                    f"{path}: row {row}: column {column!r} must be a non-empty string, got {frame[column].iloc[row]!r}"
                )
        frames.append(frame)
    pairs = pd.concat(frames, ignore_index=True)
    pairs[ANSWER] = pairs[ANSWER].fillna("") if ANSWER in pairs else ""  # a file without the column knows none
    if "source" not in pairs:
        pairs["source"] = config
    if "text" not in pairs:
        pairs["text"] = [pair_text(p, r) for p, r in zip(pairs["prompt"], pairs["reply"])]
    pairs["words"] = pairs["prompt"].str.split().str.len() + pairs["reply"].str.split().str.len()
    return pairs[[*COLUMNS, ANSWER, "words"]]
