"""The data of note checking: a note's blocks and claims, and what a run made of them."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from kb.record import field, record


@record
class Block:
    """A run of Python code, in the note's order. `lines[k]` is the file line of code
    line k+1 (for notebooks: the line of the notebook's JSON that holds it)."""

    index: int
    code: str
    lines: tuple[int, ...]
    cell: int | None = None  # notebooks: the cell's index among all cells

    def file_line(self, code_line: int) -> int:
        if not self.lines:
            return 0
        return self.lines[min(max(code_line, 1), len(self.lines)) - 1]


class ClaimKind(StrEnum):
    VALUE = "value"  # `expr  # value`: the expression's repr
    PRINT = "print"  # `print(...)` then `# output` comment lines: what it printed
    DOCTEST = "doctest"  # `>>> expr` then its output
    OUTPUT = "output"  # a block followed by an output block ("Output:", '''...''')
    CELL = "cell"  # a notebook cell's saved text/plain output


@record
class Span:
    """Where a claim's text is, for --fix. `lines` are file lines (notebooks: lines of
    the cell's source, 0-based); `col` is where the claim starts on an inline comment."""

    style: str  # "inline" | "comment-lines" | "raw-lines" | "cell-output"
    lines: tuple[int, ...] = ()
    col: int = 0
    cell: int | None = None


@record
class Claim:
    kind: ClaimKind
    block: int
    first: int  # block code lines covered: the statements that start in [first, last]
    last: int
    line: int  # file line of the claim, for the report
    expr: str  # the expression, or what the output belongs to
    claimed: str
    span: Span
    display: str = "each"  # which expression values count as output: each | last | none


@record
class Note:
    path: Path
    kind: str  # markdown | notebook | text | python
    blocks: tuple[Block, ...]
    claims: tuple[Claim, ...]
    headings: tuple[tuple[int, str, str], ...] = ()  # (block index it precedes, title, prose)


class ClaimStatus(StrEnum):
    RIGHT = "right"
    WRONG = "wrong"
    UNCHECKED = "unchecked"


@record
class ClaimResult:
    claim: Claim
    status: ClaimStatus
    actual: str | None = None
    reason: str = ""  # why unchecked, or how it differs
    path: Path = field(default_factory=Path)

    @property
    def where(self) -> str:
        return f"{self.path}:{self.claim.line}" if self.claim.line else str(self.path)


@record
class BlockFailure:
    block: int
    line: int  # file line of the statement that failed
    reason: str
    skipped: int = 0  # later statements not run because they use what failed


@record
class NoteResult:
    note: Note
    results: tuple[ClaimResult, ...]
    failures: tuple[BlockFailure, ...] = ()
    duration_s: float = 0.0
    error: str = ""  # the note could not be run at all (sandbox, time bound)
    statements: int = 0
    observations: tuple[dict[str, object], ...] = ()  # the driver's events (kb import)

    def count(self, status: ClaimStatus) -> int:
        return sum(1 for r in self.results if r.status is status)
