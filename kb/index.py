"""The Whoosh index: schema, analyzers, building, freshness. The only module that imports whoosh.

Layout on disk (under the cache dir, see kb.paths; fingerprints from kb.cache):

    index/<sources-key>/build-<fingerprint>/   a complete index + meta.json
    index/<sources-key>/tmp-<random>/          a build in progress

A build goes into a tmp- directory and is renamed into place when complete, so
a killed build or two kb processes at once never leave a broken index: readers
only ever open complete build- directories. The index takes plain entries from
a callable (kb.search passes the loader's), so it never imports the loader.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import importlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
import types
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kb import cache
from kb.model import Entry
from kb.paths import Source


def _import_whoosh_lean() -> None:
    """Import whoosh without two costs it never uses here (~60 ms of every `kb search`).

    whoosh.compat imports urllib.request (http, email, ssl) for an unused
    urlretrieve, and whoosh uses the `cached_property` backport, which imports
    asyncio. Stand-ins serve while whoosh imports and are removed afterwards, so
    anything else that imports the real modules gets them.
    """
    stubs: dict[str, types.ModuleType] = {}
    if "cached_property" not in sys.modules:
        stubs["cached_property"] = types.ModuleType("cached_property")
        stubs["cached_property"].cached_property = functools.cached_property  # type: ignore[attr-defined]
    if "urllib.request" not in sys.modules:
        def urlretrieve(*args: Any, **kwargs: Any) -> Any:  # pragma: no cover - never called
            sys.modules.pop("urllib.request", None)
            return importlib.import_module("urllib.request").urlretrieve(*args, **kwargs)

        stubs["urllib.request"] = types.ModuleType("urllib.request")
        stubs["urllib.request"].urlretrieve = urlretrieve  # type: ignore[attr-defined]
    sys.modules.update(stubs)
    try:
        import whoosh.analysis
        import whoosh.fields
        import whoosh.index
        import whoosh.query  # noqa: F401
    finally:
        for name, module in stubs.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]


_import_whoosh_lean()

from whoosh import index as windex  # noqa: E402 - after the lean import above
from whoosh import query as wq  # noqa: E402
from whoosh.analysis import (  # noqa: E402
    LowercaseFilter,
    StemFilter,
    StopFilter,
    Token,
    Tokenizer,
)
from whoosh.fields import ID, KEYWORD, STORED, TEXT, Schema  # noqa: E402

# ---------------------------------------------------------------- analysis

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN_RE = re.compile(rf"[{_CJK}]+|[A-Za-z0-9]+")
_CJK_RE = re.compile(rf"[{_CJK}]")


class MixedTokenizer(Tokenizer):  # type: ignore[misc]
    """Latin words as words; runs of Chinese as unigrams plus bigrams.

    Whoosh's default treats a run of Chinese as one token, so 卷积层 would only
    match 卷积层 exactly. Unigram+bigram indexing finds 卷积 in 二维卷积层 and
    costs nothing at start-up, unlike jieba's 0.4-0.9 s dictionary load.
    """

    def __call__(self, value: str, positions: bool = False, chars: bool = False,
                 keeporiginal: bool = False, removestops: bool = True, start_pos: int = 0,
                 start_char: int = 0, tokenize: bool = True, mode: str = "",
                 **kwargs: Any) -> Iterator[Token]:
        token = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        pos = start_pos
        for match in _TOKEN_RE.finditer(value):
            word = match.group()
            if _CJK_RE.match(word):
                for i, char in enumerate(word):
                    pieces = [char] if i + 1 == len(word) else [char, word[i : i + 2]]
                    for piece in pieces:
                        yield self._token(token, piece, pos, start_char + match.start() + i,
                                          keeporiginal)
                    pos += 1
            else:
                yield self._token(token, word, pos, start_char + match.start(), keeporiginal)
                pos += 1

    @staticmethod
    def _token(token: Token, text: str, pos: int, start: int, keeporiginal: bool) -> Token:
        token.text = text
        token.boost = 1.0
        token.stopped = False
        if keeporiginal:
            token.original = text
        token.pos = pos
        token.startchar = start
        token.endchar = start + len(text)
        return token


def make_analyzer() -> Any:
    # minsize=1: single Chinese characters are tokens too; stemming leaves them alone.
    return MixedTokenizer() | LowercaseFilter() | StopFilter(minsize=1) | StemFilter()


ANALYZER = make_analyzer()


def analyze(text: str) -> list[str]:
    """The index terms of `text`, in order (queries go through the same analysis)."""
    return [t.text for t in ANALYZER(text)]


def is_cjk(term: str) -> bool:
    return bool(_CJK_RE.match(term))


# ---------------------------------------------------------------- schema

# Field boosts: id, title and aliases above tags, above summary and body, above code.
BOOSTS = {"name": 5.0, "title": 4.0, "aliases": 4.0, "tags": 2.5, "summary": 1.5,
          "body": 1.0, "patterns": 1.2, "code": 0.5}
SEARCH_FIELDS = tuple(BOOSTS)
# Typo (edit-distance) terms only where names live: expanding them over bodies and
# code took half of every query's time and mostly matched noise.
TYPO_FIELDS = ("name", "title", "aliases", "tags")


def make_schema() -> Schema:
    text = {name: TEXT(analyzer=ANALYZER, field_boost=boost) for name, boost in BOOSTS.items()}
    return Schema(
        id=ID(stored=True, unique=True),
        kind=ID(stored=True),
        tag=KEYWORD(lowercase=True, commas=True, stored=True),
        doc=STORED,  # what rendering a hit needs, so search never reads YAML
        **text,
    )


def document(entry: Entry) -> dict[str, Any]:
    """One entry as index fields: both languages go into the same fields."""
    zh = entry.zh
    commands = [f"{c.cmd} {c.does} {c.zh}" for c in entry.commands]
    return {
        "id": entry.id,
        "kind": entry.kind,
        "tag": ",".join(entry.tags),
        "name": f"{entry.id} {entry.id.replace('-', ' ')}",
        "title": f"{entry.title} {zh.title}",
        "aliases": " ".join(entry.aliases),
        "tags": " ".join(entry.tags),
        "summary": f"{entry.summary} {zh.summary}",
        "body": "\n".join([entry.body, zh.body, *entry.causes, *zh.causes, entry.fix, zh.fix,
                           *commands]),
        "patterns": "\n".join([*entry.patterns, *entry.examples]),
        "code": "\n".join([*(c.cmd for c in entry.commands), *(s.code for s in entry.snippets)]),
        "doc": {
            "kind": entry.kind, "title": entry.title, "summary": entry.summary,
            "title_zh": zh.title, "summary_zh": zh.summary, "body": entry.body,
            "body_zh": zh.body, "tags": list(entry.tags), "source": str(entry.source),
        },
    }


# ---------------------------------------------------------------- freshness and building


@dataclass(frozen=True)
class IndexMeta:
    entries: int
    problems: int
    built_s: float


@dataclass
class OpenIndex:
    """An open, complete index and what the caller should know about it."""

    path: Path
    meta: IndexMeta
    rebuilt: bool
    warnings: list[str] = field(default_factory=list)
    _ix: Any = None

    def searcher(self) -> Any:
        return self._ix.searcher()


# What a build needs from the loader: the entries, and how many files were skipped.
Load = Callable[[], tuple[Iterable[Entry], int]]


def open_index(sources: Sequence[Source], load: Load, root: Path | None = None) -> OpenIndex:
    """A fresh index of `sources`, built from `load()` first when entries changed.

    `load` is only called when the index is stale, so a search on an unchanged
    knowledge base never reads (or imports the reader of) YAML.
    """
    warnings: list[str] = []
    home = cache.home("index", sources, root)
    target = home / f"build-{cache.fingerprint(sources, cache.INDEX_CODE)}"
    if (target / "meta.json").is_file():
        try:
            return _open(target, rebuilt=False)
        except Exception:
            warnings.append(f"the index at {target} was damaged; rebuilt it")
            cache.discard(target)
    try:
        home.mkdir(parents=True, exist_ok=True)
        build_dir = Path(tempfile.mkdtemp(prefix="tmp-", dir=home))
    except OSError as exc:
        # Read-only or foreign cache: build a throwaway index so kb still answers.
        warnings.append(f"cache dir {home} is not writable ({exc.strerror}); using a temporary "
                        "index (set KB_CACHE_DIR to a writable directory)")
        target = Path(tempfile.mkdtemp(prefix="kb-index-"))
        atexit.register(shutil.rmtree, target, ignore_errors=True)  # nothing left behind
        build_index(*load(), target)
    else:
        try:
            build_index(*load(), build_dir)
            # atomic; fails (and the other process's build serves) if another won the race
            with contextlib.suppress(OSError):
                os.rename(build_dir, target)
        finally:
            shutil.rmtree(build_dir, ignore_errors=True)
        cache.prune(home, keep=target)
    opened = _open(target, rebuilt=True)
    opened.warnings[:0] = warnings
    return opened


def _open(path: Path, rebuilt: bool) -> OpenIndex:
    meta = IndexMeta(**json.loads((path / "meta.json").read_text()))
    ix = windex.open_dir(str(path))
    if ix.doc_count() != meta.entries:  # reads the segment table: damage shows here
        raise ValueError(f"index at {path} has {ix.doc_count()} documents, not {meta.entries}")
    return OpenIndex(path, meta, rebuilt, [], ix)


def build_index(entries: Iterable[Entry], skipped_files: int, directory: Path) -> IndexMeta:
    """Write a complete index of `entries` into `directory`; meta.json is written last."""
    start = time.perf_counter()
    ix = windex.create_in(str(directory), make_schema())
    writer = ix.writer()
    count = 0
    for entry in sorted(entries, key=lambda e: e.id):
        writer.add_document(**document(entry))
        count += 1
    writer.commit()
    meta = IndexMeta(count, skipped_files, time.perf_counter() - start)
    (directory / "meta.json").write_text(json.dumps(meta.__dict__))  # last: marks it complete
    return meta


# ---------------------------------------------------------------- querying


@dataclass(frozen=True)
class RawHit:
    id: str
    score: float
    doc: dict[str, Any]


def term_query(term: str, *, weight: float, fuzzy: bool) -> Any:
    """One analysed query term over every search field: exact, then prefix and typo matches."""
    parts: list[Any] = []
    for name in SEARCH_FIELDS:
        parts.append(wq.Term(name, term, boost=weight))
        if fuzzy and not is_cjk(term) and len(term) >= 3:
            parts.append(wq.Prefix(name, term, boost=weight * 0.5))
        if fuzzy and not is_cjk(term) and len(term) >= 5 and name in TYPO_FIELDS:
            dist = 2 if len(term) >= 6 else 1
            parts.append(wq.FuzzyTerm(name, term, boost=weight * 0.3, maxdist=dist,
                                      prefixlength=1))
    return wq.Or(parts)


def run_query(opened: OpenIndex, terms: Iterable[tuple[str, float]], *, kind: str | None,
              tag: str | None, limit: int, fuzzy: bool = True) -> list[RawHit]:
    """OR of the weighted terms, ranked by BM25F, filtered by kind and tag."""
    subqueries = [term_query(t, weight=w, fuzzy=fuzzy) for t, w in terms]
    if not subqueries:
        return []
    q = wq.Or(subqueries)
    filters = []
    if kind:
        filters.append(wq.Term("kind", kind))
    if tag:
        filters.append(wq.Term("tag", tag.lower()))
    with opened.searcher() as searcher:
        # limit=None, then cut: whoosh-reloaded's top-N collector returns wrong hits for
        # these nested OR queries (`reshape a tensor` with limit=3 lost view-reshape, its
        # best match by far). Scoring every match of a few hundred entries is cheap.
        results = searcher.search(q, limit=None, filter=wq.And(filters) if filters else None)
        results = results[:limit]
        return [RawHit(r["id"], float(r.score), r["doc"]) for r in results]


def all_docs(opened: OpenIndex) -> list[tuple[str, dict[str, Any]]]:
    """Every indexed entry's id and stored doc, sorted by id (kb list)."""
    with opened.searcher() as searcher:
        docs = [(fields["id"], fields["doc"]) for fields in searcher.all_stored_fields()]
    return sorted(docs)
