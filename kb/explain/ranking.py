"""Ranking error entries by how much a message reads like theirs, when no pattern matched.

The message is normalised first (exception class, paths, URLs, shapes and numbers
go: they are the user's, not the error's), then compared with each error entry's
known wordings (title, aliases, examples, the words of its patterns) as sets of
words weighted by rarity among error entries (IDF). The score, in [0, 1], is the
geometric mean of the weighted Dice coefficient and the share of the message the
wording explains, so it reads as a confidence: 1.0 is the same words, a short
paraphrase of a long message still scores high, and an unrelated error that shares
a phrase ("index out of range" in a Go panic) stays low; sharing fewer than
MIN_SHARED_WORDS words halves it. Misspelt words are
mapped to the nearest known word first (difflib).

This is explain's own small full-text search rather than kb.search: a confidence must
be comparable across queries (BM25 scores are not), and explain must work without an
index on disk. Its few hundred documents rank in milliseconds.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping

from kb.explain.patterns import literal_text
from kb.model import Entry
from kb.record import record

_EXC_CLASS = re.compile(r"^\s*(?:[A-Za-z_][\w.]*\.)?[A-Za-z_]\w*(?:Error|Exception|Warning)\s*:\s*")
_NOISE = re.compile(
    r"https?://\S+"  # URLs
    r"|(?:[A-Za-z]:)?(?:[\\/][\w.@+~-]+){2,}[\\/]?"  # paths
    r"|\b[\w.-]+\.(?:py|pyc|cpp|cu|cuh|h|hpp|so|dll|pt|pth|ckpt|yaml|yml|txt|log|json)\b(?::\d+)?"
    r"|0x[0-9a-fA-F]+"  # addresses
    r"|[\[(][\d\s,x.:*+-]*[\])]"  # shapes and sizes
    r"|\d+(?:\.\d+)?"  # numbers
)
_WORD = re.compile(r"[a-z][a-z0-9_]+")
_STOP = frozenset(("a", "an", "the", "of", "to", "in", "is", "be", "at", "on", "and", "or",
                   "for", "by", "as", "it", "this", "that", "was", "are", "with", "from", "use",
                   "your", "you", "can"))
FUZZY_CUTOFF = 0.84  # difflib ratio for a misspelt word to count as the known word
FUZZY_WEIGHT = 0.8  # ... and how much such a word counts
MIN_SHARED_WORDS = 3  # a wording shares at least this many words with the message to answer
FEW_WORDS_FACTOR = 0.5  # ... else its score is scaled down to a suggestion
FOREIGN_FACTOR = 0.5  # a paste from another runtime (FOREIGN) is scaled down to a suggestion

# Signs, in the whole paste, that an error comes from another language or framework: its
# own stack-frame or log formats, never words a PyTorch user's traceback also has.
FOREIGN: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("Go", re.compile(r"^goroutine \d+ \[[\w ,]+\]:$|^runtime stack:$|\.go:\d+ \+0x[0-9a-f]+",
                      re.M)),
    ("Java", re.compile(r"\bjava\.lang\.\w+(?:Error|Exception)\b"
                        r"|^\s+at [\w$.]+\([\w$]+\.java:\d+\)", re.M)),
    ("Node.js", re.compile(r"\bnode:internal/|\binternal/modules/cjs/|^npm ERR! |\bv8::internal::"
                           r"|JavaScript heap out of memory", re.M)),
    ("Rust", re.compile(r"^error\[E\d{4}\]|RUST_BACKTRACE=|^thread '[^'\n]*' panicked at ", re.M)),
    ("Julia", re.compile(r"\.jl:\d+\b|\.julia[/\\]packages[/\\]")),
    ("MATLAB", re.compile(r"^Error in [\w.>/]+ \(line \d+\)$|^Error using +\S+ *$", re.M)),
    ("R", re.compile(r"^Execution halted$|^Error(?: in .+)? ?: +cannot allocate vector of size",
                     re.M)),
    ("TensorFlow", re.compile(r"\[\[\{\{node [^}\n]+\}\}\]\]|\[\[Node: |/job:localhost/replica:"
                              r"|\b(?:ResourceExhausted|InvalidArgument)Error\b|\btensorflow\.python\.")),
    ("JAX", re.compile(r"\bjax(?:lib)?[./]\w|\bXlaRuntimeError\b")),
    ("CuPy", re.compile(r"\bcupy\.cuda\.|\bcupy/")),
)


@record
class Ranked:
    """An entry whose wordings are close to the message, and how close."""

    id: str
    score: float  # 0..1
    form: str  # the wording of the entry that was closest
    shared: tuple[str, ...] = ()  # the words it shares with the message, rarest first
    fuzzy: tuple[tuple[str, str], ...] = ()  # (the message's word, the known word it stands for)
    few_words: bool = False  # fewer than MIN_SHARED_WORDS shared: scaled down to a suggestion
    foreign: str = ""  # the other runtime the paste comes from (FOREIGN): scaled down too


def foreign_tool(text: str) -> str:
    """The language or framework other than PyTorch whose runtime printed `text`, by the
    first of FOREIGN's signs found in it; "" when there is none."""
    ends = text if len(text) <= 40000 else text[:20000] + "\n" + text[-20000:]
    for name, sign in FOREIGN:
        if sign.search(ends):
            return name
    return ""


