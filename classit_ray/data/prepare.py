"""`python -m classit_ray.data.prepare` -> `classit-ray prepare` (`commands.py`), kept as an alias."""

import sys

from classit_ray.commands import prepare

if __name__ == "__main__":
    sys.exit(prepare())
