"""Finding entry files and reading them: the only reader of entry files.

load: sources -> files -> raw YAML (mappings that remember their lines) ->
`kb.schema.parse_entry` -> `Loaded` (every good entry, every problem). A broken
file is reported and skipped; it never hides the good ones.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from kb import cache
from kb.errors import NotFound, SourceError, suggest
from kb.model import Entry, Problem, Severity
from kb.paths import BUILTIN_ENTRIES, ENTRY_SUFFIXES, Source, entry_sources
from kb.record import field, record

# kb.schema and kb.yaml_lines (and with them yaml, ~20 ms) are imported where files
# are parsed: a command served from the parsed-entries cache never needs them.


def read_entry_file(path: Path) -> tuple[Any, list[Problem]]:
    """Read one file: raw data, or the problems that stop it being read."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return None, [Problem(path, 0, "KB019", f"cannot read the file: {exc.strerror}")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return None, [
            Problem(path, line, "KB002", "the file is not UTF-8 text; save it as UTF-8")
        ]
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        return None, [Problem(path, 1, "KB003", "the file is empty; write an entry or delete it")]
    from kb.yaml_lines import parse_yaml

    return parse_yaml(text, path)


def entry_files(source: Source) -> tuple[list[Path], list[Problem]]:
    """The entry files of a source, sorted; a missing directory is a problem, not a crash."""
    path = source.path
    if path.is_file():
        return [path], []
    if not path.is_dir():
        why = "a KB_PATH directory" if source.origin == "KB_PATH" else f"from {source.origin}"
        return [], [
            Problem(path, 0, "KB019", f"entry directory does not exist ({why}); create it or "
                    "remove it from the list", Severity.WARNING if source.origin == "KB_PATH"
                    else Severity.ERROR)
        ]
    files = sorted(p for p in path.iterdir() if p.suffix in ENTRY_SUFFIXES and p.is_file())
    return files, []


@record
class Loaded:
    """Every entry that loaded, by id, and every problem found on the way."""

    entries: dict[str, Entry]
    problems: list[Problem]
    sources: list[Source] = field(default_factory=list)
    overridden: dict[str, list[Path]] = field(default_factory=dict)  # id -> files it replaced
    files: list[Path] = field(default_factory=list)  # every entry file read

    def get(self, entry_id: str) -> Entry:
        try:
            return self.entries[entry_id]
        except KeyError:
            raise NotFound(unknown_id_message(entry_id, self.entries)) from None

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.ERROR]

    @property
    def skipped_files(self) -> list[Path]:
        """Entry files that did not load at all (a bad link, say, does not skip a file)."""
        loaded = {e.source for e in self.entries.values()}
        return sorted({p.path for p in self.errors if p.path not in loaded and p.path.is_file()})


def unknown_id_message(entry_id: str, known: Iterable[str]) -> str:
    hint = suggest(entry_id, known) or "try `kb search` or `kb list`"
    return f"no entry '{entry_id}'; {hint}"


def load_sources(sources: Sequence[Source], known_ids: Iterable[str] = ()) -> Loaded:
    """Load every entry of the sources in order; a later source overrides an earlier id."""
    from kb.schema import check_links, parse_entry
    from kb.yaml_lines import line_of

    entries: dict[str, Entry] = {}
    problems: list[Problem] = []
    overridden: dict[str, list[Path]] = {}
    all_files: list[Path] = []
    for source in sources:
        files, found = entry_files(source)
        all_files.extend(files)
        problems.extend(found)
        seen_here: dict[str, Path] = {}
        for path in files:
            data, read_problems = read_entry_file(path)
            problems.extend(read_problems)
            if read_problems:
                continue
            entry, entry_problems = parse_entry(data, path, builtin=source.builtin)
            problems.extend(entry_problems)
            if entry is None:
                continue
            if entry.id in seen_here:
                problems.append(Problem(path, line_of(data, "id"), "KB010",
                                        f"duplicate id '{entry.id}', also in "
                                        f"{seen_here[entry.id]}; "
                                        "rename one of them"))
                continue
            seen_here[entry.id] = path
            if entry.id in entries:
                overridden.setdefault(entry.id, []).append(entries[entry.id].source)
            entries[entry.id] = entry
    problems.extend(check_links(entries, set(known_ids)))
    return Loaded(entries, problems, list(sources), overridden, all_files)


