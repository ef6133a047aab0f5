"""What crosses between kb, its zygote and a sandboxed child, and nothing else.

kb -> zygote: records on a SOCK_SEQPACKET socket, one JSON object each (`Op.RUN`
carries a `Job` and, as SCM_RIGHTS, its three pipes, in one step). zygote -> child:
the `Job` and the `Layers` to set up, in the forked memory. child -> kb: its output
on the pipes, and `ChildReport` lines on the result pipe (fd RESULT_FD), which kb
merges; a child that could not set a layer up exits with SETUP_FAILED. The zygote's
`ready` record carries the `Isolation` report, built by `isolation_report` for
both the zygote and the spawn fallback.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from enum import StrEnum
from typing import Any, TypedDict

from kb.record import record
from kb.sandbox.limits import Limits

MAX_RECORD = 1 << 20  # a request holds one snippet's code; a reply is a few numbers
MAX_FDS = 4
RESULT_FD = 3  # the child's report pipe (after stdin, stdout, stderr)
SETUP_FAILED = 125  # the child's exit status when a layer could not be set up


class Op(StrEnum):
    """The records on the control socket, and who sends them."""

    RUN = "run"  # kb: fork a child for {"job"}; the record carries its 3 pipes
    KILL = "kill"  # kb: kill {"job"}'s child and everything it started
    WARM = "warm"  # kb: import {"modules"} (from WARMABLE) for the children after
    READY = "ready"  # zygote: started; {"isolation"}: Isolation.to_record()
    BROKEN = "broken"  # zygote: cannot start; {"error"}
    EXITED = "exited"  # zygote: {"job"} ended with wait {"status"} after {"cpu_s"}
    FAILED = "failed"  # zygote: could not fork {"job"}; {"error"}


@record
class Job:
    """One snippet to run, as the zygote receives it."""

    id: int
    name: str
    lang: str
    code: str
    limits: Limits
    gpu: bool = False
    seed: int = 0  # what random, numpy and torch are seeded with (notes rerun with 1)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "lang": self.lang, "code": self.code,
                "limits": self.limits.to_json(), "gpu": self.gpu, "seed": self.seed}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Job:
        return cls(data["id"], data["name"], data["lang"], data["code"],
                   Limits.from_json(data["limits"]), data.get("gpu", False),
                   data.get("seed", 0))


@record
class Layers:
    """Which layers the child sets up (decided once by the zygote's probe)."""

    namespaces: bool  # own mount/net/ipc/uts namespaces (pid: made by the zygote)
    userns: bool  # the zygote runs in its own user namespace (drop capabilities)
    drop_uid: bool  # real root outside: become an unused uid after building the tree
    seccomp: bool


class ChildReport(TypedDict, total=False):
    """One line on the result pipe; kb merges the lines a child writes."""

    setup_error: str  # a layer could not be set up (the snippet never ran) ...
    layer: str  # ... and which one
    missing: list[str]  # layers left out that the snippet can do without ("proc")
    exc_type: str  # the snippet raised: the exception's type name ...
    exc_message: str  # ... and its message
    imported: list[str]  # WARMABLE modules it imported that the zygote did not have


@record
class Isolation:
    """What the sandbox could set up on this machine, as the zygote found it."""

    level: str  # "strong": pid, mount and network namespaces; otherwise "weak"
    layers: tuple[str, ...]
    missing: tuple[tuple[str, str], ...] = ()  # (layer, why it is not there)
    python: str = ""
    torch: str | None = None

    @property
    def strong(self) -> bool:
        return self.level == "strong"

    def describe(self) -> str:
        text = f"{self.level}: {', '.join(self.layers)}"
        if self.missing:
            text += "; without " + ", ".join(f"{layer} ({why})" for layer, why in self.missing)
        return text

    def to_json(self) -> dict[str, Any]:
        return {"level": self.level, "layers": list(self.layers),
                "missing": [{"layer": layer, "reason": why} for layer, why in self.missing]}

    def to_record(self) -> dict[str, Any]:
        """The whole report, for the zygote's `ready` record."""
        return {**self.to_json(), "python": self.python, "torch": self.torch}

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> Isolation:
        return cls(data["level"], tuple(data["layers"]),
                   tuple((m["layer"], m["reason"]) for m in data["missing"]),
                   data.get("python", ""), data.get("torch"))


@record
class Exit:
    """How a job's process ended, as its backend learnt it (an `exited` or `failed`
    record from the zygote; a poll of the fresh interpreter in the spawn fallback)."""

    job: int
    status: int  # a wait status (os.waitpid's)
    cpu_s: float = 0.0
    failure: str | None = None  # the job never ran: why
    timed_out: bool = False  # ended by the spawn fallback's own alarm


SPAWN_LAYERS = ("fresh interpreter per snippet", "rlimits", "scrubbed environment",
                "own temp dir", "own session")


def isolation_report(layers: Layers | None, missing: list[tuple[str, str]], *,
                     shared_pidns: bool = False, python: str = "",
                     torch: str | None = None) -> Isolation:
    """The one place that names the layers. `layers` None: no zygote (the spawn
    fallback, one fresh interpreter per snippet). `shared_pidns`: the children share
    the zygote's pid namespace, without namespaces of their own."""
    if layers is None:
        return Isolation("weak", SPAWN_LAYERS, tuple(missing), python, torch)
    names = []
    if layers.namespaces:
        names += ["user namespace"] if layers.userns else []
        names += ["pid namespace", "mount namespace", "network namespace",
                  "ipc namespace", "uts namespace"]
        names += ["no capabilities"] if layers.userns else []
    elif shared_pidns:
        names += ["pid namespace (shared)"]
    if layers.drop_uid:
        names.append("unprivileged uid")
    if layers.seccomp:
        names.append("seccomp" if layers.namespaces else "seccomp (no fork/exec for python)")
    names += ["rlimits", "scrubbed environment"]
    strong = layers.namespaces and not any(m == "proc" for m, _ in missing)
    return Isolation("strong" if strong else "weak", tuple(names), tuple(missing),
                     python, torch)


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
    with contextlib.suppress(OSError):
        os.close(fd)
