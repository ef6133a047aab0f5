"""Entry patterns: compiling them safely, matching them, and turning captures into values.

Patterns are Python regular expressions written by people (ours and users' own), so
two things bound the time they take: the text they see is bounded (see error_text),
and `check_pattern` rejects the shape that backtracks exponentially, a quantified
group whose inside can split the same text in many ways (`(\\w+\\s?)+`). Matching
skips such a pattern; `kb lint` reports it through `check_pattern`.

A message cut off by a forum or a terminal still matches a pattern's beginning:
`match_truncated` tries the pattern's prefixes against the end of the text.
"""

from __future__ import annotations

import functools
import re
import re._constants as sre  # the parser's opcodes; no public API exposes the parse tree
import re._parser as sre_parse
from collections.abc import Iterable
from typing import Any

from kb.explain.hints import Value
from kb.record import record

MIN_TRUNCATED_COVERAGE = 0.4  # a cut-off message must show this share of a pattern's words
MIN_TRUNCATED_CHARS = 16  # ... and at least this many of its literal characters


@record
class PatternMatch:
    """A pattern that matched the message (in whole or as a cut-off prefix)."""

    pattern: str
    captures: dict[str, Value]
    matched: str  # the text the pattern (or its prefix) matched
    coverage: float  # 1.0 for a whole match; the literal share of a prefix for a cut-off one


def check_pattern(pattern: str) -> str | None:
    """None if `pattern` is a usable entry pattern, else what is wrong, in one line."""
    try:
        tree = sre_parse.parse(pattern)
    except re.error as e:
        return (f"pattern is not a valid regular expression ({e.msg} at position {e.pos}): "
                f"{pattern!r}")
    except (RecursionError, OverflowError):
        return f"pattern is too deeply nested: {pattern!r}"
    nested = _nested_quantifier(list(tree), tree.state.flags)
    if nested:
        return (f"pattern has a quantifier inside a quantified group ({nested}) that can backtrack "
                "exponentially on a long line; give each repetition a separator the inside cannot "
                f"match, e.g. \\d+(?:, \\d+)*: {pattern!r}")
    return None


@record
class Facts:
    """What kb reads from a pattern without running it. Reading them parses the
    pattern (~0.2 ms each, ~370 patterns); kb.explain.prepared reads them once and
    caches them beside the parsed entries, so `kb explain` compiles only the few
    patterns whose required literal text is all in the message (issue 16 item 9)."""

    problem: str | None  # check_pattern: None when usable
    start: str  # required_start
    required: tuple[str, ...]  # required_runs: literal text every match contains
    first: str  # the first run of literal text ...
    ignore_case: bool  # ... and whether the pattern ignores case
    literal: str  # literal_text


_FACTS: dict[str, Facts] = {}


def facts(pattern: str) -> Facts:
    """The pattern's facts: remembered (see `remember`), else read now."""
    found = _FACTS.get(pattern)
    if found is None:
        found = _FACTS[pattern] = Facts(check_pattern(pattern), *_literal_runs(pattern),
                                        _literal_text(pattern))
    return found


def remember(table: dict[str, Facts]) -> None:
    """Facts read earlier (a cached `kb.explain.Prepared`), so they are not read again."""
    _FACTS.update(table)


@functools.lru_cache(maxsize=4096)
def compiled(pattern: str) -> re.Pattern[str] | None:
    """The compiled pattern, or None when it is invalid or unsafe (kb lint says why)."""
    if facts(pattern).problem is not None:
        return None
    return re.compile(pattern)


def match(pattern: str, text: str) -> PatternMatch | None:
    """The pattern searched in `text` (re.search), with its captures as values."""
    known = facts(pattern)
    if known.start not in text:  # cheap tests first: most patterns are never compiled
        return None
    if known.required:
        haystack = text.lower() if known.ignore_case else text
        if any(run not in haystack for run in known.required):
            return None
    regex = compiled(pattern)
    m = regex.search(text) if regex else None
    if not m:
        return None
    return PatternMatch(pattern, _captures(m), m.group(), 1.0)


