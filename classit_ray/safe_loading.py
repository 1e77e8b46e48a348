"""What may be loaded from a user-supplied path: safetensors, JSON, parquet and plain text. Never
pickle, which runs code as it loads.

Model weights are read only from `*.safetensors` (`use_safetensors=True`): a folder that holds only
`pytorch_model.bin` or `*.pt` (pickle) is refused with an error that says so. `local_files_only`
keeps a mistyped path from turning into a hub download, and no call sets `trust_remote_code`, so a
model folder cannot bring Python code of its own. Tokenizers are `tokenizer.json` (JSON).

Ray's own run state under `study.storage_path` (Tune experiment state, Train checkpoints' metadata)
is cloudpickle, like every Ray cluster's: the storage must be as trusted as the cluster itself.
"""

from __future__ import annotations

from pathlib import Path

# For every transformers `from_pretrained` of model weights.
MODEL_LOAD_KWARGS = {"use_safetensors": True, "local_files_only": True}
_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".ckpt")


def check_model_dir(model_dir: str | Path, error: type[Exception] = ValueError) -> Path:
    """`model_dir` if it holds `config.json` and safetensors weights; otherwise `error` naming it."""
    path = Path(model_dir).expanduser()
    if not (path / "config.json").is_file():
        raise error(f"{model_dir}: no config.json; expected a model folder saved with save_pretrained")
    if not any(path.glob("*.safetensors")):
        pickled = sorted(p.name for p in path.iterdir() if p.suffix in _PICKLE_SUFFIXES)
        found = (
            f"found only {', '.join(pickled)} (pickle, which can run code as it loads)"
            if pickled
            else "found no weights"
        )
        raise error(
            f"{model_dir}: no *.safetensors weights; {found}. Convert with "
            "`AutoModelForCausalLM.from_pretrained(dir).save_pretrained(dir)` where you trust the file"
        )
    return path
