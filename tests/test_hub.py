"""Hub ids where paths go (`classit_ray/hub.py`): a model for the evaluation command, the
generator of the Q&A builder and the CLASS_IT instruction release, each read offline
(`HF_HUB_OFFLINE=1`) from a hub cache the test writes in the hub's own layout
(`models--org--name/{refs,snapshots,blobs}`); a local path keeps working; a missing id is one
line naming it. Nothing here reaches the network."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import write_tiny_random_model

from classit_ray import hub
from classit_ray.data.class_it import pair_table, read_pairs, read_provenance


def cache_repo(cache: Path, kind: str, repo_id: str, source: Path, refs: tuple[str, ...] = ("main",)) -> Path:
    """`source`'s files as one commit of `repo_id` in the hub cache at `cache`, each ref in `refs`
    pointing at it: blobs named by their sha256, the snapshot's files relative links to them, as
    huggingface_hub writes them. The snapshot folder."""
    repo = cache / f"{kind}s--{repo_id.replace('/', '--')}"
    files = sorted(p for p in source.rglob("*") if p.is_file())
    commit = hashlib.sha1("".join(f"{p.relative_to(source)}:{p.stat().st_size}" for p in files).encode()).hexdigest()
    snapshot = repo / "snapshots" / commit
    for path in files:
        data = path.read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = snapshot / path.relative_to(source)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    for ref in refs:
        (repo / "refs" / ref).parent.mkdir(parents=True, exist_ok=True)
        (repo / "refs" / ref).write_text(commit)
    return snapshot


@pytest.fixture
def offline_cache(tmp_path, monkeypatch) -> Path:
    """An empty hub cache, offline: whatever is not in it cannot be had."""
    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    texts = ["the fox eats the berries", "a dog runs"]
    return write_tiny_random_model(tmp_path_factory.mktemp("tiny") / "model", texts)


def test_a_hub_id_is_owner_slash_name_and_never_a_path_that_exists(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert hub.is_hub_id("colinglab/CLASS_IT") and hub.is_hub_id("org/model-1.5")
    for path in ("./org/name", "/org/name", "~/name", "org/name/sub", "name", "org/../x", "", "s3://bucket/x"):
        assert not hub.is_hub_id(path), path
    (tmp_path / "org" / "name").mkdir(parents=True)  # a local folder of that name wins
    assert not hub.is_hub_id("org/name") and hub.resolve("org/name", "model") == Path("org/name")
    assert hub.absolute_unless_hub("org/name") == str(tmp_path / "org" / "name")
    assert hub.absolute_unless_hub("colinglab/CLASS_IT") == "colinglab/CLASS_IT"
    with pytest.raises(hub.HubError, match=r"^org/name: a revision \('chck_5M'\) applies to a hub id"):
        hub.resolve("org/name", "model", "chck_5M")


def write_release(root: Path, n: int = 30) -> Path:
    """A CLASS_IT release in the hub's download layout: `<config>/train-00000-of-00001.parquet`."""
    for config in ("switchboard", "simple_wiki"):
        (root / config).mkdir(parents=True)
        prompts = [f"{config} question {i} about the fox ?" for i in range(n)]
        replies = [f"the fox answer {i} ." for i in range(n)]
        pq.write_table(pair_table(prompts, replies, config), root / config / "train-00000-of-00001.parquet")
    return root


