"""The fallback where the zygote cannot run (no Linux: no fork-server protocol,
namespaces or seccomp here): one fresh interpreter per snippet.

Slower (each snippet imports torch itself, ~1 s) and weaker (rlimits, a scrubbed
environment, a temp dir, its own session so the group can be killed), and the
isolation report says exactly that. The snippet itself runs through the same code
as in a zygote's child (`kb.sandbox.child`), so results mean the same thing.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import tempfile
from typing import NoReturn

from kb.sandbox import child, shell
from kb.sandbox.child import Job
from kb.sandbox.limits import apply_rlimits

# a fresh interpreter imports torch before the snippet's clock starts (in the child,
# with SIGALRM); kb's own deadline allows for that import on top of the timeout
STARTUP_ALLOWANCE_S = 60.0
LAYERS = ("fresh interpreter per snippet", "rlimits", "scrubbed environment",
          "own temp dir", "own session")


def missing(reason: str) -> list[tuple[str, str]]:
    return [("zygote", reason), ("namespaces", reason), ("seccomp", reason)]


def launch(job: Job, fds: list[int], python: str, gpu: bool
           ) -> tuple[subprocess.Popen[bytes], str]:
    """Start one snippet in a fresh interpreter; returns the process and its temp dir."""
    out, err, res = fds
    work_dir = tempfile.mkdtemp(prefix="kb-run-")
    env = child.environment(work_dir, gpu, os.environ.get("CUDA_VISIBLE_DEVICES"))
    import kb

    kb_root = os.path.dirname(os.path.dirname(os.path.abspath(kb.__file__)))
    code = ("import sys; sys.path.insert(0, sys.argv[1]); "
            "from kb.sandbox.spawn import main; main(sys.argv[2:])")
    proc = subprocess.Popen(
        [python, "-c", code, kb_root, json.dumps(job.to_json()), str(res)],
        stdin=subprocess.DEVNULL, stdout=out, stderr=err, pass_fds=[res], env=env,
        cwd=work_dir, start_new_session=True)
    return proc, work_dir


def main(argv: list[str]) -> NoReturn:
    """The fresh interpreter: torch first (so seeding reaches it, and the address-space
    limit counts from after it), then the limits, then the snippet."""
    job = Job.from_json(json.loads(argv[0]))
    result_fd = int(argv[1])
    os.set_inheritable(result_fd, False)
    status = child.SETUP_FAILED
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
            child._report(result_fd, {"missing": []})
            os.close(result_fd)
            shell.exec_bash(job.code)
        status = child._run_python(job, result_fd, [], loopback=False)
    except BaseException as exc:
        os.write(2, f"kb sandbox: {type(exc).__name__}: {exc}\n".encode())
    sys.stdout.flush()
    os._exit(status)


def wait_status(returncode: int) -> int:
    """Popen's returncode as a wait status (what the zygote reports)."""
    return -returncode & 0x7F if returncode < 0 else (returncode & 0xFF) << 8
