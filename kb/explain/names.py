"""Did-you-mean for torch names and keywords: CPython's suggestion, over the installed torch.

`suggestion` is the interpreter's own choice of a close name (Python/suggestions.c,
what a 3.11+ traceback prints as "Did you mean: 'x'?"), written again here:
a Levenshtein distance where a case flip costs CASE_COST and any other edit
MOVE_COST, no more than a third of the characters involved may change, and of names
at the best distance the first wins. Lib/traceback.py has a pure-Python copy used
only when the C helper is missing; it starts the best distance at len(name) where
the C code starts unbounded (it rejects 'ac' for 'ab'), and kb follows the C code,
which is what users see.

CPython stays silent where kb most needs it: a namespace of MAX_CANDIDATE_ITEMS names
or more gets no suggestion (dir(torch) has ~1,500; a tensor's dir(), 749 in torch 2.13,
is at the edge), and torch's module __getattr__ drops the hint anyway; a paste from
Python 3.9 or older has none at all. `closest` lifts that cap only (the
cap bounds the interpreter's work while printing a traceback; kb looks up one name per
explained error), hides underscored names unless the name typed has one (as 3.12+
does), and lets out-of-place names win ties with torch's in-place ones (`zeros`
before `zero_` for `zero`).

The names come from the installed torch through `names_probe.py`, run as a child
process (kb never imports torch), cached as JSON under the cache dir and keyed by
where torch is and the stat of its __init__.py and version.py, found without
importing it. No torch installed: an empty table, and hints that need it are skipped.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import kb
from kb import cache
from kb.paths import cache_dir
from kb.record import field, record

MOVE_COST = 2
CASE_COST = 1
MAX_CANDIDATE_ITEMS = 750
MAX_STRING_SIZE = 40

PROBE = Path(__file__).with_name("names_probe.py")
PROBE_TIMEOUT_S = 120.0


# ---------------------------------------------------------------- the suggestion


def distance(a: str, b: str, max_cost: int) -> int:
    """The weighted edit distance of `a` and `b`, or `max_cost + 1` once it exceeds
    `max_cost` (then the exact value does not matter) or when either string, less
    their common prefix and suffix, is longer than MAX_STRING_SIZE."""
    if a == b:
        return 0
    start = 0
    while start < len(a) and start < len(b) and a[start] == b[start]:
        start += 1
    a, b = a[start:], b[start:]
    end = 0
    while end < len(a) and end < len(b) and a[-1 - end] == b[-1 - end]:
        end += 1
    a, b = a[:len(a) - end], b[:len(b) - end]
    if not a or not b:
        return (len(a) + len(b)) * MOVE_COST
    if len(a) > MAX_STRING_SIZE or len(b) > MAX_STRING_SIZE:
        return max_cost + 1
    if len(b) < len(a):
        a, b = b, a
    if (len(b) - len(a)) * MOVE_COST > max_cost:
        return max_cost + 1
    # one row of the table: row[i] = cost(b[:j], a[:i + 1])
    row = [(i + 1) * MOVE_COST for i in range(len(a))]
    result = 0
    for j, bchar in enumerate(b):
        diagonal = result = j * MOVE_COST
        smallest = max_cost + 1
        for i, achar in enumerate(a):
            substitute = diagonal + _substitution_cost(achar, bchar)
            diagonal = row[i]
            result = min(min(result, diagonal) + MOVE_COST, substitute)
            row[i] = result
            smallest = min(smallest, result)
        if smallest > max_cost:
            return max_cost + 1
    return result


def _substitution_cost(a: str, b: str) -> int:
    if a == b:
        return 0
    return CASE_COST if a.lower() == b.lower() else MOVE_COST


def suggestion(name: str, candidates: Sequence[str], *,
               max_candidates: int | None = MAX_CANDIDATE_ITEMS) -> str | None:
    """The candidate CPython would suggest for `name`, first of the closest in the order
    given; None when none is close enough, or when there are `max_candidates` or more
    (None: no such limit)."""
    if max_candidates is not None and len(candidates) >= max_candidates:
        return None
    best: str | None = None
    best_distance = sys.maxsize
    for candidate in candidates:
        if candidate == name:
            continue
        # no more than a third of the characters involved may change, and only a
        # candidate closer than the best so far can win
        max_distance = min((len(name) + len(candidate) + 3) * MOVE_COST // 6, best_distance - 1)
        d = distance(name, candidate, max_distance)
        if d <= max_distance and (best is None or d < best_distance):
            best, best_distance = candidate, d
    return best


def closest(name: str, candidates: Iterable[str]) -> str | None:
    """The suggestion for `name` among a namespace's names (see the module docstring:
    no cap on their number, underscored names hidden, in-place names last on ties)."""
    shown = [c for c in candidates if name.startswith("_") or not c.startswith("_")]
    if not name.endswith("_"):
        shown.sort(key=lambda c: c.endswith("_"))  # stable: sorted order otherwise kept
    return suggestion(name, shown, max_candidates=None)


# ---------------------------------------------------------------- keywords in a message

# ` * (a, b)`: a signature, whose parameters may hold one level of brackets (`(1, 1)`)
_SIGNATURE = re.compile(r"\* \(((?:[^()\n]|\([^()\n]*\))*)\)")
_PARAMETER_NAME = re.compile(r"(\w+)$")
_KEYWORD_GIVEN = re.compile(r"(?:^|,\s*)(\w+)=")


def signature_keywords(signatures: str) -> tuple[str, ...]:
    """The parameter names in the ` * (type name = default, ...)` lines torch lists under
    "received an invalid combination of arguments", in order, each once."""
    out: dict[str, None] = {}
    for m in _SIGNATURE.finditer(signatures):
        for param in _split_params(m.group(1)):
            # `torch.dtype dtype = None`: the last word before the default
            found = _PARAMETER_NAME.search(param.split("=", 1)[0].strip())
            if found:
                out.setdefault(found.group(1))
    return tuple(out)


def given_keywords(got: str) -> tuple[str, ...]:
    """The keyword names in torch's `got (int, dtpye=torch.dtype)`, in order."""
    return tuple(m.group(1) for m in _KEYWORD_GIVEN.finditer(got))


