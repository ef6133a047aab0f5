"""Whole-process speed of `kb search`, `kb show` and `kb explain`, as ratios to
`python -c pass` from the same interpreter (target: each <= 8x, issue 12).

Run: VENV/bin/python bench/bench_search.py [--runs N]

Measure kb as users have it: installed with `pip install .` (not editable) into
VENV, with bytecode caching on. PYTHONDONTWRITEBYTECODE is removed from the
environment here, since a machine that sets it would time compiling kb from source
on every call. The `kb` console script beside the interpreter is timed when there is
one (else `python -m kb`). Commands run in turn, so a load spike on a shared machine
hits the floor and every command alike; medians and ratios are printed. Exits 0
always (numbers, not a test).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from timing import interleaved  # bench/ is on sys.path when a bench script runs

TARGET = 8.0
COMMANDS = {
    "kb search conv2d": ["search", "conv2d"],
    "kb search 卷积 (zh)": ["search", "卷积", "--lang", "zh"],
    "kb search batchnorm --json": ["search", "batchnorm", "--json"],
    "kb show view-reshape": ["show", "view-reshape"],
    "kb explain mat1 and mat2": ["explain", "RuntimeError: mat1 and mat2 shapes cannot be "
                                 "multiplied (64x512 and 256x10)"],
}


def kb_command() -> list[str]:
    script = Path(sys.executable).with_name("kb")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "kb"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["NO_COLOR"] = "1"
    env.setdefault("KB_CACHE_DIR", tempfile.mkdtemp(prefix="kb-bench-cache-"))
    kb = kb_command()
    for argv in COMMANDS.values():  # warm: the index, the entries cache, bytecode
        subprocess.run([*kb, *argv], capture_output=True, env=env, check=False)
    cmds = {"floor": [sys.executable, "-c", "pass"]}
    cmds.update({label: [*kb, *argv] for label, argv in COMMANDS.items()})
    medians = interleaved(cmds, args.runs, env)
    floor = medians.pop("floor")
    print(f"{' '.join(kb)}  ({args.runs} runs each, interleaved)")
    print(f"{'floor: python -c pass':<32} {floor * 1000:7.1f} ms")
    worst = 0.0
    for label, t in medians.items():
        ratio = t / floor
        worst = max(worst, ratio)
        print(f"{label:<32} {t * 1000:7.1f} ms  {ratio:5.1f}x python -c pass")
    verdict = "at or under" if worst <= TARGET else "OVER"
    print(f"worst {worst:.1f}x: {verdict} the {TARGET:.0f}x target")


if __name__ == "__main__":
    main()
