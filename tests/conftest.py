"""Shared fixtures: one Ray session for the whole test run, and a small toy BabyLM world."""

from __future__ import annotations

import os

# One torch thread by default in the test process and what it starts (a stage that sets its own
# thread count still does). The suite shares two cores with Ray's workers and, for its first minutes,
# the multinode study: an op split over two threads waits for the slower one, and with both cores
# busy elsewhere the scorer's tests took many times longer (bench/results/2026-12-01-ci-fresh-clone.md).
# Set before anything imports torch: hence above the other imports.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import dataclasses
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from classit_ray.config import Config

# The multinode study of tests/test_multinode.py, once started: (process, its folder, its start).
MULTINODE_RUN = pytest.StashKey[tuple]()


def pytest_collection_finish(session):
    """Start the multinode study as soon as the run is known to include it. It is a script with a
    cluster of its own, about two and a half minutes of processes starting and waiting on each
    other; the tests before it in the run go on beside it, and its test only collects the result."""
    if session.config.option.collectonly or not any(item.path.name == "test_multinode.py" for item in session.items):
        return
    import tempfile

    from test_multinode import start_study

    session.config.stash[MULTINODE_RUN] = start_study(Path(tempfile.mkdtemp(prefix="classit-multinode-")))


def pytest_sessionfinish(session):
    """Whatever happened to its test (deselected by -x, interrupted), the multinode study and its
    cluster end with the run, and its folder goes."""
    run = session.config.stash.get(MULTINODE_RUN, None)
    if run is not None:
        import shutil

        from test_multinode import stop_study

        stop_study(run[0])
        shutil.rmtree(run[1], ignore_errors=True)


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray for every test that needs it; shut down at the end so no cluster outlives the run."""
    import ray

    from classit_ray.runtime import init_ray

    # 6 logical CPUs: two study trials at once, each with its Train worker and a Ray Data task
    # (study/resources.py); the other tests need 4.
    init_ray(num_cpus=6, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def toy_world(tmp_path_factory) -> dict:
    """A 40K-word toy world (corpus + CLASS_IT parquet), generated once per run."""
    from classit_ray.toyworld.world import write_toy_world

    return write_toy_world(tmp_path_factory.mktemp("toy") / "world", words=40_000, seed=0)


@pytest.fixture
def toy_config(toy_world) -> Config:
    """The default config pointed at the toy world, with a budget it can fill."""
    cfg = Config()
    corpus = dataclasses.replace(
        cfg.corpus, data_dir=str(toy_world["corpus_dir"]), instruct_dir=str(toy_world["instruct_dir"])
    )
    budget = dataclasses.replace(cfg.budget, total_words=20_000, instruct_fraction=0.1)
    return dataclasses.replace(cfg, corpus=corpus, budget=budget)


def prepared_config(toy_world: dict) -> Config:
    """The config of the `prepared` fixture (also used to regenerate stored test numbers)."""
    cfg = Config()
    return dataclasses.replace(
        cfg,
        corpus=dataclasses.replace(
            cfg.corpus, data_dir=str(toy_world["corpus_dir"]), instruct_dir=str(toy_world["instruct_dir"])
        ),
        budget=dataclasses.replace(cfg.budget, total_words=20_000, instruct_fraction=0.1),
        pretrain=dataclasses.replace(cfg.pretrain, seq_len=64, shard_rows=50),
    )


def build_data(cfg: Config, work_dir: Path):
    """The data stages of `cfg`'s cell, built (or reused) as `classit-ray prepare` builds them: the
    data part of its stage graph, walked. Returns their plan (`data.stages.PreparedData`)."""
    from classit_ray.cell.execute import execute
    from classit_ray.cell.graph import build_graph

    graph = build_graph(cfg, work_dir)
    execute(graph, graph.upto("data"))
    return graph.data


@pytest.fixture(scope="session")
def prepared(tmp_path_factory, toy_world, ray_session):
    """Split, tokenizer and shards of the toy world, built once through the real pipeline."""
    return build_data(prepared_config(toy_world), tmp_path_factory.mktemp("work"))


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on (at the moment it is returned)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_lines(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def write_tiny_random_model(out: Path, texts: list[str]) -> Path:
    """A randomly initialised LLaMA with a byte-level BPE: a real local model folder, gibberish out."""
    from transformers import LlamaForCausalLM

    from classit_ray.data.tokenizer import build_bpe, save_hf_tokenizer
    from classit_ray.model import llama_config

    tok = build_bpe(iter([texts]), vocab_size=400, min_frequency=1)
    save_hf_tokenizer(tok, out)
    config = llama_config("tiny", vocab_size=tok.get_vocab_size(), bos_token_id=1, eos_token_id=2, pad_token_id=0)
    LlamaForCausalLM(config).save_pretrained(out)
    return out


def kill_ray_session_of(driver_pid: int, timeout: float = 60) -> None:
    """SIGKILL every process of the local Ray that the driver `driver_pid` started, until none is left."""
    pattern = re.compile(rf"session_\S*_{driver_pid}\b")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ps = subprocess.run(["ps", "-eo", "pid=,stat=,args="], capture_output=True, text=True).stdout.splitlines()
        alive = [int(line.split()[0]) for line in ps if pattern.search(line) and not line.split()[1].startswith("Z")]
        if not alive:
            return
        for pid in alive:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.5)
    raise AssertionError(f"processes of the killed driver's Ray would not die: {alive}")
