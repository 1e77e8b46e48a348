"""`classit-ray export`: a trained model as BabyLM publishes it, one Hugging Face model folder per
revision (`main` = the final model, `chck_*` = the pretraining's intermediate checkpoints),
each with a model card, as a folder, a local git repository or a hub repository.

    classit-ray export --config CELL.yaml [--set k=v ...] --out DIR       the cell's final model
    classit-ray export --stage STORE/instruct/<key> --git DIR            a stage folder
    classit-ray export --stage <key> --work-dir STORE --push ORG/NAME    a stage key in a store

    DIR/main/, DIR/chck_<words>M/, ...     config.json, generation_config.json, model.safetensors,
                                           the tokenizer and README.md (the model card): what
                                           `AutoModelForCausalLM` / `AutoTokenizer` load, nothing
                                           else (no optimizer moments, no training state)
    --git DIR                              one branch per revision, each a commit on `main`: the
                                           hub's layout (`git checkout chck_1M`)
    --push ORG/NAME                        the hub repository, its branches and each revision
                                           uploaded through huggingface_hub (token: HF_TOKEN)

A revision's name is true: it counts the words the checkpoint had seen. The pretraining writes
its checkpoints when it crosses the BabyLM schedule's points scaled to its budget (`chck_1M` of
a 150K-word toy run is its first step past 1,500 words: `train/checkpoint.py`), so an export
names each checkpoint by that point in millions of words, `chck_0.0015M`. At the strict track's
budget (100M words) these are BabyLM's own names, `chck_1M` ... `chck_1000M`. `--names babylm`
exports exactly those names, every one the run reached (a 10M-word run's `chck_10M` stood for 1M
words: it is BabyLM's `chck_1M`; its `chck_0.1M` ... are left out), and refuses in one line a run
whose checkpoints cannot carry them (a toy budget) or that did not keep them all
(`pretrain.keep_checkpoints`).

An export appears whole or not at all: each output is written under a temporary sibling name and
renamed into place; the hub token is checked before anything is written.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from classit_ray import hub
from classit_ray.atomic import is_complete, read_manifest, tmp_sibling
from classit_ray.commands import load_with_overrides, stage_parser  # stage_parser: the flags every stage command shares
from classit_ray.config import BABYLM_CHECKPOINT_MILLIONS, Config, ConfigError, config_to_dict, work_dir_of
from classit_ray.model import preset_summary
from classit_ray.store import store_of
from classit_ray.train.checkpoint import FINAL_CHECKPOINT, TOKENIZER_FILES, CheckpointError, babylm_schedule, read_state

NameRule = Literal["words", "babylm"]
MODEL_FILES = ("config.json", "generation_config.json", "model.safetensors", *TOKENIZER_FILES)
BABYLM_NAMES = tuple(f"chck_{m}M" for m in BABYLM_CHECKPOINT_MILLIONS)
STAGE_KINDS = ("pretrain", "instruct")
_KEY = re.compile(r"[0-9a-f]{16}")
# The commits' author, and no user or system git config (hooks, signing, a default branch name).
_GIT_ENV = {
    "GIT_AUTHOR_NAME": "classit-ray",
    "GIT_AUTHOR_EMAIL": "classit-ray@localhost",
    "GIT_COMMITTER_NAME": "classit-ray",
    "GIT_COMMITTER_EMAIL": "classit-ray@localhost",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


class ExportError(ValueError):
    """An export that cannot be made as asked; one line naming the stage, revision or setting."""


@dataclass(frozen=True)
class Revision:
    name: str  # the exported name: "main", or "chck_<millions>M" by the words seen
    checkpoint: Path  # the checkpoint folder in the store
    stored: str  # its name there: "final", "chck_1M" (BabyLM's names scaled to the budget)
    words_seen: int  # by the stage that wrote it
    step: int


@dataclass
class Source:
    """The stages a model came from, pretraining first, the exported stage last."""

    chain: list[Path]
    cfg: Config | None = None  # the cell's config, when exported from a cell
    split: Path | None = None  # the cell's budget split
    evaluation: dict = field(default_factory=dict)  # the final model's evaluation manifest, if there is one


def millions(words: int) -> str:
    """`words` in millions, exactly: 1500 -> "0.0015", 2_000_000 -> "2"."""
    whole, rest = divmod(int(words), 1_000_000)
    return str(whole) if not rest else f"{whole}.{rest:06d}".rstrip("0")


def name_of_words(words: int) -> str:
    return f"chck_{millions(words)}M"


# ---- where the model comes from ------------------------------------------------------------------
def _stage_folder(store: Path, key: str, fetch: Callable[[str], bool] | None = None) -> Path:
    """The finished training stage `key` of the store at `store` (fetched into the cache first
    when the store is remote)."""
    for kind in STAGE_KINDS:
        if fetch is not None:
            fetch(f"{kind}/{key}")
        if is_complete(store / kind / key):
            return store / kind / key
    looked = ", ".join(k + "/" for k in STAGE_KINDS)
    raise ExportError(f"{store}: no finished training stage {key} (looked in {looked})")


def stage_chain(stage: Path, fetch: Callable[[str], bool] | None = None) -> list[Path]:
    """`stage` and the stages it started from, pretraining first. An instruction stage's last
    input key is the stage it started from (`train/stage.py: chain`), found beside it in its store."""
    chain = [stage]
    while (spec := read_manifest(chain[0])["spec"])["stage"] != "pretrain":
        chain.insert(0, _stage_folder(chain[0].parent.parent, spec["inputs"][-1], fetch))
    return chain


def source_of_stage(ref: str, cfg: Config) -> Source:
    """`--stage`: a stage folder, or a stage key in the store `cfg` names."""
    path = Path(ref).expanduser()
    if path.is_dir():
        manifest = read_manifest(path)
        if not str(manifest.get("kind", "")).endswith("_stage"):
            raise ExportError(
                f"{path}: a {manifest.get('kind', 'different')} artifact, not a training stage "
                "(expected <store>/pretrain/<key> or <store>/instruct/<key>)"
            )
        return Source(stage_chain(path))
    if not _KEY.fullmatch(ref):
        raise ExportError(f"--stage {ref}: neither a stage folder nor a stage key (16 hex digits)")
    store = store_of(cfg)
    fetch = (lambda rel: store.fetch(rel)) if store is not None else None
    return Source(stage_chain(_stage_folder(work_dir_of(cfg), ref, fetch), fetch))


def source_of_cell(cfg: Config) -> Source:
    """The cell `cfg`'s training stages, as its stage graph names them; each must be finished."""
    # Imported here: the graph plans the data stages (pandas, the toy world), which a --stage export never needs.
    from classit_ray.cell.graph import build_graph

    graph = build_graph(cfg, work_dir_of(cfg))
    store = store_of(cfg)
    chain = []
    for node in graph.nodes:
        if node.spec is None:
            continue
        if store is not None:
            store.fetch(store.rel(node.path))
        if not is_complete(node.path):
            raise ExportError(
                f"{node.path}: the cell's {node.label} stage is not finished; run `classit-ray instruct` "
                "(or a study) with the same config first"
            )
        chain.append(Path(node.path))
    return Source(chain, cfg, graph.data.split_dir)


