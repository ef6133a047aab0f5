"""One layout, two writers: what kb show and kb explain print, as blocks that either
kb.render.plain (a pipe: no rich) or rich (a terminal, or beyond plain's rules) writes.

Blocks: ("text", spans, indent) lines that fold, spans being (text, style) pairs;
("markdown", text); ("code", text, lang) a snippet's code; ("blank",).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kb.render import as_rich
from kb.render.plain import PlainConsole, markdown_lines, plain_text_ok, wrap

if TYPE_CHECKING:
    from rich.console import Console

Block = tuple[Any, ...]
BLANK: Block = ("blank",)


def text(*spans: tuple[str, str], indent: int = 0) -> Block:
    return ("text", spans, indent)


def write(console: Console | PlainConsole, blocks: list[Block]) -> None:
    """Plain lines when the stream is a pipe and every block is within kb.render.plain's
    rules, else rich."""
    if isinstance(console, PlainConsole):
        lines = plain_lines(blocks, console.width)
        if lines is not None:
            console.write_lines(lines)
            return
    rich_write(as_rich(console), blocks)


def plain_lines(blocks: list[Block], width: int) -> list[str] | None:
    """The blocks as rich prints them without colour, or None beyond plain's rules."""
    out: list[str] = []
    for block in blocks:
        kind = block[0]
        if kind == "blank":
            out.append("")
        elif kind == "markdown":
            lines = markdown_lines(block[1], width)
            if lines is None:
                return None
            out.extend(lines)
        elif kind == "code":
            code = block[1].rstrip()
            if not plain_text_ok(code):  # tabs included
                return None
            out.extend(wrap(code, width))
        else:
            _, spans, indent = block
            joined = "".join(t for t, _ in spans)
            if not plain_text_ok(joined) or width - indent < 2:
                return None
            out.extend(" " * indent + line for line in wrap(joined, width - indent))
    return out


def rich_write(console: Console, blocks: list[Block]) -> None:
    # rich, markdown-it and pygments only here: piped output within plain's rules never
    # loads them (issue 12)
    from rich.padding import Padding
    from rich.text import Text

    from kb.render.markup import KbMarkdown, code

    for block in blocks:
        kind = block[0]
        if kind == "blank":
            console.print()
        elif kind == "markdown":
            console.print(KbMarkdown(block[1]))
        elif kind == "code":
            console.print(code(console, block[1], block[2]))
        else:
            _, spans, indent = block
            line = Text()
            for part, style in spans:
                line.append(part, style=style)
            console.print(Padding(line, (0, 0, 0, indent)) if indent else line, overflow="fold")
