"""kb's side of the sandbox: start the zygote, hand it jobs, read their output.

kb never imports torch. It starts the zygote with a scrubbed environment (the
child is a fork of the zygote, so whatever the zygote holds in memory, a snippet
can read), sends one record per job with the job's three pipes, and reads those
pipes itself: the wall-clock timeout and the output caps are enforced here, where
a snippet cannot interfere. A flood is cut at the cap and the run killed; nothing
is ever buffered whole.

Two backends start the jobs and learn how they ended, behind one interface
(`Backend`): `ZygoteBackend` here, over the control socket, and
`spawn.SpawnBackend`, a fresh interpreter per snippet where there is no zygote.
`Sandbox.run` keeps only what both share: pipes, caps and deadlines.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from kb.errors import IsolationError
from kb.record import record
from kb.sandbox import protocol
from kb.sandbox.environment import kb_root, zygote_environment
from kb.sandbox.protocol import SETUP_FAILED, ChildReport, Exit, Isolation, Job, Op
from kb.sandbox.spawn import SpawnBackend

READY_TIMEOUT_S = 300.0  # importing torch on a busy machine can take a while
REPORT_GRACE_S = 5.0  # after a kill, how long the zygote has to report the exit
PIPE_GRACE_S = 0.5  # after an exit, how long leftovers may hold the pipes (weak mode)
RESULT_BYTES = 256 * 1024


@record
class Outcome:
    """How one job ended: its output and exit, and what kb had to do about it."""

    job: int
    stdout: str
    stderr: str
    exit_code: int | None  # None when a signal ended it
    signal: int | None
    duration_s: float
    exc_type: str | None = None
    exc_message: str | None = None
    timed_out: bool = False
    cut: str | None = None  # why the output was cut and the run killed
    setup_error: str | None = None
    cpu_s: float = 0.0
    imported: tuple[str, ...] = ()  # slow modules it imported that the zygote did not have


class Backend(Protocol):
    """What starts jobs and learns how they ended: the zygote, or the spawn fallback."""

    startup_allowance_s: float  # added to each job's deadline (an interpreter's start)
    poll_s: float | None  # exits are polled this often (None: reported on selectable())

    @property
    def pid(self) -> int | None: ...
    def start(self) -> None: ...
    def isolation(self) -> Isolation: ...
    def selectable(self) -> socket.socket | None: ...
    def launch(self, job: Job, fds: list[int]) -> None: ...
    def kill(self, job_id: int) -> bool: ...  # False: nothing can be asked any more
    def warm(self, modules: tuple[str, ...]) -> None: ...
    def exits(self, readable: bool) -> list[Exit]: ...  # readable: selectable() is
    def release(self, job_id: int) -> None: ...  # the job is over for kb
    def close(self) -> None: ...


class ZygoteBackend:
    """The zygote, over its control socket: `run`, `kill` and `warm` records out,
    `exited` and `failed` records back."""

    startup_allowance_s = 0.0
    poll_s: float | None = None

    def __init__(self, python: str, gpu: bool, disable: tuple[str, ...]) -> None:
        self.python = python
        self.gpu = gpu
        self.disable = disable
        self._proc: subprocess.Popen[bytes] | None = None
        self._ctl: socket.socket | None = None
        self._isolation: Isolation | None = None
        self._early: deque[dict[str, Any]] = deque()  # records that came before `ready`
        self._warmed: set[str] = set()

    @property
    def pid(self) -> int | None:
        """The zygote's process id (its whole tree descends from it)."""
        return self._proc.pid if self._proc is not None else None

    def start(self) -> None:
        """Start the zygote now (it imports torch while kb does its own work)."""
        if self._proc is not None:
            return
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        code = ("import sys; sys.path.insert(0, sys.argv[1]); "
                "from kb.sandbox.zygote import main; main(sys.argv[2:])")
        debug = bool(os.environ.get("KB_DEBUG"))
        self._proc = subprocess.Popen(
            [self.python, "-c", code, kb_root(), str(theirs.fileno()), str(os.getpid()),
             "1" if self.gpu else "0", ",".join(self.disable)],
            env=zygote_environment(self.gpu), pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=None if debug else subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches kb, which then kills the tree
            cwd="/")
        theirs.close()
        self._ctl = ours

    def isolation(self) -> Isolation:
        """Wait until the zygote is ready and say what isolation it has."""
        if self._isolation is None:
            self.start()
            deadline = time.monotonic() + READY_TIMEOUT_S
            while self._isolation is None:
                message = self._receive(deadline - time.monotonic())
                if message is None:
                    raise IsolationError("the sandbox did not start (its process ended); "
                                         "rerun with KB_DEBUG=1 to see its errors")
                if message.get("op") == Op.READY:
                    self._isolation = Isolation.from_record(message["isolation"])
                elif message.get("op") == Op.BROKEN:
                    raise IsolationError(f"the sandbox could not start: {message['error']}")
                else:
                    self._early.append(message)
        return self._isolation

    def selectable(self) -> socket.socket:
        return self._require_ctl()

    def launch(self, job: Job, fds: list[int]) -> None:
        protocol.send(self._require_ctl(), {"op": Op.RUN, "job": job.to_json()}, fds)

    def kill(self, job_id: int) -> bool:
        if self._ctl is None:
            return False
        with contextlib.suppress(OSError):
            protocol.send(self._ctl, {"op": Op.KILL, "job": job_id})
        return True

    def warm(self, modules: tuple[str, ...]) -> None:
        """A child imported a slow module the zygote lacks: have the zygote import it,
        once, so the children after it do not pay again."""
        new = [m for m in modules if m not in self._warmed]
        if new and self._ctl is not None:
            self._warmed.update(new)
            with contextlib.suppress(OSError):
                protocol.send(self._ctl, {"op": Op.WARM, "modules": new})

    def exits(self, readable: bool) -> list[Exit]:
        if readable:
            try:
                got = self._receive(0.0)
            except BlockingIOError:
                got = {}
            if got is None:
                raise IsolationError("the sandbox process ended unexpectedly; "
                                     "rerun with KB_DEBUG=1 to see its errors")
            if got:
                self._early.append(got)
        ended = []
        while self._early:
            message = self._early.popleft()
            if message.get("op") == Op.EXITED:
                ended.append(Exit(message.get("job", -1), message["status"],
                                  message.get("cpu_s", 0.0)))
            elif message.get("op") == Op.FAILED:
                ended.append(Exit(message.get("job", -1), SETUP_FAILED << 8,
                                  failure=message.get("error", "the zygote could not fork")))
        return ended

    def release(self, job_id: int) -> None:
        return  # the zygote reaps its children and removes their temp dirs

    def close(self) -> None:
        """End the zygote and everything under it. Closing its socket asks it to go
        (it kills its children and exits); SIGKILL if it does not within a second."""
        if self._ctl is not None:
            self._ctl.close()
            self._ctl = None
        if self._proc is not None:
            try:  # still importing torch (kb run with a typo): no point waiting
                self._proc.wait(timeout=1.0 if self._isolation is not None else 0.0)
            except subprocess.TimeoutExpired:
                try:  # its parent-death chain takes down every level below it
                    os.killpg(self._proc.pid, signal.SIGKILL)
                except OSError:
                    self._proc.kill()
                self._proc.wait()
            self._proc = None

    def _require_ctl(self) -> socket.socket:
        if self._ctl is None:
            raise IsolationError("the sandbox is closed")
        return self._ctl

    def _receive(self, timeout: float) -> dict[str, Any] | None:
        ctl = self._require_ctl()
        ctl.settimeout(max(0.0, timeout))
        try:
            got = protocol.receive(ctl)
        except BlockingIOError:  # nothing yet: not the OSError (a dead zygote) below
            raise
        except TimeoutError:
            raise IsolationError(f"the sandbox did not answer within {READY_TIMEOUT_S:.0f} s"
                                 ) from None
        except OSError:
            return None
        finally:
            ctl.settimeout(None)
        if got is None:
            return None
        message, fds = got
        for fd in fds:
            os.close(fd)
        return message


