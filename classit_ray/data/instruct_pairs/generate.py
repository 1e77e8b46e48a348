"""Simple Wikipedia Q&A pairs written by a local instruct model, as Ray Data batch inference.

    passages.parquet ─► Ray Data read ─► skip passages already done
        ─► map_batches(QAWorker, actor pool: one model replica per GPU, or CPU workers)
              each replica: prompt (qa.py) → batched generate → parse and check pairs (qa.py)
        ─► driver: a part file every `part_passages` passages or `flush_seconds`
        ─► when every passage is done: OUT/simple_wiki/ in the CLASS_IT layout (output.py)

The work state lives in `OUT/_work/simple_wiki/`: `settings.json` (input sha256, passage and
parsing rules, prompt, generator, decoding), `passages.parquet` (passages.py) and `parts/`, one
parquet per flush with each passage's raw generation, its kept pairs and its drops. A part is
written atomically, so a crash loses at most the passages since the last flush, and a rerun with
the same settings skips every passage already in a part. A rerun with other settings is refused
(a mix of two generators' pairs would be silently wrong); the error names what changed.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import sys
import time
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from classit_ray import hub
from classit_ray.atomic import atomic_write_json, read_json, tmp_sibling
from classit_ray.data.instruct_pairs.output import PairCounts, PairWriter, check_writable
from classit_ray.data.instruct_pairs.passages import PassageRules, write_passages
from classit_ray.data.instruct_pairs.qa import PROMPT_TEMPLATE, PROMPT_VERSION, QARules, parse_pairs, qa_prompt
from classit_ray.data.tokenizer import file_sha256
from classit_ray.safe_loading import MODEL_LOAD_KWARGS, check_model_dir

SOURCE = "simple_wiki"
WORK_DIR = "_work"
# prompts -> completions, one per prompt; built inside each Ray Data actor by a factory.
Generator = Callable[[list[str]], list[str]]
PART_SCHEMA = pa.schema(
    [
        ("passage", pa.int64()),
        ("generation", pa.string()),
        ("questions", pa.list_(pa.string())),
        ("answers", pa.list_(pa.string())),
        ("drops", pa.string()),
    ]
)


@dataclass(frozen=True)
class GenerationConfig:
    """How the generator is run. Fields marked `run` may change between a run and its resumption."""

    pairs_per_passage: int = 3
    max_new_tokens: int = 384  # three short pairs take about 150 tokens; room for a verbose model
    temperature: float = 0.0  # 0: greedy decoding, so a rerun writes the same pairs
    top_p: float = 0.95  # used only when sampling
    seed: int = 0  # used only when sampling: each batch seeds from it and its first prompt
    batch_size: int = 16  # run: passages per generate() call on one replica
    replicas: int = 0  # run: model replicas; 0 = one per GPU of the cluster, or 1 on CPU
    part_passages: int = 256  # run: passages per part file
    flush_seconds: float = 120.0  # run: a part is written at least this often, whatever its size

    RUN_FIELDS = ("batch_size", "replicas", "part_passages", "flush_seconds")

    def __post_init__(self):
        problems = [
            f"{name} must be >= 1, got {getattr(self, name)}"
            for name in ("pairs_per_passage", "max_new_tokens", "batch_size", "part_passages")
            if getattr(self, name) < 1
        ]
        if self.replicas < 0 or self.temperature < 0 or not 0 < self.top_p <= 1:
            problems.append(
                f"expected replicas >= 0, temperature >= 0, 0 < top_p <= 1; got {self.replicas}, {self.temperature}, {self.top_p}"
            )
        if problems:
            raise ValueError("GenerationConfig: " + "; ".join(problems))

    def settings(self) -> dict:
        """The fields that decide what is generated (the rest only decide how fast)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in self.RUN_FIELDS}


