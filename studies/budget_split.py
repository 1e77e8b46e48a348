"""How much of a fixed word budget should be instruction data? Fraction × seed at one size.

    python studies/budget_split.py                 # the toy world, CPU preset
    python studies/budget_split.py --dry-run
    python studies/budget_split.py --scale paper --data-dir DIR --eval-dir DIR --address auto --cluster cluster.yaml --storage s3://...

The total budget stays fixed; a fraction p of it is instruction pairs and the rest pretraining
text, so each fraction has its own pretraining. p = 0 (all pretraining, no instruction tuning) is
an extra cell; each fraction's baseline cell (its pretraining, evaluated before instruction
tuning) is added by the definition, so the report separates "less pretraining" from "instruction
tuning".
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
            "study.name": "budget_split",
            "instruct.curriculum": "merged",
        },
    )
    return StudyDefinition(
        base,
        grid={
            "budget.instruct_fraction": [0.05, 0.1, 0.2, 0.4],
            "seed": [0],
        },
        extra_cells=[{"budget.instruct_fraction": 0.0, "instruct.curriculum": "none"}],
    )


if __name__ == "__main__":
    sys.exit(main(build, "studies/budget_split.py", __doc__.split("\n")[0], paper_grid={"model.preset": ["140m"]}))
