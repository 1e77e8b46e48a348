"""`classit-ray`: one entry point over the project's commands.

    classit-ray model-info PRESET     shape and exact parameter count of a model preset
    classit-ray toyworld OUT ...      generate the toy BabyLM world (same as python -m classit_ray.toyworld.world)
    classit-ray prepare ...           corpus -> budget split -> tokenizer -> shards (python -m classit_ray.data.prepare)
    classit-ray instruct-pairs ...    instruction pairs from raw BabyLM files (python -m classit_ray.data.instruct_pairs)
    classit-ray check-cluster FILE    a `ray up` YAML against Ray's schema and this project's security posture
"""

from __future__ import annotations

import sys

from classit_ray.model import PRESETS, preset_summary


def model_info(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in PRESETS:
        print(f"usage: classit-ray model-info {{{','.join(PRESETS)}}}", file=sys.stderr)
        return 2
    info = preset_summary(argv[0])
    width = max(map(len, info))
    for key, value in info.items():
        print(f"{key:<{width}}  {value:,}" if isinstance(value, int) and not isinstance(value, bool) else f"{key:<{width}}  {value}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "model-info":
        return model_info(rest)
    if command == "toyworld":
        from classit_ray.toyworld.world import main as toyworld_main

        return toyworld_main(rest)
    if command == "prepare":
        from classit_ray.data.prepare import main as prepare_main

        return prepare_main(rest)
    if command == "check-cluster":
        from classit_ray.study.cluster_check import main as check_cluster_main

        return check_cluster_main(rest)
    if command == "instruct-pairs":
        from classit_ray.data.instruct_pairs.__main__ import main as instruct_pairs_main

        return instruct_pairs_main(rest)
    print(f"classit-ray: unknown command {command!r}\n{__doc__}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
