"""The shell runner: `lang: sh` snippets run as `bash -c CODE` in the same sandbox.

bash needs fork and exec, so for shell snippets the namespaces (not seccomp's
no-exec policy) carry the isolation. Python ignores SIGPIPE and SIGXFSZ and an
ignored signal stays ignored across exec: restore them, or `yes | head` would
print "Broken pipe" and an oversized file would not stop `dd`.
"""

from __future__ import annotations

import os
import shutil
import signal
from typing import NoReturn

BASH_CANDIDATES = ("/bin/bash", "/usr/bin/bash")


def bash_path() -> str | None:
    for path in BASH_CANDIDATES:
        if os.access(path, os.X_OK):
            return path
    return shutil.which("bash")


def exec_bash(code: str) -> NoReturn:
    """Replace this process with bash running `code` (stdin, stdout, stderr as set up)."""
    for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM, signal.SIGQUIT):
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    bash = bash_path()
    if bash is None:
        raise FileNotFoundError("bash is not installed; shell snippets need it")
    os.execve(bash, [bash, "--noprofile", "--norc", "-c", code], dict(os.environ))
