"""Plain text for pipes and files, without importing rich (~35 ms of every `kb search`).

When stdout is not a terminal, kb prints no colour and a fixed width (kb.render), so
rich's output is plain text laid out by a few rules: words wrapped at spaces, words
longer than a line folded, wide (CJK) characters two cells, the grid's columns sized
to their widest cell. This module follows those rules for the two things `kb search`
prints (a grid of hits, one-line messages), so a piped search never loads rich.
tests/test_render_plain.py renders the whole knowledge base both ways and compares.
"""

from __future__ import annotations

import io
import itertools
import os
import re
import unicodedata
from collections.abc import Sequence
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

_WORD = re.compile(r"\s*\S+\s*")
_TRAILING = re.compile(r"[ \t]+(?=\n)")


def cell_len(text: str) -> int:
    """Terminal cells of `text`: East Asian wide and full-width characters take two."""
    if text.isascii():
        return len(text)
    return sum(_char_cells(c) for c in text)


def _char_cells(char: str) -> int:
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in "WF" else 1


def plain_text_ok(text: str) -> bool:
    """Text these rules lay out as rich does: no tabs, control or zero-width characters."""
    return all(c == "\n" or c.isprintable() for c in text)


def _chop(word: str, width: int) -> list[str]:
    """A word too long for any line, in pieces of at most `width` cells."""
    lines: list[str] = [""]
    used = 0
    for char in word:
        size = _char_cells(char)
        if used + size > width:
            lines.append(char)
            used = size
        else:
            lines[-1] += char
            used += size
    return lines


def wrap(text: str, width: int) -> list[str]:
    """`text` wrapped to `width` cells, as rich wraps Text with overflow 'fold'."""
    out: list[str] = []
    for line in text.split("\n"):
        breaks: list[int] = []
        offset = 0
        for match in _WORD.finditer(line):
            start, word = match.start(), match.group()
            length = cell_len(word.rstrip())
            if width - offset >= length:
                offset += cell_len(word)
            elif length > width:
                pieces = _chop(word, width)
                for i, piece in enumerate(pieces):
                    if start:
                        breaks.append(start)
                    if i == len(pieces) - 1:
                        offset = cell_len(piece)
                    else:
                        start += len(piece)
            elif offset and start:
                breaks.append(start)
                offset = cell_len(word)
        bounds = [0, *breaks, len(line)]
        out.extend(line[a:b] for a, b in itertools.pairwise(bounds))
    return [_fit(line, width) for line in out]


def _fit(line: str, width: int) -> str:
    """Trailing spaces beyond the width go, as rich's rstrip_end and truncate do."""
    while cell_len(line) > width and line.endswith(" "):
        line = line[:-1]
    return line


class PlainConsole:
    """What the search path asks of a console, for a stream that is not a terminal."""

    def __init__(self, stream: IO[str], width: int) -> None:
        self.file = stream
        self.width = width

    def print(self, text: str = "", *args: Any, **kwargs: Any) -> None:
        """One message, wrapped to the width (style and markup options do not apply)."""
        if self.width < 2 or not plain_text_ok(text):  # beyond these rules: let rich do it
            rich_console(self.file, self.width).print(text, *args, **kwargs)
        else:
            self.write_lines(wrap(text, self.width))

    def write_lines(self, lines: Sequence[str]) -> None:
        self.file.write(_TRAILING.sub("", "".join(f"{line}\n" for line in lines)))


def grid_lines(rows: Sequence[Sequence[str]], width: int, gap: int = 2) -> list[str] | None:
    """Rows of cells as rich's Table.grid(padding=(0, gap)) lays them out when every
    column but the last is no_wrap and the last folds; None when the last column would
    be too narrow for these rules (the caller then lets rich lay it out)."""
    if not rows:
        return []
    columns = len(rows[0])
    fixed = [max(max((cell_len(line) for line in row[i].split("\n")), default=0)
                 for row in rows) + gap for i in range(columns - 1)]
    last = min(width, max(max((cell_len(line) for line in row[-1].split("\n")), default=0)
                          for row in rows))
    if sum(fixed) + last > width:
        last = width - sum(fixed)
    if last < 2 or any(w > width for w in fixed):  # 2: a wide character must fit
        return None
    out: list[str] = []
    for row in rows:
        cells = [[line.ljust(w - gap - cell_len(line) + len(line)) + " " * gap
                  for line in row[i].split("\n")] for i, w in enumerate(fixed)]
        cells.append(wrap(row[-1], last))
        height = max(len(c) for c in cells)
        for n in range(height):
            parts = [c[n] if n < len(c) else " " * fixed[i] for i, c in enumerate(cells[:-1])]
            parts.append(cells[-1][n] if n < len(cells[-1]) else "")
            out.append("".join(parts))
    return out


def rich_console(stream: IO[str], width: int | None) -> Console:
    """A terminal's console (width None: the terminal's), or a plain one at `width`."""
    from rich.console import Console

    tty = width is None
    return Console(
        file=stream if tty else TrimmedLines(stream),  # type: ignore[arg-type]
        force_terminal=tty if tty else False,
        no_color=bool(os.environ.get("NO_COLOR")) or not tty,
        highlight=False,
        width=width,
        emoji=False,
    )


class TrimmedLines(io.TextIOBase):
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


