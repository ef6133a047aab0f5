"""The plain writer (piped output, no rich) prints exactly what rich prints."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from kb.loader import load_entries
from kb.model import Hit
from kb.render.hits import _render_rich_grid, hit_rows, render_hits
from kb.render.plain import PlainConsole, TrimmedLines, cell_len, wrap

WIDTHS = (100, 80, 52, 30)


def rich_output(width: int, draw) -> str:
    out = io.StringIO()
    console = Console(file=TrimmedLines(out), force_terminal=False, no_color=True,
                      highlight=False, width=width, emoji=False)
    draw(console)
    return out.getvalue()


def plain_output(width: int, draw) -> str:
    out = io.StringIO()
    draw(PlainConsole(out, width))
    return out.getvalue()


def builtin_hits(lang: str) -> list[Hit]:
    hits = []
    for entry in sorted(load_entries().entries.values(), key=lambda e: e.id):
        summary = entry.text("summary", lang)
        words = summary.split()
        excerpt = " ".join(f"[[{w}]]" if i % 5 == 0 else w for i, w in enumerate(words))
        hits.append(Hit(entry.id, entry.kind, entry.text("title", lang), 1.0, excerpt, summary))
    return hits


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_builtin_entry_as_a_hit_prints_the_same(width: int, lang: str) -> None:
    hits = builtin_hits(lang)
    for chunk in range(0, len(hits), 7):  # column widths depend on the hits shown together
        some = hits[chunk : chunk + 7]
        for excerpts in (True, False):
            want = rich_output(width, lambda c, s=some, e=excerpts:
                               _render_rich_grid(c, hit_rows(s, e)))
            got = plain_output(width, lambda c, s=some, e=excerpts:
                               render_hits(c, s, excerpts=e))
            assert got == want, f"{[h.id for h in some]} at width {width}"


TEXT = st.text(alphabet=st.sampled_from([*"ab cd  efghij-,.卷积层（）：张量", "\n"]),
               max_size=120)


@settings(max_examples=300, deadline=None)
@given(text=TEXT, width=st.integers(min_value=2, max_value=40))
def test_messages_wrap_as_rich_wraps_them(text: str, width: int) -> None:
    want = rich_output(width, lambda c: c.print(text, markup=False, highlight=False))
    got = plain_output(width, lambda c: c.print(text))
    assert got == want


def test_wide_characters_take_two_cells() -> None:
    from rich.cells import cell_len as rich_cell_len

    for text in ("abc", "卷积层", "tar：解压（x）", "é", "ｆｕｌｌ"):
        assert cell_len(text) == rich_cell_len(text)
    assert wrap("卷积层卷积层", 5) == ["卷积", "层卷", "积层"]
