"""Derived data on disk: fingerprints of the entry sources, atomic writes, pruning.

Three things are derived from the entry files and cached under the cache dir (see
kb.paths): the parsed entries (kb.loader: one pickle, and a "shelf" of each entry
pickled on its own for `kb show`), what `kb explain` prepares
from them (kb.explain, one pickle), and the search index (kb.index, a Whoosh
directory). Each lives under a folder per list of sources
and is named by a fingerprint of kb's version, the code that produced it and
every entry file's name, size and mtime, so any edit makes a new one on the
next call; checking costs one stat per file. Writes go to a temporary name and
are renamed into place, so a killed writer or two kb processes at once never
leave a half-written file where a reader looks.
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import kb
from kb.paths import ENTRY_SUFFIXES, Source, cache_dir

if TYPE_CHECKING:
    from hashlib import sha256
else:  # CPython's own SHA-256: hashlib would load OpenSSL (~3 ms) on every command
    try:
        from _sha2 import sha256  # Python >= 3.12
    except ImportError:
        try:
            from _sha256 import sha256  # Python 3.11
        except ImportError:  # a build without them
            from hashlib import sha256

_KB = Path(kb.__file__).parent
# The code whose output is cached: a change to how entries are parsed (hints are
# validated while parsing) invalidates the parsed entries, and the index also
# depends on how text is analysed.
ENTRY_CODE = tuple(_KB / name for name in ("model.py", "yaml_lines.py", "schema.py",
                                           "requirements.py", "loader.py",
                                           "explain/hints.py"))
INDEX_CODE = (*ENTRY_CODE, _KB / "index.py")
EXPLAIN_CODE = (*ENTRY_CODE, *(_KB / "explain" / name for name in ("patterns.py",
                                                                   "ranking.py",
                                                                   "__init__.py")))

T = TypeVar("T")


def memo(what: str, sources: Sequence[Source], code: Sequence[Path], kind: type[T],
         build: Callable[[], T]) -> T:
    """`build()`, served from a pickle while no entry file and none of `code` changed.

    The pickle is named by the fingerprint, so an edit is never served stale. A
    missing, damaged or foreign pickle is built again; a read-only cache dir only
    means building every time.
    """
    value = cached(what, sources, code, kind)
    if value is not None:
        return value
    value = build()
    store(what, sources, code, value)
    return value


def store(what: str, sources: Sequence[Source], code: Sequence[Path], value: object) -> None:
    """Pickle `value` where `cached(what, ...)` finds it (best effort: a read-only cache
    dir only means building again)."""
    path = _memo_path(what, sources, code)
    try:
        write_atomic(path, pickle.dumps(value, pickle.HIGHEST_PROTOCOL))
        prune(path.parent, keep=path)
    except OSError:
        pass


def cached(what: str, sources: Sequence[Source], code: Sequence[Path], kind: type[T]) -> T | None:
    """What `memo` would serve without building, or None."""
    try:
        value = _unpickle(_memo_path(what, sources, code).read_bytes())
    except Exception:  # missing, damaged, or pickled by other code
        return None
    return value if isinstance(value, kind) else None


def _unpickle(data: bytes) -> object:
    """pickle.loads with the cyclic garbage collector paused: all that is unpickled is
    kept, so the collections its many new objects set off find nothing to free (they
    took a fifth of unpickling the parsed entries)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return pickle.loads(data)
    finally:
        if enabled:
            gc.enable()


def _memo_path(what: str, sources: Sequence[Source], code: Sequence[Path]) -> Path:
    return home(what, sources) / f"{what}-{fingerprint(sources, code)}.pickle"


def fingerprint(sources: Sequence[Source], code: Sequence[Path] = ENTRY_CODE) -> str:
    """A short hash of kb's version, `code`'s mtimes and every entry file of `sources`."""
    h = sha256(f"kb {kb.__version__} schema 1\n".encode())
    for path in code:
        with contextlib.suppress(OSError):
            h.update(f"{path.stat().st_mtime_ns}\n".encode())
    for source in sources:
        h.update(f"{source.origin}\0{source.path}\0".encode())
        try:
            if source.path.is_file():
                st = source.path.stat()
                h.update(f"{st.st_size} {st.st_mtime_ns}\n".encode())
                continue
            st = source.path.stat()
            h.update(f"dir {st.st_mtime_ns}\n".encode())
            with os.scandir(source.path) as it:
                for e in sorted(it, key=lambda e: e.name):
                    if e.name.endswith(ENTRY_SUFFIXES):
                        fst = e.stat()
                        h.update(f"{e.name} {fst.st_size} {fst.st_mtime_ns}\n".encode())
        except OSError:
            h.update(b"missing\n")
    return h.hexdigest()[:24]


def home(what: str, sources: Sequence[Source], root: Path | None = None) -> Path:
    """The folder for `what` ("index", "entries") derived from this list of sources."""
    text = "\n".join(f"{s.origin}\0{s.path.resolve()}" for s in sources)
    key = sha256(text.encode()).hexdigest()[:16]
    return (root if root is not None else cache_dir().path / what) / key


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same folder, then rename."""
    import tempfile  # only when writing: a command served from the cache never needs it

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def discard(path: Path) -> None:
    """Move a damaged build out of the way first (atomic), then delete it."""
    aside = path.with_name(f"tmp-damaged-{os.getpid()}-{time.monotonic_ns()}")
    try:
        os.rename(path, aside)
    except OSError:
        return
    import shutil  # here and in prune: 2 ms that a search on a fresh index never needs

    shutil.rmtree(aside, ignore_errors=True)


def prune(folder: Path, keep: Path, older_than_s: float = 60.0) -> None:
    """Remove old builds and abandoned temporary files (best effort; a reader may still
    hold one, so only those untouched for a minute go)."""
    import shutil

    now = time.time()
    try:
        children = list(folder.iterdir())
    except OSError:
        return
    for child in children:
        if child == keep:
            continue
        try:
            if now - child.stat().st_mtime > older_than_s:
                if child.is_dir():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink()
        except OSError:
            pass
