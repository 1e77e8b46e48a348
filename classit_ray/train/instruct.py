"""`python -m classit_ray.train.instruct` -> `classit-ray instruct` (`commands.py`), kept as an alias."""

import sys

from classit_ray.commands import instruct

if __name__ == "__main__":
    sys.exit(instruct())