class HFGenerator:
    """A local causal LM directory as a `Generator`: batched, left-padded `generate()`, wrapped in
    the model's chat template when it has one (an instruct model), plain text otherwise."""

    def __init__(self, model_dir: str, cfg: GenerationConfig):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.cfg = cfg
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.tok = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
        self.tok.padding_side = "left"  # decoder-only batches grow on the right: pad on the left
        if self.tok.pad_token is None:
            self.tok.pad_token = self.tok.eos_token
        # bf16 on GPU; fp32 on CPU, where bf16 matmuls are far slower.
        dtype = torch.bfloat16 if self.device == "cuda" else torch.float32
        self.model = (
            AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype, **MODEL_LOAD_KWARGS).to(self.device).eval()
        )
        self.chat = bool(getattr(self.tok, "chat_template", None))

    def __call__(self, prompts: list[str]) -> list[str]:
        import torch

        if self.chat:
            texts = [
                self.tok.apply_chat_template(
                    [{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True
                )
                for p in prompts
            ]
            enc = self.tok(texts, return_tensors="pt", padding=True, add_special_tokens=False)
        else:
            enc = self.tok(prompts, return_tensors="pt", padding=True)
        enc = enc.to(self.device)
        if self.cfg.temperature > 0:
            torch.manual_seed(self.cfg.seed * 1_000_003 + zlib.crc32(prompts[0].encode()))
            sampling = {"do_sample": True, "temperature": self.cfg.temperature, "top_p": self.cfg.top_p}
        else:
            sampling = {"do_sample": False}
        with torch.inference_mode():
            out = self.model.generate(
                **enc, max_new_tokens=self.cfg.max_new_tokens, pad_token_id=self.tok.pad_token_id, **sampling
            )
        return self.tok.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)


def generator_identity(model_dir: str | Path) -> dict:
    """What names a generator in the settings: its folder, config hash and weight file sizes.
    `model_dir` may be a hub id (`ORG/NAME`): its snapshot in the hub cache (`hub.py`) is the
    folder, resolved here on the driver, so every replica loads the same files.

    Raises FileNotFoundError naming the folder when it is not a model transformers can load
    locally (checked on the driver, before any replica starts), HubError naming an id that
    cannot be resolved.
    """
    from transformers import AutoConfig

    path = hub.resolve(model_dir, "model").resolve()
    if not (path / "config.json").is_file():
        raise FileNotFoundError(
            f"{model_dir}: not a local model folder; expected config.json, safetensors weights and a "
            "tokenizer that transformers loads (the paper used a ~3B instruct model)"
        )
    check_model_dir(path, FileNotFoundError)
    try:
        config = AutoConfig.from_pretrained(path, local_files_only=True)
    except Exception as e:  # transformers raises several types for an unreadable config
        raise FileNotFoundError(f"{path}/config.json: transformers cannot load it ({e})") from None
    weights = {p.name: p.stat().st_size for p in sorted(path.glob("*.safetensors"))}
    from_hub = {"hub": str(model_dir)} if hub.is_hub_id(model_dir) else {}  # the snapshot's folder names its commit
    return {
        "path": str(path),
        **from_hub,
        "model_type": config.model_type,
        "config_sha256": file_sha256(path / "config.json"),
        "weights": weights,
    }


class QAWorker:
    """A Ray Data actor: one generator replica. A batch of passages in; per passage, the raw
    generation, the pairs that passed the checks, and the drops by reason out."""

    def __init__(self, make_generator: Callable[[], Generator], n_pairs: int, rules: QARules, torch_threads: int = 0):
        self.generate = make_generator()
        # Pinned only where the generator loaded torch (a model's; `HFGenerator` imports it): a
        # generator without torch (the test stub, a rule-based one) is not made to import it.
        if torch_threads and "torch" in sys.modules:
            from classit_ray.runtime import set_torch_threads

            set_torch_threads(torch_threads)
        self.n_pairs, self.rules = n_pairs, rules

    def __call__(self, batch: pa.Table) -> pa.Table:
        texts = batch.column("text").to_pylist()
        prompts = [
            qa_prompt(title, text, self.n_pairs) for title, text in zip(batch.column("title").to_pylist(), texts)
        ]
        generations = self.generate(prompts)
        if len(generations) != len(prompts):
            raise RuntimeError(f"generator returned {len(generations)} completions for {len(prompts)} prompts")
        questions, answers, drops = [], [], []
        for generation, text in zip(generations, texts):
            counts = PairCounts(SOURCE)
            pairs = parse_pairs(generation, text, self.rules, counts)
            questions.append([q for q, _ in pairs])
            answers.append([a for _, a in pairs])
            drops.append(json.dumps(dict(counts.drops), sort_keys=True))
        return pa.Table.from_arrays(
            [
                batch.column("passage"),
                pa.array(generations, pa.string()),
                pa.array(questions, pa.list_(pa.string())),
                pa.array(answers, pa.list_(pa.string())),
                pa.array(drops, pa.string()),
            ],
            schema=PART_SCHEMA,
        )


def _todo(batch: pa.Table, done: np.ndarray, limit: int) -> pa.Table:
    """The passages of `batch` not in `done` (and, with a limit, numbered below it)."""
    keep = pc.invert(pc.is_in(batch.column("passage"), value_set=pa.array(done, pa.int64())))
    if limit:
        keep = pc.and_(keep, pc.less(batch.column("passage"), limit))
    return batch.filter(keep)


class WorkState:
    """`OUT/_work/simple_wiki/`: the settings a run is bound to, its passages and finished parts."""

    def __init__(self, out_dir: str | Path):
        self.root = Path(out_dir).expanduser() / WORK_DIR / SOURCE
        self.passages = self.root / "passages.parquet"
        self.passage_counts = self.root / "passages.json"
        self.parts = self.root / "parts"

    def bind(self, settings: dict) -> None:
        """Record `settings` on a first run; on a rerun, refuse settings that differ."""
        path = self.root / "settings.json"
        if path.is_file():
            before = read_json(path)
            changed = sorted(k for k in set(before) | set(settings) if before.get(k) != settings.get(k))
            if changed:
                detail = "; ".join(f"{k}: {before.get(k)!r} -> {settings.get(k)!r}" for k in changed)
                raise ValueError(
                    f"{self.root}: holds a run with other settings ({detail}); resume with the same settings, "
                    "or choose another --out"
                )
            return
        atomic_write_json(path, settings)

    def done(self) -> np.ndarray:
        if not self.parts.is_dir():
            return np.zeros(0, dtype=np.int64)
        ids = [
            pq.read_table(p, columns=["passage"]).column("passage").to_numpy()
            for p in sorted(self.parts.glob("part-*.parquet"))
        ]
        return np.concatenate(ids) if ids else np.zeros(0, dtype=np.int64)

    def write_part(self, tables: list[pa.Table]) -> Path:
        table = pa.concat_tables(tables)
        self.parts.mkdir(parents=True, exist_ok=True)
        # Named by content, never by a count of the files there: two runs on one folder by mistake
        # cannot replace each other's parts.
        first = pc.min(table.column("passage")).as_py()
        path = self.parts / f"part-{first:09d}-{uuid.uuid4().hex[:8]}.parquet"
        tmp = tmp_sibling(path)
        try:
            pq.write_table(table, tmp)
            tmp.rename(path)
        finally:
            tmp.unlink(missing_ok=True)
        return path

    def read_parts(self) -> pa.Table:
        """Every finished passage once, in passage order."""
        tables = [
            pq.read_table(p, columns=["passage", "questions", "answers", "drops"])
            for p in sorted(self.parts.glob("part-*.parquet"))
        ]
        if not tables:
            return PART_SCHEMA.empty_table().select(["passage", "questions", "answers", "drops"])
        table = pa.concat_tables(tables).sort_by("passage")
        passages = table.column("passage").to_numpy()
        first = np.ones(len(passages), dtype=bool)
        first[1:] = passages[1:] != passages[:-1]  # a passage done twice (two runs at once) counts once
        return table.filter(pa.array(first))


def tally(parts: pa.Table, counts: PairCounts) -> None:
    """Add the kept pairs' words and the drops of finished passages to `counts`."""
    for questions, answers, drops in zip(*(parts.column(c).to_pylist() for c in ("questions", "answers", "drops"))):
        for q, a in zip(questions, answers):
            counts.keep(q, a)
        for reason, n in json.loads(drops).items():
            counts.drop(reason, n)
    counts.count("generations", parts.num_rows)


def _replicas(cfg: GenerationConfig) -> tuple[int, dict]:
    """(replicas, Ray resources per replica): one GPU each when the cluster has GPUs."""
    import ray

    gpus = int(ray.cluster_resources().get("GPU", 0))
    replicas = cfg.replicas or max(gpus, 1)
    return replicas, ({"num_gpus": 1} if gpus else {"num_cpus": 1})


def generate_simplewiki_pairs(
    input_file: str | Path,
    out_dir: str | Path,
    generator: str | Callable[[], Generator],
    cfg: GenerationConfig = GenerationConfig(),
    passage_rules: PassageRules = PassageRules(),
    qa_rules: QARules = QARules(),
    limit: int = 0,
    progress: bool = False,
) -> PairCounts:
    """Generate (or resume generating) Q&A pairs for the passages of `input_file`; Ray must be up.

    `generator` is a local model folder or a hub id, or a factory returning a `Generator` (tests use a stub).
    `limit` > 0 works on the first `limit` passages only; a later run with a larger (or no)
    limit goes on from there. OUT/simple_wiki/ is (re)written when every passage in range is done.
    Returns the counts over every finished passage, this run's and earlier runs'.
    """
    import ray
    from tqdm import tqdm

    from classit_ray.data.shards import read_parquet
    from classit_ray.runtime import physical_cores

    check_writable(out_dir, SOURCE)
    input_file = Path(input_file).expanduser()
    if not input_file.is_file():
        raise FileNotFoundError(
            f"{input_file}: Simple Wikipedia file not found; expected simple_wiki.train from a BabyLM release"
        )
    if isinstance(generator, (str, Path)):
        identity = generator_identity(generator)
        make_generator = functools.partial(HFGenerator, identity["path"], cfg)
    else:
        func = getattr(generator, "func", generator)  # a functools.partial is named by its function
        identity = {
            "callable": f"{getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', type(func).__name__)}"
        }
        make_generator = generator
    state = WorkState(out_dir)
    state.bind(
        {
            "input_sha256": file_sha256(input_file),
            "passage_rules": dataclasses.asdict(passage_rules),
            "qa_rules": dataclasses.asdict(qa_rules),
            "prompt_version": PROMPT_VERSION,
            "prompt": PROMPT_TEMPLATE,
            "generator": identity,
            "generation": cfg.settings(),
        }
    )
    if not (state.passages.is_file() and state.passage_counts.is_file()):
        passage_counts = write_passages(input_file, state.passages, passage_rules)
        atomic_write_json(state.passage_counts, passage_counts.to_dict())
    total = pq.ParquetFile(state.passages).metadata.num_rows
    in_range = min(limit, total) if limit else total
    done = state.done()
    todo = in_range - int((done < in_range).sum())

    replicas, resources = _replicas(cfg)
    threads = 0 if "num_gpus" in resources else max(1, physical_cores() // replicas)
    run_counts = PairCounts(SOURCE)
    run_counts.count("generations", 0)  # reported as 0 when there is nothing left to do
    if todo:
        ds = read_parquet(state.passages, columns=["passage", "title", "text"])
        ds = ds.map_batches(_todo, fn_kwargs={"done": done, "limit": in_range}, batch_format="pyarrow", batch_size=None)
        ds = ds.map_batches(
            QAWorker,
            fn_constructor_kwargs={
                "make_generator": make_generator,
                "n_pairs": cfg.pairs_per_passage,
                "rules": qa_rules,
                "torch_threads": threads,
            },
            batch_size=cfg.batch_size,
            batch_format="pyarrow",
            compute=ray.data.ActorPoolStrategy(size=replicas),
            **resources,
        )
        pending: list[pa.Table] = []
        last_flush = time.monotonic()
        with tqdm(
            total=todo,
            unit="passage",
            desc=f"simple_wiki Q&A ({replicas} replica{'s' * (replicas > 1)})",
            disable=not progress,
        ) as bar:
            try:
                for block in ds.iter_batches(batch_size=None, batch_format="pyarrow"):
                    pending.append(block)
                    tally(block, run_counts)
                    bar.update(block.num_rows)
                    bar.set_postfix(pairs=f"{run_counts.pairs:,}", dropped=f"{run_counts.dropped:,}", refresh=False)
                    if (
                        sum(t.num_rows for t in pending) >= cfg.part_passages
                        or time.monotonic() - last_flush > cfg.flush_seconds
                    ):
                        state.write_part(pending)
                        pending, last_flush = [], time.monotonic()
            finally:  # a failure or Ctrl-C keeps the passages that did finish
                if pending:
                    state.write_part(pending)

    counts = PairCounts(SOURCE)
    parts = state.read_parts()
    parts = parts.filter(pc.less(parts.column("passage"), in_range))
    tally(parts, counts)
    passage_counts = read_json(state.passage_counts)
    counts.seen.update({**passage_counts["seen"], "passages": in_range, "passages_in_file": total})
    settings = read_json(state.root / "settings.json")
    with PairWriter(out_dir, SOURCE) as writer:
        for questions, answers in zip(parts.column("questions").to_pylist(), parts.column("answers").to_pylist()):
            for q, a in zip(questions, answers):
                writer.add(q, a)
        writer.finish(
            {
                "input": {"file": str(input_file), "sha256": settings.pop("input_sha256")},
                "settings": settings,
                "generated": True,
                "limit": limit,
                "this_run": run_counts.to_dict(),
            },
            counts,
        )
    return counts
