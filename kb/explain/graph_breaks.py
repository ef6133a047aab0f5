"""torch.compile graph breaks explained from torch's own registry, read as plain JSON.

torch ships `torch/_dynamo/graph_break_registry.json`: each graph-break id (`GB0170`)
maps to the texts one `unimplemented()` call site has had (kb prefers the first), each
with its `Gb_type` (the first line of the message), `Context` (the "Developer debug context"
template), `Explanation` and `Hints`. torch links a break to its id by printing
`.../compile-graph-break-site/gb/gb0170.html` (torch/_dynamo/exc.py,
`get_gbid_documentation_link`; 2.7+), and finds the id from the gb_type the same way.

paste -> `Found` (the id in the link, the gb_type line before `Explanation:`, the
printed context line) -> `Registry.lookup` -> `Break` with readable text -> captures.
The file is found with importlib.util.find_spec("torch"), which for a top-level name
reads directories and imports nothing, and read once per process, only when an entry's
pattern captured a graph break (kb.explain.derive). No torch, an older torch without
the file, or a file that is not the registry: no registry, silently.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from kb.record import record

REGISTRY_FILE = ("_dynamo", "graph_break_registry.json")  # under the torch package
MAX_TEXT = 4000  # characters of one registry text kb shows

_URL = re.compile(r"compile-graph-break-site/gb/gb(\d{1,6})\.html")
# what logging puts before each line: glog's `V1204 02:23:59.802000 2279 path.py:5124] `,
# then `[0/0] [__graph_breaks] `; torchrun's `[rank0]:`
_LOG_PREFIX = re.compile(
    r"^(?:\[rank\d+\]:)?(?:[DIWEVC]\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ [^\]\n]{1,300}\] )?"
    r"(?:\[[^\]\n]{1,60}\] ){0,4}")
# the heads torch puts before the gb_type on its own line (exception, log of <= 2.7)
_HEADS = ("torch._dynamo.exc.Unsupported: ", "Unsupported: ", "Graph Break Reason: ")
_PLACEHOLDER = re.compile(r"\{([^{}\n]{1,80})\}")
_NAME = re.compile(r"[A-Za-z_][\w.]*")  # a dotted name: `print`, `torch.cond`
_SPACES = re.compile(r"\s+")


@record
class Break:
    """One graph break as the registry describes it, its placeholders readable."""

    gb_id: str  # "GB0170"
    gb_type: str
    explanation: str
    hints: tuple[str, ...]  # each a whole hint, fragments joined as torch joins them


@record
class Found:
    """What a paste says about its graph break."""

    gb_id: str = ""  # "GB0170", from the documentation link
    gb_type: str = ""  # the line before `Explanation:`
    context: str = ""  # the `Developer debug context:` line


@record
class _Version:
    gb_type: str
    context: str
    explanation: str
    hints: tuple[str, ...]


class Registry:
    """torch's graph-break registry: id -> its versions; gb_type -> id (as torch links)."""

    def __init__(self, versions: Mapping[str, tuple[_Version, ...]]) -> None:
        self._versions = dict(versions)
        self._by_type: dict[str, str] = {}
        for gb_id, found in versions.items():
            for version in found:
                self._by_type[version.gb_type] = gb_id  # a later id wins, as in torch

    def knows_type(self, gb_type: str) -> bool:
        return gb_type in self._by_type

    def lookup(self, found: Found) -> Break | None:
        """The break `found` names: by its id, else by its gb_type (None if neither is known).

        Of the id's versions, the first with that gb_type and a readable explanation
        (the registry keeps source text such as `msg` where the call site built it).
        """
        gb_id = found.gb_id if found.gb_id in self._versions else self._by_type.get(found.gb_type)
        if gb_id is None:
            return None
        versions = self._versions[gb_id]
        readable = [v for v in versions if _readable(v.explanation)] or list(versions)
        same = [v for v in readable if v.gb_type == found.gb_type]
        version = (same or readable)[0]
        values = _context_values(version.context, found.context) if found.context else {}
        return Break(gb_id, version.gb_type,
                     _filled(version.explanation, values) if _readable(version.explanation)
                     else "",
                     tuple(_filled(h, values) for h in _joined(version.hints)))


def parse_registry(data: object) -> Registry | None:
    """The registry in torch's JSON shape, or None if `data` is not one."""
    if not isinstance(data, dict) or not data:
        return None
    versions: dict[str, tuple[_Version, ...]] = {}
    for gb_id, found in data.items():
        if not (isinstance(gb_id, str) and re.fullmatch(r"GB\d{1,6}", gb_id)
                and isinstance(found, list)):
            continue  # not a graph break's record (a key a later torch may add)
        kept = tuple(v for v in map(_version, found) if v is not None)
        if kept:
            versions[gb_id] = kept
    return Registry(versions) if versions else None