# ---------------------------------------------------------------- Markdown

# What rich's Markdown prints without colour, for the subset entries are written in:
# paragraphs, `-` and `1.` lists one level deep, ``` fences, `code` and **bold**.
# Anything else (headings, links, quotes, tables, emphasis with * or _, escapes, HTML)
# returns None and rich lays it out. tests/test_render_plain.py compares both.
_FENCE = re.compile(r"```[\w+-]*")
_BULLET = re.compile(r"- (?=\S)")
_NUMBER = re.compile(r"(\d{1,3})\. (?=\S)")
_CODE_SPAN = re.compile(r"`([^`\n]+)`")
_BOLD = re.compile(r"\*\*(?=\S)([^*\n]+?)(?<=\S)\*\*")
_NOT_PLAIN = re.compile(r"[\\<>&*`|~#]|\]\(|\]\[|(?<!\w)_|_(?!\w)|^\s*\[[^\]]*\]:|^\s*\+ ")


def _inline(text: str) -> str | None:
    """A paragraph's text as rich prints it: code spans and bold lose their marks; None
    when the text outside code spans has any other Markdown."""
    out: list[str] = []
    last = 0
    for m in [*_CODE_SPAN.finditer(text), None]:
        prose = _BOLD.sub(r"\1", text[last:m.start() if m else len(text)])
        if _NOT_PLAIN.search(prose):
            return None
        out.append(prose)
        if m is None:
            break
        code = m.group(1)
        if code.startswith(" ") or code.endswith(" "):
            return None  # markdown-it strips one space each side
        out.append(code)
        last = m.end()
    joined = "".join(out)
    return joined if plain_text_ok(joined) else None


def _blocks(text: str) -> list[tuple[str, list[str]]] | None:
    """("p" | "ul" | "ol" | "code", texts) blocks, or None beyond the subset."""
    lines = text.strip("\n").split("\n")
    blocks: list[tuple[str, list[str]]] = []
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        found = _fence(lines, i) if lines[i].startswith("```") else _run(lines, i)
        if found is None:
            return None
        block, i = found
        if blocks and block[0] in ("ul", "ol") and blocks[-1][0] == block[0]:
            # blank lines between items of one list (blocks of the same kind next to each
            # other were parted by blank lines: anything else would stand between them)
            blocks[-1][1].extend(block[1])
            continue
        blocks.append(block)
    return blocks


def _fence(lines: list[str], i: int) -> tuple[tuple[str, list[str]], int] | None:
    if not _FENCE.fullmatch(lines[i]):
        return None
    end = next((j for j in range(i + 1, len(lines)) if lines[j] == "```"), None)
    return None if end is None else (("code", lines[i + 1:end]), end + 1)


def _marker(line: str) -> tuple[str, int] | None:
    """("ul" | "ol", where the item's text starts) for a list item's first line."""
    bullet = _BULLET.match(line)
    if bullet:
        return "ul", bullet.end()
    number = _NUMBER.match(line)
    return ("ol", number.end()) if number else None


def _run(lines: list[str], i: int) -> tuple[tuple[str, list[str]], int] | None:
    """A paragraph or a list, up to the next blank line (a list or a fence also ends a
    paragraph)."""
    if lines[i].startswith((" ", "\t")):
        return None  # an indented code block or a nested item
    first = _marker(lines[i])
    kind = first[0] if first else "p"
    if kind == "ol" and not lines[i].startswith("1. "):
        return None  # rich numbers from 1
    items: list[str] = []
    while i < len(lines) and lines[i].strip():
        line = lines[i]
        marker = _marker(line)
        if kind == "p" and (marker or line.startswith("```")):
            break
        if kind != "p" and marker and marker[0] == kind:
            items.append(line[marker[1]:])
        elif kind != "p" and (marker or line.lstrip().startswith(("- ", "```"))):
            return None  # another kind of list, or a nested one
        else:
            items[-1:] = [f"{items[-1] if items else ''} {line.strip()}".strip()]
        i += 1
    return (kind, items), i


def markdown_lines(text: str, width: int) -> list[str] | None:
    """`text` as rich's Markdown prints it at `width` without colour (trailing spaces
    dropped), or None when it uses Markdown beyond the subset above."""
    blocks = _blocks(text)
    if blocks is None or width < 8:
        return None
    out: list[str] = []
    for n, (kind, texts) in enumerate(blocks):
        if n or kind in ("ul", "ol"):
            out.append("")
        if kind == "code":
            if not all(plain_text_ok(line) for line in texts):
                return None
            while texts and not texts[-1].strip():
                texts = texts[:-1]
            out.append("")  # rich pads code by one line and one column
            out.extend(f" {part}" for line in texts for part in wrap(line, width - 2))
            out.append("")
            continue
        inline = [_inline(t) for t in texts]
        if any(t is None for t in inline):
            return None
        if kind == "p":
            out.extend(wrap(inline[0] or "", width))
            continue
        digits = len(str(len(inline))) + 2 if kind == "ol" else 3
        for number, item in enumerate(inline, 1):
            head = f"{number}".rjust(digits - 1) + " " if kind == "ol" else " • "
            for k, line in enumerate(wrap(item or "", width - digits)):
                out.append((head if k == 0 else " " * digits) + line)
    return [line.rstrip() for line in out]