def final_evaluation(source: Source) -> dict:
    """The evaluation manifest of the exported model (an `eval/<key>` of its store whose model is
    the stage's `final`), the one with most metrics when several settings scored it; {} if none."""
    stage = source.chain[-1]
    tail = f"{stage.parent.name}/{stage.name}/{FINAL_CHECKPOINT}"
    found = []
    for path in sorted((stage.parent.parent / "eval").glob("*/manifest.json")):
        manifest = json.loads(path.read_text())
        if str(manifest.get("model", "")).rstrip("/").endswith(tail):
            found.append(manifest)
    return max(found, key=lambda m: len(m.get("metrics", {})), default={})


# ---- which revisions, under which names ----------------------------------------------------------
def _points(spec: dict) -> dict[str, int]:
    """A pretraining's checkpoint names -> the words of the schedule point each stands for."""
    return {name: words for words, name in babylm_schedule(spec["budget_words"], 10**15)}


def true_name(checkpoint: Path, point: int) -> tuple[str, int, int]:
    """(name, words seen, step) of a checkpoint written for the schedule point `point`: named by
    the point when it is the first step at or past it (as the loop writes them), else by the
    words it saw."""
    position = read_state(checkpoint)["position"]
    seen, step = int(position["words_seen"]), int(position["step"])
    per_step = seen / max(step, 1)
    return name_of_words(point if point <= seen < point + per_step else seen), seen, step


