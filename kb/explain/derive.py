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
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kb.explain.frames import Frame, line_names
from kb.explain.hints import Value
from kb.model import Entry

if TYPE_CHECKING:
    from kb.explain.graph_breaks import Registry


@dataclass(frozen=True)
class Situation:
    """What kb knows beside the pasted text (all optional: a paste alone has none)."""

    frame: Frame | None = None  # the innermost frame of the user's own code
    paste: str = ""  # the pasted text, for derivers that read more of it than a pattern took
    # reads torch's graph-break registry when a deriver first asks; None: the installed
    # torch's (kb.explain.graph_breaks, imported only then: other explains pay nothing)
    graph_breaks: Callable[[], Registry | None] | None = None


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


def graph_break_captures(entry: Entry, captures: Mapping[str, Value],
                         situation: Situation) -> Mapping[str, Value]:
    """`gb_id`, `gb_registry_type`, `gb_explanation`, `gb_hints` from torch's registry, for
    a match whose pattern captured a graph break (`gb_type`, `gb_page`...): no other
    explain reads the registry."""
    if not any(name.startswith("gb_") for name in captures):
        return {}
    from kb.explain import graph_breaks

    reader = situation.graph_breaks or graph_breaks.installed_registry
    return graph_breaks.captures(captures, situation.paste, reader)


DERIVERS: tuple[Deriver, ...] = (frame_captures, graph_break_captures)


def derive(entry: Entry, captures: Mapping[str, Value], situation: Situation) -> dict[str, Value]:
    """`captures` and everything the derivers add to them, first deriver first."""
    out = dict(captures)
    for deriver in DERIVERS:
        for name, value in deriver(entry, out, situation).items():
            out.setdefault(name, value)
    return out
