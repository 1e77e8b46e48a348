"""The CLASS-IT curriculum grid: model size × curriculum × instruction fraction × seed.

    python studies/curriculum_grid.py              # the toy world, CPU presets, a few minutes on a laptop
    python studies/curriculum_grid.py --dry-run    # the cells, the unique stages, what a trial requests, trials at once
    python studies/curriculum_grid.py --dry-run --scale paper --cluster cluster.yaml   # ... on that cluster, and its GPU-hours
    python studies/curriculum_grid.py --scale paper --data-dir DIR --eval-dir DIR --address auto --cluster cluster.yaml --storage s3://...

The paper's grid is {100m, 140m} × {merged, switchboard>wiki, wiki>switchboard} × 8.7% instruction
words × seeds; `--scale paper` switches to it (classit_ray/recipes.py). The toy grid keeps its shape
with the CPU presets `tiny` (wider) and `tiny-deep` (twice the layers). Every cell of one size and
seed shares one pretraining: it runs once, and its evaluation is the baseline cell (curriculum
`none`, added by the definition) that every curriculum is compared to. Each cell evaluates every
endpoint: the pretrained model, the end of stage 1 of a sequential curriculum, and the final model;
each pretraining's checkpoints give a learning curve. Copy this file to define a study of your own.
"""

import sys

from classit_ray.config import Config
from classit_ray.config_load import apply_overrides
from classit_ray.recipes import PAPER, TOY_EVAL
from classit_ray.study.cli import main
from classit_ray.study.definition import StudyDefinition


def build() -> StudyDefinition:
    base = apply_overrides(
        Config(),
        {
            **TOY_EVAL,  # the GLUE subtasks a toy model can learn (recipes.py)
            "study.name": "curriculum_grid",
        },
    )
    return StudyDefinition(
        base,
        grid={
            # Axes that change the pretraining first: Tune varies the first axis fastest, so trials
            # started together need different pretrainings instead of waiting for one.
            "model.preset": ["tiny", "tiny-deep"],
            # Three seeds: the fewest that give a paired comparison a spread to test against (each
            # (size, seed) pair is one observation of a curriculum's effect); --seeds N changes it.
            "seed": [0, 1, 2],
            "instruct.curriculum": ["merged", "switchboard>wiki", "wiki>switchboard"],
            "budget.instruct_fraction": [0.087],  # the paper: 8.7M of ~100M words
        },
    )


if __name__ == "__main__":
    sys.exit(
        main(
            build,
            "studies/curriculum_grid.py",
            __doc__.split("\n")[0],
            paper_grid={"model.preset": list(PAPER.presets)},
        )
    )
