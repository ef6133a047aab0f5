"""Rendering: the only code that prints. Each submodule turns one kind of result
into rich text or JSON; `make_console` decides colour and width once.

rich is imported only for what needs it: a piped `kb search` prints through
kb.render.plain instead (issue 12: rich costs ~35 ms of a ~100 ms command).
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from kb.render.plain import PlainConsole, rich_console

if TYPE_CHECKING:
    from rich.console import Console


def make_console(stderr: bool = False) -> Console:
    """A console that is plain when not a terminal and honours NO_COLOR."""
    stream = sys.stderr if stderr else sys.stdout
    return rich_console(stream, None if stream.isatty() else fixed_width())


def make_output(stderr: bool = False) -> Console | PlainConsole:
    """`make_console`, or a PlainConsole (no rich) when the stream is not a terminal: for
    output that kb.render.plain can lay out (search hits, entry lists, messages)."""
    stream = sys.stderr if stderr else sys.stdout
    if stream.isatty():
        return make_console(stderr)
    return PlainConsole(stream, fixed_width())


def fixed_width() -> int:
    """Pipes and files: a fixed width (COLUMNS, else 100) so output is stable."""
    try:
        return int(os.environ.get("COLUMNS", "100"))
    except ValueError:
        return 100


def as_rich(console: Console | PlainConsole) -> Console:
    """The rich console for output that only rich can lay out."""
    if isinstance(console, PlainConsole):
        return rich_console(console.file, console.width)
    return console


def print_json(data: Any) -> None:
    """JSON on stdout, UTF-8 text as is (Chinese stays readable)."""
    import json  # only for --json: a piped `kb show` or `kb explain` never needs it

    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