def plan_revisions(chain: list[Path], names: NameRule = "words", wanted: list[str] | None = None) -> list[Revision]:
    """`main` (the last stage's final model), then the pretraining's kept `chck_*` checkpoints in
    training order: all of them, or those `wanted` names (exported or stored names); under
    `names="babylm"` exactly BabyLM's names, every one the run reached. ExportError naming the
    revision and the setting otherwise."""
    pretrain, last = chain[0], chain[-1]
    manifest = read_manifest(pretrain)
    points = _points(manifest["spec"])
    kept = [n for n in manifest["checkpoints"] if n.startswith("chck_")]
    dropped = [n for n in manifest.get("dropped", []) if n.startswith("chck_")]
    retention = manifest.get("retention")
    revisions = []
    for stored in sorted(kept, key=points.__getitem__):
        name, seen, step = true_name(pretrain / stored, points[stored])
        revisions.append(Revision(name, pretrain / stored, stored, seen, step))
    by_name = {r.name: r for r in revisions} | {r.stored: r for r in revisions}
    not_kept = {name_of_words(points[n]): n for n in dropped} | {n: n for n in dropped}

    def refuse_dropped(name: str) -> ExportError:
        return ExportError(
            f"{pretrain}: revision {name} was written but not kept (pretrain.keep_checkpoints="
            f"{retention!r} keeps final and the checkpoints eval.checkpoints scores); delete this stage "
            "folder and pretrain again with pretrain.keep_checkpoints=all to export it"
        )

    if names == "babylm":
        return [main_revision(last), *_babylm_revisions(pretrain, manifest, revisions, points, wanted, refuse_dropped)]
    chosen = revisions
    if wanted:
        for name in wanted:
            if name not in by_name:
                if name in not_kept:
                    raise refuse_dropped(name)
                raise ExportError(
                    f"{pretrain}: no revision {name}; it kept {[r.name for r in revisions] or 'none'} "
                    f"(stored as {[r.stored for r in revisions] or 'none'})"
                )
        chosen = [r for r in revisions if r.name in wanted or r.stored in wanted]
    return [main_revision(last), *chosen]


def main_revision(stage: Path) -> Revision:
    position = read_state(stage / FINAL_CHECKPOINT)["position"]
    final = stage / FINAL_CHECKPOINT
    return Revision("main", final, FINAL_CHECKPOINT, int(position["words_seen"]), int(position["step"]))


