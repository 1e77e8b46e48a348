"""Instruction pairs built from raw BabyLM files, in the CLASS_IT parquet layout.

- `switchboard.py`: conversational pairs from Switchboard turns (pairing rules and filters).
- `passages.py`: Simple Wikipedia articles cut into passages.
- `qa.py`: the question-writing prompt and the parser that checks generated pairs.
- `generate.py`: Q&A generation by a local instruct model through Ray Data batch inference,
  resumable.
- `output.py`: the output folder (CLASS_IT layout, manifest, word count table) and the counts.
- `__main__.py`: the command line, `python -m classit_ray.data.instruct_pairs {switchboard,simplewiki}`.

Point `corpus.instruct_dir` at the output folder to train on the pairs; the budget split counts
their words (model-generated ones shown apart) like those of the hub release.
"""
