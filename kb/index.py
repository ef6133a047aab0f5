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
import mmap
import os
import re
import sys
import time
import types
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from kb import cache
from kb.model import Entry
from kb.paths import Source
from kb.record import field, record


def _import_whoosh_lean() -> None:
    """Import whoosh without two costs it never uses here (~60 ms of every `kb search`).

    whoosh.compat imports urllib.request (http, email, ssl) for an unused
    urlretrieve, whoosh uses the `cached_property` backport, which imports
    asyncio, whoosh.query imports morph_en (~7 ms of import-time regexes) for a
    Variations query kb never makes, and the codec's hash tables take md5 from
    hashlib, which loads OpenSSL (~3 ms) where CPython's own `_md5` gives the same
    digests. Stand-ins serve while whoosh imports and are removed afterwards, so
    anything else that imports the real modules gets them.
    """
    stubs: dict[str, types.ModuleType] = {}
    if "whoosh.lang.morph_en" not in sys.modules:
        def variations(word: str) -> Any:  # pragma: no cover - never called
            sys.modules.pop("whoosh.lang.morph_en", None)
            return importlib.import_module("whoosh.lang.morph_en").variations(word)

        stubs["whoosh.lang.morph_en"] = types.ModuleType("whoosh.lang.morph_en")
        stubs["whoosh.lang.morph_en"].variations = variations  # type: ignore[attr-defined]
    if "cached_property" not in sys.modules:
        stubs["cached_property"] = types.ModuleType("cached_property")
        stubs["cached_property"].cached_property = functools.cached_property  # type: ignore[attr-defined]
    if "urllib.request" not in sys.modules:
        def urlretrieve(*args: Any, **kwargs: Any) -> Any:  # pragma: no cover - never called
            sys.modules.pop("urllib.request", None)
            return importlib.import_module("urllib.request").urlretrieve(*args, **kwargs)

        stubs["urllib.request"] = types.ModuleType("urllib.request")
        stubs["urllib.request"].urlretrieve = urlretrieve  # type: ignore[attr-defined]
    if "hashlib" not in sys.modules:
        with contextlib.suppress(ImportError):  # a Python built without _md5: the real one
            from _md5 import md5

            stubs["hashlib"] = types.ModuleType("hashlib")
            stubs["hashlib"].md5 = md5  # type: ignore[attr-defined]
    sys.modules.update(stubs)
    try:
        import whoosh.analysis
        import whoosh.codec.whoosh3  # what opening the index unpickles: under the stand-ins
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
from whoosh import scoring  # noqa: E402
from whoosh.analysis import (  # noqa: E402
    LowercaseFilter,
    StemFilter,
    StopFilter,
    Token,
    Tokenizer,
)
from whoosh.fields import ID, KEYWORD, STORED, TEXT, Schema  # noqa: E402
from whoosh.filedb.filestore import FileStorage  # noqa: E402
from whoosh.filedb.structfile import StructFile  # noqa: E402

# ---------------------------------------------------------------- analysis

# An identifier as written in code (`num_workers`, `BatchNorm2d`) is one match; its
# parts are split out below. A dot or any other character ends it. Chinese is found
# in the runs of other (non-ASCII) characters by is_cjk_char: a character class of
# the CJK ranges takes ~1 ms to compile, on every start of `kb search`.
_TOKEN_RE = re.compile(r"[A-Za-z0-9]+(?:_+[A-Za-z0-9]+)*|[^\x00-\x7f]+")
# camelCase boundaries: lower->Upper (Batch|Norm2d), and an acronym before a word
# (BCE|WithLogits). Digits stay with their word (conv2d, Norm2d, float16).
_CAMEL_RE = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
# Two words written apart that users also run together ("zero grad" -> zerograd).
_JOINABLE_GAP = re.compile(r"[ -]\Z")
# A layer's dimension suffix (Conv2d, BatchNorm1d, MaxPool3d): users write the layer
# without it (`batchnorm`, `maxpool`, `batch norm`), so the index has the word without
# it as well. Queries keep theirs: `conv1d` asks for conv1d, not every conv entry.
_DIM_SUFFIX = re.compile(r"(?<=[A-Za-z]{2})[1-3][dD]\Z")


def split_words(value: str, joins: bool = False,
                bases: bool = False) -> Iterator[tuple[str, int, int]]:
    """(text, position, start char) of each term before case folding and stemming.

    Latin: each word, and a compound's parts as well as the whole written together
    (`num_workers` -> num, workers, numworkers; `BatchNorm2d` -> Batch, Norm2d,
    BatchNorm2d), so `batch norm`, `batchnorm` and `batch_norm` meet. With `joins`
    (the name fields), two neighbouring words also give their concatenation, so the
    query word `statedict` finds "state dict". With `bases` (what is indexed), a word
    with a dimension suffix also gives the word without it (`Norm2d` -> Norm,
    `BatchNorm2d` -> BatchNorm). Chinese: unigrams plus bigrams.
    """
    for text, pos, start in _split_words(value, joins):
        yield text, pos, start
        if bases and (base := _DIM_SUFFIX.sub("", text)) != text:
            yield base, pos, start


