"""Pasted text as it arrives from forums, chats and terminals, made plain again.

Copying an error through a web page or a word processor changes it: curly quotes,
full-width punctuation from Chinese input methods (`（`, `：`, `，`), `×` for `x`,
non-breaking and zero-width spaces, HTML entities, Markdown escapes (`\\[`), UTF-8
read as cp1252 (`â€™`), terminal colour codes. `clean` undoes these so patterns
written against PyTorch's own messages still match. It never changes ASCII letters
or digits, so what a pattern captures is what the user's program printed.
"""

from __future__ import annotations

import html
import re
import unicodedata

# UTF-8 bytes shown as cp1252 (a page saved in one encoding, read in the other).
_MOJIBAKE = {
    "â€™": "'", "â€˜": "'", "â€œ": '"', "â€\x9d": '"', "â€": '"',
    "â€“": "-", "â€”": "-", "â€¦": "...", "Ã—": "x", "Â ": " ", "Â": "",
}
_MOJIBAKE_RE = re.compile("|".join(re.escape(k) for k in sorted(_MOJIBAKE, key=len, reverse=True)))

_CHARS = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u00b4": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
    "\u00ab": '"', "\u00bb": '"', "\u300c": '"', "\u300d": '"',
    "\u00d7": "x", "\u2715": "x", "\u2716": "x",  # multiplication signs between sizes
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2212": "-",
    "\u3001": ",", "\u3002": ".",  # ideographic comma and full stop (NFKC keeps them)
    "\u200b": "", "\u200c": "", "\u200d": "", "\u2060": "", "\ufeff": "", "\u00ad": "",
    "\t": "    ",
})

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-_]")
_MARKDOWN_ESCAPE = re.compile(r"\\([\[\]_*`<>#()|{}.!-])")
_SPACES = re.compile(r"[ \u00a0\u3000]{2,}")
_WRAPPED = re.compile(r"\s*\n\s*")


def clean(text: str) -> str:
    """`text` with the damage of copying undone; lines are kept, runs of spaces folded."""
    if "\x1b" in text:
        text = _ANSI.sub("", text)
    if "\u00c3" in text or "\u00e2" in text or "\u00c2" in text:
        text = _MOJIBAKE_RE.sub(lambda m: _MOJIBAKE[m.group()], text)
    if "&" in text:
        text = html.unescape(text)
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text.translate(_CHARS)).translate(_CHARS)
    if "\\" in text:
        text = _MARKDOWN_ESCAPE.sub(r"\1", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", "    ")
    return "\n".join(_SPACES.sub(" ", line).rstrip() for line in text.split("\n"))


def join_lines(text: str) -> str:
    """One line: a message a terminal or a forum wrapped is whole again."""
    return _WRAPPED.sub(" ", text).strip()
