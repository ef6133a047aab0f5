"""Whole-process speed of `kb search`, as a ratio to `python -c pass` (target: <= 8x).

Run: .venv/bin/python bench/bench_search.py [--runs N]
Prints medians and ratios; exits 0 always (numbers, not a test).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from timing import median_s  # bench/ is on sys.path when a bench script runs

TARGET = 8.0



def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    env = {**os.environ, "NO_COLOR": "1"}
    kb = [sys.executable, "-m", "kb"]
    subprocess.run([*kb, "search", "warm-up"], capture_output=True, env=env, check=False)
    floor = median_s([sys.executable, "-c", "pass"], args.runs, env)
    print(f"floor  python -c pass           {floor * 1000:7.1f} ms")
    worst = 0.0
    for label, argv in (("kb search conv2d", ["search", "conv2d"]),
                        ("kb search 卷积 (zh)", ["search", "卷积", "--lang", "zh"]),
                        ("kb show view-reshape", ["show", "view-reshape"])):
        t = median_s([*kb, *argv], args.runs, env)
        ratio = t / floor
        worst = max(worst, ratio) if argv[0] == "search" else worst
        print(f"{label:<30} {t * 1000:7.1f} ms  {ratio:5.1f}x python -c pass")
    verdict = "at or under" if worst <= TARGET else "OVER"
    print(f"search: worst {worst:.1f}x, {verdict} the {TARGET:.0f}x target")


if __name__ == "__main__":
    main()
