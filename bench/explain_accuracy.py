"""How often `kb explain` answers the real messages of tests/data/explain_corpus.yaml,
and how fast it reads a 10 MB log.

Run: .venv/bin/python bench/explain_accuracy.py [--verbose] [--runs N]
Prints top-1 / top-3 (overall and by kind: traceback, old-wording, mangled, ...), the
share of unrelated errors (JS, Java, Go, Rust...) that honestly match nothing, and
timings as ratios to `python -c pass`. Items whose entry does not exist yet are
counted apart. Exits 0 always (numbers, not a test; tests/test_explain_corpus.py
holds the floor).
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from timing import median_s  # noqa: E402 - bench/ is on sys.path when a script runs

from kb.explain import explain  # noqa: E402  (after the path is set: runs from a checkout)
from kb.loader import load_entries  # noqa: E402

CORPUS = ROOT / "tests" / "data" / "explain_corpus.yaml"


def accuracy(verbose: bool) -> None:
    entries = load_entries().entries
    items = yaml.safe_load(CORPUS.read_text(encoding="utf-8"))
    by_kind: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    missing: collections.Counter[str] = collections.Counter()
    misses = []
    start = time.perf_counter()
    for item in items:
        expected = item["id"]
        kind = item.get("kind", "plain")
        if expected is not None and expected not in entries:
            missing[expected] += 1
            continue
        result = explain(item["text"], entries, limit=3)
        ids = [m.entry.id for m in result.matches]
        counts = by_kind[kind]
        counts["n"] += 1
        if expected is None:
            counts["top1"] += not ids
            counts["top3"] += not ids
            ok = not ids
        else:
            counts["top1"] += bool(ids) and ids[0] == expected
            counts["top3"] += expected in ids
            ok = bool(ids) and ids[0] == expected
        if not ok:
            got = ", ".join(f"{m.entry.id} {m.score:.2f} {m.how}" for m in result.matches)
            got = got or "nothing"
            near = ", ".join(f"{m.entry.id} {m.score:.2f}" for m in result.nearest[:2])
            misses.append(f"  [{kind}] want {expected or 'nothing'}; got {got}"
                          f"{'; nearest ' + near if near else ''}\n      "
                          f"{result.error.headline[:110]!r}")
    elapsed = time.perf_counter() - start
    total: collections.Counter[str] = collections.Counter()
    related = collections.Counter()
    for kind, counts in sorted(by_kind.items()):
        total.update(counts)
        if kind != "unrelated":
            related.update(counts)
        print(f"{kind:<12} {counts['n']:4d} items  top-1 {pct(counts['top1'], counts['n'])}"
              f"  top-3 {pct(counts['top3'], counts['n'])}")
    print(f"{'errors':<12} {related['n']:4d} items  top-1 {pct(related['top1'], related['n'])}"
          f"  top-3 {pct(related['top3'], related['n'])}")
    unrelated = by_kind.get("unrelated", collections.Counter())
    print(f"{'unrelated':<12} {unrelated['n']:4d} items  honestly unmatched "
          f"{pct(unrelated['top1'], unrelated['n'])}")
    print(f"{len(items)} items, {sum(missing.values())} skipped: no entry yet for "
          f"{len(missing)} ids{': ' + ', '.join(sorted(missing)) if missing else ''}")
    each = elapsed / max(total["n"], 1) * 1000
    print(f"{total['n']} explained in {elapsed:.2f} s ({each:.1f} ms each)")
    if verbose and misses:
        print("misses:")
        print("\n".join(misses))


def pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:5.1f}%" if whole else "    -"



def speed(runs: int) -> None:
    env = {**os.environ, "NO_COLOR": "1"}
    kb = [sys.executable, "-m", "kb", "explain"]
    log_line = "epoch 3 step 1200 loss 0.4312 lr 0.001 grad_norm 1.93 it/s 14.2 mem 5.1G\n"
    tail = ("Traceback (most recent call last):\n  File \"train.py\", line 88, in <module>\n"
            "    out = model(x)\nRuntimeError: mat1 and mat2 shapes cannot be multiplied "
            "(64x512 and 256x10)\n")
    with tempfile.TemporaryDirectory() as tmp:
        big = Path(tmp) / "train.log"
        big.write_text(log_line * (10 * 1024 * 1024 // len(log_line)) + tail, encoding="utf-8")
        small = Path(tmp) / "error.log"
        small.write_text(tail, encoding="utf-8")
        subprocess.run([*kb, "--file", str(small)], capture_output=True, env=env, check=False)
        floor = median_s([sys.executable, "-c", "pass"], runs, env)
        print(f"floor  python -c pass              {floor * 1000:7.1f} ms")
        for label, path in (("kb explain --file (1 traceback)", small),
                            ("kb explain --file (10 MB log)", big)):
            t = median_s([*kb, "--file", str(path)], runs, env)
            print(f"{label:<34} {t * 1000:7.1f} ms  {t / floor:5.1f}x python -c pass")
        text = big.read_text(encoding="utf-8")
        entries = load_entries().entries
        t = time.perf_counter()
        result = explain(text, entries)
        print(f"explain() on 10 MB in-process       {(time.perf_counter() - t) * 1000:7.1f} ms"
              f"  -> {result.matches[0].entry.id if result.matches else 'nothing'}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--verbose", "-v", action="store_true", help="list every miss")
    parser.add_argument("--runs", type=int, default=5, help="runs per timing (median)")
    parser.add_argument("--no-speed", action="store_true", help="accuracy only")
    args = parser.parse_args()
    accuracy(args.verbose)
    if not args.no_speed:
        speed(args.runs)


if __name__ == "__main__":
    main()
