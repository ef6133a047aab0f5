"""The fallback where the zygote cannot run (no Linux: no fork-server protocol,
namespaces or seccomp here): one fresh interpreter per snippet.

Slower (each snippet imports torch itself, ~1 s) and weaker (rlimits, a scrubbed
environment, a temp dir, its own session so the group can be killed), and the
isolation report says exactly that. The snippet itself runs through the same code
as in a zygote's child (`kb.sandbox.child`), so results mean the same thing.

`SpawnBackend` is kb's side (the same interface as the zygote's, see
`kb.sandbox.session`); `main` is the fresh interpreter's.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import NoReturn

from kb.sandbox.environment import kb_root, snippet_environment
from kb.sandbox.limits import apply_rlimits
from kb.sandbox.protocol import SETUP_FAILED, Exit, Isolation, Job, isolation_report


@dataclass
class _Spawned:
    proc: subprocess.Popen[bytes]
    work_dir: str
    reported: bool = False


class SpawnBackend:
    """Jobs as fresh interpreters; their ends are learnt by polling."""

    # a fresh interpreter imports torch before the snippet's clock starts (in the child,
    # with SIGALRM); kb's own deadline allows for that import on top of the timeout
    startup_allowance_s = 60.0
    poll_s: float | None = 0.02  # no process tells us of an exit: poll this often
    pid = None  # no long-lived process of ours

    def __init__(self, python: str, gpu: bool, reason: str) -> None:
        self.python = python
        self.gpu = gpu
        self.reason = reason  # why there is no zygote, for the isolation report
        self._jobs: dict[int, _Spawned] = {}

    def start(self) -> None:
        return

    def isolation(self) -> Isolation:
        reason = self.reason
        return isolation_report(None, [("zygote", reason), ("namespaces", reason),
                                       ("seccomp", reason)])

    def selectable(self) -> None:
        return None

    def launch(self, job: Job, fds: list[int]) -> None:
        """Start one snippet in a fresh interpreter, in a temp dir of its own."""
        out, err, res = fds
        work_dir = tempfile.mkdtemp(prefix="kb-run-")
        env = snippet_environment(work_dir, self.gpu, os.environ.get("CUDA_VISIBLE_DEVICES"))
        code = ("import sys; sys.path.insert(0, sys.argv[1]); "
                "from kb.sandbox.spawn import main; main(sys.argv[2:])")
        try:
            proc = subprocess.Popen(
                [self.python, "-c", code, kb_root(), json.dumps(job.to_json()), str(res)],
                stdin=subprocess.DEVNULL, stdout=out, stderr=err, pass_fds=[res], env=env,
                cwd=work_dir, start_new_session=True)
        except BaseException:
            shutil.rmtree(work_dir, ignore_errors=True)
            raise
        self._jobs[job.id] = _Spawned(proc, work_dir)

    def kill(self, job_id: int) -> bool:
        spawned = self._jobs.get(job_id)
        if spawned is not None:
            with contextlib.suppress(OSError):  # its own session: the whole group
                os.killpg(spawned.proc.pid, signal.SIGKILL)
        return True

    def warm(self, modules: tuple[str, ...]) -> None:
        return  # every interpreter is fresh: nothing to keep warm

    def exits(self, readable: bool) -> list[Exit]:
        ended = []
        for job_id, spawned in self._jobs.items():
            code = None if spawned.reported else spawned.proc.poll()
            if code is not None:
                spawned.reported = True
                ended.append(Exit(job_id, wait_status(code),
                                  timed_out=code == -signal.SIGALRM))
        return ended

    def release(self, job_id: int) -> None:
        """The job is over for kb: wait for its process and remove its temp dir."""
        spawned = self._jobs.pop(job_id, None)
        if spawned is not None:
            spawned.proc.wait()
            shutil.rmtree(spawned.work_dir, ignore_errors=True)

    def close(self) -> None:
        return


def main(argv: list[str]) -> NoReturn:
    """The fresh interpreter: torch first (so seeding reaches it, and the address-space
    limit counts from after it), then the limits, then the snippet."""
    # imported here, not by kb: the child's code is this interpreter's, never kb's own
    from kb.sandbox import child, shell

    job = Job.from_json(json.loads(argv[0]))
    result_fd = int(argv[1])
    os.set_inheritable(result_fd, False)
    status = SETUP_FAILED
    try:
        if job.lang != "sh":
            for name in ("numpy", "numpy.random", "torch"):
                try:
                    __import__(name)
                except ImportError:
                    continue
        apply_rlimits(job.limits)
        signal.alarm(max(1, math.ceil(job.limits.timeout_s)))  # SIGALRM ends it: a timeout
        if job.lang == "sh":
            child.report(result_fd, {"missing": []})
            os.close(result_fd)
            shell.exec_bash(job.code)
        status = child.run_python(job, result_fd, [], loopback=False)
    except BaseException as exc:
        os.write(2, f"kb sandbox: {type(exc).__name__}: {exc}\n".encode())
    sys.stdout.flush()
    os._exit(status)


def wait_status(returncode: int) -> int:
    """Popen's returncode as a wait status (what the zygote reports)."""
    return -returncode & 0x7F if returncode < 0 else (returncode & 0xFF) << 8
