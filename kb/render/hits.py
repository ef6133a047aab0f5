"""Search hits and entry lists -> text or JSON.

On a terminal the grid is drawn by rich (colours, the terminal's width); piped, by
kb.render.plain, which lays it out the same way without importing rich.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from kb.model import Hit
from kb.render import as_rich
from kb.render.plain import PlainConsole, grid_lines, plain_text_ok

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

KIND_STYLE = {"command": "green", "api": "cyan", "concept": "blue", "error": "red"}
_MARK_RE = re.compile(r"\[\[(.+?)\]\]")


def hit_json(hit: Hit) -> dict[str, Any]:
    return {"id": hit.id, "kind": hit.kind, "title": hit.title, "score": hit.score,
            "summary": hit.summary, "excerpt": unmarked(hit.excerpt)}


def unmarked(text: str) -> str:
    """Excerpt text without its [[match]] marks."""
    return _MARK_RE.sub(r"\1", text)


def marked(text: str) -> Text:
    """Excerpt text with [[matches]] in bold."""
    from rich.text import Text

    out = Text()
    pos = 0
    for m in _MARK_RE.finditer(text):
        out.append(text[pos : m.start()])
        out.append(m.group(1), style="bold yellow")
        pos = m.end()
    out.append(text[pos:])
    return out


def hit_rows(hits: list[Hit], excerpts: bool) -> list[tuple[Hit, str]]:
    """Each hit, and the excerpt shown under its title ("" for none)."""
    return [(hit, (hit.excerpt or hit.summary) if excerpts else "") for hit in hits]


def render_hits(console: Console | PlainConsole, hits: list[Hit], *,
                excerpts: bool = True) -> None:
    """A grid: id, kind, title (wrapping in its own column), the excerpt under the title."""
    if not hits:
        return
    rows = hit_rows(hits, excerpts)
    if isinstance(console, PlainConsole):
        cells: list[tuple[str, str, str]] = []
        for hit, excerpt in rows:
            cells.append((hit.id, hit.kind, hit.title))
            if excerpt:
                cells.append(("", "", unmarked(excerpt)))
        if all(plain_text_ok(text) for row in cells for text in row):
            lines = grid_lines(cells, console.width)
            if lines is not None:
                console.write_lines(lines)
                return
    _render_rich_grid(as_rich(console), rows)


def _render_rich_grid(console: Console, rows: list[tuple[Hit, str]]) -> None:
    from rich.table import Table
    from rich.text import Text

    grid = Table.grid(padding=(0, 2))
    grid.add_column(no_wrap=True, style="bold")
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    for hit, excerpt in rows:
        # Text, never str: a title like "np.eye(C)[labels]" is not rich markup.
        grid.add_row(Text(hit.id), Text(hit.kind, style=KIND_STYLE.get(hit.kind, "")),
                     Text(hit.title))
        if excerpt:
            text = marked(excerpt)
            text.stylize("dim")
            grid.add_row("", "", text)
    console.print(grid)
