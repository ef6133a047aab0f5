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

from kb.explain.frames import Frame, line_names
from kb.explain.hints import Value
from kb.model import Entry


@dataclass(frozen=True)
class Situation:
    """What kb knows beside the pasted text (all optional: a paste alone has none)."""

    frame: Frame | None = None  # the innermost frame of the user's own code


Deriver = Callable[[Entry, Mapping[str, Value], Situation], Mapping[str, Value]]


def frame_captures(entry: Entry, captures: Mapping[str, Value],
                   situation: Situation) -> Mapping[str, Value]:
    """`frame_file`, `frame_line`, `frame_layer` (the torch.nn file the line's call
    reached: "linear", "conv"), and the names on the line (kb.explain.frames.line_names)."""
    frame = situation.frame
    if frame is None:
        return {}
    out: dict[str, Value] = {"frame_file": frame.path, "frame_line": frame.line}
    if frame.layer:
        out["frame_layer"] = frame.layer
    out.update(line_names(frame))
    return out


DERIVERS: tuple[Deriver, ...] = (frame_captures,)


def derive(entry: Entry, captures: Mapping[str, Value], situation: Situation) -> dict[str, Value]:
    """`captures` and everything the derivers add to them, first deriver first."""
    out = dict(captures)
    for deriver in DERIVERS:
        for name, value in deriver(entry, out, situation).items():
            out.setdefault(name, value)
    return out
