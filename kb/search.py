"""Query text -> ranked hits with a highlighted excerpt. Never imports torch.

OR semantics: every query word adds to the score, none is required, so a
multi-word query never comes back empty because one word is missing. Typos are
met by prefix and edit-distance terms at a lower weight (kb.index.term_query).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kb.index import OpenIndex, RawHit, all_docs, analyze, is_cjk, open_index, run_query
from kb.model import Entry, Hit, localized
from kb.paths import Source, entry_sources

# Chinese is indexed as unigrams + bigrams: a bigram is the stronger evidence.
CJK_UNIGRAM_WEIGHT = 0.35
MAX_QUERY_TERMS = 64
# The whole query is the entry's id (x3) or one of its aliases: the name it answers to.
ID_BONUS = 3.0
ALIAS_BONUS = 1.5
# A query that looks like an error message prefers error entries; a how-to query
# (`batchnorm`, `load state dict`) prefers the api/command/concept entries: the other
# side's scores are multiplied by this (issue 12). A query that only names a problem
# (`conda 卡住`, `load a gpu model on cpu`) prefers neither. Tuned like kb.index's weights.
OTHER_KIND_FACTOR = 0.6
# BM25 sums over terms, so an entry that repeats one query word often can beat one that
# has them all: a hit's score is multiplied by the share of the query's term weight it
# matched (kb.index.coverage) to this power.
COVERAGE_POWER = 0.6
# Hits scoring below this share of the best one are dropped: fewer hits, not noise.
SCORE_FLOOR = 0.2
_ERROR_LIKE = re.compile(
    r"error|exception|warning|errno|traceback|报错|错误|异常|['\"`]|\w: ", re.IGNORECASE)
ERROR_LIKE_WORDS = 8  # a query this long is a pasted message
_PROBLEM_LIKE = re.compile(
    r"\b(?:not|no|cannot|can't|doesn't|won't|fail\w*|mismatch\w*|wrong|invalid|denied|stuck|"
    r"hangs?|killed|crash\w*|too|unable|missing|unexpected|out of|nan|different|bigger|"
    r"larger|greater|smaller)\b|不|没|无法|越界|卡住|失败|慢|溢出|爆|大于|小于|超过", re.IGNORECASE)


def query_kind(query: str) -> str | None:
    """"error" for what looks like an error message (an exception name, `Error`, 报错,
    quotes, `name: message`, a long pasted line), None for a query that names a problem
    in other words, "other" for a how-to query."""
    if _ERROR_LIKE.search(query) or len(query.split()) >= ERROR_LIKE_WORDS:
        return "error"
    return None if _PROBLEM_LIKE.search(query) else "other"


def rank(query: str, opened: OpenIndex, *, kind: str | None = None, tag: str | None = None,
         limit: int = 10) -> list[tuple[float, RawHit]]:
    """The best `limit` matches of `query` with their final scores, best first."""
    terms = query_terms(query)
    # More than `limit`: the kind preference below may reorder them.
    raw = run_query(opened, terms, kind=kind, tag=tag, limit=max(limit * 3, 30))
    wanted = " ".join(query.lower().split())
    prefers = query_kind(query)
    scored = []
    for r in raw:
        score = r.score * r.coverage ** COVERAGE_POWER
        if r.id == wanted:
            score *= ID_BONUS  # the exact id always wins
        elif wanted in r.doc.get("names", ()):
            score *= ALIAS_BONUS
        if prefers is not None and (r.doc["kind"] == "error") != (prefers == "error"):
            score *= OTHER_KIND_FACTOR
        scored.append((score, r))
    scored.sort(key=lambda s: (-s[0], s[1].id))
    floor = scored[0][0] * SCORE_FLOOR if scored else 0.0
    return [(score, r) for score, r in scored[:limit] if score >= floor]


def query_terms(query: str) -> list[tuple[str, float]]:
    """Analysed query terms with weights, duplicates folded, bounded in number.

    Neighbouring query words are not joined here (the name fields are, at index time):
    asking for `condaenv` in `exit conda env` only pulled in every `conda env` title."""
    weights: dict[str, float] = {}
    for term in analyze(query):
        weight = CJK_UNIGRAM_WEIGHT if is_cjk(term) and len(term) == 1 else 1.0
        weights[term] = max(weight, weights.get(term, 0.0))
    return list(weights.items())[:MAX_QUERY_TERMS]


def search(query: str, *, index: OpenIndex, kind: str | None = None, tag: str | None = None,
           limit: int = 10, lang: str = "en") -> list[Hit]:
    """Ranked hits for `query` in `index` (from `open_knowledge_base`), best first (empty
    when nothing matches)."""
    terms = query_terms(query)
    return [_hit(r.id, score, r.doc, terms, lang)
            for score, r in rank(query, index, kind=kind, tag=tag, limit=limit)]


def open_knowledge_base(sources: Sequence[Source] | None = None,
                        extra_dirs: Sequence[Path] = (), root: Path | None = None) -> OpenIndex:
    """The search index of `sources` (default: the knowledge base), built when stale from
    the loader's (cached) entries."""
    chosen = list(sources) if sources is not None else entry_sources(extra_dirs)

    def load() -> tuple[list[Entry], int]:
        # Imported here: only a stale index reads YAML; a search otherwise never imports it.
        from kb.loader import load_sources_cached

        loaded = load_sources_cached(chosen)
        return list(loaded.entries.values()), len(loaded.skipped_files)

    return open_index(chosen, load, root)