def load_entries(extra_dirs: Sequence[Path] = (), *, builtin: bool = True) -> Loaded:
    """The knowledge base as kb sees it: built-in, KB_PATH, then extra (--entries) dirs."""
    return load_sources(entry_sources(extra_dirs, builtin=builtin))


def load_entries_cached(extra_dirs: Sequence[Path] = ()) -> Loaded:
    """`load_entries`, served from the parsed-entries cache while no entry file changed."""
    return load_sources_cached(entry_sources(extra_dirs))


def load_sources_cached(sources: Sequence[Source]) -> Loaded:
    """`load_sources`, served from a pickle in the cache dir while no entry file changed
    (kb.cache.memo). Unpickling takes ~10 ms where parsing ~260 YAML files takes ~0.3 s.
    Each entry is also stored on its own, for `find_entry`."""

    def build() -> Loaded:
        loaded = load_sources(sources)
        cache.store("shelf", sources, cache.ENTRY_CODE, _shelf(loaded))
        return loaded

    return cache.memo("entries", sources, cache.ENTRY_CODE, Loaded, build)


def _shelf(loaded: Loaded) -> dict[str, bytes]:
    """Each entry and the files it overrides, pickled on its own: `kb show` unpickles the
    one it shows (~0.05 ms) instead of the whole knowledge base (~5 ms)."""
    return {entry_id: pickle.dumps((entry, loaded.overridden.get(entry_id, [])),
                                   pickle.HIGHEST_PROTOCOL)
            for entry_id, entry in loaded.entries.items()}


def load_files(paths: Sequence[Path], known_ids: Iterable[str] = ()) -> Loaded:
    """Explicit files or directories (kb lint PATHS): each its own source, user-level rules
    unless it is the built-in directory; `known_ids` also count as see_also targets."""
    sources = []
    for p in paths:
        builtin = p.resolve() == BUILTIN_ENTRIES or p.resolve().parent == BUILTIN_ENTRIES
        sources.append(Source(p, "built-in" if builtin else "--entries"))
    return load_sources(sources, known_ids)


def find_entry(entry_id: str, sources: Sequence[Source]) -> tuple[Entry, list[Path]]:
    """One entry by id without reading the whole knowledge base (kb show).

    Served from the entry's own pickle beside the parsed-entries cache when it is
    fresh (no YAML parsed, no other entry unpickled). Else reads
    `<id>.yaml` from the last source that has it (later sources win) and
    reports the files it overrides; falls back to a full load only when no file
    has that name, to suggest the nearest id.
    """
    shelf = cache.cached("shelf", sources, cache.ENTRY_CODE, dict)
    if shelf is not None and entry_id in shelf:
        entry, overridden = pickle.loads(shelf[entry_id])
        return entry, list(overridden)
    found: list[tuple[Source, Path]] = []
    for source in sources:
        for suffix in ENTRY_SUFFIXES:
            path = source.path / f"{entry_id}{suffix}"
            if source.path.is_dir() and path.is_file():
                found.append((source, path))
    for source, path in reversed(found):
        data, problems = read_entry_file(path)
        entry = None
        if not problems:
            from kb.schema import parse_entry

            entry, problems = parse_entry(data, path, builtin=source.builtin)
        if entry is not None and entry.id == entry_id:
            return entry, [p for _, p in found if p != path]
        if problems and any(p.severity is Severity.ERROR for p in problems):
            first = next(p for p in problems if p.severity is Severity.ERROR)
            raise SourceError(f"entry '{entry_id}' cannot be read: {first}; run `kb lint {path}`")
    loaded = load_sources(sources)
    if entry_id in loaded.entries:
        return loaded.entries[entry_id], loaded.overridden.get(entry_id, [])
    raise NotFound(unknown_id_message(entry_id, all_ids(sources)))


def all_ids(sources: Sequence[Source]) -> list[str]:
    ids: list[str] = []
    for source in sources:
        files, _ = entry_files(source)
        ids.extend(p.stem for p in files)
    return ids
