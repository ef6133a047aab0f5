"""Does a snippet's output say what its entry claims? Comparing stdout with `expect`.

Rules (docs/entry-format.md, issue #3):
- trailing whitespace on each line, and trailing blank lines, are ignored;
- `...` inside a line matches any text within that line; a line that is only
  `...` matches any run of lines, none included (doctest's ELLIPSIS);
- shapes are always compared exactly: a `...` never covers any part of a
  `torch.Size([...])` or an int tuple like `(2, 3)`, and `tolerance` never
  applies to integers;
- with a `tolerance`, numbers written with a point or exponent in `expect`
  match any number within it (absolute or relative);
- an expected exception matches when its type name is the same and
  `re.search` finds `match`, or one of `elsewhere` (how torch words the same error
  on another CPU path or build), in the message.
"""

from __future__ import annotations

import difflib
import math
import re
from functools import cache, lru_cache

from kb.model import Raises
from kb.record import record

ELLIPSIS = "..."
_SHAPE = re.compile(r"torch\.Size\(\[[\d, ]*\]\)|\((?:\d+, )+\d+,?\)|\(\d+,\)")
_FLOAT = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?\d+[eE][-+]?\d+"
                    r"|(?<![\w.])[-+]?(?:nan|inf)(?![\w.])")
_ANY_NUMBER = r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf))"


@record
class Comparison:
    ok: bool
    diff: str = ""  # unified diff, expected -> actual, when not ok
    reason: str = ""  # one line for the report


def normalise(text: str | None) -> list[str]:
    """Lines without trailing whitespace, without trailing blank lines."""
    lines = [line.rstrip() for line in (text or "").replace("\r\n", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def compare(expected: str | None, actual: str, tolerance: float | None = None) -> Comparison:
    """Compare a snippet's stdout with its `expect` text (None: it must print nothing)."""
    want, got = normalise(expected), normalise(actual)
    if _lines_match(tuple(want), tuple(got), tolerance, True):
        return Comparison(True)
    diff = "\n".join(difflib.unified_diff(want, got, "expected", "actual", lineterm="", n=2))
    if _lines_match(tuple(want), tuple(got), tolerance, False):
        return Comparison(False, diff, "shapes are compared exactly: a `...` may not stand "
                                       "for a shape or part of one; write the shape out")
    return Comparison(False, diff, _reason(want, got))


def _lines_match(want: tuple[str, ...], got: tuple[str, ...], tolerance: float | None,
                 exact_shapes: bool) -> bool:
    """Whether `got` matches `want`, whose lines that are only `...` match any run of
    lines. Without such lines: line by line, linear. With them: the runs of lines
    between the `...` lines are placed in order, each as early as it fits (the earliest
    place leaves the most room for the runs after it, so no other place can succeed
    where it fails). At most len(got) x (the longest run) line comparisons, against a
    table of len(want) x len(got) for trying every split (issue 11)."""

    def run_at(run: list[str], start: int) -> bool:
        return all(line_matches(w, g, tolerance, exact_shapes)
                   for w, g in zip(run, got[start:start + len(run)], strict=True))

    runs: list[list[str]] = [[]]
    for line in want:
        if line.strip() == ELLIPSIS:
            runs.append([])
        else:
            runs[-1].append(line)
    if len(runs) == 1:
        return len(want) == len(got) and run_at(runs[0], 0)
    first, *middle, last = runs
    end = len(got) - len(last)  # the last run is anchored at the end
    if end < len(first) or not run_at(first, 0) or not run_at(last, end):
        return False
    pos = len(first)
    for run in middle:
        while pos + len(run) <= end and not run_at(run, pos):
            pos += 1
        if pos + len(run) > end:
            return False
        pos += len(run)
    return True


def line_matches(want: str, got: str, tolerance: float | None = None,
                 exact_shapes: bool = True) -> bool:
    """One expected line against one actual line (both already right-stripped)."""
    if ELLIPSIS not in want and tolerance is None:
        return want == got
    pieces = [_piece(p, tolerance) for p in want.split(ELLIPSIS)]
    shapes = [m.span() for m in _SHAPE.finditer(got)] if exact_shapes else []

    @cache
    def match(k: int, pos: int) -> bool:
        pattern, numbers = pieces[k]
        starts = [pos] if k == 0 else range(pos, len(got) + 1)
        for start in starts:
            if k > 0 and _covers_shape(shapes, pos, start):
                break  # a wider gap covers the shape too
            m = pattern.match(got, start)
            if m is None or not _numbers_close(m, numbers, tolerance):
                continue
            if k == len(pieces) - 1:
                if m.end() == len(got):
                    return True
                continue
            if match(k + 1, m.end()):
                return True
        return False

    return match(0, 0)


def _covers_shape(shapes: list[tuple[int, int]], start: int, end: int) -> bool:
    return any(start < s_end and end > s_start for s_start, s_end in shapes)


@lru_cache(maxsize=4096)
def _piece(text: str, tolerance: float | None) -> tuple[re.Pattern[str], tuple[float, ...]]:
    """A literal piece of an expected line as a regex; with a tolerance its floats
    become number captures, checked afterwards against the expected values."""
    if tolerance is None:
        return re.compile(re.escape(text)), ()
    parts, numbers, last = [], [], 0
    for m in _FLOAT.finditer(text):
        parts.append(re.escape(text[last:m.start()]))
        parts.append(_ANY_NUMBER)
        numbers.append(float(m.group()))
        last = m.end()
    parts.append(re.escape(text[last:]))
    return re.compile("".join(parts)), tuple(numbers)


def _numbers_close(m: re.Match[str], numbers: tuple[float, ...],
                   tolerance: float | None) -> bool:
    if not numbers or tolerance is None:
        return True
    for want, text in zip(numbers, m.groups(), strict=True):
        try:
            got = float(text)
        except ValueError:
            return False
        if math.isnan(want) or math.isnan(got):
            if not (math.isnan(want) and math.isnan(got)):
                return False
        elif not math.isclose(got, want, rel_tol=tolerance, abs_tol=tolerance):
            return False
    return True


def _reason(want: list[str], got: list[str]) -> str:
    want_shapes = [s for line in want for s in _SHAPE.findall(line)]
    got_shapes = [s for line in got for s in _SHAPE.findall(line)]
    for a, b in zip(want_shapes, got_shapes, strict=False):
        if a != b:
            return f"shape differs: expected {a}, got {b}"
    if not got:
        return "printed nothing; expected output"
    if not want:
        return "printed output; expected nothing"
    return "output differs from expect"


def check_raises(raises: Raises | None, exc_type: str | None,
                 exc_message: str | None) -> str | None:
    """Why the exception (or its absence) is not what the snippet declares; None if it is.
    Only for snippets that declare `raises`."""
    if raises is None:
        return None
    want = raises.type.rsplit(".", 1)[-1]
    if exc_type is None:
        return f"expected {want} to be raised; the snippet ended without it"
    if exc_type != want:
        return f"expected {want}, got {exc_type}: {_first_line(exc_message)}"
    if raises.wordings:
        try:
            found = any(re.search(w, exc_message or "") for w in raises.wordings)
        except re.error as exc:
            return f"raises.match is not a valid regex ({exc})"
        if not found:
            wanted = " or ".join(repr(w) for w in raises.wordings)
            return f"{exc_type} message does not match {wanted}: {_first_line(exc_message)}"
    return None


def _first_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[0] if lines else ""