def _babylm_revisions(
    pretrain: Path,
    manifest: dict,
    revisions: list[Revision],
    points: dict[str, int],
    wanted: list[str] | None,
    refuse_dropped: Callable[[str], ExportError],
) -> list[Revision]:
    """`--names babylm`: the checkpoints whose true names are BabyLM's (`wanted`, or every one the
    run reached), or ExportError naming the first that cannot be met. Others (a 10M-word run's
    chck_0.1M ...) are left out: they are true, but not names of the track."""
    final_words = read_state(pretrain / FINAL_CHECKPOINT)["position"]["words_seen"]
    words = dict(zip(BABYLM_NAMES, (m * 1_000_000 for m in BABYLM_CHECKPOINT_MILLIONS), strict=True))
    wanted = wanted or [n for n in BABYLM_NAMES if words[n] <= final_words]
    budget = manifest["spec"]["budget_words"]
    advice = (
        "export with --names words (revisions named by the words seen), or pretrain at the track's budget "
        "(budget.total_words=100_000_000)"
    )
    if not wanted:
        raise ExportError(
            f"{pretrain}: the pretraining saw {final_words:,} words, fewer than BabyLM's first revision "
            f"chck_1M (1,000,000 words); {advice}"
        )
    true = {r.name: r for r in revisions}
    dropped_true = {name_of_words(points[n]) for n in manifest.get("dropped", []) if n.startswith("chck_")}
    for name in wanted:
        if name not in words:
            raise ExportError(f"--names babylm: {name} is not one of BabyLM's revision names (chck_1M ... chck_1000M)")
        if name in dropped_true:
            raise refuse_dropped(name)
        if name not in true:
            stand = ", ".join(r.name for r in revisions[:3]) + (", ..." if len(revisions) > 3 else "")
            raise ExportError(
                f"{pretrain}: BabyLM's revision {name} ({words[name]:,} words) cannot be met: no "
                f"checkpoint was written there (this run's are {stand or 'none'}, BabyLM's points scaled "
                f"to its budget of {budget:,} words); {advice}"
            )
    return [true[n] for n in BABYLM_NAMES if n in wanted]


# ---- the model card ------------------------------------------------------------------------------
def _study_intervals(study_dir: str, cfg: Config) -> dict[str, tuple[float, float, float, int]]:
    """metric -> (mean, 95% t-interval low, high, seeds) over the study's trials of the cell's
    condition: every config column equal to the cell's, seeds aside."""
    import numpy as np

    from classit_ray.analysis import load_study, seed_columns, task_columns
    from classit_ray.analysis.inference import t_interval

    df = load_study(study_dir)
    flat = {f"{section}.{k}": v for section, values in config_to_dict(cfg).items() for k, v in values.items()}
    rows = df[df["status"] == "ok"] if "status" in df else df
    seeds = set(seed_columns(df))
    for column in df.columns:
        if column in flat and column not in seeds and not isinstance(flat[column], (list, dict)):
            rows = rows[rows[column] == flat[column]]
    out = {}
    for task in task_columns(df):
        values = rows[task].dropna().to_numpy(dtype=float)
        if len(values):
            low, high = t_interval(values)
            out[task] = (float(np.mean(values)), low, high, len(values))
    return out


def _table(header: list[str], rows: list[list]) -> list[str]:
    """A markdown table; integers with thousands separators."""
    cells = [[f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else str(v) for v in row] for row in rows]
    return [f"| {' | '.join(header)} |", f"|{'---|' * len(header)}", *(f"| {' | '.join(row)} |" for row in cells)]


def _data_lines(source: Source, budget_words: int, total: int) -> list[str]:
    lines = [f"Word budget {budget_words:,} words; {total:,} words seen in all (with repeats over epochs)."]
    if source.split is not None and is_complete(source.split):
        split = read_manifest(source.split)
        b, words = split["budget"], split["words"]
        lines += [
            f"Split: {words['pretrain']:,} pretraining words and {words['instruct']:,} instruction words "
            f"(instruct_fraction {b['instruct_fraction']}, configs {', '.join(b['instruct_configs'])}, "
            f"split seed {b['seed']}).",
            "",
            *_table(
                ["part", "source", "words"],
                [
                    [part, name, row["words"]]
                    for part in ("pretrain", "instruct")
                    for name, row in split["table"][part].items()
                ],
            ),
        ]
    if source.cfg is not None:
        ins = source.cfg.instruct
        lines += ["", f"Curriculum: `{ins.curriculum}`; loss on `{ins.loss_on}` tokens of each pair."]
    return lines