def _split_words(value: str, joins: bool) -> Iterator[tuple[str, int, int]]:
    pos = 0
    previous: tuple[str, int] | None = None  # the last Latin word and where it ended
    for match in _TOKEN_RE.finditer(value):
        word, start = match.group(), match.start()
        if not word.isascii():
            for run, run_start in _cjk_runs(word, start):
                for i, char in enumerate(run):
                    yield char, pos, run_start + i
                    if i + 1 < len(run):
                        yield run[i : i + 2], pos, run_start + i
                    pos += 1
                previous = None
            continue
        parts = [p for piece in word.split("_") for p in _CAMEL_RE.split(piece) if p]
        if len(parts) > 1:
            offset = start
            for part in parts:
                offset = value.index(part, offset)
                yield part, pos, offset
                pos += 1
            yield "".join(parts), pos - len(parts), start
        else:
            yield word, pos, start
            pos += 1
        if joins and previous is not None and _JOINABLE_GAP.match(value, previous[1], start) \
                and start - previous[1] == 1:
            yield previous[0] + "".join(parts), pos - 1, start
        previous = ("".join(parts), match.end())


def is_cjk_char(char: str) -> bool:
    """A CJK ideograph: the unified ideographs, extension A, the compatibility block."""
    return ("\u4e00" <= char <= "\u9fff" or "\u3400" <= char <= "\u4dbf"
            or "\uf900" <= char <= "\ufaff")


def _cjk_runs(text: str, start: int) -> Iterator[tuple[str, int]]:
    """Each run of CJK characters in `text` (found at `start` of the value), and where
    it starts in the value."""
    run_start = -1
    for i, char in enumerate(text):
        if is_cjk_char(char):
            if run_start < 0:
                run_start = i
        elif run_start >= 0:
            yield text[run_start:i], start + run_start
            run_start = -1
    if run_start >= 0:
        yield text[run_start:], start + run_start


class MixedTokenizer(Tokenizer):  # type: ignore[misc]
    """Latin words as words (compounds split and joined); Chinese as unigrams + bigrams.

    Whoosh's default treats a run of Chinese as one token, so 卷积层 would only
    match 卷积层 exactly. Unigram+bigram indexing finds 卷积 in 二维卷积层 and
    costs nothing at start-up, unlike jieba's 0.4-0.9 s dictionary load.
    """

    def __init__(self, joins: bool = False, bases: bool = False) -> None:
        self.joins = joins
        self.bases = bases

    def __call__(self, value: str, positions: bool = False, chars: bool = False,
                 keeporiginal: bool = False, removestops: bool = True, start_pos: int = 0,
                 start_char: int = 0, tokenize: bool = True, mode: str = "",
                 **kwargs: Any) -> Iterator[Token]:
        token = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        for text, pos, start in split_words(value, getattr(self, "joins", False),
                                            getattr(self, "bases", False)):
            token.text = text
            token.boost = 1.0
            token.stopped = False
            if keeporiginal:
                token.original = text
            token.pos = start_pos + pos
            token.startchar = start_char + start
            token.endchar = token.startchar + len(text)
            yield token


def make_analyzer(joins: bool = False, bases: bool = False) -> Any:
    # minsize=1: single Chinese characters are tokens too; stemming leaves them alone.
    return (MixedTokenizer(joins, bases) | LowercaseFilter() | StopFilter(minsize=1)
            | StemFilter())


ANALYZER = make_analyzer()  # queries
NAME_ANALYZER = make_analyzer(joins=True)
# What is indexed: the same terms, plus layer names without their dimension suffix.
INDEX_ANALYZER = make_analyzer(bases=True)
INDEX_NAME_ANALYZER = make_analyzer(joins=True, bases=True)


def analyze(text: str, joins: bool = False, indexed: bool = False) -> list[str]:
    """The terms of `text` as a query has them, in order; with `joins`, also each two
    neighbouring words written together, as the name fields are; with `indexed`, as
    the index has them (a layer name also without its dimension suffix)."""
    if indexed:
        return [t.text for t in (INDEX_NAME_ANALYZER if joins else INDEX_ANALYZER)(text)]
    return [t.text for t in (NAME_ANALYZER if joins else ANALYZER)(text)]