def normalise(text: str) -> str:
    """`text` without what is the user's own: exception class, paths, shapes, numbers."""
    text = _EXC_CLASS.sub("", text[:4000])
    return _NOISE.sub(" ", text).lower()


def words(text: str) -> set[str]:
    """The words of normalised `text`; snake_case words also count by their parts."""
    out = set()
    for w in _WORD.findall(text):
        if w in _STOP:
            continue
        out.add(w)
        if "_" in w:
            out.update(p for p in w.split("_") if len(p) > 1 and p not in _STOP)
    return out


class Ranker:
    """The error entries' wordings, ready to rank messages against."""

    def __init__(self, entries: Mapping[str, Entry]) -> None:
        self.forms: dict[str, list[tuple[str, frozenset[str]]]] = {}
        df: dict[str, int] = {}
        for entry in entries.values():
            if entry.kind != "error":
                continue
            texts = [entry.title, *entry.aliases, *entry.examples,
                     *(literal_text(p) for p in entry.patterns)]
            forms = []
            for text in texts:
                w = frozenset(words(normalise(text)))
                if w:
                    forms.append((text, w))
            if not forms:
                continue
            self.forms[entry.id] = forms
            for word in frozenset().union(*(f for _, f in forms)):
                df[word] = df.get(word, 0) + 1
        n = max(len(self.forms), 1)
        self.idf = {w: math.log(1 + n / d) for w, d in df.items()}
        self.unknown_idf = math.log(1 + n)
        self.vocabulary = sorted(self.idf)

    def rank(self, message: str, limit: int = 10, paste: str = "") -> list[Ranked]:
        """Error entries by similarity to `message`, best first (score > 0 only). `paste`:
        the whole text the message came from, read for signs of another runtime."""
        query, fuzzy = self._query(words(normalise(message)))
        if not query:
            return []
        foreign = foreign_tool(paste or message)
        q_mass = sum(query.values())
        ranked = []
        for entry_id, forms in self.forms.items():
            best, best_form, best_common = 0.0, "", []
            for text, form in forms:
                common = [w for w in query if w in form]
                if not common:
                    continue
                shared = sum(query[w] for w in common)
                f_mass = sum(self.idf[w] for w in form)
                dice = 2 * shared / (q_mass + f_mass)
                # how much of the message this wording explains counts twice: a message
                # that only shares a phrase with it ("index out of range" in a Go panic)
                # has words of its own the entry never mentions
                score = math.sqrt(dice * shared / q_mass)
                if len(common) < MIN_SHARED_WORDS:
                    # two rare words in common ("out of range") are a coincidence as often as
                    # not: such a form can suggest, never answer
                    score *= FEW_WORDS_FACTOR
                if score > best:
                    best, best_form, best_common = score, text, common
            if foreign:
                best *= FOREIGN_FACTOR
            if best > 0:
                best_common.sort(key=lambda w: (-query[w], w))
                ranked.append(Ranked(entry_id, round(best, 3), best_form, tuple(best_common),
                                     tuple((m, k) for m, k in fuzzy if k in best_common),
                                     len(best_common) < MIN_SHARED_WORDS, foreign))
        ranked.sort(key=lambda r: (-r.score, r.id))
        return ranked[:limit]

    def _query(self, ws: set[str]) -> tuple[dict[str, float], list[tuple[str, str]]]:
        """Each word of the message with its weight; misspelt words count as the known
        word they are closest to (a little less), unknown words as rare ones. Also the
        (misspelt, known) pairs."""
        query: dict[str, float] = {}
        fuzzy: list[tuple[str, str]] = []
        for w in sorted(ws)[:200]:
            if w in self.idf:
                query[w] = max(query.get(w, 0.0), self.idf[w])
                continue
            close = (difflib.get_close_matches(w, self.vocabulary, n=1, cutoff=FUZZY_CUTOFF)
                     if len(w) >= 5 else [])
            if close and close[0] not in ws:
                query[close[0]] = max(query.get(close[0], 0.0), self.idf[close[0]] * FUZZY_WEIGHT)
                fuzzy.append((w, close[0]))
            else:
                query[w] = self.unknown_idf
        return query, fuzzy
