"""Loading: sources in order, overrides by id, line numbers, odd files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kb.errors import NotFound, suggest
from kb.loader import find_entry, load_entries, load_sources_cached
from kb.paths import Source, entry_sources
from kb.yaml_lines import parse_yaml

from .conftest import FIXTURES


def write_entry(folder: Path, entry_id: str, title: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{entry_id}.yaml"
    path.write_text(f"id: {entry_id}\nkind: api\ntitle: {title}\nsummary: s\n"
                    f"zh: {{title: 标题, summary: 摘要}}\n", encoding="utf-8")
    return path


def test_later_sources_override_earlier_ones_by_id(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    team = write_entry(tmp_path / "team", "view-reshape", "Team view notes")
    mine = write_entry(tmp_path / "mine", "view-reshape", "My view notes")
    monkeypatch.setenv("KB_PATH", str(tmp_path / "team"))
    loaded = load_entries([tmp_path / "mine"])
    assert loaded.entries["view-reshape"].title == "My view notes"
    assert loaded.entries["view-reshape"].source == mine
    assert team in loaded.overridden["view-reshape"]
    entry, overridden = find_entry("view-reshape", entry_sources([tmp_path / "mine"]))
    assert entry.source == mine and team in overridden


def test_kb_path_is_colon_separated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_entry(tmp_path / "a", "note-a", "A")
    write_entry(tmp_path / "b", "note-b", "B")
    monkeypatch.setenv("KB_PATH", f"{tmp_path / 'a'}:{tmp_path / 'b'}")
    monkeypatch.setenv("KB_BUILTIN", "0")
    assert set(load_entries().entries) == {"note-a", "note-b"}


def test_unknown_id_suggests_the_nearest(fixture_kb: Path) -> None:
    with pytest.raises(NotFound, match="did you mean 'view-reshape'"):
        find_entry("view-reshap", entry_sources())


def test_suggest_names_the_closest_choice_or_nothing() -> None:
    assert suggest("view-reshap", ["permute", "view-reshape"]) == "did you mean 'view-reshape'?"
    assert suggest("zzz", ["permute", "view-reshape"]) == ""
    assert suggest("titel", ["title"], cutoff=0.99) == ""


def test_lines_are_remembered() -> None:
    data, problems = parse_yaml((FIXTURES / "kb" / "view-reshape.yaml").read_text(), Path("x"))
    assert not problems
    assert data.lines["id"] == 1
    assert data["snippets"].lines[0] > data.lines["snippets"]


def test_dates_stay_text() -> None:
    data, _ = parse_yaml("expect: 2024-01-01\n", Path("x"))
    assert data["expect"] == "2024-01-01"


def test_bom_and_crlf_are_fine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_entry(tmp_path, "crlf-note", "CRLF")
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n"))
    monkeypatch.setenv("KB_BUILTIN", "0")
    loaded = load_entries([tmp_path])
    assert "crlf-note" in loaded.entries and not loaded.problems


@given(st.text(max_size=300))
def test_parse_yaml_never_raises(text: str) -> None:
    _data, problems = parse_yaml(text, Path("fuzz.yaml"))
    assert problems == [] or problems[0].code == "KB001"


def test_parsed_entries_are_cached_until_an_entry_file_changes(tmp_path: Path) -> None:
    path = write_entry(tmp_path / "notes", "note-a", "First title")
    sources = [Source(tmp_path / "notes", "--entries")]
    assert load_sources_cached(sources).entries["note-a"].title == "First title"
    # Same size and mtime, other text: the fingerprint is unchanged, so the cache answers.
    stat = path.stat()
    path.write_text(path.read_text(encoding="utf-8").replace("First", "Other"),
                    encoding="utf-8")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert load_sources_cached(sources).entries["note-a"].title == "First title"
    # A real edit (new mtime) is never served stale.
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert load_sources_cached(sources).entries["note-a"].title == "Other title"


def test_a_damaged_entries_cache_is_parsed_again(tmp_path: Path) -> None:
    write_entry(tmp_path / "notes", "note-a", "A title")
    sources = [Source(tmp_path / "notes", "--entries")]
    load_sources_cached(sources)
    for pickled in Path(os.environ["KB_CACHE_DIR"]).glob("entries/*/entries-*.pickle"):
        pickled.write_bytes(b"garbage")
    assert load_sources_cached(sources).entries["note-a"].title == "A title"


def test_find_entry_reads_the_entry_alone_from_the_cache_and_never_a_stale_one(
        tmp_path: Path) -> None:
    path = write_entry(tmp_path / "notes", "note-a", "First title")
    write_entry(tmp_path / "notes", "note-b", "B title")
    sources = [Source(tmp_path / "notes", "--entries")]
    load_sources_cached(sources)  # what search, explain and check do first
    # `kb show` is served the one entry's own pickle: without the whole knowledge base's
    # pickle, and without reading the file (same size and mtime, other text).
    for pickled in Path(os.environ["KB_CACHE_DIR"]).glob("entries/*/entries-*.pickle"):
        pickled.unlink()
    stat = path.stat()
    path.write_text(path.read_text(encoding="utf-8").replace("First", "Other"),
                    encoding="utf-8")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    entry, overridden = find_entry("note-a", sources)
    assert (entry.id, entry.title, entry.source, overridden) == (
        "note-a", "First title", path, [])
    # A real edit (new mtime) is read from the file.
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert find_entry("note-a", sources)[0].title == "Other title"
    assert find_entry("note-b", sources)[0].title == "B title"
