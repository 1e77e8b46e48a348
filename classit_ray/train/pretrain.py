"""`python -m classit_ray.train.pretrain` -> `classit-ray pretrain` (`commands.py`), kept as an alias."""

import sys

from classit_ray.commands import pretrain

if __name__ == "__main__":
    sys.exit(pretrain())
