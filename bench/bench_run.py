"""Whole-process speed of `kb run` and `kb check`, as ratios to floors.

- `kb run view-reshape` against `python -c "import torch"` (target: <= 1.25x): the
  zygote imports torch while kb loads the entry, so kb costs little beyond torch.
- `kb check` overhead per snippet (target: <= 20 ms beyond the snippet's own work),
  measured as the slope between checking 1 and N trivial snippets (`print(1)`), one
  job at a time: (T(N) - T(1)) / (N - 1).
- the whole knowledge base with `kb check` (target: under 10 s on 2 cores).
- `kb doctor` against `python -c "import torch"` (target: <= 1.0x): torch is asked in
  the sandbox while nvidia-smi answers beside it.

Run: .venv/bin/python bench/bench_run.py [--runs N] [--snippets N]
Prints medians (wall and CPU: kb, the zygote and every child) and ratios; exits 0
always (numbers, not a test). On a busy machine wall times stretch across the board;
the ratios, and the CPU times, are what to compare.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUN_TARGET = 1.25
DOCTOR_TARGET = 1.0  # kb doctor: no longer than importing torch (issue 10)
OVERHEAD_TARGET_MS = 20.0
CHECK_TARGET_S = 10.0


CPU: dict[str, float] = {}  # median CPU seconds (kb and every process under it) by label


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def seconds(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU time of one run (CPU counts the zygote and every child: each level
    waits for the one below it)."""
    cpu = _children_cpu()
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                   check=False)
    return time.perf_counter() - start, _children_cpu() - cpu


def median_s(cmd: list[str], runs: int, env: dict[str, str], label: str = "") -> float:
    return interleaved({label: cmd}, runs, env)[label]


def interleaved(cmds: dict[str, list[str]], runs: int, env: dict[str, str]) -> dict[str, float]:
    """Medians of commands run in turn, so a load spike hits all of them alike."""
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in cmds}
    for _ in range(runs):
        for key, cmd in cmds.items():
            times[key].append(seconds(cmd, env))
    for key, values in times.items():
        CPU[key] = statistics.median(c for _, c in values)
    return {k: statistics.median(w for w, _ in v) for k, v in times.items()}


def trivial_entry(directory: Path, count: int) -> None:
    snippets = "".join(f"  - name: s{i}\n    code: print({i})\n    expect: '{i}'\n"
                       for i in range(count))
    (directory / f"bench-{count}.yaml").write_text(
        f"id: bench-{count}\nkind: api\ntitle: bench\nsummary: bench\nsnippets:\n{snippets}",
        encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--snippets", type=int, default=100)
    args = parser.parse_args()
    env = {**os.environ, "NO_COLOR": "1"}
    kb = [sys.executable, "-m", "kb"]
    py = sys.executable
    subprocess.run([*kb, "run", "view-reshape"], capture_output=True, env=env, check=False)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")

    t = interleaved({"pass": [py, "-c", "pass"], "torch": [py, "-c", "import torch"],
                     "run": [*kb, "run", "view-reshape"], "doctor": [*kb, "doctor"]},
                    args.runs, env)
    ratio = t["run"] / t["torch"]
    print(f"floor  python -c pass              {t['pass'] * 1000:7.0f} ms wall "
          f"{CPU['pass'] * 1000:6.0f} ms CPU")
    print(f"floor  python -c 'import torch'    {t['torch'] * 1000:7.0f} ms wall "
          f"{CPU['torch'] * 1000:6.0f} ms CPU")
    print(f"kb run view-reshape (3 snippets)   {t['run'] * 1000:7.0f} ms wall "
          f"{CPU['run'] * 1000:6.0f} ms CPU  {ratio:4.2f}x import torch  "
          f"{t['run'] / t['pass']:5.1f}x python -c pass  "
          f"({'at or under' if ratio <= RUN_TARGET else 'OVER'} the {RUN_TARGET}x target)")
    ratio = t["doctor"] / t["torch"]
    print(f"kb doctor                          {t['doctor'] * 1000:7.0f} ms wall "
          f"{CPU['doctor'] * 1000:6.0f} ms CPU  {ratio:4.2f}x import torch  "
          f"({'at or under' if ratio <= DOCTOR_TARGET else 'OVER'} the {DOCTOR_TARGET}x target)")

    with tempfile.TemporaryDirectory() as tmp:
        entries = Path(tmp)
        n = args.snippets
        trivial_entry(entries, 1)
        trivial_entry(entries, n)
        base = [*kb, "check", "--entries", tmp, "--jobs", "1"]
        env1 = {**env, "KB_BUILTIN": "0"}
        t = interleaved({"one": [*base, "bench-1"], "many": [*base, f"bench-{n}"]},
                        max(3, args.runs // 2), env1)
        per = (t["many"] - t["one"]) / (n - 1) * 1000
        per_cpu = (CPU["many"] - CPU["one"]) / (n - 1) * 1000
        print(f"kb check, 1 trivial snippet        {t['one'] * 1000:7.0f} ms wall "
              f"{CPU['one'] * 1000:6.0f} ms CPU")
        print(f"kb check, {n} trivial snippets     {t['many'] * 1000:7.0f} ms wall "
              f"{CPU['many'] * 1000:6.0f} ms CPU")
        print(f"  -> per snippet, one job at a time: {per:5.1f} ms wall, {per_cpu:5.1f} ms CPU "
              f"({'at or under' if per <= OVERHEAD_TARGET_MS else 'OVER'} the "
              f"{OVERHEAD_TARGET_MS:.0f} ms target)")
        t2 = median_s([*kb, "check", "--entries", tmp, "--jobs", "2", f"bench-{n}"], 3, env1)
        print(f"kb check, {n} trivial snippets, 2 jobs {t2 * 1000:5.0f} ms")

    whole = median_s([*kb, "check"], 3, env, "whole")
    count = subprocess.run([*kb, "check", "--json"], capture_output=True, text=True, env=env,
                           check=False).stdout.count('"snippet":')
    print(f"kb check, whole knowledge base ({count} snippets, 2 jobs) {whole:5.1f} s wall "
          f"{CPU['whole']:5.1f} s CPU  "
          f"{whole / t['one']:4.1f}x a 1-snippet check  "
          f"({'under' if whole < CHECK_TARGET_S else 'OVER'} the {CHECK_TARGET_S:.0f} s target)")


if __name__ == "__main__":
    main()
