"""python -m classit_ray.train.pretrain: pretraining alone (see classit_ray.train.cli)."""

import sys

from classit_ray.train.cli import run_cli

if __name__ == "__main__":
    sys.exit(run_cli("pretrain"))
