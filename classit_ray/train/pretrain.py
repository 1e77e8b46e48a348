"""python -m classit_ray.train.pretrain: the data stages, the pretraining (a part of the cell's stage graph)."""

import sys

from classit_ray.commands import run_subgraph

if __name__ == "__main__":
    sys.exit(run_subgraph("pretrain", None, "python -m classit_ray.train.pretrain", __doc__.split(":", 1)[1].strip()))
