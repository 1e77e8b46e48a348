"""The toy study of the tests, run as a script: what its console prints and what it leaves on disk.

    python bench/toy_study_console.py STORAGE [NAME] > console.txt 2>&1   # then: wc -l console.txt; du -sb STORAGE/*

The study is `tests/test_study.py`'s `_toy_study` (preset tiny, the three curricula and the
baseline at two fractions, one seed; the fraction 0.95 fails on purpose), in a fresh STORAGE.
"""

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from test_study import _toy_study  # noqa: E402

from classit_ray.study.runner import run_study  # noqa: E402

if __name__ == "__main__":
    t0 = time.time()
    run_study(_toy_study(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else "grid"))
    print(f"wall {time.time() - t0:.0f} s", file=sys.stderr)