def read_registry(path: Path) -> Registry | None:
    """The registry in the file at `path`, or None if it cannot be read or is not one."""
    import json

    try:
        with path.open(encoding="utf-8") as f:
            return parse_registry(json.load(f))
    except (OSError, ValueError, RecursionError):  # missing, unreadable, not JSON
        return None


def installed_path() -> Path | None:
    """Where the installed torch keeps its registry (None without torch or without the file).

    find_spec of a top-level name only searches sys.path: torch is not imported.
    """
    import importlib.util

    try:
        spec = importlib.util.find_spec("torch")
    except (ImportError, ValueError):  # a broken sys.path entry or a `torch` without spec
        return None
    for location in (spec.submodule_search_locations or []) if spec else []:
        path = Path(location).joinpath(*REGISTRY_FILE)
        if path.is_file():
            return path
    return None


_installed: list[Registry | None] = []  # read once per process, when first needed


def installed_registry() -> Registry | None:
    """The installed torch's registry (read on the first call, then kept)."""
    if not _installed:
        path = installed_path()
        _installed.append(read_registry(path) if path else None)
    return _installed[0]


def looks_like_graph_break(text: str) -> bool:
    """Whether `text` can name a graph break: cheap substring tests, no regex."""
    return ("compile-graph-break-site" in text or "Explanation:" in text
            or "Unsupported" in text or "Graph Break Reason" in text)


def find(text: str, gb_id: str = "") -> Found:
    """The graph break a paste shows: the one whose link names `gb_id`, else the one the
    first link belongs to, else the first one; its id, gb_type and context line."""
    if not looks_like_graph_break(text):
        return Found()
    url = next((u for u in _URL.finditer(text) if not gb_id or _page_id(u.group(1)) == gb_id),
               None)
    if url is not None:  # the break printed just before its link
        block = _last_block(_lines(text[:url.end()]))
        return Found(_page_id(url.group(1)), *block)
    return Found(gb_id, *_next_block(_lines(text)))


def _page_id(digits: str) -> str:
    return f"GB{int(digits):04d}"


# ---------------------------------------------------------------- reading the paste


def _lines(text: str) -> Iterator[str]:
    """The paste's lines without log prefixes, one shared iterator (read on, never back)."""
    return (_LOG_PREFIX.sub("", line, count=1) for line in text.splitlines())


def _next_block(lines: Iterator[str]) -> tuple[str, str]:
    """(gb_type, context) of the next break in `lines`: the line before `Explanation:`
    (past a `Higher Order Operator:` line) and the `Developer debug context:` after it."""
    previous = ""
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("Explanation:"):
            for after in lines:
                after = after.strip()
                if after.startswith("Developer debug context:"):
                    return _strip_head(previous), after.split(":", 1)[1].strip()
                if after.startswith("Explanation:"):  # the next break's: this one has none
                    break
            return _strip_head(previous), ""
        if stripped and not stripped.startswith("Higher Order Operator:"):
            previous = line
    return "", ""


def _last_block(lines: Iterator[str]) -> tuple[str, str]:
    """(gb_type, context) of the last break in `lines`."""
    last = ("", "")
    while True:
        block = _next_block(lines)
        if not block[0]:
            return last
        last = block


def _strip_head(line: str) -> str:
    line = line.strip()
    for head in _HEADS:
        at = line.find(head)
        if at >= 0:
            return line[at + len(head):].strip()
    return line


# ---------------------------------------------------------------- reading the registry


def _version(raw: object) -> _Version | None:
    if not isinstance(raw, dict):
        return None
    gb_type, context = raw.get("Gb_type"), raw.get("Context")
    explanation, hints = raw.get("Explanation"), raw.get("Hints")
    if not (isinstance(gb_type, str) and gb_type.strip() and isinstance(explanation, str)
            and isinstance(hints, list) and all(isinstance(h, str) for h in hints)):
        return None
    return _Version(gb_type.strip(), context if isinstance(context, str) else "",
                    explanation, tuple(hints))


def _readable(text: str) -> bool:
    """Prose, not the source text the registry keeps where a call site computed the text
    (`msg`, `str(cause)`, `"..." + trace_info`). Prose does not parse as Python, or parses
    only as a comparison: `tensor.is_inference() is not supported`."""
    import ast

    text = text.strip()
    if not text:
        return False
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return True
    return not isinstance(tree.body, (ast.Name, ast.Attribute, ast.Call, ast.BinOp,
                                      ast.Constant, ast.JoinedStr, ast.Subscript))


