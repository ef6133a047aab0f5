"""The data kb passes around: frozen dataclasses, no behaviour beyond small views.

Flow: loader (raw YAML + line numbers) -> schema (Entry or Problems) -> index /
search / explain / sandbox (return these) -> render (the only printer).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from kb.record import field, record

KINDS = ("command", "api", "concept", "error")

_Text = TypeVar("_Text", str, tuple[str, ...])


def localized(en: _Text, zh: _Text | None, lang: str) -> _Text:
    """The Chinese text when `lang` is 'zh' and there is some, else the English.

    kb's one fallback rule for bilingual text (entries, hints, commands, stored docs).
    """
    return zh if lang == "zh" and zh else en


@record
class Raises:
    """A snippet that must end by raising `type` with a message matching `match`, or one
    of `elsewhere`: the same error as torch words it on another CPU path or build."""

    type: str
    match: str = ""
    elsewhere: tuple[str, ...] = ()

    @property
    def wordings(self) -> tuple[str, ...]:
        return (self.match, *self.elsewhere) if self.match else self.elsewhere


@record
class Snippet:
    """Code an entry runs in the sandbox, and what it must print or raise."""

    name: str
    code: str
    lang: str = "python"  # python | sh
    expect: str | None = None
    raises: Raises | None = None
    requires: tuple[str, ...] = ()  # cuda, network, conda, nvidia-smi, multi-gpu, module:NAME
    timeout: float | None = None  # seconds; None = the runner's default
    tolerance: float | None = None
    line: int = 0  # line of the snippet in its file, for messages


@record
class CommandLine:
    """A shell command an entry shows, what it does, and that in Chinese."""

    cmd: str
    does: str
    zh: str = ""


@record
class Hint:
    """An error entry's advice in the user's own numbers, shown `when` it holds."""

    en: str
    zh: str = ""
    when: str = ""  # an expression over a pattern's captures; empty = always


LOOKUP_AMONG = ("attributes", "parameters", "signatures", "files")
# what kb.explain.derive adds before the lookups run: a lookup may read these too
FRAME_CAPTURES = ("frame_file", "frame_line", "frame_call", "frame_arg", "frame_target")


@record
class Lookup:
    """A name the user typed, looked up among the names it should have been one of;
    the closest (CPython's suggestion, kb.explain.names) becomes the capture `gives`.

    `among`: "attributes" of the namespace `of` names ("torch.nn", "torch.Tensor"),
    "parameters" of the callable `of` names ("Conv2d.__init__"), both from the installed
    torch; or "signatures": the keywords of the signatures torch lists in the message
    (`of` is that text, `name` the call's `got (...)`: the first keyword it gives that no
    signature takes is looked up, and becomes the capture `wrong`); or "files": `name`
    holds a file's path (from the message, or `frame_file`), given back when it is a file
    of the user's named like the module `of` names (timeit.py, torch/__init__.py), outside
    site-packages and the standard library, and that module is also the standard
    library's or an installed one: the file that shadows it. `of` is a hint
    template (`"{module}"`, `"torch.Tensor"`). `unless`: a capture that, when the
    message has it, already holds Python's own suggestion (nothing to add).
    """

    name: str
    among: str
    of: str
    gives: str
    wrong: str = ""
    unless: str = ""


@record
class Zh:
    """Chinese text of an entry; every field may be empty (falls back to English)."""

    title: str = ""
    summary: str = ""
    body: str = ""
    causes: tuple[str, ...] = ()
    fix: str = ""


@record
class Entry:
    """One knowledge-base entry, as parsed from its file (kb.schema)."""

    id: str
    kind: str
    title: str
    summary: str
    source: Path  # the file it was loaded from
    zh: Zh = field(default_factory=Zh)
    tags: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    body: str = ""
    see_also: tuple[str, ...] = ()
    commands: tuple[CommandLine, ...] = ()
    snippets: tuple[Snippet, ...] = ()
    patterns: tuple[str, ...] = ()
    pattern_torch: tuple[str, ...] = ()  # per pattern: torch releases printing it, "" = current
    causes: tuple[str, ...] = ()
    fix: str = ""
    hints: tuple[Hint, ...] = ()
    lookups: tuple[Lookup, ...] = ()
    examples: tuple[str, ...] = ()
    builtin: bool = False  # shipped with kb (stricter validation: must be bilingual)

    def text(self, name: str, lang: str) -> str:
        """A text field in `lang` ('zh' or 'en'), falling back to English."""
        english: str = getattr(self, name)
        chinese: str = getattr(self.zh, name, "")
        return localized(english, chinese, lang)

    def torch_of(self, pattern: str) -> str:
        """Which torch releases print this pattern's wording ("" = the current ones)."""
        if pattern in self.patterns and self.pattern_torch:
            return self.pattern_torch[self.patterns.index(pattern)]
        return ""

    def causes_in(self, lang: str) -> tuple[str, ...]:
        return localized(self.causes, self.zh.causes, lang)


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@record
class Problem:
    """One thing wrong with an entry file, at a line, with a stable rule code."""

    path: Path
    line: int
    code: str  # KB001...
    message: str
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else f"{self.path}"
        tag = "" if self.severity is Severity.ERROR else " (warning)"
        return f"{where}: {self.code}{tag} {self.message}"


@record
class Hit:
    """One search result."""

    id: str
    kind: str
    title: str
    score: float
    excerpt: str = ""  # with matched terms marked as [[term]]
    summary: str = ""
