"""Byte-level BPE trained on the pretraining split, saved as a Hugging Face fast tokenizer.

The tokenizer carries BOS/EOS/PAD and the two turn markers of the instruction template
(`template.py`); `AutoTokenizer.from_pretrained(dir)` loads it and prepends BOS by itself, so
evaluation code that calls the tokenizer plainly scores the first word too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq

from classit_ray.atomic import atomic_dir, read_manifest

PAD, BOS, EOS = "<pad>", "<s>", "</s>"
PROMPT, REPLY = "<|prompt|>", "<|reply|>"  # turn markers of the instruction template
# Fixed ids 0..4: every tokenizer of every study agrees on the special ids.
SPECIAL_TOKENS = [PAD, BOS, EOS, PROMPT, REPLY]
TOKENIZER_FILE = "tokenizer.json"


def iter_split_texts(pretrain_parquet: Path, max_words: int = 0, batch_docs: int = 1024) -> Iterator[list[str]]:
    """Batches of pretraining documents, streamed from the split, stopping after `max_words` (0 = all)."""
    seen = 0
    for batch in pq.ParquetFile(pretrain_parquet).iter_batches(batch_size=batch_docs, columns=["text", "words"]):
        texts = batch.column("text").to_pylist()
        if max_words:
            words = batch.column("words").to_pylist()
            keep = 0
            while keep < len(texts) and seen < max_words:
                seen += words[keep]
                keep += 1
            texts = texts[:keep]
        if texts:
            yield texts
        if max_words and seen >= max_words:
            return


def build_bpe(texts: Iterator[list[str]], vocab_size: int, min_frequency: int = 2):
    """Train a byte-level BPE (`tokenizers.Tokenizer`) with BOS prepended by its post-processor."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # every byte encodable: no <unk>
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    bos_id = tok.token_to_id(BOS)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A $B", special_tokens=[(BOS, bos_id)]
    )
    return tok


def save_hf_tokenizer(tok, out_dir: Path) -> None:
    """Save `tok` so that `transformers.AutoTokenizer.from_pretrained(out_dir)` loads it."""
    from transformers import PreTrainedTokenizerFast

    hf = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=PAD, additional_special_tokens=[PROMPT, REPLY]
    )
    hf.save_pretrained(str(out_dir))


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class TokenizerError(ValueError):
    """A tokenizer cannot be trained on what it was given; the message names the file."""


def _noting_text(batches: Iterator[list[str]], seen: list[bool]) -> Iterator[list[str]]:
    """`batches` unchanged; `seen[0]` becomes True once a text with a word has passed."""
    for texts in batches:
        seen[0] = seen[0] or any(not t.isspace() and t for t in texts)
        yield texts


def train_tokenizer(
    split_dir: str | Path, vocab_size: int, out_dir: str | Path, min_frequency: int = 2, max_train_words: int = 0
) -> dict:
    """Train on the split's pretraining text only, save atomically, return the manifest.

    A split with no pretraining words (one written before splits refused to be empty) is an
    error naming its parquet: a tokenizer of bytes and special tokens alone is never saved.
    """
    split_dir = Path(split_dir)
    split = read_manifest(split_dir)
    parquet, seen = split_dir / "pretrain.parquet", [False]
    tok = build_bpe(_noting_text(iter_split_texts(parquet, max_train_words), seen), vocab_size, min_frequency)
    if not seen[0]:
        raise TokenizerError(
            f"{parquet}: no pretraining words to train the tokenizer on; expected a split "
            "with text (rebuild the split: remove the folder and run again)"
        )
    manifest = {
        "kind": "tokenizer",
        "vocab_size": tok.get_vocab_size(),
        "requested_vocab_size": vocab_size,
        "min_frequency": min_frequency,
        "max_train_words": max_train_words,
        "trained_on_words": split["words"]["pretrain"]
        if not max_train_words
        else min(max_train_words, split["words"]["pretrain"]),
        "special_tokens": {t: tok.token_to_id(t) for t in SPECIAL_TOKENS},
    }
    with atomic_dir(out_dir, manifest) as tmp:
        save_hf_tokenizer(tok, tmp)
        manifest["sha256"] = file_sha256(tmp / TOKENIZER_FILE)
    return manifest


def load_tokenizer(tokenizer_dir: str | Path):
    """The raw `tokenizers.Tokenizer` (fast, picklable by path) of a saved tokenizer directory."""
    from tokenizers import Tokenizer

    path = Path(tokenizer_dir) / TOKENIZER_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{tokenizer_dir}: no {TOKENIZER_FILE}; expected a tokenizer saved by train_tokenizer")
    return Tokenizer.from_file(str(path))
