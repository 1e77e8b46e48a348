"""The BabyLM reader on real-format snippets: layout discovery, cleaning, documents, exact counts."""

from __future__ import annotations

import tracemalloc

import pytest
from conftest import write_lines

from classit_ray.config import BABYLM_SOURCES, CorpusConfig
from classit_ray.data.corpus import (
    CorpusError,
    Document,
    count_corpus,
    count_source,
    cut_document,
    find_corpus_dir,
    iter_documents,
)

SWITCHBOARD = ["A:\tdid you see the game", "B:\tuh-huh", "A:\tthe dogs near the fence were barking"]
CHILDES = [
    "= = = mother1.cha = = =",
    "*MOT:\tlook at the ball .",
    "*CHI:\tball [laughs] .",
    "= = = mother2.cha = = =",
    "*FAT:\twhere is it ?",
]
SIMPLE_WIKI = [
    "= = = Fox = = =",
    "A fox is an animal .",
    "Foxes eat berries .",
    "= = = Lemon = = =",
    "A lemon is yellow .",
]


def make_release(root, name="train_100M", suffix=".train"):
    folder = root / name
    texts = {"switchboard": SWITCHBOARD, "childes": CHILDES, "simple_wiki": SIMPLE_WIKI}
    for source in BABYLM_SOURCES:
        write_lines(folder / f"{source}{suffix}", texts.get(source, [f"{source} line one .", f"{source} line two ."]))
    return folder


def test_finds_release_folder_in_parent_and_directly(tmp_path):
    folder = make_release(tmp_path)
    assert find_corpus_dir(tmp_path) == folder
    assert find_corpus_dir(folder) == folder


def test_older_babylm_txt_layout(tmp_path):
    folder = make_release(tmp_path, "babylm_100M", ".txt")
    assert find_corpus_dir(tmp_path) == folder
    stats = count_corpus(CorpusConfig(data_dir=str(tmp_path)))
    assert set(stats) == set(BABYLM_SOURCES)


def test_prefers_100M_over_10M(tmp_path):
    make_release(tmp_path, "train_10M")
    big = make_release(tmp_path, "train_100M")
    assert find_corpus_dir(tmp_path) == big


def test_missing_folder_and_no_sources_are_clear(tmp_path):
    with pytest.raises(CorpusError, match="corpus folder not found"):
        find_corpus_dir(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorpusError, match=r"empty: no BabyLM source files; expected <source>\.train"):
        find_corpus_dir(tmp_path / "empty")


def test_missing_source_file_named(tmp_path):
    folder = make_release(tmp_path)
    (folder / "gutenberg.train").unlink()
    with pytest.raises(CorpusError, match=r"missing source file\(s\) gutenberg\.train"):
        count_corpus(CorpusConfig(data_dir=str(folder)))


def test_exact_raw_word_counts_and_headers(tmp_path):
    folder = make_release(tmp_path)
    stats = count_source(folder / "childes.train", "childes", CorpusConfig())
    assert stats.raw_words == sum(len(line.split()) for line in CHILDES)  # headers included
    assert stats.headers == 2
    # Charged words exclude header lines but include speaker labels.
    assert stats.usable_words == sum(len(line.split()) for line in CHILDES if not line.startswith("= = ="))
    assert stats.doc_words == [6 + 4, 5]  # "*MOT:" and the other labels are words


def test_headers_start_documents_and_labels_switch(tmp_path):
    folder = make_release(tmp_path)
    docs = list(iter_documents(folder / "childes.train", "childes", CorpusConfig(keep_speaker_labels=True)))
    assert [d.lines for d in docs] == [
        ["*MOT:\tlook at the ball .", "*CHI:\tball [laughs] ."],
        ["*FAT:\twhere is it ?"],
    ]
    stripped = list(iter_documents(folder / "childes.train", "childes", CorpusConfig(keep_speaker_labels=False)))
    assert [d.lines for d in stripped] == [["look at the ball .", "ball [laughs] ."], ["where is it ?"]]
    assert [d.words for d in stripped] == [d.words for d in docs]  # the budget charge is the raw line's
    board = list(iter_documents(folder / "switchboard.train", "switchboard", CorpusConfig(keep_speaker_labels=False)))
    assert board[0].lines[1] == "uh-huh"


def test_every_chat_speaker_code_is_stripped_and_still_charged(tmp_path):
    lines = [
        "= = = family3.cha = = =",
        "*A:\tare you ready ?",
        "*R:\tyes .",
        "*CH1:\tme too .",
        "*INV:\tokay .",
        "*sigh* said nobody .",
        "*Note:\tnot a code .",
        "** A:\tnor this .",
    ]
    path = write_lines(tmp_path / "childes.train", lines)
    [doc] = iter_documents(path, "childes", CorpusConfig(keep_speaker_labels=False))
    assert doc.lines == [
        "are you ready ?",
        "yes .",
        "me too .",
        "okay .",
        "*sigh* said nobody .",
        "*Note:\tnot a code .",
        "** A:\tnor this .",
    ]
    assert doc.words == [len(line.split()) for line in lines[1:]]  # the label is still charged
    [kept] = iter_documents(path, "childes", CorpusConfig(keep_speaker_labels=True))
    assert kept.lines == lines[1:]


