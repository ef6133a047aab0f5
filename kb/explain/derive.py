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
from typing import TYPE_CHECKING

from kb.explain.frames import Frame, line_names
from kb.explain.hints import HintError, Value, fill_template
from kb.explain.runtime import Recorded, Runtime
from kb.model import Entry
from kb.record import field, record

if TYPE_CHECKING:
    from kb.explain.graph_breaks import Registry
    from kb.explain.names import NameTable


def _load_table() -> NameTable:
    from kb.explain.names import load_table  # only for an entry with lookups

    return load_table()


@record
class Situation:
    """What kb knows beside the pasted text (all optional: a paste alone has none)."""

    frame: Frame | None = None  # the innermost frame of the user's own code
    runtime: Runtime | None = None  # what `--capture` recorded in the frame that failed
    paste: str = ""  # the pasted text, for derivers that read more of it than a pattern took
    # reads torch's graph-break registry when a deriver first asks; None: the installed
    # torch's (kb.explain.graph_breaks, imported only then: other explains pay nothing)
    graph_breaks: Callable[[], Registry | None] | None = None
    # the installed torch's names (kb.explain.names), read only when an entry's lookup
    # needs them: from the cache, else built once by a child process
    names: Callable[[], NameTable] = field(default=_load_table, compare=False)

    def runtime_at_frame(self) -> Runtime | None:
        """The recorded frame when it is the traceback's user frame (a DataLoader
        worker's traceback, say, is another frame: then nothing is known of it)."""
        return self.runtime if self.runtime is not None and self.runtime.at(self.frame) \
            else None


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


MAX_ON_DEVICE = 3  # names listed for one device


def runtime_captures(entry: Entry, captures: Mapping[str, Value],
                     situation: Situation) -> Mapping[str, Value]:
    """From a `--capture` run: `frame_arg_shape`/`_dtype`/`_device` (a tensor or array
    named `frame_arg`), `frame_call_repr`/`_type`/`_device` (a module named
    `frame_call`), and for each `dev_*` capture (a device the message names) `on_dev_*`:
    the recorded names on that device, the failing line's first (`labels, y`), or ""
    when none of them is (so a hint can say which side is not among the locals)."""
    runtime = situation.runtime_at_frame()
    if runtime is None:
        return {}
    out: dict[str, Value] = {}
    arg, call = captures.get("frame_arg"), captures.get("frame_call")
    found = runtime.get(arg) if isinstance(arg, str) else None
    if found is not None and found.shape is not None:
        out["frame_arg_shape"] = list(found.shape)
        out["frame_arg_dtype"] = found.dtype
        if found.device:
            out["frame_arg_device"] = found.device
    found = runtime.get(call) if isinstance(call, str) else None
    if found is not None and found.kind == "module":
        out["frame_call_repr"] = found.repr
        out["frame_call_type"] = found.type
        if found.device:
            out["frame_call_device"] = found.device
    for name, device in captures.items():
        if name.startswith("dev_") and isinstance(device, str) and device:
            out[f"on_{name}"] = _on_device(runtime.values, device)
    return out


def _on_device(values: tuple[Recorded, ...], device: str) -> str:
    """`logits, model`: the recorded names on `device` (`cuda` is any cuda:N), those on
    the failing line if there are any, at most MAX_ON_DEVICE."""
    def on(v: Recorded) -> bool:
        return v.device == device or (":" not in device and v.device.split(":")[0] == device)

    found = [v for v in values if v.device and on(v)]
    named = [v for v in found if v.on_line] or found
    shown = [v.name for v in named[:MAX_ON_DEVICE]]
    return ", ".join(shown) + (", ..." if len(named) > MAX_ON_DEVICE else "")




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


DERIVERS: tuple[Deriver, ...] = (frame_captures, runtime_captures, graph_break_captures,
                                 lookup_captures)


def derive(entry: Entry, captures: Mapping[str, Value], situation: Situation) -> dict[str, Value]:
    """`captures` and everything the derivers add to them, first deriver first."""
    out = dict(captures)
    for deriver in DERIVERS:
        for name, value in deriver(entry, out, situation).items():
            out.setdefault(name, value)
    return out
