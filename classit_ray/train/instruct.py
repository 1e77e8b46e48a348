"""python -m classit_ray.train.instruct: the data stages, the pretraining and the curriculum's instruction stages (a part of the cell's stage graph)."""

import sys

from classit_ray.commands import run_subgraph

if __name__ == "__main__":
    sys.exit(run_subgraph("instruct", None, "python -m classit_ray.train.instruct", __doc__.split(":", 1)[1].strip()))
