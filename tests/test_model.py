"""Model presets: exact parameter and matmul-weight counts, each within 5% of its name, and `classit-ray model-info`."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from transformers import LlamaForCausalLM

from classit_ray.model import PRESETS, llama_config, matmul_params, param_count

NOMINAL = {"tiny": 1e6, "tiny-deep": 1e6, "small": 10e6, "100m": 100e6, "140m": 140e6}


@pytest.mark.parametrize("name", list(PRESETS))
def test_param_count_is_exact_and_within_5_percent_of_name(name):
    with torch.device("meta"):  # no memory: shapes only
        model = LlamaForCausalLM(llama_config(name))
    assert param_count(PRESETS[name]) == sum(p.numel() for p in model.parameters())
    assert abs(param_count(PRESETS[name]) / NOMINAL[name] - 1) <= 0.05
    # The N of the 6·N FLOPs per token that MFU and the GPU-hour estimate count: every Linear weight.
    assert matmul_params(PRESETS[name]) == sum(
        m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear)
    )


def test_paper_presets_shapes():
    assert PRESETS["140m"].vocab_size == 32000
    assert PRESETS["100m"].num_layers == 20 and PRESETS["100m"].vocab_size < PRESETS["140m"].vocab_size
    assert PRESETS["100m"].num_layers > PRESETS["140m"].num_layers
    # The CPU pair mirrors the paper's contrast: deeper and narrower against wider.
    assert PRESETS["tiny-deep"].num_layers == 2 * PRESETS["tiny"].num_layers
    assert PRESETS["tiny-deep"].hidden_size < PRESETS["tiny"].hidden_size


def test_model_info_cli():
    out = subprocess.run(
        [sys.executable, "-m", "classit_ray.cli", "model-info", "140m"], capture_output=True, text=True, check=True
    ).stdout
    assert "num_layers" in out and "141,183,744" in out
    bad = subprocess.run([sys.executable, "-m", "classit_ray.cli", "model-info", "7b"], capture_output=True, text=True)
    assert bad.returncode == 2 and "usage" in bad.stderr
