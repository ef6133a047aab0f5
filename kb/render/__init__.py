"""Rendering: the only code that prints. Each submodule turns one kind of result
into rich text or JSON; `make_console` decides colour and width once."""

from __future__ import annotations

import io
import json
import os
import re
import sys
from typing import IO, Any

from rich.console import Console


def make_console(stderr: bool = False) -> Console:
    """A console that is plain when not a terminal and honours NO_COLOR."""
    stream = sys.stderr if stderr else sys.stdout
    tty = stream.isatty()
    no_color = bool(os.environ.get("NO_COLOR"))
    width = None
    if not tty:  # pipes and files: a fixed width (COLUMNS, else 100) so output is stable
        try:
            width = int(os.environ.get("COLUMNS", "100"))
        except ValueError:
            width = 100
    return Console(
        file=stream if tty else _TrimmedLines(stream),  # type: ignore[arg-type]
        force_terminal=tty if tty else False,
        no_color=no_color or not tty,
        highlight=False,
        width=width,
        emoji=False,
    )


def print_json(data: Any) -> None:
    """JSON on stdout, UTF-8 text as is (Chinese stays readable)."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


class _TrimmedLines(io.TextIOBase):
    """A text stream that drops the trailing spaces rich pads lines with: piped output and
    golden files stay clean."""

    _TRAILING = re.compile(r"[ \t]+(?=\n)")

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def write(self, text: str) -> int:  # type: ignore[override]
        self._stream.write(self._TRAILING.sub("", text))
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._stream, "encoding", "utf-8") or "utf-8"