def test_bom_opening_a_file_is_dropped_so_the_first_header_is_a_header(tmp_path):
    plain = write_lines(tmp_path / "plain" / "simple_wiki.train", SIMPLE_WIKI)
    bom = tmp_path / "bom" / "simple_wiki.train"
    bom.parent.mkdir()
    bom.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes())
    stats = count_source(bom, "simple_wiki", CorpusConfig())
    assert stats.headers == 2 and stats.doc_words == count_source(plain, "simple_wiki", CorpusConfig()).doc_words == [
        6 + 4,
        5,
    ]
    assert [d.lines for d in iter_documents(bom, "simple_wiki", CorpusConfig())][0][0] == "A fox is an animal ."


def test_crlf_reads_exactly_as_lf(tmp_path):
    lf = write_lines(tmp_path / "lf" / "childes.train", CHILDES)
    crlf = tmp_path / "crlf" / "childes.train"
    crlf.parent.mkdir()
    crlf.write_bytes(lf.read_bytes().replace(b"\n", b"\r\n"))
    for labels in (True, False):
        cfg = CorpusConfig(keep_speaker_labels=labels)
        assert list(iter_documents(crlf, "childes", cfg)) == list(iter_documents(lf, "childes", cfg))
    a, b = count_source(crlf, "childes", CorpusConfig()), count_source(lf, "childes", CorpusConfig())
    assert (a.raw_words, a.lines, a.headers, a.doc_words) == (b.raw_words, b.lines, b.headers, b.doc_words)


def test_nul_bytes_are_stripped_from_the_text_and_counted(tmp_path):
    path = tmp_path / "open_subtitles.train"
    path.write_bytes(b"where\x00 are you\n\x00\x00\nhere .\n")
    stats = count_source(path, "open_subtitles", CorpusConfig())
    assert stats.nul_bytes == 3 and stats.doc_words == [3 + 2]  # a line of NULs alone is blank
    assert [d.lines for d in iter_documents(path, "open_subtitles", CorpusConfig())] == [["where are you", "here ."]]


def test_cut_document_keeps_the_first_words_as_written():
    doc = Document("childes", 0, ["one  two", "three\tfour five six", "seven"], [2, 4, 1])
    assert cut_document(doc, 4) == Document("childes", 0, ["one  two", "three\tfour"], [2, 2])
    assert cut_document(doc, 2) == Document("childes", 0, ["one  two"], [2])
    assert cut_document(doc, 7) == doc and cut_document(doc, 0).words == []
    # Labels off: `*MOT:` was the line's first charged word, so it is paid for first.
    stripped = Document("childes", 0, ["look at the ball ."], [6])
    assert cut_document(stripped, 3) == Document("childes", 0, ["look at"], [3])
    assert cut_document(stripped, 1) == Document("childes", 0, [""], [1])


def test_headerless_text_cut_every_max_doc_lines(tmp_path):
    path = write_lines(tmp_path / "open_subtitles.train", [f"line {i} ." for i in range(10)])
    docs = list(iter_documents(path, "open_subtitles", CorpusConfig(max_doc_lines=4)))
    assert [len(d.lines) for d in docs] == [4, 4, 2]
    assert [d.index for d in docs] == [0, 1, 2]


def test_non_utf8_names_file_and_line(tmp_path):
    path = tmp_path / "bnc_spoken.train"
    path.write_bytes(b"fine line\nsecond fine\nbad \xff byte\n")
    with pytest.raises(CorpusError, match=r"bnc_spoken\.train:3: not UTF-8"):
        list(iter_documents(path, "bnc_spoken", CorpusConfig()))


def test_empty_file_is_an_error(tmp_path):
    path = tmp_path / "gutenberg.train"
    path.write_text("\n\n")
    with pytest.raises(CorpusError, match=r"gutenberg\.train: empty file"):
        count_source(path, "gutenberg", CorpusConfig())


def _peak_bytes(path) -> int:
    tracemalloc.start()
    for _ in iter_documents(path, "open_subtitles", CorpusConfig()):
        pass
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def test_reading_streams_memory_flat_in_file_size(tmp_path):
    line = "the dogs near the old fence were barking at the cat again ."
    small = write_lines(tmp_path / "small.train", [line] * 5_000)
    large = write_lines(tmp_path / "large.train", [line] * 50_000)
    assert _peak_bytes(large) < 1.5 * _peak_bytes(small) + 64_000
