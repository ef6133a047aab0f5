"""Messages between kb and its zygote: one JSON object per SOCK_SEQPACKET record.

Records keep their boundaries and carry file descriptors (SCM_RIGHTS) with the
record they belong to, so a `run` request hands over that job's pipes in one step.
"""

from __future__ import annotations

import contextlib
import json
import socket
from typing import Any

MAX_RECORD = 1 << 20  # a request holds one snippet's code; a reply is a few numbers
MAX_FDS = 4


def send(sock: socket.socket, message: dict[str, Any], fds: list[int] | None = None) -> None:
    data = json.dumps(message, separators=(",", ":")).encode()
    if len(data) > MAX_RECORD:
        raise ValueError(f"sandbox message of {len(data)} bytes is over {MAX_RECORD}")
    if fds:
        socket.send_fds(sock, [data], fds)
    else:
        sock.sendall(data)


def receive(sock: socket.socket) -> tuple[dict[str, Any], list[int]] | None:
    """The next record and its descriptors; None at end of stream."""
    data, fds, _flags, _addr = socket.recv_fds(sock, MAX_RECORD, MAX_FDS)
    if not data:
        for fd in fds:
            _close(fd)
        return None
    return json.loads(data), fds


def _close(fd: int) -> None:
    import os

    with contextlib.suppress(OSError):
        os.close(fd)