def is_cjk(term: str) -> bool:
    return bool(term) and is_cjk_char(term[0])


# ---------------------------------------------------------------- schema

# Field boosts: id, title and aliases above tags, above summary and body, above code.
# Field weights multiply a field's BM25 score at query time. (As index-time boosts they
# only scaled term frequency, which BM25 saturates: a title match counted for barely
# more than one in a long body, issue 12.) Tuned with bench/bench_relevance.py on the
# tuning part of tests/data/search_relevance.yaml, like the rest of the numbers here.
BOOSTS = {"name": 1.5, "title": 2.4, "aliases": 5.3, "tags": 3.75, "summary": 2.25,
          "body": 2.0, "patterns": 1.2, "code": 0.5}
SEARCH_FIELDS = tuple(BOOSTS)
NAME_FIELDS = ("name", "title", "aliases", "tags")  # also indexed with joined word pairs
# BM25: term-frequency saturation, and length normalisation per field (0 = none).
K1 = 0.72
FIELD_B = {"name": 0.3, "title": 0.75, "aliases": 0.75, "tags": 0.75, "summary": 0.0,
           "body": 0.75, "patterns": 0.75, "code": 0.75}
PREFIX_WEIGHT = 0.5  # `reshap` -> reshape
TYPO_WEIGHT = 0.45  # `resahpe` -> reshape
# Typo (edit-distance) terms only where names live: expanding them over bodies and
# code took half of every query's time and mostly matched noise.
TYPO_FIELDS = ("name", "title", "aliases", "tags")


def make_schema() -> Schema:
    # phrase=False: no positions (kb makes no phrase queries; they tripled the segment)
    text = {name: TEXT(analyzer=INDEX_NAME_ANALYZER if name in NAME_FIELDS else INDEX_ANALYZER,
                       phrase=False)
            for name in SEARCH_FIELDS}
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
            "names": sorted({" ".join(n.lower().split()) for n in (entry.id, *entry.aliases)}),
        },
    }


# ---------------------------------------------------------------- freshness and building


@record
class IndexMeta:
    """What meta.json says of a build: its entries, skipped files and build time."""

    entries: int
    skipped_files: int  # entry files that did not load at all (`kb lint` says why)
    built_s: float


@record
class OpenIndex:
    """An open, complete index and what the caller should know about it."""

    path: Path
    meta: IndexMeta
    rebuilt: bool
    warnings: list[str] = field(default_factory=list)
    _ix: Any = field(default=None, repr=False, compare=False)
    # one reader for every search: opening one copies the segment
    _reader: Any = field(default=None, repr=False, compare=False)

    def searcher(self, weighting: Any = None) -> Any:
        from whoosh.searching import Searcher

        return Searcher(self._reader, weighting=weighting or scoring.BM25F, closereader=False,
                        fromindex=self._ix)


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
    import shutil  # only to build, as tempfile: a search on a fresh index never needs them
    import tempfile

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
    from kb.explain.names import prepare_table  # only on a rebuild: not on every search

    prepare_table()  # torch's names for explain's did-you-mean (issue 16), in the background
    return opened


class _MappedFile(StructFile):  # type: ignore[misc]
    """An index file read through a memory map: a query reads only the pages it needs."""

    def get(self, position: int, length: int) -> bytes:
        return self.file[position : position + length]  # type: ignore[no-any-return]


class _MappedStorage(FileStorage):  # type: ignore[misc]
    """The index's folder, each file opened as a `_MappedFile`.

    whoosh's own way maps a compound segment, then copies every part a reader opens
    into memory: the whole term table and postings (9 MB, ~4 ms of every `kb search`).
    Segments are written as separate files (`compound=False` in build_index), so
    each is mapped on its own and nothing is copied.
    """

    supports_mmap = False  # whoosh's compound-file mapping; ours is in open_file

    def open_file(self, name: str, **kwargs: Any) -> StructFile:
        with open(self._fpath(name), "rb") as f:
            if os.fstat(f.fileno()).st_size == 0:  # an empty file cannot be mapped
                return StructFile(open(self._fpath(name), "rb"), name=name, **kwargs)
            mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        return _MappedFile(mapped, name=name, **kwargs)


def _open(path: Path, rebuilt: bool) -> OpenIndex:
    data = json.loads((path / "meta.json").read_text())
    if "problems" in data:  # the name before issue 11, in a meta.json still on disk
        data["skipped_files"] = data.pop("problems")
    meta = IndexMeta(**data)
    ix = _MappedStorage(str(path)).open_index()
    reader = ix.reader()
    if reader.doc_count() != meta.entries:  # reads the segment table: damage shows here
        count = reader.doc_count()
        reader.close()
        raise ValueError(f"index at {path} has {count} documents, not {meta.entries}")
    return OpenIndex(path, meta, rebuilt, [], ix, reader)


