"""Whole-process timing shared by the bench scripts."""

from __future__ import annotations

import statistics
import subprocess
import time


def median_s(cmd: list[str], runs: int, env: dict[str, str]) -> float:
    """Median wall time of `cmd` over `runs` runs, output discarded."""
    return interleaved({"cmd": cmd}, runs, env)["cmd"]


def interleaved(cmds: dict[str, list[str]], runs: int, env: dict[str, str]) -> dict[str, float]:
    """Median wall time of each command, run in turn `runs` times: a load spike on a
    shared machine then hits every command (and the floor) alike."""
    times: dict[str, list[float]] = {key: [] for key in cmds}
    for _ in range(runs):
        for key, cmd in cmds.items():
            start = time.perf_counter()
            subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                           check=False)
            times[key].append(time.perf_counter() - start)
    return {key: statistics.median(values) for key, values in times.items()}