def _split_params(text: str) -> list[str]:
    """`text` split at the commas outside brackets (`tuple of ints size`, `(int, int) x`)."""
    parts, depth, start = [], 0, 0
    for i, c in enumerate(text):
        depth += 1 if c in "([{" else -1 if c in ")]}" else 0
        if c == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


# ---------------------------------------------------------------- the table


@record
class NameTable:
    """The names of the installed torch (empty when there is none, or it failed)."""

    attributes: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    parameters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    torch: str = ""  # "2.13.0+cpu at /path/torch/__init__.py"

    @classmethod
    def from_json(cls, data: object) -> NameTable:
        if not isinstance(data, dict):
            raise ValueError("the name table is not a JSON object")
        about = data.get("torch") or {}
        return cls(_names(data.get("attributes")), _names(data.get("parameters")),
                   f"{about.get('version', '?')} at {about.get('file', '?')}")


def _names(raw: object) -> dict[str, tuple[str, ...]]:
    if not isinstance(raw, dict):
        raise ValueError("the name table is not a mapping of names")
    return {str(k): tuple(str(n) for n in v) for k, v in raw.items() if isinstance(v, list)}


def torch_key() -> str | None:
    """What the table depends on, read without importing torch: the interpreter, where
    torch is, and the size and mtime of its __init__.py and version.py (which a
    reinstall rewrites); None when this interpreter has no torch."""
    try:
        spec = importlib.util.find_spec("torch")  # a top-level name: nothing is imported
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not spec.origin.endswith("__init__.py"):
        return None  # no torch, or a torch.py / folder of the user's: no real names
    root = Path(spec.origin).parent
    parts = [kb.__version__, sys.executable, str(root)]
    for path in (root / "__init__.py", root / "version.py", PROBE):
        try:
            st = path.stat()
        except OSError:
            return None
        parts.append(f"{path.name} {st.st_size} {st.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


def table_path(key: str) -> Path:
    return cache_dir().path / "names" / f"names-{key}.json"


def cached_table(key: str | None = None) -> NameTable | None:
    """The table on disk for the installed torch, if it was built; None if not."""
    key = key or torch_key()
    if key is None:
        return NameTable()
    try:
        return NameTable.from_json(json.loads(table_path(key).read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None


def load_table() -> NameTable:
    """The installed torch's names: from the cache, else built now (a few seconds, once
    per torch install); empty when there is no torch or the probe fails."""
    key = torch_key()
    if key is None:
        return NameTable()
    table = cached_table(key)
    return table if table is not None else build_table(key)


def build_table(key: str) -> NameTable:
    """Run the probe in a child process and cache what it prints (best effort)."""
    import subprocess  # only here and in prepare_table: explain rarely builds

    try:
        run = subprocess.run([sys.executable, str(PROBE)], capture_output=True,
                             timeout=PROBE_TIMEOUT_S, check=True, stdin=subprocess.DEVNULL,
                             env={**os.environ, "PYTHONWARNINGS": "ignore"})
        table = NameTable.from_json(json.loads(run.stdout))
    except (OSError, subprocess.SubprocessError, ValueError):
        return NameTable()  # torch that cannot be imported: no names, hints skipped
    path = table_path(key)
    with contextlib.suppress(OSError):
        cache.write_atomic(path, run.stdout)
        cache.prune(path.parent, keep=path)
    return table


def prepare_table() -> None:
    """Start building the table in the background unless the cache has it for the
    installed torch: the index build calls this, so that explain finds it ready without
    making the search that rebuilt the index wait for torch to import."""
    import subprocess

    key = torch_key()
    if key is None or cached_table(key) is not None:
        return
    with contextlib.suppress(OSError):
        # its own session: it outlives a `kb search` that ends first, and a Ctrl-C
        # there does not kill it half-way (it writes through a rename either way)
        subprocess.Popen([sys.executable, str(PROBE), "--out", str(table_path(key))],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True,
                         env={**os.environ, "PYTHONWARNINGS": "ignore"})