def match_truncated(pattern: str, text: str) -> PatternMatch | None:
    """The longest prefix of `pattern` that matches up to the end of `text` (a message
    cut off there), if it covers enough of the pattern to mean the same error."""
    pattern_facts = facts(pattern)
    first, ignore_case = pattern_facts.first, pattern_facts.ignore_case
    if not first or not (first.lower() in text.lower() if ignore_case else first in text):
        return None  # cheap test: a cut-off message keeps the beginning of the pattern
    prefixes = _prefixes(pattern)
    if not prefixes:
        return None
    for prefix in reversed(prefixes):
        if prefix.coverage < MIN_TRUNCATED_COVERAGE or prefix.literal_chars < MIN_TRUNCATED_CHARS:
            break
        regex = _compile_prefix(prefix.source)
        m = regex.search(text) if regex else None
        if m:
            matched = m.group().rstrip(" \n.,;:")
            # a group that reaches the cut may itself be cut ("32" of "320"): drop it
            cut = m.start() + len(matched)
            captures = {name: to_value(value) for name, value in m.groupdict().items()
                        if value is not None and m.end(name) < cut}
            return PatternMatch(pattern, captures, matched, prefix.coverage)
    return None


def literal_text(pattern: str) -> str:
    """The words a pattern spells out, groups and classes as spaces (for fuzzy ranking)."""
    return facts(pattern).literal


def _literal_text(pattern: str) -> str:
    try:
        tree = sre_parse.parse(pattern)
    except (re.error, RecursionError, OverflowError):
        return ""
    out: list[str] = []
    _literals(list(tree), out)
    return re.sub(r"\s+", " ", "".join(out)).strip()


def to_value(text: str) -> Value:
    """A capture as a value: `100, 32, 32, 3`, `64x512`, `[2, 4]` -> list of ints, `5` -> 5."""
    s = text.strip()
    if _INT.fullmatch(s):
        return int(s)
    inner = _WRAPPER.fullmatch(s)
    if inner:
        s = inner.group(1).strip()
    parts = [p for p in _SEPARATOR.split(s.strip(" ,")) if p]
    if parts and len(parts) <= 64 and all(_INT.fullmatch(p) for p in parts):
        return [int(p) for p in parts]
    return text


_INT = re.compile(r"[+-]?\d{1,30}")
_WRAPPER = re.compile(r"(?:torch\.Size\()?[\[(]([^\[\]()]*)[\])]\)?")
_SEPARATOR = re.compile(r"\s*[,xX*]\s*|\s+")


def _captures(m: re.Match[str]) -> dict[str, Value]:
    return {name: to_value(value) for name, value in m.groupdict().items() if value is not None}


# ---------------------------------------------------------------- truncated messages


@record
class _Prefix:
    """A pattern's first items, to match a message cut off part-way."""

    source: str  # a regex: the pattern's first items, then "the text ends here"
    literal_chars: int
    coverage: float


def required_start(pattern: str) -> str:
    """The literal text every match of `pattern` begins with ("" if none is known): a
    text without it cannot match, so `kb explain` tests each of ~370 patterns without
    compiling it (issue 12)."""
    return facts(pattern).start


def required_runs(pattern: str) -> tuple[str, ...]:
    """The runs of literal text at the pattern's top level (outside groups, classes and
    quantifiers), each of at least 3 characters: every match contains them all. Lower
    case when the pattern starts with (?i); none when it has a top-level `|` or (?x)."""
    return facts(pattern).required


_GLOBAL_FLAGS = re.compile(r"\(\?[aiLmsux]+\)")


def _flags_and_items(pattern: str) -> tuple[str, list[tuple[str, bool]]] | None:
    """The pattern's leading global flags ("" if none) and its other top-level items;
    None when it has a top-level alternation."""
    items = _split_items(pattern)
    if items is None:
        return None
    if items and _GLOBAL_FLAGS.fullmatch(items[0][0]):
        return items[0][0], items[1:]
    return "", items


def _literal_runs(pattern: str) -> tuple[str, tuple[str, ...], str, bool]:
    """Facts.start, .required, .first and .ignore_case, from one split of the pattern:
    each is read from its runs of consecutive literal characters."""
    split = _flags_and_items(pattern)
    if split is None:
        return "", (), "", False
    flags, items = split
    runs: list[tuple[int, str]] = []  # where each run starts, and its text
    current: list[str] = []
    for n, (item, literal) in enumerate([*items, ("", False)]):
        if literal:
            current.append(item[-1])
        elif current:
            runs.append((n - len(current), "".join(current)))
            current = []
    ignore_case = "i" in flags
    start = runs[0][1] if runs and runs[0][0] == 0 and not flags else ""
    required = () if "x" in flags else tuple(
        text.lower() if ignore_case else text for _, text in runs if len(text) >= 3)
    first = runs[0][1].strip() if runs else ""
    return start, required, first, ignore_case


