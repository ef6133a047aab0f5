"""The scrubbed environment: the zygote's and every snippet's, built, never inherited.

The child is a fork of the zygote, so whatever the zygote holds (its memory,
/proc/self/environ) a snippet can read: nothing of kb's environment reaches either
but what is named here.
"""

from __future__ import annotations

import os
import sys

SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# What the zygote and every snippet share: a fixed locale and hash seed, no bytecode
# writes, one thread (a pool started in the zygote would be missing in its forks, and
# unshare needs one thread), and no GPU unless asked for.
QUIET_ENV = {
    "LANG": "C.UTF-8",
    "PYTHONHASHSEED": "0",
    "PYTHONDONTWRITEBYTECODE": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "CUDA_VISIBLE_DEVICES": "",
}

# Settings of the user's that reach the zygote and every snippet: the import path, and
# the two that choose torch's CPU code path. Which kernel runs (oneDNN's AVX-512/AMX
# paths or the reference ones) changes some of torch's messages, so `make test` runs
# `kb check` a second time as a CPU without AVX-512 would (ONEDNN_MAX_CPU_ISA=AVX2).
PASSED_ON = ("PYTHONPATH", "ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA")


def passed_on() -> dict[str, str]:
    """The PASSED_ON variables that are set here."""
    return {name: os.environ[name] for name in PASSED_ON if os.environ.get(name)}


def kb_root() -> str:
    """The directory kb is imported from: the zygote and the spawned interpreters put
    it first on sys.path, so they run this kb, not another installed one."""
    import kb  # the package itself: its __file__ says where it is

    return os.path.dirname(os.path.dirname(os.path.abspath(kb.__file__)))


def zygote_environment(gpu: bool) -> dict[str, str]:
    """The zygote's whole environment."""
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


def snippet_environment(work_dir: str, gpu: bool, cuda_devices: str | None) -> dict[str, str]:
    """The snippet's whole environment: nothing inherited, HOME in the work dir. No GPU
    unless `gpu`; then the user's CUDA_VISIBLE_DEVICES (`cuda_devices`), if any, holds."""
    env = {
        "PATH": f"{os.path.dirname(sys.executable)}:{SYSTEM_PATH}",
        "HOME": work_dir,
        "TMPDIR": work_dir,
        **QUIET_ENV,
        "MPLBACKEND": "Agg",
        "USER": "sandbox",  # getpass.getuser() reads these before the passwd file
        "LOGNAME": "sandbox",
        "TERM": "dumb",
        **passed_on(),
    }
    if gpu:
        del env["CUDA_VISIBLE_DEVICES"]
        if cuda_devices is not None:
            env["CUDA_VISIBLE_DEVICES"] = cuda_devices
    return env