def test_eval_cli_scores_a_hub_model_revision_from_the_cache_offline(tiny_model, offline_cache, tmp_path, capsys):
    from classit_ray.eval.__main__ import main

    cache_repo(offline_cache, "model", "babylm-org/tiny", tiny_model, refs=("main", "chck_5M"))
    data = tmp_path / "blimp_fast"  # the fast BLiMP folder of a release, two pairs
    data.mkdir()
    pairs = [("the dog runs", "the dog run"), ("a fox eats", "a fox eat")]
    rows = [
        {
            "sentence_good": good,
            "sentence_bad": bad,
            "field": "morphology",
            "UID": "agreement",
            "linguistics_term": "x",
            "pairID": str(i),
        }
        for i, (good, bad) in enumerate(pairs)
    ]
    (data / "agreement.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    results = str(tmp_path / "results")
    code = main(["--model", "babylm-org/tiny", "--revision", "chck_5M", "--data", str(data), "--results", results])
    out = capsys.readouterr()
    assert code == 0, out.err
    metrics = json.loads((tmp_path / "results" / "tiny" / "chck_5M" / "metrics.json").read_text())  # <NAME>/<revision>
    assert "eval/blimp" in metrics["metrics"]

    for args, named in (
        (["--model", "babylm-org/absent"], "babylm-org/absent"),
        (["--model", "babylm-org/tiny", "--revision", "chck_9M"], "babylm-org/tiny@chck_9M"),
    ):
        code = main([*args, "--data", str(data), "--results", results])
        err = capsys.readouterr().err.splitlines()
        said = f"error: {named}: not in the hub cache ({offline_cache}) and HF_HUB_OFFLINE is set"
        assert code == 1 and len(err) == 1 and err[0].startswith(said), err
    assert not (tmp_path / "results" / "absent").exists()


def test_the_class_it_release_is_read_by_its_dataset_id_through_the_same_reader(offline_cache, tmp_path):
    """The hub's download layout of the release (`<config>/*.parquet`) read by its id gives the
    same pairs as the local copy; its provenance names the release and the commit, so a split
    made from it has a key of its own."""
    release = write_release(tmp_path / "release")
    snapshot = cache_repo(offline_cache, "dataset", "colinglab/CLASS_IT", release)
    for config in ("switchboard", "simple_wiki"):
        got = read_pairs("colinglab/CLASS_IT", config)
        expected = read_pairs(release, config)
        assert len(got) > 10 and got.drop(columns="answer").equals(expected.drop(columns="answer"))
        assert read_provenance("colinglab/CLASS_IT", config) == {"hub": "colinglab/CLASS_IT", "commit": snapshot.name}
        assert read_provenance(release, config) == {}
    with pytest.raises(hub.HubError, match=r"^colinglab/CLASS_IX: not in the hub cache .* --repo-type dataset"):
        read_pairs("colinglab/CLASS_IX", "switchboard")


def test_a_study_plans_its_split_from_the_release_id(offline_cache, tmp_path, monkeypatch):
    """`--instruct-dir colinglab/CLASS_IT` stays an id through the study's absolute paths, and the
    split key follows the release's commit."""
    import dataclasses

    from classit_ray.config import Config
    from classit_ray.data.stages import plan_data
    from classit_ray.study.runner import with_absolute_paths

    cfg = Config()
    cfg = dataclasses.replace(
        cfg,
        corpus=dataclasses.replace(cfg.corpus, data_dir=str(tmp_path / "corpus"), instruct_dir="colinglab/CLASS_IT"),
    )
    assert with_absolute_paths(cfg).corpus.instruct_dir == "colinglab/CLASS_IT"
    release = write_release(tmp_path / "release")
    keys = []
    for n in range(2):
        if n:  # a new commit of the release: one pair fewer
            path = next((release / "switchboard").glob("*.parquet"))
            pq.write_table(pq.read_table(path).slice(1), path)
        cache = tmp_path / f"hub{n}"
        cache_repo(cache, "dataset", "colinglab/CLASS_IT", release)
        monkeypatch.setenv("HF_HUB_CACHE", str(cache))
        keys.append(plan_data(cfg, tmp_path / "store").keys["split"])
    assert keys[0] != keys[1]


def test_the_generator_is_named_by_its_hub_id_and_its_snapshot(tiny_model, offline_cache):
    from classit_ray.data.instruct_pairs.generate import generator_identity

    snapshot = cache_repo(offline_cache, "model", "some-org/generator", tiny_model)
    identity = generator_identity("some-org/generator")
    assert identity["hub"] == "some-org/generator" and identity["path"] == str(snapshot.resolve())
    assert identity["model_type"] == "llama" and identity["weights"]
    local = generator_identity(tiny_model)
    assert local["path"] == str(tiny_model.resolve()) and "hub" not in local
    with pytest.raises(hub.HubError, match=r"^some-org/absent: not in the hub cache"):
        generator_identity("some-org/absent")


def test_only_safetensors_and_json_are_fetched_of_a_model():
    patterns = hub.FILES["model"]
    assert "*.safetensors" in patterns and not any(p.endswith((".bin", ".pt", ".pkl")) for p in patterns)


def test_a_pretraining_only_split_holds_out_the_releases_pairs_by_its_id_as_by_its_folder(offline_cache, tmp_path):
    """At instruct_fraction 0 the held-out pairs (the interactive task's) are still drawn from
    instruction data that is named, whether by a folder or by a hub id."""
    from classit_ray.config import BudgetConfig, CorpusConfig
    from classit_ray.data.budget import sample_instruct_pairs

    release = write_release(tmp_path / "release")
    cache_repo(offline_cache, "dataset", "colinglab/CLASS_IT", release)
    budget = BudgetConfig(instruct_fraction=0.0, heldout_pairs=5)
    held = [
        sample_instruct_pairs(CorpusConfig(instruct_dir=ref), budget, 0)[2]
        for ref in (str(release), "colinglab/CLASS_IT")
    ]
    assert sorted(held[0]) == ["simple_wiki", "switchboard"] and all(len(f) == 5 for f in held[0].values())
    for config, frame in held[0].items():
        assert list(frame["prompt"]) == list(held[1][config]["prompt"])


def test_a_study_names_a_missing_release_id_before_any_trial(offline_cache, tmp_path):
    import dataclasses

    from classit_ray.config import Config, ConfigError
    from classit_ray.study.runner import check_inputs

    cfg = Config()
    cfg = dataclasses.replace(
        cfg,
        corpus=dataclasses.replace(cfg.corpus, instruct_dir="colinglab/CLASS_IT"),
        study=dataclasses.replace(cfg.study, storage_path=str(tmp_path / "results")),
    )
    with pytest.raises(ConfigError, match=r"corpus.instruct_dir: colinglab/CLASS_IT: not in the hub cache"):
        check_inputs(cfg)
    cache_repo(offline_cache, "dataset", "colinglab/CLASS_IT", write_release(tmp_path / "release"))
    check_inputs(cfg)  # found in the cache: nothing left to say
