"""Captures the message does not print but kb can work out, added before hints are filled.

A pattern captures what the message says (`attr`, `module`, `input`). A deriver adds
what follows from it and from what kb knows beside the message: the user's own frame
in the traceback and the names on its line (`frame_*`, kb.explain.frames), and
whatever the `Situation` brings (the names in the installed torch, the shapes a
`--capture` run recorded). Each deriver reads the entry, the captures so far and the
situation, and returns new captures only: a value the message gave is never
overwritten. A hint that names a capture no deriver supplied is skipped, as for any
capture the pattern did not make, so hints declare what they use by naming it.
"""

from __future__ import annotations

import importlib.machinery
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kb.explain.frames import Frame, line_names
from kb.explain.hints import HintError, Value, fill_template
from kb.model import Entry

if TYPE_CHECKING:
    from kb.explain.names import NameTable


def _load_table() -> NameTable:
    from kb.explain.names import load_table  # only for an entry with lookups

    return load_table()


@dataclass(frozen=True)
class Situation:
    """What kb knows beside the pasted text (all optional: a paste alone has none)."""

    frame: Frame | None = None  # the innermost frame of the user's own code
    # the installed torch's names (kb.explain.names), read only when an entry's lookup
    # needs them: from the cache, else built once by a child process
    names: Callable[[], NameTable] = field(default=_load_table, compare=False)


Deriver = Callable[[Entry, Mapping[str, Value], Situation], Mapping[str, Value]]


def frame_captures(entry: Entry, captures: Mapping[str, Value],
                   situation: Situation) -> Mapping[str, Value]:
    """`frame_file`, `frame_line`, and the names on the line (kb.explain.frames.line_names)."""
    frame = situation.frame
    if frame is None:
        return {}
    out: dict[str, Value] = {"frame_file": frame.path, "frame_line": frame.line}
    out.update(line_names(frame))
    return out


def lookup_captures(entry: Entry, captures: Mapping[str, Value],
                    situation: Situation) -> Mapping[str, Value]:
    """Each of the entry's lookups (kb.model.Lookup): the closest name, as `gives`."""
    if not entry.lookups:
        return {}
    from kb.explain.names import closest, given_keywords, signature_keywords

    out: dict[str, Value] = {}
    table: NameTable | None = None
    for lookup in entry.lookups:
        typed, of = captures.get(lookup.name), _filled(lookup.of, captures)
        if not isinstance(typed, str) or of is None or lookup.unless in captures:
            continue
        if lookup.among == "files":
            shadow = shadowing_file(typed, of)
            if shadow is not None:
                out.setdefault(lookup.gives, shadow)
            continue
        if lookup.among == "signatures":
            accepted = signature_keywords(of)
            wrong = next((k for k in given_keywords(typed) if k not in accepted), None)
            if wrong is None:
                continue
            found = closest(wrong, accepted)
            if found is not None:
                out.setdefault(lookup.gives, found)
                out.setdefault(lookup.wrong, wrong)
            continue
        table = table or situation.names()
        names = (table.attributes if lookup.among == "attributes" else table.parameters).get(of)
        # a name the namespace has is not misspelt (a shadowing torch.py lacks it)
        found = closest(typed, names) if names and typed not in names else None
        if found is not None:
            out.setdefault(lookup.gives, found)
            if lookup.wrong:
                out.setdefault(lookup.wrong, typed)
    return out


def shadowing_file(path: str, module: str) -> str | None:
    """`path` when it is a file of the user's that shadows `module`: named like it
    (`timeit.py`, `torch/__init__.py`), outside site-packages and the standard library,
    with `module` also a standard or installed module (else nothing is shadowed: the
    user's own module just lacks the name)."""
    parts = [p for p in re.split(r"[\\/]", path.strip()) if p]
    top = module.split(".")[0]
    if len(parts) < 2 or not Frame(path, 0, "", "").user or not library_module(top):
        return None
    named = parts[-1] == f"{module.split('.')[-1]}.py" or (
        parts[-1] == "__init__.py" and parts[-2] == module.split(".")[-1])
    return path.strip() if named else None


def library_module(name: str) -> bool:
    """Whether `name` is a standard module or one installed in site-packages (found
    without importing it: the interpreter kb runs in is, as a rule, the user's)."""
    if name in sys.stdlib_module_names:
        return True
    site = [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))]
    try:
        return importlib.machinery.PathFinder.find_spec(name, site) is not None
    except (ImportError, ValueError):
        return False


def _filled(template: str, captures: Mapping[str, Value]) -> str | None:
    try:
        return fill_template(template, captures)
    except HintError:  # it reads a capture this match did not make
        return None


DERIVERS: tuple[Deriver, ...] = (frame_captures, lookup_captures)


def derive(entry: Entry, captures: Mapping[str, Value], situation: Situation) -> dict[str, Value]:
    """`captures` and everything the derivers add to them, first deriver first."""
    out = dict(captures)
    for deriver in DERIVERS:
        for name, value in deriver(entry, out, situation).items():
            out.setdefault(name, value)
    return out
