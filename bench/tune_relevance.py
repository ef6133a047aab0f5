"""A small coordinate-descent grid over kb's ranking constants, on the TUNING part of
tests/data/search_relevance.yaml only (the held-out parts are never read here).

Run: .venv/bin/python bench/tune_relevance.py [--rounds N] [--only NAME ...]
Prints the tuning figures at the start, each accepted change, and the final values.
It changes nothing on disk: copy the values it prints into kb/index.py / kb/search.py,
then check the held-out parts once with bench/bench_relevance.py.
The objective is hit@1 + hit@3 + MRR on tuning; a change is kept only when it raises
the objective by more than one query's worth of hit@1, so the grid does not chase ties.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kb import index as kindex  # noqa: E402 - after the path is set
from kb import search as ksearch  # noqa: E402

RELEVANCE = ROOT / "tests" / "data" / "search_relevance.yaml"
FACTORS = (0.7, 1.4)


def knobs() -> dict[str, tuple[Callable[[], float], Callable[[float], None]]]:
    """name -> (get, set) for every ranking constant the grid may move."""
    out: dict[str, tuple[Callable[[], float], Callable[[float], None]]] = {}

    def attr(module: object, name: str) -> None:
        out[name] = (lambda: getattr(module, name), lambda v: setattr(module, name, v))

    def item(table: dict[str, float], label: str, key: str) -> None:
        out[f"{label}.{key}"] = (lambda: table[key], lambda v: table.__setitem__(key, v))

    for name in ("K1", "PREFIX_WEIGHT", "TYPO_WEIGHT"):
        attr(kindex, name)
    for name in ("CJK_UNIGRAM_WEIGHT", "ALIAS_BONUS", "COVERAGE_POWER", "OTHER_KIND_FACTOR",
                 "SCORE_FLOOR"):
        attr(ksearch, name)
    for key in kindex.BOOSTS:
        item(kindex.BOOSTS, "BOOSTS", key)
    for key in kindex.FIELD_B:
        item(kindex.FIELD_B, "FIELD_B", key)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--only", nargs="*", default=None)
    args = parser.parse_args()
    os.environ.setdefault("KB_CACHE_DIR", tempfile.mkdtemp(prefix="kb-tune-"))
    for var in ("KB_PATH", "KB_BUILTIN"):
        os.environ.pop(var, None)
    data = yaml.safe_load(RELEVANCE.read_text(encoding="utf-8"))
    pairs = [(i, q) for i, queries in data["tuning"].items() for q in queries]
    opened = ksearch.open_knowledge_base()

    def measure() -> tuple[float, float, float]:
        top1 = top3 = 0
        rr = 0.0
        for entry_id, query in pairs:
            ids = [h.id for _, h in ksearch.rank(query, opened, limit=10)]
            rank = ids.index(entry_id) + 1 if entry_id in ids else 0
            top1 += rank == 1
            top3 += 0 < rank <= 3
            rr += 1 / rank if rank else 0.0
        n = len(pairs)
        return top1 / n, top3 / n, rr / n

    def show(figures: tuple[float, float, float]) -> str:
        return "hit@1 {:.3f}  hit@3 {:.3f}  MRR {:.3f}".format(*figures)

    best = measure()
    print(f"tuning {len(pairs)} queries: {show(best)}", flush=True)
    margin = 1 / len(pairs)
    table = knobs()
    for _ in range(args.rounds):
        for name, (get, put) in table.items():
            if args.only and name not in args.only:
                continue
            start = get()
            kept = start
            for factor in FACTORS:
                value = round(start * factor, 3) if start else factor - 0.5
                if name == "SCORE_FLOOR" or name.startswith("FIELD_B"):
                    value = min(value, 1.0)
                put(value)
                figures = measure()
                if sum(figures) > sum(best) + margin:
                    best, kept = figures, value
                    print(f"  {name} {start} -> {value}: {show(figures)}", flush=True)
            put(kept)
    print("final:", {name: get() for name, (get, _) in table.items()})
    print(f"tuning: {show(best)}")


if __name__ == "__main__":
    main()
