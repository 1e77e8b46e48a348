"""python -m classit_ray.train.instruct: pretraining (reused if done) then the instruction curriculum."""

import sys

from classit_ray.train.cli import run_cli

if __name__ == "__main__":
    sys.exit(run_cli("instruct"))