@dataclass
class _Stream:
    name: str  # stdout, stderr or result
    cap: int  # bytes kept; beyond it (but for the result) the run is cut
    data: bytearray = field(default_factory=bytearray)
    open: bool = True


@dataclass
class _Running:
    job: Job
    started: float
    deadline: float
    streams: dict[int, _Stream] = field(default_factory=dict)  # by read fd
    status: int | None = None
    cpu_s: float = 0.0
    exited_at: float = 0.0
    killed_at: float = 0.0
    timed_out: bool = False
    cut: str | None = None
    failure: str | None = None  # why it never ran or never reported, in one line


class Sandbox:
    """The zygote and its jobs. Use as a context manager; `close` kills everything."""

    def __init__(self, *, gpu: bool = False, python: str | None = None,
                 disable: tuple[str, ...] | None = None) -> None:
        self.gpu = gpu
        self.python = python or sys.executable
        # layers to leave out ("namespaces", "seccomp"): to test the fallbacks, or to
        # run where a layer misbehaves; KB_SANDBOX_DISABLE=namespaces,seccomp does the same
        self.disable = disable if disable is not None else tuple(
            filter(None, os.environ.get("KB_SANDBOX_DISABLE", "").split(",")))
        self._backend = _choose_backend(self.python, gpu, self.disable)

    # ------------------------------------------------------------ life cycle

    def start(self) -> Sandbox:
        """Start the zygote now (it imports torch while kb does its own work)."""
        self._backend.start()
        return self

    @property
    def pid(self) -> int | None:
        """The zygote's process id (its whole tree descends from it); None without one."""
        return self._backend.pid

    def isolation(self) -> Isolation:
        """Wait until the sandbox is ready and say what isolation it has."""
        return self._backend.isolation()

    def close(self) -> None:
        """End the zygote and everything under it."""
        self._backend.close()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ running

    def run(self, jobs: Iterable[Job], workers: int = 1) -> Iterator[Outcome]:
        """Run the jobs, at most `workers` at a time; yield each outcome as it ends."""
        backend = self._backend
        backend.isolation()
        source = backend.selectable()
        pending = deque(jobs)
        running: dict[int, _Running] = {}
        sel = selectors.DefaultSelector()
        if source is not None:
            sel.register(source, selectors.EVENT_READ, None)
        try:
            while pending or running:
                while pending and len(running) < max(1, workers):
                    state = self._launch(pending.popleft(), sel)
                    running[state.job.id] = state
                now = time.monotonic()
                wait = min((self._next_event(s) for s in running.values()),
                           default=now + 1.0) - now
                if backend.poll_s is not None:
                    wait = min(wait, backend.poll_s)
                readable = False
                for key, _ in sel.select(max(0.0, min(wait, 1.0))):
                    if key.data is None:
                        readable = True
                    else:
                        self._read(key.data, key.fd, sel)
                for ended in backend.exits(readable):
                    self._note(ended, running)
                now = time.monotonic()
                for state in list(running.values()):
                    self._enforce(state, now)
                    if self._wind_up(state, now, sel):
                        del running[state.job.id]
                        backend.release(state.job.id)
                        outcome = self._outcome(state)
                        backend.warm(outcome.imported)
                        yield outcome
        finally:
            for state in running.values():
                self._kill(state)
                for fd in list(state.streams):
                    self._drop(state, fd, sel)
                backend.release(state.job.id)
            sel.close()

    def _launch(self, job: Job, sel: selectors.BaseSelector) -> _Running:
        now = time.monotonic()
        state = _Running(job, now,
                         now + job.limits.timeout_s + self._backend.startup_allowance_s)
        caps = {"stdout": job.limits.stdout_bytes, "stderr": job.limits.stderr_bytes,
                "result": RESULT_BYTES}
        theirs = []
        for name in ("stdout", "stderr", "result"):
            r, w = os.pipe2(os.O_CLOEXEC)
            os.set_blocking(r, False)
            state.streams[r] = _Stream(name, caps[name])
            sel.register(r, selectors.EVENT_READ, state)
            theirs.append(w)
        try:
            self._backend.launch(job, theirs)
        finally:
            for w in theirs:
                os.close(w)
        return state

    @staticmethod
    def _note(ended: Exit, running: dict[int, _Running]) -> None:
        state = running.get(ended.job)
        if state is None:
            return
        state.status = ended.status
        state.cpu_s = ended.cpu_s
        state.exited_at = time.monotonic()
        state.timed_out |= ended.timed_out
        state.failure = state.failure or ended.failure

    def _read(self, state: _Running, fd: int, sel: selectors.BaseSelector) -> None:
        stream = state.streams[fd]
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._drop(state, fd, sel)
            return
        room = stream.cap - len(stream.data)
        stream.data += chunk[:room]
        if len(chunk) > room and stream.name != "result":
            state.cut = state.cut or f"{stream.name} over {_size(stream.cap)}"
            self._kill(state)
            self._drop(state, fd, sel)

    def _drop(self, state: _Running, fd: int, sel: selectors.BaseSelector) -> None:
        """Stop reading a pipe (the bytes read so far stay in the job's state)."""
        state.streams[fd].open = False
        try:
            sel.unregister(fd)
        except (KeyError, ValueError):
            return
        os.close(fd)

    def _kill(self, state: _Running) -> None:
        if state.killed_at or state.status is not None:
            return
        if self._backend.kill(state.job.id):
            state.killed_at = time.monotonic()

    @staticmethod
    def _next_event(state: _Running) -> float:
        if state.status is not None:
            return state.exited_at + PIPE_GRACE_S
        if state.killed_at:
            return state.killed_at + REPORT_GRACE_S
        return state.deadline

    def _enforce(self, state: _Running, now: float) -> None:
        if state.status is None and not state.killed_at and now >= state.deadline:
            state.timed_out = True
            self._kill(state)

    def _wind_up(self, state: _Running, now: float, sel: selectors.BaseSelector) -> bool:
        """Whether the job is over; if it is, stop reading its pipes. Over: it exited
        and its pipes closed (or PIPE_GRACE_S passed), or it was killed and no exit
        came within REPORT_GRACE_S (then that is its failure)."""
        open_fds = [fd for fd, stream in state.streams.items() if stream.open]
        if state.status is not None:
            if open_fds and now < state.exited_at + PIPE_GRACE_S:
                return False
            for fd in open_fds:  # leftovers holding our pipes (weak isolation only)
                self._drop(state, fd, sel)
            return True
        if state.killed_at and now >= state.killed_at + REPORT_GRACE_S:
            state.failure = "the sandbox did not report the end of this run"
            for fd in open_fds:
                self._drop(state, fd, sel)
            return True
        return False

    @staticmethod
    def _outcome(state: _Running) -> Outcome:
        texts = {s.name: bytes(s.data).decode("utf-8", errors="replace")
                 for s in state.streams.values()}
        report: ChildReport = {}
        for line in texts.get("result", "").splitlines():
            try:
                report.update(json.loads(line))
            except ValueError:
                continue
        status = state.status
        exit_code = sig = None
        if status is not None:
            if os.WIFSIGNALED(status):
                sig = os.WTERMSIG(status)
            else:
                exit_code = os.waitstatus_to_exitcode(status)
        setup = state.failure or (report.get("setup_error") and
                                  f"{report.get('layer')}: {report.get('setup_error')}")
        end = state.exited_at or time.monotonic()
        return Outcome(
            job=state.job.id, stdout=texts.get("stdout", ""), stderr=texts.get("stderr", ""),
            exit_code=exit_code, signal=sig, duration_s=round(end - state.started, 4),
            exc_type=_text(report.get("exc_type")), exc_message=_text(report.get("exc_message")),
            timed_out=state.timed_out, cut=state.cut, setup_error=setup or None,
            cpu_s=round(state.cpu_s, 4),
            imported=tuple(m for m in report.get("imported", []) if isinstance(m, str)))


def _choose_backend(python: str, gpu: bool, disable: tuple[str, ...]) -> Backend:
    """The zygote on Linux; a fresh interpreter per snippet elsewhere, or when disabled."""
    if not sys.platform.startswith("linux"):
        return SpawnBackend(python, gpu, f"not available on {sys.platform}")
    if "zygote" in disable:
        return SpawnBackend(python, gpu, "disabled by KB_SANDBOX_DISABLE")
    return ZygoteBackend(python, gpu, disable)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _size(n: int) -> str:
    return f"{n // 1024} KiB" if n < 1 << 20 else f"{n // (1 << 20)} MiB"
