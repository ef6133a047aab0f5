"""A pattern from one real message, for `kb new --from-error` (issue 16 item 7).

message -> the parts that change from run to run (quoted names, log times, addresses,
size lists and tuples, NxM shapes, numbers) and the literal text between them -> a pattern in
which each changing part is a named group and the rest is escaped literally. Each
group is named after the word before it when that word says what the value is
(`has no attribute 'zero'` -> `attribute`, `groups=1` -> `groups`), else after its
kind (`name1`, `n1`, `size1`, `shape1`): hints then read like the built-in ones.

The pattern keeps only the first MAX_LITERAL characters of the message: patterns are
searched (re.search), so a prefix still matches the whole message, and a long one
(a CUDA OOM note) would only tie the entry to one run's wording.
"""

from __future__ import annotations

import keyword
import re

from kb.errors import UsageError
from kb.explain.patterns import check_pattern
from kb.record import record

MAX_LITERAL = 300  # characters of the message the pattern is made from
MIN_LETTERS = 8  # letters of fixed text a pattern needs, or it matches unrelated errors

# What changes between two runs of the same error, most specific first. Each kind:
# (how it is found in the message, the group's regex in the pattern, its fallback name).
_KINDS: dict[str, tuple[str, str, str]] = {
    "squote": (r"(?<![\w'])'[^'\n]{1,200}'(?!\w)", r"'(?P<{}>[^'\n]+)'", "name"),
    "dquote": (r'(?<![\w"])"[^"\n]{1,200}"(?!\w)', r'"(?P<{}>[^"\n]+)"', "name"),
    "bquote": (r"(?<![\w`])`[^`\n]{1,200}`(?!\w)", r"`(?P<{}>[^`\n]+)`", "name"),  # nn.Module's
    "time": (r"(?<!\d)\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d+)?(?!\d)",
             r"(?P<{}>\d{{4}}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d+)?)", "time"),  # a log's
    # an address has a hex letter or is long: "0x0" and "0x512" are shapes (0 rows)
    "address": (r"(?<![\w.])0x(?=\d*[a-fA-F]|\d{6})[0-9a-fA-F]+(?!\w)",
                r"(?P<{}>0x[0-9a-fA-F]+)", "address"),
    "list": (r"\[ *-?\d+(?: *, *-?\d+)* *,? *\]", r"\[(?P<{}>[-\d, ]+)\]", "size"),
    "tuple": (r"\( *-?\d+(?: *, *-?\d+)+ *,? *\)", r"\((?P<{}>[-\d, ]+)\)", "size"),
    "shape": (r"(?<![\w.])\d+(?:x\d+)+(?!\w)", r"(?P<{}>\d+(?:x\d+)+)", "shape"),
    "number": (r"(?<![\w.])-?\d+(?:\.\d+)*(?:[eE][-+]?\d+)?(?!\w)",
               r"(?P<{}>-?\d+(?:\.\d+)*(?:[eE][-+]?\d+)?)", "n"),
}
_CHANGING = re.compile("|".join(f"(?P<{kind}>{found})" for kind, (found, _, _) in _KINDS.items()))
_SPECIAL = re.compile(r"([.^$*+?{}\[\]\\|()])")
# The word just before a value, and at most two characters between (`size [`, `dim=`).
_BEFORE = re.compile(r"([A-Za-z][A-Za-z0-9_]{0,29})[ =:\[(]{0,2}\Z")
# Words that do not say what the value is ("have 3", "of 'x'", "and 256x10").
STOPWORDS = frozenset((
    "a", "about", "after", "an", "and", "are", "as", "at", "be", "been", "before", "but",
    "by", "can", "for", "from", "has", "have", "in", "into", "is", "it", "its", "not", "of",
    "on", "or", "over", "per", "than", "that", "the", "then", "this", "to", "under", "was",
    "were", "which", "while", "with"))


@record
class Generalized:
    """A pattern made from `message`, and what each of its groups captured there."""

    message: str
    pattern: str
    groups: tuple[tuple[str, str], ...]  # (name, the text it captured in the message)
    words: tuple[str, ...]  # the fixed text's words, in order (for an id; "don't" whole)


def generalize(message: str) -> Generalized:
    """The pattern for `message` (one line); a UsageError when it has too little fixed
    text to tell it from other errors."""
    message = " ".join(message.split())
    whole = message
    # KeyError prints its message quoted, a forum post puts it in `...`: the words inside
    outer = message[0] if len(message) > 2 and message[0] in "'\"`" \
        and message[-1] == message[0] and message[0] not in message[1:-1] else ""
    if outer:
        message = message[1:-1]
    parts: list[str] = [outer]
    groups: list[tuple[str, str]] = []
    literal: list[str] = []
    used: set[str] = set()
    at = 0
    for m in _CHANGING.finditer(message):
        if m.start() >= MAX_LITERAL:
            break
        before = message[at:m.start()]
        parts.append(_escape(before))
        literal.append(before)
        kind = m.lastgroup or "number"
        _, group, fallback = _KINDS[kind]
        if kind == "number" and re.fullmatch(r"-?\d+", m.group()):  # most are counts
            group = r"(?P<{}>-?\d+)" if m.group().startswith("-") else r"(?P<{}>\d+)"
        name = _name(message[:m.start()], fallback, used)
        parts.append(group.format(name))
        groups.append((name, m.group().strip("'\"`") if kind.endswith("quote") else m.group()))
        at = m.end()
    rest = message[at:]
    if at + len(rest) > MAX_LITERAL:
        cut = rest.rfind(" ", 0, max(MAX_LITERAL - at, 0))
        rest = rest[:cut] if cut > 0 else rest[:max(MAX_LITERAL - at, 0)]
    elif outer:
        rest += outer
    parts.append(_escape(rest))
    literal.append(rest)
    fixed = " ".join(literal)
    if sum(c.isalpha() for c in fixed) < MIN_LETTERS:
        raise UsageError(f"the message {whole[:80]!r} has too little fixed text to tell it "
                         "from other errors; give the whole message, with its words")
    pattern = "".join(parts).strip()
    problem = check_pattern(pattern)
    if problem is not None or re.search(pattern, whole) is None:  # pragma: no cover
        raise AssertionError(f"generalize made a pattern that fails on its own message: "
                             f"{problem or pattern!r}")  # a bug here, never the user's input
    return Generalized(whole, pattern, tuple(groups),
                       tuple(re.findall(r"[A-Za-z][A-Za-z0-9]*(?:'[a-z]+)?", fixed)))


def _escape(text: str) -> str:
    """`text` as a literal: only the regex metacharacters escaped (re.escape also escapes
    spaces, `-` and `=`, which makes the pattern hard to read and edit)."""
    return _SPECIAL.sub(r"\\\1", text)


def _name(before: str, fallback: str, used: set[str]) -> str:
    """The group's name: the word before it when it names the value, else the kind's
    name numbered; never one used already in this pattern."""
    m = _BEFORE.search(before)
    word = m.group(1).lower() if m else ""
    if (not word or word in STOPWORDS or keyword.iskeyword(word)
            or (word.endswith(("ed", "ing")) and word != "expected")):  # verbs: "multiplied ("
        base, n = fallback, 1
        name = f"{base}{n}"
    else:
        base, n = word, 1
        name = word
    while name in used:
        n += 1
        name = f"{base}{n}"
    used.add(name)
    return name
