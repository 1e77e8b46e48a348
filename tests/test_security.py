"""The security posture docs/cluster.md states, tested where it can be: Ray's token authentication on,
the shipped cluster YAMLs checked (and every weakening caught), and nothing loaded from a user's
path by pickle — a folder with only pickled weights is refused before anything reads it."""

from __future__ import annotations

import ast
import copy
import pickle
from pathlib import Path

import pytest
import yaml

from classit_ray.config import ConfigError
from classit_ray.study.cluster_check import check_cluster_yaml, posture_problems

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "classit_ray"


def test_the_local_ray_session_requires_a_token(ray_session):
    from ray._private.authentication.authentication_utils import is_token_auth_enabled

    assert is_token_auth_enabled()


@pytest.mark.parametrize("name", ["cluster.yaml", "cluster.local.yaml"])
def test_shipped_cluster_yamls_pass_rays_schema_and_the_posture(name):
    config = check_cluster_yaml(ROOT / name)
    assert "pip install -q -e ~/classit_ray" in (ROOT / name).read_text()
    if config["provider"]["type"] == "aws":
        assert config["available_node_types"]["gpu_worker"]["max_workers"] >= 1


def _weakened(change) -> dict:
    config = copy.deepcopy(yaml.safe_load((ROOT / "cluster.yaml").read_text()))
    change(config)
    return config


@pytest.mark.parametrize(
    "change, expected",
    [
        (
            lambda c: c["head_start_ray_commands"].__setitem__(
                1, c["head_start_ray_commands"][1].replace("RAY_AUTH_MODE=token ", "")
            ),
            "without RAY_AUTH_MODE=token",
        ),
        (lambda c: c["setup_commands"].append("export RAY_AUTH_MODE=disabled"), "RAY_AUTH_MODE=disabled"),
        (lambda c: c["file_mounts"].pop("/home/ubuntu/.ray/auth_token"), "file_mounts: no ~/.ray/auth_token"),
        (
            lambda c: c["head_start_ray_commands"].__setitem__(
                1, c["head_start_ray_commands"][1].replace("127.0.0.1", "0.0.0.0")
            ),
            "dashboard bound beyond localhost",
        ),
        (
            lambda c: c["provider"]["security_group"]["IpPermissions"].append(
                {"FromPort": 8265, "ToPort": 8265, "IpProtocol": "tcp"}
            ),
            "ports 8265-8265 open",
        ),
    ],
)
def test_each_weakening_of_the_cluster_yaml_is_caught(change, expected):
    problems = posture_problems(_weakened(change))
    assert len(problems) == 1 and expected in problems[0], problems


def test_a_cluster_yaml_problem_is_one_line_naming_the_file_and_field(tmp_path):
    config = _weakened(lambda c: c.__setitem__("max_worker", c.pop("max_workers")))
    path = tmp_path / "cluster.yaml"
    path.write_text(yaml.safe_dump(config))
    with pytest.raises(ConfigError) as info:
        check_cluster_yaml(path)
    assert (
        str(info.value) == f"{path}: (top level): Additional properties are not allowed ('max_worker' was unexpected)"
    )


class _Tripwire:
    """Unpickling this touches a file: what a malicious `pytorch_model.bin` could do, harmlessly."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.fixture
def pickled_model(tmp_path) -> tuple[Path, Path]:
    """A model folder whose only weights are a pickle that would touch `marker` if loaded."""
    from transformers import LlamaConfig

    model = tmp_path / "model"
    model.mkdir()
    LlamaConfig(
        vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32
    ).save_pretrained(model)
    marker = tmp_path / "pickle-was-loaded"
    (model / "pytorch_model.bin").write_bytes(pickle.dumps(_Tripwire(marker)))
    (model / "tokenizer.json").write_text("{}")
    return model, marker


def test_a_pickle_only_model_is_refused_by_every_loader_and_never_unpickled(pickled_model):
    from classit_ray.data.instruct_pairs.generate import generator_identity
    from classit_ray.eval.finetune import load_classifier
    from classit_ray.eval.items import EvalDataError
    from classit_ray.eval.scorer import HFCausalLM

    model, marker = pickled_model
    for load, error in (
        (lambda: HFCausalLM(model), EvalDataError),
        (lambda: load_classifier(model, 2), ValueError),
        (lambda: generator_identity(model), FileNotFoundError),
    ):
        with pytest.raises(error, match=r"no \*\.safetensors weights; found only pytorch_model\.bin \(pickle"):
            load()
    assert not marker.exists()


def _calls(tree: ast.AST):
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)]


def test_the_package_never_unpickles_or_runs_a_models_code():
    """Static: no pickle/torch.load/allow_pickle/trust_remote_code anywhere in the package, and every
    model `from_pretrained` passes MODEL_LOAD_KWARGS (use_safetensors, local_files_only)."""
    model_loads = 0
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for call in _calls(tree):
            func = call.func
            name = ast.unparse(func)
            assert name not in ("pickle.load", "pickle.loads", "torch.load", "joblib.load"), (
                f"{path}:{call.lineno}: {name}"
            )
            keywords = {k.arg for k in call.keywords}
            assert "trust_remote_code" not in keywords and "allow_pickle" not in keywords, f"{path}:{call.lineno}"
            if (
                isinstance(func, ast.Attribute)
                and func.attr == "from_pretrained"
                and "Tokenizer" not in name
                and "Config" not in name
            ):
                model_loads += 1
                spread = [ast.unparse(k.value) for k in call.keywords if k.arg is None]
                assert "MODEL_LOAD_KWARGS" in spread, f"{path}:{call.lineno}: {name} without **MODEL_LOAD_KWARGS"
    assert model_loads >= 3  # the scorer, the classifier and the Q&A generator