def list_entries(*, index: OpenIndex, kind: str | None = None, tag: str | None = None,
                 lang: str = "en") -> list[Hit]:
    """Every entry of `index`, filtered, sorted by id."""
    out = []
    for entry_id, doc in all_docs(index):
        if kind and doc["kind"] != kind:
            continue
        if tag and tag.lower() not in [t.lower() for t in doc["tags"]]:
            continue
        out.append(_hit(entry_id, 0.0, doc, [], lang))
    return out


def _hit(entry_id: str, score: float, doc: dict[str, Any], terms: list[tuple[str, float]],
         lang: str) -> Hit:
    title = localized(doc["title"], doc.get("title_zh"), lang)
    summary = localized(doc["summary"], doc.get("summary_zh"), lang)
    body = localized(doc.get("body", ""), doc.get("body_zh"), lang)
    return Hit(id=entry_id, kind=doc["kind"], title=title, score=round(score, 4),
               excerpt=excerpt([summary, *body.splitlines()], [t for t, _ in terms]),
               summary=summary)


_WORD_RE = re.compile(r"[A-Za-z0-9_]+")


def excerpt(lines: Sequence[str], terms: Sequence[str], width: int = 160) -> str:
    """The line that matches most query terms, cut to `width`, matches marked [[like this]]."""
    latin = {t for t in terms if not is_cjk(t)}
    cjk = sorted({t for t in terms if is_cjk(t) and len(t) > 1}, key=len, reverse=True)
    # A word can match a term only if it contains the term's first two letters (the
    # stemmer never changes those): other words are never analysed (issue 12: analysing
    # every word of every hit took most of a search's time).
    heads = {t[:2] for t in latin}
    best, best_count = "", -1
    for line in (ln.strip() for ln in lines):
        if not line:
            continue
        lower = line.lower()
        count = sum(line.count(t) for t in cjk)
        if any(h in lower for h in heads):
            count += sum(_matches(w, latin, heads) for w in _WORD_RE.findall(line))
        if count > best_count:
            best, best_count = line, count
    if not best:
        return ""
    best = _cut(best, latin, heads, cjk, width)
    marked = _WORD_RE.sub(lambda m: f"[[{m.group()}]]" if _matches(m.group(), latin, heads)
                          else m.group(), best)
    if cjk:
        marked = re.sub("|".join(map(re.escape, cjk)), lambda m: f"[[{m.group()}]]", marked)
    return marked.replace("]][[", "")


def _matches(word: str, latin: set[str], heads: set[str]) -> bool:
    if not latin:
        return False
    lower = word.lower()
    if not any(h in lower for h in heads):
        return False
    forms = _forms(word)
    return any(f in latin or any(len(t) >= 3 and f.startswith(t) for t in latin) for f in forms)


@functools.lru_cache(maxsize=4096)
def _forms(word: str) -> tuple[str, ...]:
    """A word's index terms; excerpts ask for the same words over and over."""
    return tuple(analyze(word))


def _cut(line: str, latin: set[str], heads: set[str], cjk: Sequence[str], width: int) -> str:
    """Keep the part of a long line around its first match."""
    if len(line) <= width:
        return line
    first = len(line)
    for m in _WORD_RE.finditer(line):
        if _matches(m.group(), latin, heads):
            first = m.start()
            break
    for t in cjk:
        pos = line.find(t)
        if pos != -1:
            first = min(first, pos)
    start = max(0, min(first - width // 4, len(line) - width))
    text = line[start : start + width]
    return ("…" if start else "") + text + ("…" if start + width < len(line) else "")