@functools.lru_cache(maxsize=1024)
def _prefixes(pattern: str) -> tuple[_Prefix, ...]:
    """The pattern's prefixes at item boundaries, shortest first (empty if it has a
    top-level `|` or cannot be split: those only match whole)."""
    if compiled(pattern) is None:
        return ()
    split = _flags_and_items(pattern)
    if split is None:
        return ()
    flags, items = split
    total = sum(1 for _, literal in items if literal)
    if not total:
        return ()
    out = []
    chars = 0
    for n, (_, literal) in enumerate(items, 1):
        chars += literal
        if chars < MIN_TRUNCATED_CHARS:
            continue
        body = "".join(item for item, _ in items[:n])
        source = f"{flags}(?:{body})[\\s.,;:]*\\Z"
        out.append(_Prefix(source, chars, chars / total))
    return tuple(out)


@functools.lru_cache(maxsize=8192)
def _compile_prefix(source: str) -> re.Pattern[str] | None:
    try:
        return re.compile(source)
    except re.error:
        return None  # a prefix that cuts a lookbehind or a backreference: skip it


_QUANTIFIER = re.compile(r"(?:[*+?]|\{\d*,?\d*\})[?+]?")


def _split_items(pattern: str) -> list[tuple[str, bool]] | None:
    """The pattern's top-level items with their quantifiers, each flagged when it is one
    literal character; None when there is a top-level alternation."""
    items: list[tuple[str, bool]] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        literal = False
        if c == "|":
            return None
        if c == "\\":
            j = i + 2
            if pattern[i + 1:i + 2] in ("x", "u", "U", "N"):
                j = _end_of_escape(pattern, i)
            literal = not pattern[i + 1:i + 2].isalnum()
        elif c == "[":
            j = _end_of_class(pattern, i)
        elif c == "(":
            j = _end_of_group(pattern, i)
        else:
            j = i + 1
            literal = c not in ".^$"
        if j > n:
            return None
        quant = _QUANTIFIER.match(pattern, j)
        if quant:
            literal = False
            j = quant.end()
        items.append((pattern[i:j], literal))
        i = j
    return items


def _end_of_escape(pattern: str, i: int) -> int:
    kind = pattern[i + 1]
    if kind == "N":
        end = pattern.find("}", i)
        return end + 1 if end > 0 else len(pattern) + 1
    return i + 2 + {"x": 2, "u": 4, "U": 8}[kind]


def _end_of_class(pattern: str, i: int) -> int:
    j = i + 1
    if pattern[j:j + 1] == "^":
        j += 1
    if pattern[j:j + 1] == "]":
        j += 1
    while j < len(pattern) and pattern[j] != "]":
        j += 2 if pattern[j] == "\\" else 1
    return j + 1


def _end_of_group(pattern: str, i: int) -> int:
    depth = 0
    j = i
    while j < len(pattern):
        c = pattern[j]
        if c == "\\":
            j += 2
            continue
        if c == "[":
            j = _end_of_class(pattern, j)
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return j + 1
        j += 1
    return len(pattern) + 1


# ---------------------------------------------------------------- the parse tree

_REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT)
_UNIVERSE = frozenset(range(256)) | {0x4E2D}  # ASCII, Latin-1, and a CJK character
_CATEGORIES = {
    sre.CATEGORY_DIGIT: frozenset(range(48, 58)),
    sre.CATEGORY_SPACE: frozenset(b" \t\n\r\f\v"),
    sre.CATEGORY_WORD: frozenset(c for c in _UNIVERSE if chr(c).isalnum() or c == 95),
}
_CATEGORIES[sre.CATEGORY_NOT_DIGIT] = _UNIVERSE - _CATEGORIES[sre.CATEGORY_DIGIT]
_CATEGORIES[sre.CATEGORY_NOT_SPACE] = _UNIVERSE - _CATEGORIES[sre.CATEGORY_SPACE]
_CATEGORIES[sre.CATEGORY_NOT_WORD] = _UNIVERSE - _CATEGORIES[sre.CATEGORY_WORD]


