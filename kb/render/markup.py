"""Markdown and code for rich, highlighted only where colour can show.

Highlighting builds a pygments lexer, and building the Python or bash lexer
compiles its few hundred regexes: ~40 ms of a `kb explain` or `kb show` that
prints to a pipe or with NO_COLOR, where no colour is printed anyway (issue 12).
Without colour the code goes through pygments' plain-text lexer, so the text,
its wrapping and its padding are exactly what highlighted output would show.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.markdown import CodeBlock, Markdown, MarkdownElement
from rich.syntax import Syntax

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult


def colourless(console: Console) -> bool:
    """True when nothing `console` prints can carry colour."""
    return console.no_color or not console.is_terminal


class _CodeBlock(CodeBlock):
    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if colourless(console):
            self.lexer_name = "text"
        yield from super().__rich_console__(console, options)


class KbMarkdown(Markdown):
    """rich's Markdown, with code blocks highlighted only where colour shows."""

    elements: ClassVar[dict[str, type[MarkdownElement]]] = {
        **Markdown.elements, "fence": _CodeBlock, "code_block": _CodeBlock}


def code(console: Console, text: str, lang: str) -> Syntax:
    """A snippet's code (`lang` "sh" or "python") as printed by `kb show` and `kb run`."""
    lexer = "text" if colourless(console) else "bash" if lang == "sh" else "python"
    return Syntax(text.rstrip(), lexer, theme="ansi_dark", background_color="default",
                  word_wrap=True)
