"""Studies on Ray Tune: a definition (base config × axes), the plan of its unique stages, the Tune
trial that runs one cell, and the runner that checks, launches, resumes and tabulates a study."""
