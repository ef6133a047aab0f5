"""The index: CJK analysis, freshness, atomic builds, damage and races."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kb.cache import fingerprint
from kb.index import analyze
from kb.paths import Source
from kb.search import open_knowledge_base, query_terms, search

from .conftest import FIXTURES


def copy_kb(tmp_path: Path) -> Path:
    target = tmp_path / "kb"
    shutil.copytree(FIXTURES / "kb", target)
    return target


def test_chinese_is_indexed_as_unigrams_and_bigrams() -> None:
    assert analyze("二维卷积层") == ["二", "二维", "维", "维卷", "卷", "卷积", "积", "积层", "层"]


def test_english_is_stemmed_and_lowercased() -> None:
    assert analyze("Reshaping Tensors") == ["reshap", "tensor"]
    assert analyze("nn.Conv2d") == ["nn", "conv2d"]


@given(st.text(max_size=200))
def test_analyzer_and_query_terms_never_fail(text: str) -> None:
    terms = analyze(text)
    assert all(terms)
    weighted = query_terms(text)
    assert len(weighted) <= 64
    assert all(0 < w <= 1 for _, w in weighted)


@given(st.text(alphabet="卷积层张量形状解压abc ", min_size=1, max_size=12))
def test_every_chinese_bigram_of_a_query_is_a_term(text: str) -> None:
    terms = {t for t, _ in query_terms(text)}
    for run in text.split():
        cjk = "".join(c for c in run if "\u4e00" <= c <= "\u9fff")
        if cjk == run:
            for i in range(len(run) - 1):
                assert run[i : i + 2] in terms


def test_edit_triggers_rebuild_and_is_found(tmp_path: Path) -> None:
    kb = copy_kb(tmp_path)
    sources = [Source(kb, "--entries")]
    first = open_knowledge_base(sources, root=tmp_path / "idx")
    assert first.rebuilt
    assert not open_knowledge_base(sources, root=tmp_path / "idx").rebuilt
    note = kb / "tar-extract.yaml"
    time.sleep(0.01)
    note.write_text(note.read_text(encoding="utf-8").replace("untar", "zebrafinch"),
                    encoding="utf-8")
    again = open_knowledge_base(sources, root=tmp_path / "idx")
    assert again.rebuilt
    hits = search("zebrafinch", index=again)
    assert [h.id for h in hits] == ["tar-extract"]


def test_fingerprint_changes_with_files(tmp_path: Path) -> None:
    kb = copy_kb(tmp_path)
    sources = [Source(kb, "--entries")]
    before = fingerprint(sources)
    (kb / "new-note.yaml").write_text("id: new-note\n")
    assert fingerprint(sources) != before


def test_a_leftover_partial_build_is_ignored(tmp_path: Path) -> None:
    kb = copy_kb(tmp_path)
    sources = [Source(kb, "--entries")]
    opened = open_knowledge_base(sources, root=tmp_path / "idx")
    home = opened.path.parent
    # a build killed half-way leaves a tmp- dir and never a build- dir
    (home / "tmp-killed").mkdir()
    (home / "tmp-killed" / "_MAIN_1.toc").write_text("garbage")
    assert open_knowledge_base(sources, root=tmp_path / "idx").path == opened.path


def test_a_damaged_index_is_rebuilt(tmp_path: Path) -> None:
    kb = copy_kb(tmp_path)
    sources = [Source(kb, "--entries")]
    opened = open_knowledge_base(sources, root=tmp_path / "idx")
    for f in opened.path.glob("*.toc"):
        f.write_text("garbage")
    again = open_knowledge_base(sources, root=tmp_path / "idx")
    assert any("damaged" in w for w in again.warnings)
    assert search("tar", index=again)[0].id == "tar-extract"


def test_a_meta_json_written_before_the_rename_still_opens(tmp_path: Path) -> None:
    kb = copy_kb(tmp_path)
    sources = [Source(kb, "--entries")]
    opened = open_knowledge_base(sources, root=tmp_path / "idx")
    meta = opened.path / "meta.json"
    meta.write_text(meta.read_text().replace('"skipped_files"', '"problems"'))
    again = open_knowledge_base(sources, root=tmp_path / "idx")
    assert not again.rebuilt and not again.warnings
    assert again.meta.skipped_files == opened.meta.skipped_files


BUILD = """
import sys
from pathlib import Path
from kb.paths import Source
from kb.search import open_knowledge_base
opened = open_knowledge_base([Source(Path(sys.argv[1]), "--entries")], root=Path(sys.argv[2]))
print(opened.meta.entries)
"""


def test_two_processes_building_at_once_both_succeed(tmp_path: Path) -> None:
    kb = copy_kb(tmp_path)
    procs = [subprocess.Popen([sys.executable, "-c", BUILD, str(kb), str(tmp_path / "idx")],
                              stdout=subprocess.PIPE, text=True) for _ in range(3)]
    outs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert outs == ["4", "4", "4"]
    builds = list((tmp_path / "idx").glob("*/build-*"))
    assert len(builds) == 1


def test_a_build_killed_midway_leaves_a_usable_index(tmp_path: Path) -> None:
    kb = copy_kb(tmp_path)
    for i in range(300):  # enough entries that the build takes a moment
        (kb / f"note-{i}.yaml").write_text(
            f"id: note-{i}\nkind: api\ntitle: note {i}\nsummary: filler text {i}\n")
    proc = subprocess.Popen([sys.executable, "-c", BUILD, str(kb), str(tmp_path / "idx")])
    time.sleep(0.6)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not list((tmp_path / "idx").glob("*/build-*/")) or \
        all((b / "meta.json").exists() for b in (tmp_path / "idx").glob("*/build-*"))
    opened = open_knowledge_base([Source(kb, "--entries")], root=tmp_path / "idx")
    assert opened.meta.entries == 304


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_read_only_cache(tmp_path: Path) -> None:  # pragma: no cover - CI runs as root
    kb = copy_kb(tmp_path)
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    opened = open_knowledge_base([Source(kb, "--entries")], root=ro)
    assert "not writable" in opened.warnings[0]


@pytest.mark.parametrize(("text", "terms"), [
    ("BatchNorm2d", ["batch", "norm2d", "batchnorm2d"]),
    ("num_workers", ["num", "worker", "numwork"]),  # stemmed: numworkers -> numwork
    ("zero_grad", ["zero", "grad", "zerograd"]),
    ("BCEWithLogitsLoss", ["bce", "logit", "loss", "bcewithlogitsloss"]),
    ("conv2d 3x3", ["conv2d", "3x3"]),  # digits stay with their word
])
def test_compounds_are_split_and_joined(text: str, terms: list[str]) -> None:
    assert analyze(text) == terms


@pytest.mark.parametrize(("text", "indexed", "query"), [
    ("BatchNorm2d", ["batch", "norm2d", "norm", "batchnorm2d", "batchnorm"],
     ["batch", "norm2d", "batchnorm2d"]),
    ("nn.MaxPool1d", ["nn", "max", "pool1d", "pool", "maxpool1d", "maxpool"],
     ["nn", "max", "pool1d", "maxpool1d"]),
    ("conv3d 2d float16", ["conv3d", "conv", "2d", "float16"], ["conv3d", "2d", "float16"]),
])
def test_layer_names_are_indexed_without_their_dimension_suffix(
        text: str, indexed: list[str], query: list[str]) -> None:
    # `batchnorm` and `batch norm` find BatchNorm2d; a query for conv1d stays conv1d.
    assert analyze(text, indexed=True) == indexed
    assert analyze(text) == query


def test_name_fields_also_index_neighbouring_words_joined() -> None:
    from kb.index import make_analyzer

    names = [t.text for t in make_analyzer(joins=True)("load state dict, zero grad")]
    assert "statedict" in names and "zerograd" in names
    assert "dictzero" not in names  # a comma separates them


@pytest.mark.parametrize(("query", "kind"), [
    ("RuntimeError: mat1 and mat2 shapes cannot be multiplied", "error"),
    ("batchnorm 报错", "error"),
    ("'NoneType' object is not subscriptable", "error"),
    ("batchnorm", "other"),
    ("load state dict", "other"),
    ("解压 tar", "other"),
    ("conda 卡住", None),
    ("load a gpu model on cpu", "other"),
    ("images of different size in a batch", None),
])
def test_what_a_query_looks_like(query: str, kind: str | None) -> None:
    from kb.search import query_kind

    assert query_kind(query) == kind


def _entry(folder: Path, entry_id: str, title: str, summary: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{entry_id}.yaml").write_text(
        f"id: {entry_id}\nkind: api\ntitle: {title}\nsummary: {summary}\n"
        f"zh: {{title: 标题, summary: 摘要}}\n", encoding="utf-8")


@pytest.mark.parametrize("power", [0.0, None])
def test_an_entry_with_every_query_word_outranks_one_word_repeated(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, power: float | None) -> None:
    from kb import search as ksearch

    kb = tmp_path / "kb"
    _entry(kb, "env-vars", "Environment variables", "The environment of an environment")
    _entry(kb, "list-things", "Listing things", "show what is there, each environment")
    if power is not None:  # without the coverage factor, plain BM25 sums prefer the repeater
        monkeypatch.setattr(ksearch, "COVERAGE_POWER", power)
    opened = open_knowledge_base([Source(kb, "--entries")], root=tmp_path / "idx")
    top = search("show environment", index=opened)[0].id
    assert top == ("env-vars" if power == 0.0 else "list-things")