def build_index(entries: Iterable[Entry], skipped_files: int, directory: Path) -> IndexMeta:
    """Write a complete index of `entries` into `directory`; meta.json is written last."""
    start = time.perf_counter()
    ix = windex.create_in(str(directory), make_schema())
    writer = ix.writer(compound=False)  # one file per part, for _MappedStorage
    count = 0
    for entry in sorted(entries, key=lambda e: e.id):
        writer.add_document(**document(entry))
        count += 1
    writer.commit()
    meta = IndexMeta(count, skipped_files, time.perf_counter() - start)
    (directory / "meta.json").write_text(json.dumps(meta.__dict__))  # last: marks it complete
    return meta


# ---------------------------------------------------------------- querying


@record
class RawHit:
    """A matching entry, its BM25F score and its stored doc, before kb.search ranks it."""

    id: str
    score: float
    doc: dict[str, Any]
    coverage: float = 1.0  # the share of the query's term weight this entry contains


def _docs_matching(reader: Any, term: str) -> set[int]:
    """The documents that contain `term` in a search field, as written or (for a Latin
    term of three letters or more) as a prefix, as kb.index.term_query matches it."""
    found: set[int] = set()
    for name in SEARCH_FIELDS:
        if not is_cjk(term) and len(term) >= 3:
            texts = list(reader.expand_prefix(name, term))
        else:
            texts = [term] if (name, term) in reader else []
        for text in texts:
            found.update(reader.postings(name, text).all_ids())
    return found


def term_query(term: str, *, weight: float, fuzzy: bool, known: bool = False) -> Any:
    """One analysed query term over every search field: exact, then prefix and typo matches
    (typo matches only for a term no entry contains: `resahpe`, not `relu`)."""
    parts: list[Any] = []
    for name in SEARCH_FIELDS:
        boost = weight * BOOSTS[name]
        parts.append(wq.Term(name, term, boost=boost))
        if fuzzy and not is_cjk(term) and len(term) >= 3:
            parts.append(wq.Prefix(name, term, boost=boost * PREFIX_WEIGHT))
        if fuzzy and not known and not is_cjk(term) and len(term) >= 5 and name in TYPO_FIELDS:
            dist = 2 if len(term) >= 6 else 1
            parts.append(wq.FuzzyTerm(name, term, boost=boost * TYPO_WEIGHT, maxdist=dist,
                                      prefixlength=1))
    return wq.Or(parts)


def run_query(opened: OpenIndex, terms: Iterable[tuple[str, float]], *, kind: str | None,
              tag: str | None, limit: int, fuzzy: bool = True) -> list[RawHit]:
    """OR of the weighted terms, ranked by BM25F, filtered by kind and tag."""
    terms = list(terms)
    filters = []
    if kind:
        filters.append(wq.Term("kind", kind))
    if tag:
        filters.append(wq.Term("tag", tag.lower()))
    weighting = scoring.BM25F(K1=K1, **{f"{name}_B": b for name, b in FIELD_B.items()})
    with opened.searcher(weighting) as searcher:
        reader = searcher.reader()
        # Expanding typos builds an edit-distance automaton per field: half of a query's
        # time, and for a word the entries contain it only adds near-misses.
        subqueries = [term_query(t, weight=w, fuzzy=fuzzy,
                                 known=any((name, t) in reader for name in TYPO_FIELDS))
                      for t, w in terms]
        if not subqueries:
            return []
        # limit=None, then cut: whoosh-reloaded's top-N collector returns wrong hits for
        # these nested OR queries (`reshape a tensor` with limit=3 lost view-reshape, its
        # best match by far). Scoring every match of a few hundred entries is cheap.
        results = searcher.search(wq.Or(subqueries), limit=None,
                                  filter=wq.And(filters) if filters else None)
        hits = results[:limit]
        # Coverage: the share of the query's weight each hit matched, counted over the
        # terms some entry contains (a typo term is matched only by edit distance).
        having = {t: _docs_matching(reader, t) for t, _ in terms}
        total = sum(w for t, w in terms if having[t]) or 1.0
        return [RawHit(r["id"], float(r.score), r["doc"],
                       sum(w for t, w in terms if r.docnum in having[t]) / total)
                for r in hits]

def all_docs(opened: OpenIndex) -> list[tuple[str, dict[str, Any]]]:
    """Every indexed entry's id and stored doc, sorted by id (kb list)."""
    with opened.searcher() as searcher:
        docs = [(fields["id"], fields["doc"]) for fields in searcher.all_stored_fields()]
    return sorted(docs)
