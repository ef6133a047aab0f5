"""Where the error is in what the user pasted: a message, a whole traceback, or a log.

text -> bounded lines -> exception headers (`RuntimeError: ...`, `path.py:3: UserWarning:
...`, conda's `PackagesNotFoundError:`), each with its continuation lines -> `Segment`s
ordered by how likely each is the real problem. Patterns only ever see segments, which
are bounded (MAX_LINE characters a line, MAX_SEGMENT_LINES lines), so the time one
pattern takes does not grow with the size of the paste.

Which exception is the problem: the last one printed (the final exception of a chain,
or the original error inside a DataLoader worker's "Original Traceback"), then the
earlier ones and warnings, then the tail of the log. A few final messages only say
that the cause was printed elsewhere; `CAUSE_LINES` says where to look for each.
"""

from __future__ import annotations

import re

from kb.explain.paste import clean, join_lines
from kb.record import record

MAX_INPUT = 16 * 1024 * 1024  # characters; a longer paste keeps its end (errors come last)
MAX_LINE = 2000  # characters of one line that patterns see: its head and its tail
MAX_SEGMENT_LINES = 40  # lines of one exception message (CUDA's and conda's run to ~15)
MAX_SEGMENT_CHARS = 8000  # ... and characters: a segment is also matched joined into one line
TAIL_LINES = 30  # last non-blank lines, for errors that are not Python exceptions
MAX_HEADERS = 8  # exceptions and warnings kept, the last ones

# Final messages that say the real error was printed elsewhere in the log, most
# useful first: (the final message, the lines that hold the cause).
CAUSE_LINES: tuple[tuple[re.Pattern[str], re.Pattern[str]], ...] = (
    # CUDA reports kernel asserts asynchronously; the assert line names the bad index.
    (re.compile(r"device-side assert triggered"), re.compile(r"Assertion `[^`\n]{0,300}` failed")),
    # A worker killed by the OS: its own line says how (bus error = /dev/shm, Killed = RAM).
    (re.compile(r"DataLoader worker \(pid"),
     re.compile(r"ERROR: Unexpected \w+ error encountered in worker|is killed by signal")),
)

# An exception or warning header: optional `file.py:12: ` (warnings), a dotted name
# ending like an exception class, then `:` and the message (or nothing).
_HEADER = re.compile(
    r"^(?:[^\s:]{1,300}:\d{1,7}: )?"
    r"(?P<type>(?:[A-Za-z_][A-Za-z0-9_]{0,60}\.){0,6}[A-Za-z_][A-Za-z0-9_]{0,60}"
    r"(?:Error|Exception|Warning|Interrupt|Exit|NotFound|Iteration|Fault|Failure)"
    r"|torch\._dynamo\.exc\.Unsupported)"  # a graph break under fullgraph=True
    r"(?:\s?[:\uff1a](?P<msg>.*))?$"
)
_PREFIXES = re.compile(r"^(?:\[rank\d+\]:|\[default\d+\]:|E {2,})\s?")  # torchrun, pytest
_TRACEBACK = "Traceback (most recent call last)"
_CHAIN = ("During handling of the above exception", "The above exception was the direct cause")
# Lines that end a message: a new log record or prompt after the error.
_NEW_RECORD = re.compile(
    r"^(?:\$ |>>> |In \[\d+\]|\d{4}-\d\d-\d\d[ T]\d|\[[A-Z]\d{4}|[A-Z]\d{4} \d\d:)")


@record
class Segment:
    """A bounded piece of the paste that patterns are matched against."""

    text: str  # cleaned, lines kept
    weight: float  # 1.0 for the final exception; lower for less likely places
    origin: str  # "final exception", "cause", "earlier exception", "warning", "tail"


@record
class ErrorText:
    """The error found in a paste: its final exception, and every place worth matching."""

    exc_type: str  # of the final exception ("" when none was found, e.g. a shell error)
    message: str  # its message, cleaned, on one line: what the fallback search reads
    segments: tuple[Segment, ...]  # best first

    @property
    def headline(self) -> str:
        """The error in one line, as a user would quote it."""
        text = f"{self.exc_type}: {self.message}" if self.exc_type else self.message
        return text if len(text) <= 300 else text[:297] + "..."


@record
class _Header:
    """An error header found in the text: its exception type and message lines."""

    type: str
    lines: tuple[str, ...]  # the message: the header's text, then its continuation


