"""A study cell as one graph of keyed stages (`graph.py`), and the walk that runs it (`execute.py`)."""
