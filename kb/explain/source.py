"""Where the text to explain comes from: an argument, stdin (`-` or a pipe), or a log file.

Input is bounded: a longer stream or file keeps its last MAX_INPUT_BYTES (errors are
printed last), so a 1 GB training log costs what 16 MB costs. Bytes that are not
UTF-8 (a log with binary junk, a Windows code page) are replaced, never fatal.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any

from kb.errors import SourceError, UsageError

MAX_INPUT_BYTES = 16 * 1024 * 1024
_CHUNK = 1024 * 1024

NOTHING = ("nothing to explain: pass the error in quotes (kb explain \"TEXT\"), pipe it "
           "(... 2>&1 | kb explain), use --file LOG, or run a command: kb explain -- CMD ARGS")


def read_paste(text: str | None, file: Path | None, stdin: IO[Any], nothing: str = NOTHING) -> str:
    """The text to explain: TEXT, else stdin when TEXT is `-` or stdin is a pipe, else FILE.
    `nothing`: what to say when there is none (`kb new --from-error` says its own)."""
    if text is not None and file is not None:
        raise UsageError("give the error as TEXT or as --file LOG, not both")
    if file is not None:
        paste = _read_file(file)
    elif text is not None and text != "-":
        paste = text
    elif text == "-" or not _is_terminal(stdin):
        paste = _read_stream(stdin)
    else:
        raise UsageError(nothing)
    if not paste.strip():
        raise UsageError("the input is empty" + nothing[nothing.index(":"):])
    return paste


def _is_terminal(stream: IO[Any]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed or not a real stream
        return False


def _read_file(path: Path) -> str:
    try:
        with path.open("rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > MAX_INPUT_BYTES:
                f.seek(size - MAX_INPUT_BYTES)
            data = f.read(MAX_INPUT_BYTES)
    except IsADirectoryError:
        raise SourceError(f"{path}: is a directory; give the log file itself") from None
    except OSError as e:
        raise SourceError(f"cannot read {path}: {e.strerror or e}; check the path") from None
    return data.decode("utf-8", errors="replace")


def _read_stream(stream: IO[Any]) -> str:
    raw = getattr(stream, "buffer", None)
    if raw is None:  # a text stream without bytes underneath (tests, some IDEs)
        text = stream.read()
        return text[-MAX_INPUT_BYTES:] if isinstance(text, str) else str(text)
    kept: list[bytes] = []
    size = 0
    while chunk := raw.read(_CHUNK):
        kept.append(chunk)
        size += len(chunk)
        while size - len(kept[0]) >= MAX_INPUT_BYTES:
            size -= len(kept.pop(0))
    data = b"".join(kept)[-MAX_INPUT_BYTES:]
    return data.decode("utf-8", errors="replace")