def _evaluation_lines(evaluation: dict, intervals: dict | None) -> list[str]:
    metrics = {k: v for k, v in evaluation.get("metrics", {}).items() if not k.startswith("eval/ties/")}
    if not metrics and not intervals:
        return []
    data = f" ({'fast' if evaluation.get('eval', {}).get('fast') else 'full'} data)" if metrics else ""
    study = "; the study's mean over seeds of this condition with its 95% t interval" if intervals else ""
    rows = []
    for metric in sorted(set(metrics) | set(intervals or {})):
        row = [metric, f"{metrics[metric]:.4f}" if metric in metrics else ""]
        if intervals is not None:
            mean, low, high, n = intervals.get(metric, (None, 0, 0, 0))
            ci = f" [{low:.4f}, {high:.4f}]" if n > 1 else ""
            row.append("" if mean is None else f"{mean:.4f}{ci} ({n})")
        rows.append(row)
    header = ["metric", "this model", *(["mean over seeds [95% CI] (seeds)"] if intervals is not None else [])]
    return [
        "",
        "## Evaluation",
        "",
        f"Scores of the final model on the BabyLM evaluation{data}{study}.",
        "",
        *_table(header, rows),
    ]


def model_card(source: Source, revisions: list[Revision], title: str, intervals: dict | None = None) -> str:
    """README.md of every revision: what the model is, how it was trained, its revisions and scores."""
    specs = [read_manifest(stage)["spec"] for stage in source.chain]
    pre = specs[0]
    summary = preset_summary(pre["preset"])
    tok_dir = source.chain[0].parent.parent / "tokenizer" / pre["inputs"][0]
    tok = read_manifest(tok_dir) if is_complete(tok_dir) else {}
    total = sum(read_state(stage / FINAL_CHECKPOINT)["position"]["words_seen"] for stage in source.chain)
    tuned = len(specs) > 1
    lines = [
        "---",
        "library_name: transformers",
        "pipeline_tag: text-generation",
        "language: en",
        "tags: [babylm, classit-ray, llama]",
        "---",
        "",
        f"# {title}",
        "",
        f"A {summary['parameters']:,}-parameter LLaMA-architecture causal LM (preset `{pre['preset']}`) trained "
        f"with classit_ray: pretraining{', then instruction tuning.' if tuned else ' only.'}",
        "",
        "```python",
        "from transformers import AutoModelForCausalLM, AutoTokenizer",
        f'model = AutoModelForCausalLM.from_pretrained("{title}", revision="main")  # or a chck_* revision',
        f'tokenizer = AutoTokenizer.from_pretrained("{title}", revision="main")',
        "```",
        "",
        "## Model",
        "",
        *_table(["field", "value"], [[k, v] for k, v in summary.items()]),
        "",
        "## Tokenizer",
        "",
    ]
    if tok:
        special = ", ".join(f"`{t}`" for t in tok.get("special_tokens", {}))
        lines.append(
            f"Byte-level BPE of {tok['vocab_size']:,} tokens (the model has {summary['vocab_size']:,} "
            f"embedding rows), trained on {tok['trained_on_words']:,} words of the pretraining split; "
            f"tokenizer.json sha256 `{tok['sha256']}`; special tokens {special}."
        )
    else:
        lines.append(f"Byte-level BPE; tokenizer.json sha256 `{pre['tokenizer_sha256']}`.")
    lines += [
        "",
        "## Training data and budget",
        "",
        *_data_lines(source, pre["budget_words"], total),
        "",
        "## Stages",
        "",
        *_table(
            ["stage", "key", "epochs", "seed", "lr", "batch", "words per epoch"],
            [
                [
                    s["name"],
                    f"`{stage.name}`",
                    s["optim"]["epochs"],
                    s["optim"]["seed"],
                    f"{s['optim']['lr']:g}",
                    s["optim"]["batch_size"],
                    s["words"],
                ]
                for s, stage in zip(specs, source.chain, strict=True)
            ],
        ),
        "",
        "## Revisions",
        "",
        "Each revision is a branch. `main` is the final model; each `chck_<N>M` is the first pretraining "
        f"checkpoint to have seen N million words{' (before instruction tuning)' if tuned else ''}.",
        "",
        *_table(
            ["revision", "stage checkpoint", "words seen", "step"],
            [
                [
                    r.name,
                    f"{r.checkpoint.parent.parent.name}/{r.checkpoint.parent.name}/{r.stored}",
                    r.words_seen,
                    r.step,
                ]
                for r in revisions
            ],
        ),
        *_evaluation_lines(source.evaluation, intervals),
    ]
    return "\n".join(lines) + "\n"