def _nested_quantifier(seq: list[Any], flags: int) -> str:
    """A description of the first quantified group whose inside repeats without a
    separator it cannot match, or ""."""
    for op, av in seq:
        if op in _REPEATS:
            _, high, body = av
            inner = _inner_repeat_chars(list(body), flags)
            if high > 2 and inner is not None and not _has_separator(list(body), inner, flags):
                return "a repeated group that repeats inside"
            found = _nested_quantifier(list(body), flags)
        elif op == sre.SUBPATTERN:
            found = _nested_quantifier(list(av[-1]), flags)
        elif op == sre.BRANCH:
            found = next((f for b in av[1] if (f := _nested_quantifier(list(b), flags))), "")
        elif op in (sre.ASSERT, sre.ASSERT_NOT):
            found = _nested_quantifier(list(av[1]), flags)
        else:
            found = ""  # atomic groups and possessive repeats never backtrack into themselves
        if found:
            return found
    return ""


def _inner_repeat_chars(seq: list[Any], flags: int) -> frozenset[int] | None:
    """The characters the unbounded repeats inside `seq` can match, or None if none."""
    chars: set[int] = set()
    found = False
    for op, av in seq:
        if op in _REPEATS:
            _, high, body = av
            if high > 2:  # MAXREPEAT (unbounded) is a large number too
                found = True
                chars |= _chars(list(body), flags)
            sub = _inner_repeat_chars(list(body), flags)
        elif op == sre.SUBPATTERN:
            sub = _inner_repeat_chars(list(av[-1]), flags)
        elif op == sre.BRANCH:
            subs = [_inner_repeat_chars(list(b), flags) for b in av[1]]
            sub = frozenset().union(*(s for s in subs if s is not None)) if any(
                s is not None for s in subs) else None
        else:
            sub = None
        if sub is not None:
            found = True
            chars |= sub
    return frozenset(chars) if found else None


def _has_separator(seq: list[Any], inner: frozenset[int], flags: int) -> bool:
    """Whether `seq` has a mandatory single character the inner repeats cannot match."""
    for op, av in seq:
        if op in (sre.LITERAL, sre.NOT_LITERAL, sre.IN, sre.ANY):
            if not (_chars([(op, av)], flags) & inner):
                return True
        elif op == sre.SUBPATTERN:
            if _has_separator(list(av[-1]), inner, flags):
                return True
        elif op in _REPEATS and av[0] >= 1 and _has_separator(list(av[2]), inner, flags):
            return True
    return False


def _chars(seq: Iterable[Any], flags: int) -> frozenset[int]:
    """Every character (of a sample universe) that some item of `seq` can match."""
    out: set[int] = set()
    for op, av in seq:
        if op == sre.LITERAL:
            out.add(av)
        elif op == sre.NOT_LITERAL:
            out |= _UNIVERSE - {av}
        elif op == sre.ANY:
            out |= _UNIVERSE if flags & re.DOTALL else _UNIVERSE - {10}
        elif op == sre.IN:
            out |= _class_chars(av)
        elif op in _REPEATS:
            out |= _chars(list(av[2]), flags)
        elif op == sre.SUBPATTERN:
            out |= _chars(list(av[-1]), flags)
        elif op == sre.BRANCH:
            for b in av[1]:
                out |= _chars(list(b), flags)
    if flags & re.IGNORECASE:
        out |= {ord(chr(c).swapcase()) for c in out if len(chr(c).swapcase()) == 1}
    return frozenset(out)


def _class_chars(items: list[Any]) -> frozenset[int]:
    chars: set[int] = set()
    negate = False
    for op, av in items:
        if op == sre.NEGATE:
            negate = True
        elif op == sre.LITERAL:
            chars.add(av)
        elif op == sre.RANGE:
            chars |= {c for c in _UNIVERSE if av[0] <= c <= av[1]}
        elif op == sre.CATEGORY:
            chars |= _CATEGORIES.get(av, _UNIVERSE)
    return _UNIVERSE - chars if negate else frozenset(chars)


def _literals(seq: list[Any], out: list[str]) -> None:
    for op, av in seq:
        if op == sre.LITERAL:
            out.append(chr(av))
        elif op == sre.SUBPATTERN:
            out.append(" ")
            _literals(list(av[-1]), out)
            out.append(" ")
        elif op in _REPEATS and av[0] >= 1:
            out.append(" ")
            if av[1] == 1:  # (?:...){1}: its words are always there
                _literals(list(av[2]), out)
        else:
            out.append(" ")
