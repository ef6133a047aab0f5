"""Search quality over the built-in knowledge base: every entry is reachable by the
searches its users would type, and typical queries find it in the top three.

The queries (2-4 per entry, English and Chinese) are in tests/data/search_queries.yaml.
Those listed there under `known_weak` run as strict xfails: the ranking bugs stay
visible, and fixing one fails the suite until its item is taken off the list.
test_summary_rates prints the top-1 / top-3 rates.

tests/data/search_relevance.yaml (issue 12) holds floors on hit@1 and hit@3 for its
tuning and held-out parts (bench/bench_relevance.py prints them with MRR).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from kb.index import OpenIndex
from kb.paths import BUILTIN_ENTRIES
from kb.search import open_knowledge_base, search

QUERIES_FILE = Path(__file__).resolve().parent / "data" / "search_queries.yaml"
RELEVANCE_FILE = Path(__file__).resolve().parent / "data" / "search_relevance.yaml"
# Floors a little under the figures measured (issue 12's targets are hit@1 >= 0.90 and
# hit@3 >= 0.98): a change that costs relevance fails. Measured over the 185 part-1
# entries at tuning time: tuning 0.952 / 0.989, held-out 0.918 / 0.981. With the 79
# part-2 entries in the index (labels written for part 1; tuning labels moved to a
# part-2 entry only where it answers exactly, held-out left as written): tuning
# 0.933 / 0.992, held-out 0.899 / 0.971. With all 280 catalog entries (and 3 queries
# per new entry): tuning 0.934 / 0.992, held-out 0.897 / 0.978. held_out_2 (253 queries,
# added before the second round of tuning) measured 0.929 / 0.992 on that ranking. After
# the second round (coverage factor, layer names without their dimension suffix, four
# aliases; tuning grown to 648 queries): tuning 0.955 / 0.994, held-out 0.901 / 0.982,
# held_out_2 0.937 / 0.996.
FLOORS = {"tuning": {"hit@1": 0.94, "hit@3": 0.985}, "held_out": {"hit@1": 0.89, "hit@3": 0.97},
          "held_out_2": {"hit@1": 0.92, "hit@3": 0.98}}
PARTS = tuple(FLOORS)
ENTRIES = BUILTIN_ENTRIES  # entries/ in a checkout
TOP = 3
MAX_KNOWN_WEAK = 0.02  # share of all queries that may be listed as known_weak
CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")


def _load(path: Path = QUERIES_FILE) -> dict[str, Any]:
    with path.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


DATA = _load()
RELEVANCE = _load(RELEVANCE_FILE)
QUERIES: dict[str, list[str]] = DATA["queries"]
KNOWN_WEAK: dict[tuple[str, str], str] = {
    (item["id"], item["query"]): item["reason"] for item in DATA.get("known_weak") or []
}
PAIRS = [(entry_id, query) for entry_id, queries in QUERIES.items() for query in queries]


def _entry_ids() -> set[str]:
    return {p.stem for p in ENTRIES.iterdir() if p.suffix in (".yaml", ".yml")}


def _cases() -> list[Any]:
    cases = []
    for entry_id, query in PAIRS:
        reason = KNOWN_WEAK.get((entry_id, query))
        marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
        cases.append(pytest.param(entry_id, query, marks=marks, id=f"{entry_id}:{query}"))
    return cases


@pytest.fixture(scope="module")
def kb_index(tmp_path_factory: pytest.TempPathFactory) -> OpenIndex:
    """The built-in knowledge base, indexed once for this module.

    Module fixtures are set up before conftest's per-test cache dir exists, so the
    cache dir (and no KB_PATH / KB_BUILTIN) is set here, only while the index is built.
    """
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KB_CACHE_DIR", str(tmp_path_factory.mktemp("search-quality-cache")))
        mp.delenv("KB_PATH", raising=False)
        mp.delenv("KB_BUILTIN", raising=False)
        return open_knowledge_base()


@pytest.fixture(scope="module")
def top_ids(kb_index: OpenIndex) -> Callable[[str], list[str]]:
    """query -> ids of the top three hits; each query is searched once per module."""
    seen: dict[str, list[str]] = {}

    def ranked(query: str) -> list[str]:
        if query not in seen:
            seen[query] = [hit.id for hit in search(query, limit=TOP, index=kb_index)]
        return seen[query]

    return ranked


# ---------------------------------------------------------------- the query file


def test_every_entry_has_queries_in_both_languages() -> None:
    missing = sorted(_entry_ids() - set(QUERIES))
    assert not missing, f"entries without queries in {QUERIES_FILE.name}: {missing}"
    for entry_id, queries in QUERIES.items():
        assert 2 <= len(queries) <= 4, f"{entry_id}: give 2-4 queries, got {len(queries)}"
        assert all(isinstance(q, str) and q.strip() for q in queries), (
            f"{entry_id}: every query is text (quote those with ': ')")
        assert len(set(queries)) == len(queries), f"{entry_id}: a query is repeated"
        assert any(CJK.search(q) for q in queries), f"{entry_id}: no Chinese query"
        assert any(not CJK.search(q) for q in queries), f"{entry_id}: no English query"


def test_every_queried_id_is_an_entry() -> None:
    unknown = sorted(set(QUERIES) - _entry_ids())
    assert not unknown, f"ids in {QUERIES_FILE.name} without an entry under entries/: {unknown}"


def test_known_weak_items_are_queries() -> None:
    for entry_id, query in KNOWN_WEAK:
        assert query in QUERIES.get(entry_id, []), (
            f"known_weak ({entry_id!r}, {query!r}) is not one of that entry's queries")


# ---------------------------------------------------------------- ranking


@pytest.mark.parametrize(("entry_id", "query"), _cases())
def test_query_finds_entry_in_top_three(entry_id: str, query: str,
                                        top_ids: Callable[[str], list[str]]) -> None:
    ranked = top_ids(query)
    assert entry_id in ranked, f"{query!r} -> {ranked}: {entry_id!r} not in the top {TOP}"


def test_summary_rates(top_ids: Callable[[str], list[str]],
                       capsys: pytest.CaptureFixture[str]) -> None:
    """Top-1 / top-3 over every (id, query) pair, known-weak ones included."""
    top1 = sum(top_ids(q)[:1] == [e] for e, q in PAIRS)
    top3 = sum(e in top_ids(q) for e, q in PAIRS)
    with capsys.disabled():
        print(f"\nsearch quality: {len(PAIRS)} queries over {len(QUERIES)} entries: "
              f"top-1 {top1 / len(PAIRS):.1%}, top-3 {top3 / len(PAIRS):.1%}, "
              f"known weak {len(KNOWN_WEAK)}")
    # known_weak is a to-do list of ranking bugs, not a place to park failures.
    assert len(KNOWN_WEAK) <= MAX_KNOWN_WEAK * len(PAIRS), "fix ranking before adding more"


# ---------------------------------------------------------------- the relevance set


def _normal(text: str) -> str:
    return " ".join(text.lower().split())


def test_relevance_queries_are_not_copied_from_the_entries() -> None:
    from kb.loader import load_entries

    names = {_normal(n) for e in load_entries().entries.values()
             for n in (e.id, e.title, e.zh.title, *e.aliases)}
    allowed = {_normal(q) for q in RELEVANCE["identifiers"]}
    tuning = {_normal(q) for queries in RELEVANCE["tuning"].values() for q in queries}
    for part in PARTS:
        assert set(RELEVANCE[part]) <= _entry_ids(), f"{part}: ids without an entry"
        for entry_id, queries in RELEVANCE[part].items():
            for query in queries:
                assert _normal(query) not in names - allowed, (
                    f"{part} {entry_id}: {query!r} is an entry's id, title or alias")
                if part != "tuning":
                    assert _normal(query) not in tuning, f"{part} {query!r} is also tuning"
    total = sum(len(q) for part in PARTS for q in RELEVANCE[part].values())
    assert total >= 400


@pytest.mark.parametrize("part", PARTS)
def test_relevance_floors(part: str, top_ids: Callable[[str], list[str]],
                          capsys: pytest.CaptureFixture[str]) -> None:
    pairs = [(e, q) for e, queries in RELEVANCE[part].items() for q in queries]
    hit1 = sum(top_ids(q)[:1] == [e] for e, q in pairs) / len(pairs)
    hit3 = sum(e in top_ids(q) for e, q in pairs) / len(pairs)
    with capsys.disabled():
        print(f"\nrelevance {part}: {len(pairs)} queries: hit@1 {hit1:.3f}, hit@3 {hit3:.3f}")
    assert hit1 >= FLOORS[part]["hit@1"] and hit3 >= FLOORS[part]["hit@3"]
