"""`kb explain`: from a pasted error or a whole traceback to the entries that explain it.

text -> error_text.extract (the final exception and other places worth matching,
cleaned, bounded) -> every error entry's patterns against those places (whole, then
cut off) -> when none matches, ranking by wording (ranking.Ranker) -> `Explanation`:
matches with a confidence, captures, and hints filled with the user's own numbers.
Nothing here prints (kb.render.explain does) or imports torch.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

from kb.explain.derive import Situation, derive
from kb.explain.error_text import ErrorText, Segment, extract
from kb.explain.frames import Frame, user_frame
from kb.explain.hints import Value, render_hints
from kb.explain.paste import join_lines
from kb.explain.patterns import (
    Facts,
    PatternMatch,
    facts,
    literal_text,
    match,
    match_truncated,
    remember,
)
from kb.explain.ranking import Ranked, Ranker
from kb.explain.runtime import Runtime
from kb.model import Entry
from kb.paths import Source
from kb.record import field, record, replace

THRESHOLD = 0.5  # below this confidence an entry is a suggestion, never an answer
DEFAULT_LIMIT = 3
WHY_CANDIDATES = 8  # entries --why lists, matched or not
SURE_PLACES = ("final exception", "cause")  # a whole match there leaves no cut-off reading


@record
class Match:
    """An entry that explains the error, and how sure kb is."""

    entry: Entry
    score: float  # confidence, 0..1
    how: str  # "pattern" (a whole pattern matched), "truncated" (a cut-off message), "wording"
    captures: dict[str, Value] = field(default_factory=dict)
    hints: tuple[str, ...] = ()  # filled in the answer's language
    matched: str = ""  # the text that was recognised
    where: str = ""  # which part of the paste: "final exception", "cause", "warning", ...
    pattern: str = ""  # the pattern that matched ("" for a match by wording)
    wording: Ranked | None = None  # for a match by wording: what the ranker found alike


@record
class Explanation:
    error: ErrorText
    matches: tuple[Match, ...]  # best first, all at or above THRESHOLD
    nearest: tuple[Match, ...]  # the closest entries below it: suggestions when nothing matched
    lang: str
    frame: Frame | None = None  # the innermost frame of the user's own code, if pasted
    candidates: tuple[Match, ...] = ()  # every entry considered, best first (for --why)
    runtime: Runtime | None = None  # what `--capture` recorded in that frame

    @property
    def found(self) -> bool:
        return bool(self.matches)


@record
class Prepared:
    """What explain reads from the error entries before it sees a message: each
    pattern's facts and the ranker's wordings (~60 ms to build, ~3 ms to unpickle)."""

    facts: dict[str, Facts]
    ranker: Ranker


def prepare(entries: Mapping[str, Entry]) -> Prepared:
    errors = tuple(e for e in entries.values() if e.kind == "error")
    return Prepared({p: facts(p) for e in errors for p in e.patterns},
                    Ranker({e.id: e for e in errors}))


def prepared(sources: Sequence[Source], entries: Mapping[str, Entry]) -> Prepared:
    """`prepare(entries)`, cached beside the parsed entries of `sources` (which
    `entries` must be: kb.loader.load_sources_cached(sources).entries)."""
    from kb import cache

    return cache.memo("explain", sources, cache.EXPLAIN_CODE, Prepared,
                      lambda: prepare(entries))


def explain(text: str, entries: Mapping[str, Entry], *, lang: str = "en",
            limit: int = DEFAULT_LIMIT, ready: Prepared | None = None,
            situation: Situation | None = None) -> Explanation:
    """The entries that explain the error in `text`, best first. `ready`: `entries`
    prepared before (else they are prepared now, once per process). `situation`: what
    kb knows beside the text (its frame is read from `text` when it has none)."""
    ready = ready or _prepare(tuple(entries.values()))
    remember(ready.facts)
    error = extract(text)
    situation = situation or Situation()
    if situation.frame is None:
        situation = replace(situation, frame=user_frame(text))
    if not situation.paste:
        situation = replace(situation, paste=text)
    errors = {i: e for i, e in entries.items() if e.kind == "error" and e.patterns}
    candidates: dict[str, tuple[tuple[float, ...], Match]] = {}

    def offer(key: tuple[float, ...], m: Match) -> None:
        held = candidates.get(m.entry.id)
        # for one entry, a pattern that matched (with its captures) beats its wording
        if held is None or (key > held[0] and not (m.how == "wording" != held[1].how)):
            candidates[m.entry.id] = (key, m)

    whole = [found for entry in errors.values()
             if (found := _match_whole(entry, error.segments))]
    for found in whole:
        offer(*found)
    # A cut-off message is the reading of last resort: when a pattern matched the final
    # exception (or its cause) whole, what a cut-off reading would add is noise, and
    # trying every prefix of every pattern is most of explain's time.
    if not any(m.how == "pattern" and m.where in SURE_PLACES for _, m in whole):
        for entry in errors.values():
            if entry.id not in candidates and (found := _match_cut(entry, error.segments)):
                offer(*found)
    for ranked in ready.ranker.rank(error.message, limit=max(limit, 5) * 2, paste=text):
        entry = entries[ranked.id]
        score = round(ranked.score * 0.95, 3)  # wording alone never reaches a pattern's 1.0
        offer((score, 0.0, 0.0), Match(entry, score, "wording", {}, (), ranked.form, "message",
                                       wording=ranked))
    ordered = [m for _, m in sorted(candidates.values(),
                                    key=lambda c: (c[0], c[1].entry.id), reverse=True)]
    # a pattern that matched is evidence, similar wording a guess: guesses are offered only
    # when there is no evidence
    evidence = any(m.how == "pattern" for m in ordered)
    matches = tuple(_filled(m, situation, lang) for m in ordered if m.score >= THRESHOLD
                    and not (evidence and m.how == "wording"))[:limit]
    nearest = tuple(m for m in ordered if m.score < THRESHOLD)[:limit]
    return Explanation(error, matches, nearest, lang, situation.frame,
                       tuple(ordered[:WHY_CANDIDATES]), situation.runtime_at_frame())


def _filled(m: Match, situation: Situation, lang: str) -> Match:
    """`m` with the derived captures (kb.explain.derive) and its hints filled from them."""
    captures = derive(m.entry, m.captures, situation)
    return replace(m, captures=captures, hints=tuple(render_hints(m.entry.hints, captures, lang)))


@functools.lru_cache(maxsize=4)
def _prepare(all_entries: tuple[Entry, ...]) -> Prepared:
    """One Prepared per knowledge base (entries are frozen: equal tuples, same wordings)."""
    return prepare({e.id: e for e in all_entries})


_Best = tuple[tuple[float, ...], PatternMatch, Segment, str]  # rank, match, where, pattern


def _match_whole(entry: Entry,
                 segments: tuple[Segment, ...]) -> tuple[tuple[float, ...], Match] | None:
    """The entry's best whole pattern match over the segments, with its rank: by segment
    (the final exception first), then by the pattern's specificity (its literal length),
    then by its place in the entry's list."""
    best: _Best | None = None
    for segment in segments:
        joined = join_lines(segment.text)
        for n, pattern in enumerate(entry.patterns):
            found = match(pattern, segment.text)
            if found is None and joined != segment.text:
                found = match(pattern, joined)  # a message wrapped over lines
            if found is not None:
                # ties between entries: the longer pattern, then the one its entry lists
                # first (an entry's own wording before the variants it also claims)
                rank = (segment.weight, 2.0, float(len(literal_text(pattern))), -float(n))
                if best is None or rank > best[0]:
                    best = (rank, found, segment, pattern)
    return _as_match(entry, best)


def _match_cut(entry: Entry,
               segments: tuple[Segment, ...]) -> tuple[tuple[float, ...], Match] | None:
    """The entry's best reading of a cut-off message (the start of a pattern at the end
    of a segment), ranked by its confidence."""
    best: _Best | None = None
    for segment in segments:
        for pattern in entry.patterns:
            found = match_truncated(pattern, join_lines(segment.text))
            if found is not None:
                confidence = round(min(segment.weight * (0.5 + 0.45 * found.coverage), 1.0), 3)
                rank = (confidence, 1.0, found.coverage)
                if best is None or rank > best[0]:
                    best = (rank, found, segment, pattern)
    return _as_match(entry, best)


def _as_match(entry: Entry, best: _Best | None) -> tuple[tuple[float, ...], Match] | None:
    if best is None:
        return None
    rank, found, segment, pattern = best
    whole = found.coverage >= 1.0
    score = round(min(segment.weight, 1.0), 3) if whole else rank[0]
    return rank, Match(entry, score, "pattern" if whole else "truncated", found.captures, (),
                       found.matched, segment.origin, pattern)
