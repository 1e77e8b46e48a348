"""`classit-ray VERB ...`: the one entry point; every command of the project is a verb of it.

Each verb is one entry of `VERBS`: the function that runs it, named as "module:function" (it takes
the verb's arguments and returns the exit status), and a line of help. The function's module is
imported only when its verb is called, so that `classit-ray --help` or `model-info` starts in a
fraction of a second, without torch or Ray. The `python -m classit_ray.<module>` paths a verb
names in its help are kept as aliases of it.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass

from classit_ray.model import PRESETS, preset_summary


@dataclass(frozen=True)
class Verb:
    target: str  # "module:function"; the function takes the verb's arguments and returns the exit status
    help: str


VERBS: dict[str, Verb] = {
    "prepare": Verb(
        "classit_ray.commands:prepare",
        "corpus -> budget split -> tokenizer -> shards (alias: python -m classit_ray.data.prepare)",
    ),
    "pretrain": Verb(
        "classit_ray.commands:pretrain", "the data stages, then the pretraining (python -m classit_ray.train.pretrain)"
    ),
    "instruct": Verb(
        "classit_ray.commands:instruct",
        "... then the curriculum's instruction stages (python -m classit_ray.train.instruct)",
    ),
    "eval": Verb(
        "classit_ray.eval.__main__:main", "evaluate a model folder on BabyLM data (python -m classit_ray.eval)"
    ),
    "study": Verb(
        "classit_ray.study.cli:run_script",
        "STUDY.py [ARGS]: run a study definition, e.g. studies/curriculum_grid.py (python STUDY.py)",
    ),
    "analyze": Verb(
        "classit_ray.analysis.__main__:main",
        "STUDY_DIR: the report of a finished study (python -m classit_ray.analysis)",
    ),
    "model-info": Verb("classit_ray.cli:model_info", "PRESET: shape and exact parameter count of a model preset"),
    "toyworld": Verb(
        "classit_ray.toyworld.world:main", "OUT ...: generate the toy BabyLM world (python -m classit_ray.toyworld)"
    ),
    "instruct-pairs": Verb(
        "classit_ray.data.instruct_pairs.__main__:main",
        "instruction pairs from raw BabyLM files (python -m classit_ray.data.instruct_pairs)",
    ),
    "export": Verb(
        "classit_ray.export:main",
        "a trained model as BabyLM publishes it: a folder, git branch or hub revision per checkpoint",
    ),
    "check-cluster": Verb(
        "classit_ray.study.cluster_check:main",
        "FILE: a `ray up` YAML against Ray's schema and this project's security posture",
    ),
    "store": Verb(
        "classit_ray.store_tools:main",
        "ls | du | gc: the artifact store's stages, their sizes and studies; delete what no kept study uses",
    ),
}


def usage() -> str:
    width = max(map(len, VERBS))
    return "\n".join(
        [
            __doc__.split("\n")[0],
            "",
            "usage: classit-ray VERB [ARGS]  (VERB --help: its arguments)",
            "",
            *(f"  {name:<{width}}  {verb.help}" for name, verb in VERBS.items()),
        ]
    )


def model_info(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in PRESETS:
        print(f"usage: classit-ray model-info {{{','.join(PRESETS)}}}", file=sys.stderr)
        return 2
    info = preset_summary(argv[0])
    width = max(map(len, info))
    for key, value in info.items():
        number = isinstance(value, int) and not isinstance(value, bool)
        print(f"{key:<{width}}  {value:,}" if number else f"{key:<{width}}  {value}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in VERBS:
        print(f"classit-ray: unknown verb {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module, function = VERBS[name].target.split(":")
    status = getattr(importlib.import_module(module), function)(rest)
    return 0 if status is None else status  # a function that returns nothing has succeeded


if __name__ == "__main__":
    sys.exit(main())