def extract(text: str) -> ErrorText:
    """Find the error in `text` (a message, a traceback or a whole log)."""
    if len(text) > MAX_INPUT:
        text = text[-MAX_INPUT:]
    lines = [_bound(_PREFIXES.sub("", line)) for line in text.splitlines()]
    headers = _headers(lines)
    tail = _tail(lines)
    segments: list[Segment] = []
    if headers:
        final = headers[-1]
        final_text = _cap(clean("\n".join(final.lines)))
        segments.append(Segment(final_text, 1.0, "final exception"))
        for cause in _cause_lines(final_text, lines):
            segments.append(Segment(_cap(clean(cause)), 1.05, "cause"))
        for n, header in enumerate(reversed(headers[:-1])):
            origin = "warning" if header.type.endswith("Warning") else "earlier exception"
            weight = (0.85 if origin == "warning" else 0.9) - 0.02 * n
            segments.append(Segment(_cap(clean("\n".join(header.lines))), weight, origin))
        if tail:
            segments.append(Segment(_cap(clean("\n".join(tail))), 0.8, "tail"))
        message = join_lines(final_text)
        exc_type = final.type
    else:
        tail_text = _cap(clean("\n".join(tail)))
        segments.append(Segment(tail_text, 1.0, "tail"))
        message = join_lines("\n".join(_last_error_lines(tail_text.splitlines())))
        exc_type = ""
    segments.sort(key=lambda s: -s.weight)
    return ErrorText(exc_type, message, tuple(segments))


def _bound(line: str) -> str:
    if len(line) <= MAX_LINE:
        return line
    keep = MAX_LINE // 2 - 4
    return f"{line[:keep]} ... {line[-keep:]}"


def _cap(text: str) -> str:
    """At most MAX_SEGMENT_CHARS: the beginning (where messages say what) and the end."""
    if len(text) <= MAX_SEGMENT_CHARS:
        return text
    head = MAX_SEGMENT_CHARS * 3 // 4
    return f"{text[:head]}\n...\n{text[-(MAX_SEGMENT_CHARS - head - 5):]}"


def _headers(lines: list[str]) -> list[_Header]:
    """The last MAX_HEADERS exception and warning headers, each with its message lines."""
    found: list[_Header] = []
    for i in range(len(lines) - 1, -1, -1):
        line = lines[i]
        # cheap test first: a 10 MB log has ~200k lines and few of them are errors
        if not ("Error" in line or "Exception" in line or "Warning" in line or "Interrupt" in line
                or "NotFound" in line or "Exit" in line or "Iteration" in line
                or "Fault" in line or "Failure" in line or "Unsupported" in line):
            continue
        m = _HEADER.match(line.strip())
        if not m or _is_frame(line):
            continue
        msg = (m.group("msg") or "").strip()
        found.append(_Header(m.group("type"), (msg, *_continuation(lines, i + 1))))
        if len(found) >= MAX_HEADERS:
            break
    found.reverse()
    return found


def _is_frame(line: str) -> bool:
    return line.lstrip().startswith(('File "', "File '"))


def _continuation(lines: list[str], start: int) -> list[str]:
    """The lines after a header that still belong to its message.

    CUDA's notes follow unindented; the multiprocessing bootstrap text is indented
    and has blank lines inside; conda lists packages indented. A blank line before
    an unindented line, a new traceback or exception, or a prompt ends the message.
    """
    out: list[str] = []
    i = start
    while i < len(lines) and len(out) < MAX_SEGMENT_LINES:
        line = lines[i]
        stripped = line.strip()
        if not stripped:
            nxt = lines[i + 1] if i + 1 < len(lines) else ""
            if not nxt[:1].isspace() or not nxt.strip():
                break
        elif (_TRACEBACK in line or stripped.startswith(_CHAIN) or _is_frame(line)
              or _NEW_RECORD.match(line) or _HEADER.match(stripped)):
            break
        out.append(line)
        i += 1
    return out


def _tail(lines: list[str]) -> list[str]:
    """The last TAIL_LINES non-blank lines, traceback frames left out."""
    out: list[str] = []
    for line in reversed(lines):
        if line.strip() and not _is_frame(line):
            out.append(line)
            if len(out) >= TAIL_LINES:
                break
    out.reverse()
    return out


_ERRORISH = re.compile(
    r"(?i)error|exception|fail|fatal|denied|not found|cannot|can't|couldn't|unable|killed|"
    r"no such|no space|not in|invalid|refused|busy|assert|abort|warning|too many|no module|"
    r"not available|not compatible|insufficient|out of memory|segmentation|core dumped"
)


def _last_error_lines(lines: list[str]) -> list[str]:
    """The lines a user means when the paste has no Python exception: the last few that
    sound like an error (the whole paste when it is short and none does)."""
    picked = [line for line in lines if _ERRORISH.search(line)]
    return (picked or lines)[-4:]


def _cause_lines(final_text: str, lines: list[str]) -> list[str]:
    for final, cause in CAUSE_LINES:
        if final.search(final_text):
            found = [line for line in lines[-2000:] if cause.search(line)]
            return found[-3:]
    return []
