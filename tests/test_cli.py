"""The command lines a researcher types: a bad config or data folder is one clear message and a
non-zero exit, never a traceback."""

from __future__ import annotations

import subprocess
import sys


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=120)


def test_bad_config_reports_every_problem_and_exits_2():
    out = run("classit_ray.train.pretrain", "--set", "model.preset=7b", "--set", "budget.instruct_fracton=0.1")
    assert out.returncode == 2
    assert "config has 2 problems" in out.stderr and "did you mean 'budget.instruct_fraction'" in out.stderr
    assert "Traceback" not in out.stderr


def test_missing_corpus_folder_exits_1_naming_it(tmp_path):
    missing = tmp_path / "no_babylm_here"
    out = run(
        "classit_ray.data.prepare",
        "--work-dir",
        str(tmp_path / "w"),
        "--set",
        f"corpus.data_dir={missing}",
        "--set",
        "budget.instruct_fraction=0",
        "--set",
        "instruct.curriculum=none",
        "--set",
        "study.num_cpus=4",
    )
    assert out.returncode == 1
    assert f"error: {missing}: corpus folder not found" in out.stderr and "Traceback" not in out.stderr


def test_every_verb_names_a_function_that_exists():
    import importlib

    from classit_ray.cli import VERBS

    assert {"prepare", "pretrain", "instruct", "eval", "study", "analyze", "model-info"} <= set(VERBS)
    for name, verb in VERBS.items():
        module, function = verb.target.split(":")
        assert callable(getattr(importlib.import_module(module), function)), name


def test_the_entry_point_loads_a_verbs_module_only_when_called():
    code = (
        "import sys; from classit_ray.cli import main; assert main(['model-info', 'tiny']) == 0; "
        "assert 'torch' not in sys.modules and 'ray' not in sys.modules, 'model-info loaded torch or Ray'"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "parameters" in out.stdout or "hidden_size" in out.stdout


def test_an_unknown_verb_exits_2_listing_the_verbs():
    out = run("classit_ray.cli", "pretrian")
    assert out.returncode == 2 and "unknown verb 'pretrian'" in out.stderr and "instruct" in out.stderr


def test_the_study_verb_runs_a_definition_file_or_names_the_missing_one(tmp_path, capsys):
    from classit_ray.cli import main

    assert main(["study", str(tmp_path / "no_such_study.py"), "--dry-run"]) == 1
    assert "no_such_study.py: study definition not found" in capsys.readouterr().err
    script = tmp_path / "echo_study.py"
    script.write_text("import sys\nprint('args', sys.argv[1:])\nsys.exit(3)\n")
    argv = sys.argv
    assert main(["study", str(script), "--dry-run"]) == 3
    assert "args ['--dry-run']" in capsys.readouterr().out and sys.argv is argv  # put back
