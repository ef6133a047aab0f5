"""The plain writer (piped output, no rich) prints exactly what rich prints."""

from __future__ import annotations

import io
from pathlib import Path

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


# ---------------------------------------------------------------- Markdown and explain

def rich_markdown(text: str, width: int) -> list[str]:
    from kb.render.markup import KbMarkdown

    return rich_output(width, lambda c: c.print(KbMarkdown(text))).split("\n")[:-1]


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_builtin_entrys_markdown_prints_as_rich_prints_it(width: int, lang: str) -> None:
    from kb.render.plain import markdown_lines

    plain = 0
    for entry in load_entries().entries.values():
        causes = "\n".join(f"{i}. {c}" for i, c in enumerate(entry.causes_in(lang), 1))
        for text in (entry.text("summary", lang), entry.text("body", lang), causes,
                     entry.text("fix", lang)):
            lines = markdown_lines(text, width) if text.strip() else None
            if lines is not None:
                plain += 1
                assert lines == rich_markdown(text, width), f"{entry.id} ({lang}, {width})"
    assert plain > 500  # most of the knowledge base is in the subset


WORD = st.sampled_from(["torch", "x.view(-1)", "卷积", "`code`", "**bold**", "a", "num_workers",
                        "[2, 3]", "looooooooooooooooooooooooong", "（注意）", "--flag", "#1", "_x",
                        "*", "<b>", "[a](b)"])
LINE = st.lists(WORD, min_size=1, max_size=12).map(" ".join)
BLOCK = st.one_of(
    LINE,
    st.lists(LINE, min_size=1, max_size=4).map(lambda ls: "\n".join(f"- {x}" for x in ls)),
    st.lists(LINE, min_size=1, max_size=4).map(
        lambda ls: "\n".join(f"{i}. {x}" for i, x in enumerate(ls, 1))),
    st.lists(LINE, min_size=1, max_size=3).map(lambda ls: "```\n" + "\n".join(ls) + "\n```"),
)


@settings(max_examples=150, deadline=None)
@given(blocks=st.lists(BLOCK, min_size=1, max_size=4),
       seps=st.lists(st.sampled_from(["\n", "\n\n"]), min_size=4, max_size=4),
       width=st.sampled_from(WIDTHS))
def test_markdown_in_the_subset_prints_as_rich_prints_it(blocks: list[str], seps: list[str],
                                                          width: int) -> None:
    from kb.render.plain import markdown_lines

    text = "".join(b + s for b, s in zip(blocks, seps, strict=False)).strip()
    lines = markdown_lines(text, width)
    if lines is not None:  # None: beyond the subset, rich lays it out
        assert lines == rich_markdown(text, width)


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_explain_answer_prints_as_rich_prints_it(lang: str) -> None:
    import yaml

    from kb.explain import explain
    from kb.render.blocks import plain_lines, rich_write
    from kb.render.explain import _layout

    entries = load_entries().entries
    corpus = yaml.safe_load((Path(__file__).parent / "data" / "explain_corpus.yaml")
                            .read_text(encoding="utf-8"))
    plain = 0
    for item in corpus[::3]:
        for full in (False, True):
            blocks = _layout(explain(item["text"], entries, lang=lang), full)
            lines = plain_lines(blocks, 100)
            if lines is not None:
                plain += 1
                want = rich_output(100, lambda c, b=blocks: rich_write(c, b))
                got = plain_output(100, lambda c, ls=lines: c.write_lines(ls))
                assert got == want, item["text"][:80]
    assert plain > 40


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_builtin_entry_shown_prints_as_rich_prints_it(width: int, lang: str) -> None:
    from kb.render.blocks import plain_lines, rich_write
    from kb.render.entries import entry_blocks

    plain = 0
    for entry in load_entries().entries.values():
        blocks = entry_blocks(entry, lang, ["/elsewhere/" + entry.id + ".yaml"])
        lines = plain_lines(blocks, width)
        if lines is not None:
            plain += 1
            got = plain_output(width, lambda c, ls=lines: c.write_lines(ls))
            assert got == rich_output(width, lambda c, b=blocks: rich_write(c, b)), entry.id
    assert plain > 100
