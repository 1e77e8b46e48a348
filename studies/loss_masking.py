"""Loss on the reply only, or on the whole prompt + reply sequence? Masking × curriculum × seed.

    python studies/loss_masking.py                 # the toy world, CPU preset
    python studies/loss_masking.py --dry-run
    python studies/loss_masking.py --scale paper --data-dir DIR --eval-dir DIR --address auto --cluster cluster.yaml --storage s3://...

Both arms share one pretraining per seed (masking only changes instruction tuning), so the
pretraining runs once per seed however many arms there are; its evaluation is the baseline cell.
"""

import sys

from classit_ray.config import Config
from classit_ray.config_load import apply_overrides
from classit_ray.recipes import TOY_EVAL
from classit_ray.study.cli import main
from classit_ray.study.definition import StudyDefinition


def build() -> StudyDefinition:
    base = apply_overrides(
        Config(),
        {
            **TOY_EVAL,  # the GLUE subtasks a toy model can learn (recipes.py)
            "study.name": "loss_masking",
        },
    )
    return StudyDefinition(
        base,
        grid={
            "seed": [0],
            "instruct.loss_on": ["reply", "all"],
            "instruct.curriculum": ["merged"],
        },
    )


if __name__ == "__main__":
    sys.exit(main(build, "studies/loss_masking.py", __doc__.split("\n")[0], paper_grid={"model.preset": ["140m"]}))