# ---- writing -------------------------------------------------------------------------------------
def _link_or_copy(src: Path, dest: Path) -> None:
    """Hard link (a 100M model's 30 revisions are 15 GB as copies; both sides only ever read
    them), a copy across filesystems."""
    try:
        os.link(src, dest)
    except OSError:
        shutil.copy2(src, dest)


def write_folders(revisions: list[Revision], card: str, out: Path) -> Path:
    """OUT/<revision>/ for each revision, written under a temporary sibling and renamed whole."""
    tmp = tmp_sibling(out)
    try:
        for r in revisions:
            dest = tmp / r.name
            dest.mkdir(parents=True)
            for name in MODEL_FILES:
                if (r.checkpoint / name).is_file():
                    _link_or_copy(r.checkpoint / name, dest / name)
            for name in ("config.json", "model.safetensors", "tokenizer.json"):
                if not (dest / name).is_file():
                    raise CheckpointError(f"{r.checkpoint}: no {name}; not a complete checkpoint")
            (dest / "README.md").write_text(card, encoding="utf-8")
        os.rename(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def _git(*args: str, cwd: Path, env: dict | None = None) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, env={**os.environ, **_GIT_ENV, **(env or {})}, capture_output=True, text=True
    )
    if done.returncode:
        raise ExportError(f"{cwd}: git {args[0]} failed: {' '.join(done.stderr.split())}")
    return done.stdout.strip()


