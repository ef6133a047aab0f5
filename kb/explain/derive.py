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

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from kb.explain.frames import Frame, line_names
from kb.explain.hints import HintError, Value, fill_template
from kb.explain.names import (
    NameTable,
    closest,
    given_keywords,
    load_table,
    signature_keywords,
)
from kb.model import Entry


@dataclass(frozen=True)
class Situation:
    """What kb knows beside the pasted text (all optional: a paste alone has none)."""

    frame: Frame | None = None  # the innermost frame of the user's own code
    # the installed torch's names (kb.explain.names), read only when an entry's lookup
    # needs them: from the cache, else built once by a child process
    names: Callable[[], NameTable] = field(default=load_table, compare=False)


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
    out: dict[str, Value] = {}
    table: NameTable | None = None
    for lookup in entry.lookups:
        typed, of = captures.get(lookup.name), _filled(lookup.of, captures)
        if not isinstance(typed, str) or of is None or lookup.unless in captures:
            continue
        if lookup.among == "signatures":
            accepted = signature_keywords(of)
            wrong = next((k for k in given_keywords(typed) if k not in accepted), None)
            if wrong is None:
                continue
            found = closest(wrong, accepted)
            if found is not None:
                out[lookup.gives] = found
                out[lookup.wrong] = wrong
            continue
        table = table or situation.names()
        names = (table.attributes if lookup.among == "attributes" else table.parameters).get(of)
        found = closest(typed, names) if names else None
        if found is not None:
            out[lookup.gives] = found
            if lookup.wrong:
                out[lookup.wrong] = typed
    return out


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
