"""kb's side of the sandbox: start the zygote, hand it jobs, read their output.

kb never imports torch. It starts the zygote with a scrubbed environment (the
child is a fork of the zygote, so whatever the zygote holds in memory, a snippet
can read), sends one record per job with the job's three pipes, and reads those
pipes itself: the wall-clock timeout and the output caps are enforced here, where
a snippet cannot interfere. A flood is cut at the cap and the run killed; nothing
is ever buffered whole.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from kb.errors import IsolationError
from kb.sandbox import protocol, spawn
from kb.sandbox.child import QUIET_ENV, SETUP_FAILED, SYSTEM_PATH, Job, passed_on

READY_TIMEOUT_S = 300.0  # importing torch on a busy machine can take a while
REPORT_GRACE_S = 5.0  # after a kill, how long the zygote has to report the exit
PIPE_GRACE_S = 0.5  # after an exit, how long leftovers may hold the pipes (weak mode)
RESULT_BYTES = 256 * 1024


@dataclass(frozen=True)
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


@dataclass(frozen=True)
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


@dataclass
class _Running:
    job: Job
    started: float
    deadline: float
    streams: dict[int, tuple[str, bytearray, int]] = field(default_factory=dict)
    status: int | None = None
    cpu_s: float = 0.0
    exited_at: float = 0.0
    killed_at: float = 0.0
    timed_out: bool = False
    cut: str | None = None
    failed: str | None = None
    proc: subprocess.Popen[bytes] | None = None  # spawn mode: the fresh interpreter
    host_dir: str | None = None  # spawn mode: its temp dir, removed at the end


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
        self._proc: subprocess.Popen[bytes] | None = None
        self._ctl: socket.socket | None = None
        self._isolation: Isolation | None = None
        self._early: deque[dict[str, Any]] = deque()
        self._warmed: set[str] = set()
        # no zygote off Linux (or when disabled): a fresh interpreter per snippet
        self.spawn_reason = (None if sys.platform.startswith("linux") and
                             "zygote" not in self.disable else
                             f"not available on {sys.platform}"
                             if not sys.platform.startswith("linux") else
                             "disabled by KB_SANDBOX_DISABLE")

    # ------------------------------------------------------------ life cycle

    def start(self) -> Sandbox:
        """Start the zygote now (it imports torch while kb does its own work)."""
        if self._proc is not None or self.spawn_reason is not None:
            return self
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        import kb

        kb_root = os.path.dirname(os.path.dirname(os.path.abspath(kb.__file__)))
        code = ("import sys; sys.path.insert(0, sys.argv[1]); "
                "from kb.sandbox.zygote import main; main(sys.argv[2:])")
        debug = bool(os.environ.get("KB_DEBUG"))
        self._proc = subprocess.Popen(
            [self.python, "-c", code, kb_root, str(theirs.fileno()), str(os.getpid()),
             "1" if self.gpu else "0", ",".join(self.disable)],
            env=zygote_environment(self.gpu), pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=None if debug else subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches kb, which then kills the tree
            cwd="/")
        theirs.close()
        self._ctl = ours
        return self

    @property
    def pid(self) -> int | None:
        """The zygote's process id (its whole tree descends from it)."""
        return self._proc.pid if self._proc is not None else None

    def isolation(self) -> Isolation:
        """Wait until the zygote is ready and say what isolation it has."""
        if self._isolation is None and self.spawn_reason is not None:
            self._isolation = Isolation("weak", spawn.LAYERS,
                                        tuple(spawn.missing(self.spawn_reason)))
        if self._isolation is None:
            self.start()
            deadline = time.monotonic() + READY_TIMEOUT_S
            while self._isolation is None:
                message = self._receive(deadline - time.monotonic())
                if message is None:
                    raise IsolationError("the sandbox did not start (its process ended); "
                                         "rerun with KB_DEBUG=1 to see its errors")
                if message.get("op") == "ready":
                    iso = message["isolation"]
                    self._isolation = Isolation(
                        iso["level"], tuple(iso["layers"]),
                        tuple((m[0], m[1]) for m in iso["missing"]),
                        message.get("python", ""), message.get("torch"))
                elif message.get("op") == "broken":
                    raise IsolationError(f"the sandbox could not start: {message['error']}")
                else:
                    self._early.append(message)
        return self._isolation

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

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ running

    def run(self, jobs: Iterable[Job], workers: int = 1) -> Iterator[Outcome]:
        """Run the jobs, at most `workers` at a time; yield each outcome as it ends."""
        self.isolation()
        ctl = self._require_ctl() if self.spawn_reason is None else None
        pending = deque(jobs)
        running: dict[int, _Running] = {}
        sel = selectors.DefaultSelector()
        if ctl is not None:
            sel.register(ctl, selectors.EVENT_READ, None)
        try:
            while pending or running:
                while pending and len(running) < max(1, workers):
                    state = self._launch(pending.popleft(), sel)
                    running[state.job.id] = state
                while self._early:
                    self._note(self._early.popleft(), running)
                now = time.monotonic()
                wait = min((self._next_event(s) for s in running.values()),
                           default=now + 1.0) - now
                if ctl is None:  # spawn mode: exits are polled, not reported
                    wait = min(wait, 0.02)
                for key, _ in sel.select(max(0.0, min(wait, 1.0))):
                    if key.fileobj is ctl:
                        try:
                            got = self._receive(0.0)
                        except BlockingIOError:
                            continue
                        if got is None:
                            raise IsolationError("the sandbox process ended unexpectedly; "
                                                 "rerun with KB_DEBUG=1 to see its errors")
                        self._note(got, running)
                    else:
                        self._read(key.data, key.fd, sel)
                now = time.monotonic()
                for state in list(running.values()):
                    if state.proc is not None and state.status is None:
                        code = state.proc.poll()
                        if code is not None:
                            state.status = spawn.wait_status(code)
                            state.exited_at = now
                            state.timed_out |= code == -signal.SIGALRM
                    self._enforce(state, now, sel)
                    if self._finished(state, now, sel):
                        del running[state.job.id]
                        if state.host_dir:
                            shutil.rmtree(state.host_dir, ignore_errors=True)
                        outcome = self._outcome(state)
                        self._warm(outcome.imported)
                        yield outcome
        finally:
            for state in running.values():
                self._kill(state)
                for fd in list(state.streams):
                    self._drop(state, fd, sel)
                if state.proc is not None:
                    state.proc.wait()
                if state.host_dir:
                    shutil.rmtree(state.host_dir, ignore_errors=True)
            sel.close()

    def _require_ctl(self) -> socket.socket:
        if self._ctl is None:
            raise IsolationError("the sandbox is closed")
        return self._ctl

    def _launch(self, job: Job, sel: selectors.BaseSelector) -> _Running:
        now = time.monotonic()
        state = _Running(job, now, now + job.limits.timeout_s)
        caps = {"stdout": job.limits.stdout_bytes, "stderr": job.limits.stderr_bytes,
                "result": RESULT_BYTES}
        theirs = []
        for name in ("stdout", "stderr", "result"):
            r, w = os.pipe2(os.O_CLOEXEC)
            os.set_blocking(r, False)
            state.streams[r] = (name, bytearray(), caps[name])
            sel.register(r, selectors.EVENT_READ, state)
            theirs.append(w)
        try:
            if self.spawn_reason is not None:
                state.proc, state.host_dir = spawn.launch(job, theirs, self.python, self.gpu)
                state.deadline += spawn.STARTUP_ALLOWANCE_S  # the child keeps the timeout
            else:
                protocol.send(self._require_ctl(), {"op": "run", "job": job.to_json()},
                              theirs)
        finally:
            for w in theirs:
                os.close(w)
        return state

    def _receive(self, timeout: float) -> dict[str, Any] | None:
        ctl = self._require_ctl()
        ctl.settimeout(max(0.0, timeout))
        try:
            got = protocol.receive(ctl)
        except BlockingIOError:
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

    @staticmethod
    def _note(message: dict[str, Any], running: dict[int, _Running]) -> None:
        state = running.get(message.get("job", -1))
        if state is None:
            return
        if message.get("op") == "exited":
            state.status = message["status"]
            state.cpu_s = message.get("cpu_s", 0.0)
            state.exited_at = time.monotonic()
        elif message.get("op") == "failed":
            state.failed = message.get("error", "the zygote could not fork")
            state.status = SETUP_FAILED << 8
            state.exited_at = time.monotonic()

    def _read(self, state: _Running, fd: int, sel: selectors.BaseSelector) -> None:
        name, buf, cap = state.streams[fd]
        try:
            chunk = os.read(fd, 65536)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._drop(state, fd, sel)
            return
        room = cap - len(buf)
        buf += chunk[:room]
        if len(chunk) > room and name != "result":
            state.cut = state.cut or f"{name} over {_size(cap)}"
            self._kill(state)
            self._drop(state, fd, sel)

    def _drop(self, state: _Running, fd: int, sel: selectors.BaseSelector) -> None:
        """Stop reading a pipe (the bytes read so far stay in the job's state)."""
        name, buf, _cap = state.streams[fd]
        state.streams[fd] = (name, buf, -1)
        try:
            sel.unregister(fd)
        except (KeyError, ValueError):
            return
        os.close(fd)

    def _kill(self, state: _Running) -> None:
        if state.killed_at or state.status is not None:
            return
        if state.proc is not None:
            state.killed_at = time.monotonic()
            with contextlib.suppress(OSError):  # its own session: the whole group
                os.killpg(state.proc.pid, signal.SIGKILL)
            return
        if self._ctl is None:
            return
        state.killed_at = time.monotonic()
        with contextlib.suppress(OSError):
            protocol.send(self._ctl, {"op": "kill", "job": state.job.id})

    def _warm(self, modules: tuple[str, ...]) -> None:
        """A child imported a slow module the zygote lacks: have the zygote import it,
        once, so the children after it do not pay again."""
        new = [m for m in modules if m not in self._warmed]
        if new and self._ctl is not None:
            self._warmed.update(new)
            with contextlib.suppress(OSError):
                protocol.send(self._ctl, {"op": "warm", "modules": new})

    @staticmethod
    def _next_event(state: _Running) -> float:
        if state.status is not None:
            return state.exited_at + PIPE_GRACE_S
        if state.killed_at:
            return state.killed_at + REPORT_GRACE_S
        return state.deadline

    def _enforce(self, state: _Running, now: float, sel: selectors.BaseSelector) -> None:
        if state.status is None and not state.killed_at and now >= state.deadline:
            state.timed_out = True
            self._kill(state)

    def _finished(self, state: _Running, now: float, sel: selectors.BaseSelector) -> bool:
        open_fds = [fd for fd, (_, _, cap) in state.streams.items() if cap >= 0]
        if state.status is not None:
            if open_fds and now < state.exited_at + PIPE_GRACE_S:
                return False
            for fd in open_fds:  # leftovers holding our pipes (weak isolation only)
                self._drop(state, fd, sel)
            return True
        if state.killed_at and now >= state.killed_at + REPORT_GRACE_S:
            state.failed = "the sandbox did not report the end of this run"
            for fd in open_fds:
                self._drop(state, fd, sel)
            return True
        return False

    @staticmethod
    def _outcome(state: _Running) -> Outcome:
        texts = {name: bytes(buf).decode("utf-8", errors="replace")
                 for name, buf, _ in state.streams.values()}
        result: dict[str, Any] = {}
        for line in texts.get("result", "").splitlines():
            try:
                result.update(json.loads(line))
            except ValueError:
                continue
        status = state.status
        exit_code = sig = None
        if status is not None:
            if os.WIFSIGNALED(status):
                sig = os.WTERMSIG(status)
            else:
                exit_code = os.waitstatus_to_exitcode(status)
        setup = state.failed or (result.get("setup_error") and
                                 f"{result.get('layer')}: {result['setup_error']}")
        end = state.exited_at or time.monotonic()
        return Outcome(
            job=state.job.id, stdout=texts.get("stdout", ""), stderr=texts.get("stderr", ""),
            exit_code=exit_code, signal=sig, duration_s=round(end - state.started, 4),
            exc_type=_text(result.get("exc_type")), exc_message=_text(result.get("exc_message")),
            timed_out=state.timed_out, cut=state.cut, setup_error=setup or None,
            cpu_s=round(state.cpu_s, 4),
            imported=tuple(m for m in result.get("imported", []) if isinstance(m, str)))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _size(n: int) -> str:
    return f"{n // 1024} KiB" if n < 1 << 20 else f"{n // (1 << 20)} MiB"


def zygote_environment(gpu: bool) -> dict[str, str]:
    """The zygote's whole environment. Nothing else of kb's is passed on: the child is
    a fork of the zygote, so its memory (and /proc/self/environ) is the snippet's."""
    env = {
        "PATH": os.environ.get("PATH", SYSTEM_PATH),
        **QUIET_ENV,  # one thread: OpenBLAS starts a pool as numpy loads
        # malloc in transparent huge pages: fewer page-table entries to copy per fork
        # (measured: 11 -> 6 ms of CPU per fork of a torch-loaded zygote)
        "GLIBC_TUNABLES": "glibc.malloc.hugetlb=1",
    }
    env.update(passed_on())
    if gpu:
        devices = os.environ.get("CUDA_VISIBLE_DEVICES")
        if devices is None:
            del env["CUDA_VISIBLE_DEVICES"]
        else:
            env["CUDA_VISIBLE_DEVICES"] = env["KB_SANDBOX_CUDA_DEVICES"] = devices
    return env
