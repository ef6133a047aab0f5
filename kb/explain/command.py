"""`kb explain -- CMD ARGS...`: run a command, pass its output through, keep its end.

The command's stdout and stderr go to ours as they arrive (a training run's progress
stays live), and the last MAX_CAPTURE_BYTES of both, in arrival order, are kept to be
explained if it fails. What is kept comes a whole line at a time: an unbuffered
`print("batch", shape)` writes its words one by one, and a piece of it read between
two lines of a traceback on stderr would be taken for the traceback's source line.
Its exit code is returned unchanged (128+N for a signal, as a shell reports it).
Python children get PYTHONUNBUFFERED=1: through a pipe their output would otherwise
arrive in 8 KB blocks, the traceback last of all.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from typing import IO

from kb.errors import UsageError
from kb.record import record

MAX_CAPTURE_BYTES = 4 * 1024 * 1024


@record
class CommandRun:
    argv: tuple[str, ...]
    exit_code: int
    output: str  # the tail of stdout and stderr together


def run_command(argv: Sequence[str], out: IO[bytes], err: IO[bytes],
                env: Mapping[str, str] | None = None) -> CommandRun:
    """Run `argv`, copying its stdout to `out` and stderr to `err` while it runs;
    `env`: variables to add to ours (kb.explain.runtime names its record file there)."""
    if not argv:
        raise UsageError("no command after `--`; write: kb explain -- CMD ARGS")
    env = {**os.environ, **(env or {})}
    env.setdefault("PYTHONUNBUFFERED", "1")
    try:
        proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    except FileNotFoundError:
        raise UsageError(f"cannot run '{argv[0]}': command not found; "
                         "check its name and PATH") from None
    except PermissionError:
        raise UsageError(f"cannot run '{argv[0]}': permission denied; "
                         "is it executable (chmod +x)?") from None
    tail = _Tail(MAX_CAPTURE_BYTES)
    assert proc.stdout is not None and proc.stderr is not None  # both are pipes (above)
    pumps = [threading.Thread(target=_pump, args=(src, dst, tail), daemon=True)
             for src, dst in ((proc.stdout, out), (proc.stderr, err))]
    for t in pumps:
        t.start()
    try:
        code = proc.wait()
    finally:
        for t in pumps:
            t.join()
    if code < 0:
        code = 128 - code  # killed by signal N: report 128+N like a shell
    return CommandRun(tuple(argv), code, tail.text())


class _Tail:
    """The last `limit` bytes written by several threads, in arrival order."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.chunks: deque[bytes] = deque()
        self.size = 0
        self.lock = threading.Lock()

    def add(self, chunk: bytes) -> None:
        with self.lock:
            self.chunks.append(chunk)
            self.size += len(chunk)
            while self.size - len(self.chunks[0]) >= self.limit:
                self.size -= len(self.chunks.popleft())

    def text(self) -> str:
        with self.lock:
            return b"".join(self.chunks)[-self.limit:].decode("utf-8", errors="replace")


MAX_PARTIAL_LINE = 65536  # bytes of a line kept back for its end (a \r-less progress bar)


def _pump(src: IO[bytes], dst: IO[bytes], tail: _Tail) -> None:
    partial = b""  # the unfinished last line, added to the tail when its end arrives
    with src:
        while chunk := os.read(src.fileno(), 65536):
            end = max(chunk.rfind(b"\n"), chunk.rfind(b"\r")) + 1  # \r: tqdm's lines
            if end:
                tail.add(partial + chunk[:end])
                partial = chunk[end:]
            else:
                partial += chunk
            if len(partial) > MAX_PARTIAL_LINE:
                tail.add(partial)
                partial = b""
            try:
                dst.write(chunk)
                dst.flush()
            except (OSError, ValueError):  # our own stdout closed (| head): keep capturing
                pass
    if partial:
        tail.add(partial)