def _joined(hints: tuple[str, ...]) -> list[str]:
    """Whole hints: a fragment ending in a space continues in the next one, as in torch,
    whose call sites split long hints into adjacent string literals."""
    out: list[str] = []
    pending = ""
    for hint in hints:
        pending += hint
        if not hint[-1:].isspace():
            out.append(pending)
            pending = ""
    if pending.strip():
        out.append(pending)
    return [" ".join(h.split())[:MAX_TEXT] for h in out if _readable(h)]


def _context_values(template: str, printed: str) -> dict[str, str]:
    """The placeholders of the registry's context template as the paste printed them.

    `builtin {fn.__name__} {arg_types} {has_kwargs}` against `builtin print [...] False`.
    The split is ambiguous when values contain the separators: a value is kept only
    when the shortest reading (each separator at its first place) and the longest (at
    its last) agree, or when the shortest is a single name (`print`), as such fields
    read. Both readings are string searches, linear in the line: no regex backtracking.
    """
    parts = _PLACEHOLDER.split(_SPACES.sub(" ", template))
    literals, names = parts[0::2], parts[1::2]
    printed = _SPACES.sub(" ", printed.strip())
    if not names or len(printed) > MAX_TEXT or not all(literals[1:-1]):
        return {}  # no placeholders, or two of them side by side: nothing to split on
    lazy, greedy = _split_first(literals, printed), _split_last(literals, printed)
    if lazy is None or greedy is None:
        return {}
    values: dict[str, str] = {}
    for name, short, long in zip(names, lazy, greedy, strict=True):
        if short == long or _NAME.fullmatch(short):
            values.setdefault(name, short)
    return values


def _bounds(literals: list[str], printed: str) -> tuple[int, int] | None:
    """Where the values lie: after the template's head, before its tail."""
    head, tail = literals[0], literals[-1]
    start, end = len(head), len(printed) - len(tail)
    if not (printed.startswith(head) and printed.endswith(tail)) or end <= start:
        return None
    return start, end


def _split_first(literals: list[str], printed: str) -> list[str] | None:
    bounds = _bounds(literals, printed)
    if bounds is None:
        return None
    pos, end = bounds
    values = []
    for literal in literals[1:-1]:
        at = printed.find(literal, pos + 1, end - 1)
        if at < 0:
            return None
        values.append(printed[pos:at])
        pos = at + len(literal)
    values.append(printed[pos:end])
    return values if all(values) else None


def _split_last(literals: list[str], printed: str) -> list[str] | None:
    bounds = _bounds(literals, printed)
    if bounds is None:
        return None
    start, right = bounds
    values = []
    for literal in reversed(literals[1:-1]):
        at = printed.rfind(literal, start + 1, right - 1)
        if at < 0:
            return None
        values.append(printed[at + len(literal):right])
        right = at
    values.append(printed[start:right])
    values.reverse()
    return values if all(values) else None


def _filled(text: str, values: Mapping[str, str]) -> str:
    """`text` with each `{name}` the context gave replaced by its value, the rest `<name>`."""
    def one(m: re.Match[str]) -> str:
        value = values.get(m.group(1))
        return value if value is not None else f"<{m.group(1)}>"

    return " ".join(_PLACEHOLDER.sub(one, text).split())[:MAX_TEXT]


# ---------------------------------------------------------------- captures for hints


def captures(captured: Mapping[str, object], paste: str,
             reader: Callable[[], Registry | None]) -> dict[str, str]:
    """The registry's word on the graph break a pattern captured (`gb_page`: `gb0170`,
    `gb_type`) and the paste shows: `gb_id`, `gb_registry_type`, `gb_explanation`,
    `gb_hints` (the hints joined); {} when there is no registry or it has no such break."""
    registry = reader()
    if registry is None:
        return {}
    page = captured.get("gb_page")
    gb_id = ""
    if isinstance(page, str) and re.fullmatch(r"(?i)gb\d{1,6}", page):
        gb_id = _page_id(page[2:])
    found = find(paste, gb_id)
    gb_id = gb_id or found.gb_id
    typed = [found.gb_type, found.gb_type.rpartition(": ")[2]]
    if isinstance(captured.get("gb_type"), str):
        typed.insert(0, str(captured["gb_type"]).strip())
    gb_type = next((t for t in typed if t and registry.knows_type(t)), "")
    known = registry.lookup(Found(gb_id, gb_type, found.context))
    if known is None:
        return {}
    out = {"gb_id": known.gb_id, "gb_registry_type": known.gb_type}
    if known.explanation:
        out["gb_explanation"] = known.explanation
    if known.hints:
        out["gb_hints"] = " ".join(known.hints)
    return out