def write_git(folders: Path, names: list[str], out: Path) -> Path:
    """A git repository at `out` with one branch per revision folder of `folders`: `main` checked
    out, each other revision a commit on top of `main` (a branch made on the hub starts from
    `main` too) whose tree is that revision's files alone. Renamed into place whole."""
    if shutil.which("git") is None:
        raise ExportError("--git: no git command on this machine")
    tmp = tmp_sibling(out)
    try:
        tmp.mkdir()
        _git("init", "-q", "-b", "main", cwd=tmp)
        for path in sorted((folders / "main").iterdir()):
            shutil.copy2(path, tmp / path.name)
        _git("add", "-A", cwd=tmp)
        _git("commit", "-q", "-m", "main: the final model", cwd=tmp)
        main = _git("rev-parse", "HEAD", cwd=tmp)
        for name in names:
            if name == "main":
                continue
            index = {"GIT_INDEX_FILE": str(tmp / ".git" / f"index-{name}")}
            _git(f"--work-tree={folders / name}", "add", "-A", cwd=tmp, env=index)
            tree = _git("write-tree", cwd=tmp, env=index)
            commit = _git("commit-tree", tree, "-p", main, "-m", f"{name}: pretraining checkpoint", cwd=tmp)
            _git("update-ref", f"refs/heads/{name}", commit, cwd=tmp)
            (tmp / ".git" / f"index-{name}").unlink()
        os.rename(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def hub_token(repo_id: str) -> str:
    """The write token for `--push`, from the environment; ExportError in one line without one."""
    if not hub.HUB_ID.fullmatch(repo_id):
        raise ExportError(f"--push {repo_id}: expected a hub repository id ORG/NAME")
    if hub.offline():
        raise ExportError(f"--push {repo_id}: HF_HUB_OFFLINE is set; a push needs the hub")
    token = os.environ.get("HF_TOKEN", "").strip()
    if not token:
        raise ExportError(
            f"--push {repo_id}: no hub token; set HF_TOKEN to a write token "
            "(https://huggingface.co/settings/tokens) in the environment"
        )
    return token


def push(folders: Path, names: list[str], repo_id: str, token: str, private: bool) -> str:
    """Create the hub repository `repo_id` (or reuse it), upload `main`, then make each other
    revision a branch and upload its folder onto it. Its URL."""
    from huggingface_hub import HfApi  # only a push loads the hub client

    api = HfApi(token=token)
    url = api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
    api.upload_folder(repo_id=repo_id, folder_path=folders / "main", commit_message="main: the final model")
    for name in names:
        if name != "main":
            api.create_branch(repo_id, branch=name, exist_ok=True)
            api.upload_folder(
                repo_id=repo_id,
                folder_path=folders / name,
                revision=name,
                commit_message=f"{name}: pretraining checkpoint",
            )
    return str(url)


# ---- the command ---------------------------------------------------------------------------------
def parser() -> argparse.ArgumentParser:
    p = stage_parser("classit-ray export", __doc__.split("\n")[0])
    p.add_argument(
        "--stage",
        help="a training stage folder (<store>/instruct/<key>) or a stage key in --work-dir; "
        "default: the final stage of the cell --config/--set describe",
    )
    p.add_argument(
        "--revisions",
        nargs="+",
        metavar="NAME",
        help="the chck_* revisions to export, by exported or stored name (default: every one kept)",
    )
    p.add_argument(
        "--names",
        choices=["words", "babylm"],
        default="words",
        help="words: revisions named by the words seen; babylm: BabyLM's chck_1M ... names, or refuse",
    )
    p.add_argument("--study", help="a study's folder: the card adds the mean and 95%% interval over this cell's seeds")
    p.add_argument("--title", help="the model's name in the card (default: --push's id, else the exported stage's key)")
    p.add_argument("--out", help="write a model folder per revision into this new folder")
    p.add_argument("--git", help="write a git repository, one branch per revision, into this new folder")
    p.add_argument(
        "--push", metavar="ORG/NAME", help="create the hub repository and upload every revision (token: HF_TOKEN)"
    )
    p.add_argument("--private", action="store_true", help="with --push: create the repository private")
    return p


def export(args: argparse.Namespace, cfg: Config) -> str:
    """Run an export as `args` asks; the lines to print."""
    if not (args.out or args.git or args.push):
        raise ExportError("nothing to write: give --out DIR, --git DIR or --push ORG/NAME")
    token = hub_token(args.push) if args.push else ""
    for flag, target in (("--out", args.out), ("--git", args.git)):
        if target and Path(target).expanduser().exists():
            raise ExportError(f"{flag} {target}: exists; an export writes a new folder (remove it or choose another)")
    if args.study and args.stage:
        raise ExportError("--study matches the study's trials to a cell: give the cell (--config/--set), not --stage")
    source = source_of_stage(args.stage, cfg) if args.stage else source_of_cell(cfg)
    source = dataclasses.replace(source, evaluation=final_evaluation(source))
    revisions = plan_revisions(source.chain, args.names, args.revisions)
    intervals = _study_intervals(args.study, cfg) if args.study else None
    card = model_card(source, revisions, args.title or args.push or source.chain[-1].name, intervals)
    names = [r.name for r in revisions]
    listed = ", ".join(f"{r.name} ({r.words_seen:,} words)" for r in revisions)
    said = [f"{len(revisions)} revisions of {source.chain[-1]}: {listed}"]
    out = Path(args.out).expanduser() if args.out else None
    if out is None:
        parked = tmp_sibling(Path(args.git).expanduser() if args.git else Path.cwd() / "export")
        folders = write_folders(revisions, card, parked)
    else:
        folders = write_folders(revisions, card, out)
        said.append(f"folders -> {out}")
    try:
        if args.git:
            repo = write_git(folders, names, Path(args.git).expanduser())
            said.append(f"git repository ({len(names)} branches) -> {repo}")
        if args.push:
            said.append(f"pushed -> {push(folders, names, args.push, token, args.private)}")
    finally:
        if out is None:
            shutil.rmtree(folders, ignore_errors=True)
    return "\n".join(said)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        cfg = load_with_overrides(args.config, args.overrides)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.work_dir:
        cfg = dataclasses.replace(cfg, study=dataclasses.replace(cfg.study, work_dir=args.work_dir))
    try:
        print(export(args, cfg))
    except (ValueError, FileNotFoundError) as e:  # ours name the stage, revision, setting or file
        print(f"error: {' '.join(str(e).split())}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
