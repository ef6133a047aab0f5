"""Whole-process timing shared by the bench scripts."""

from __future__ import annotations

import statistics
import subprocess
import time


def median_s(cmd: list[str], runs: int, env: dict[str, str]) -> float:
    """Median wall time of `cmd` over `runs` runs, output discarded."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                       check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times)
