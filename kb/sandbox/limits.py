"""The bounds every snippet runs under, and the rlimits that enforce most of them.

Wall clock and output size are enforced by kb itself (it reads the pipes and
kills the run); the rest are rlimits set in the child before the snippet runs.
RLIMIT_NPROC binds here because the child never runs as real root: it is either
root of its own user namespace or dropped to an unprivileged uid.
"""

from __future__ import annotations

import math
import resource
from typing import Any

from kb.record import asdict, record

GiB = 1 << 30
MiB = 1 << 20
KiB = 1 << 10


@record
class Limits:
    timeout_s: float = 10.0  # wall clock; the entry format's default, a snippet may override
    memory_bytes: int = 2 * GiB  # address space on top of what the zygote has mapped
    processes: int = 128  # RLIMIT_NPROC (counted per user namespace, or per dropped uid)
    file_bytes: int = 64 * MiB  # largest file a snippet may write
    open_files: int = 256
    stdout_bytes: int = 256 * KiB  # output beyond these is cut with a notice and the run killed
    stderr_bytes: int = 64 * KiB
    tmp_bytes: int = 256 * MiB  # the private /tmp (work dir included) and /dev/shm, each

    @property
    def cpu_seconds(self) -> int:
        """CPU time: above the wall clock, so it only ends what the timeout would miss
        (e.g. many busy processes)."""
        return max(1, math.ceil(self.timeout_s * 2))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Limits:
        return cls(**data)


def address_space_in_use() -> int:
    """Bytes mapped by this process now (VmSize): the zygote maps ~1 GB for torch alone."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def apply_rlimits(limits: Limits) -> None:
    """Set the rlimits in the calling (child) process; hard = soft so they cannot be raised."""
    used = resource.getrusage(resource.RUSAGE_SELF)  # a fresh interpreter that imported torch
    cpu = limits.cpu_seconds + math.ceil(used.ru_utime + used.ru_stime)
    settings = [
        (resource.RLIMIT_CPU, cpu, cpu + 1),  # SIGXCPU at soft, SIGKILL at hard
        (resource.RLIMIT_AS, address_space_in_use() + limits.memory_bytes, None),
        (resource.RLIMIT_NPROC, limits.processes, None),
        (resource.RLIMIT_FSIZE, limits.file_bytes, None),
        (resource.RLIMIT_NOFILE, limits.open_files, None),
        (resource.RLIMIT_CORE, 0, None),
    ]
    for which, soft, hard in settings:
        _, current_hard = resource.getrlimit(which)
        hard = soft if hard is None else hard
        if current_hard != resource.RLIM_INFINITY:
            soft, hard = min(soft, current_hard), min(hard, current_hard)
        resource.setrlimit(which, (soft, hard))
