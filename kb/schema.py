"""Raw YAML data -> an `Entry`, or every `Problem` found, each with a stable rule code.

The schema is declared as data (`FIELDS`, `SNIPPET_FIELDS`, ...) and every rule
has a code in `RULES` (like tldr-lint's TLDR001): tests keep one failing fixture
per rule. Validation never stops at the first problem.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kb.errors import suggest
from kb.model import (
    FRAME_CAPTURES,
    KINDS,
    LOOKUP_AMONG,
    CommandLine,
    Entry,
    Hint,
    Lookup,
    Problem,
    Raises,
    Severity,
    Snippet,
    Zh,
)
from kb.requirements import MODULE_REQUIREMENT, undeclared_modules
from kb.yaml_lines import line_of

RULES: dict[str, str] = {
    "KB001": "the file is not valid YAML",
    "KB002": "the file is not UTF-8",
    "KB003": "the file is empty",
    "KB004": "a value has the wrong type",
    "KB005": "the file's top level is not a mapping",
    "KB006": "a required key is missing",
    "KB007": "an unknown key (probably a typo)",
    "KB008": "an id or snippet name is not kebab-case",
    "KB009": "the id differs from the file name",
    "KB010": "two entries have the same id",
    "KB011": "see_also names an entry that does not exist",
    "KB012": "a pattern is not a valid regular expression",
    "KB013": "Chinese title or summary missing",
    "KB014": "an unknown kind, snippet language or requirement",
    "KB015": "two snippets of one entry have the same name",
    "KB016": "an error entry without patterns",
    "KB017": "a hint's condition or text is invalid",
    "KB018": "a command entry without command lines",
    "KB019": "an entry source cannot be read",
    "KB020": "a snippet checks nothing (no expect, raises or requires)",
    "KB021": "a snippet imports a module it does not declare in requires",
    "KB022": "a pattern can backtrack exponentially (kb explain skips it)",
    "KB023": "a lookup reads a capture no pattern makes, or has an unknown 'among'",
}

ID_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*\Z")
LANGS = ("python", "sh")
REQUIREMENTS = ("cuda", "network", "conda", "nvidia-smi", "multi-gpu")
TEXT, TEXTS, MAP, LIST, NUMBER = "text", "list of text", "mapping", "list", "number"

# key -> expected type; required per kind is in REQUIRED.
FIELDS: dict[str, str] = {
    "id": TEXT, "kind": TEXT, "title": TEXT, "summary": TEXT, "zh": MAP, "tags": TEXTS,
    "aliases": TEXTS, "body": TEXT, "see_also": TEXTS, "commands": LIST, "snippets": LIST,
    "patterns": LIST, "causes": TEXTS, "fix": TEXT, "hints": LIST, "lookups": LIST,
    "examples": TEXTS,
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "command": ("id", "kind", "title", "summary", "commands"),
    "api": ("id", "kind", "title", "summary"),
    "concept": ("id", "kind", "title", "summary"),
    "error": ("id", "kind", "title", "summary", "patterns", "causes", "fix"),
}
ZH_FIELDS = {"title": TEXT, "summary": TEXT, "body": TEXT, "causes": TEXTS, "fix": TEXT}
SNIPPET_FIELDS = {
    "name": TEXT, "code": TEXT, "lang": TEXT, "expect": TEXT, "raises": MAP,
    "requires": TEXTS, "timeout": NUMBER, "tolerance": NUMBER,
}
RAISES_FIELDS = {"type": TEXT, "match": TEXT, "elsewhere": TEXTS}
COMMAND_FIELDS = {"cmd": TEXT, "does": TEXT, "zh": TEXT}
HINT_FIELDS = {"when": TEXT, "en": TEXT, "zh": TEXT}
PATTERN_FIELDS = {"pattern": TEXT, "torch": TEXT}
# which torch releases print a wording: "old" (not the torch kb is checked with, an
# earlier one), or a range when it is known: "<1.9", "<=1.12", ">=2.1", "1.5-1.12"
_RELEASE = r"\d+(?:\.\d+){0,2}"
TORCH_RANGE_RE = re.compile(rf"old\Z|(?:<=?|>=)?{_RELEASE}\Z|{_RELEASE}-{_RELEASE}\Z")
LOOKUP_FIELDS = {"name": TEXT, "among": TEXT, "of": TEXT, "gives": TEXT, "wrong": TEXT,
                 "unless": TEXT}
_CAPTURE_NAME = re.compile(r"[A-Za-z_]\w*\Z")


@dataclass
class _Context:
    """Where we are in one file, and the problems found so far."""

    path: Path
    problems: list[Problem]
    builtin: bool

    def add(self, line: int, code: str, message: str, severity: Severity = Severity.ERROR) -> None:
        self.problems.append(Problem(self.path, line, code, message, severity))


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if value is None:
        return "nothing"
    return type(value).__name__


def _typed(ctx: _Context, data: Mapping[str, Any], key: str, kind: str, where: str = "") -> Any:
    """The value of `key` if it has the type `kind`; else a KB004 problem and None."""
    value = data.get(key)
    if value is None:
        return None
    ok = {
        TEXT: isinstance(value, str),
        TEXTS: isinstance(value, list) and all(isinstance(v, str) for v in value),
        MAP: isinstance(value, dict),
        LIST: isinstance(value, list),
        NUMBER: isinstance(value, int | float) and not isinstance(value, bool),
    }[kind]
    if kind == TEXT and isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # `expect: 42` is the text "42"
    if kind == TEXTS and isinstance(value, str):
        ctx.add(line_of(data, key), "KB004", f"{where}'{key}' must be a list of text, got text; "
                f"write it as [{value!r}] or a '- ' list")
        return None
    if not ok and kind == TEXTS and isinstance(value, list):
        i, item = next((i, v) for i, v in enumerate(value) if not isinstance(v, str))
        hint = ("; a ': ' inside the text makes YAML read a mapping: put the item in quotes"
                if isinstance(item, dict) else "; write it as text")
        ctx.add(line_of(value, i) or line_of(data, key), "KB004",
                f"{where}'{key}' item {i + 1} must be text, got {_type_name(item)}{hint}")
        return None
    if not ok:
        ctx.add(line_of(data, key), "KB004",
                f"{where}'{key}' must be {kind}, got {_type_name(value)}")
        return None
    return value


def _unknown_keys(ctx: _Context, data: Mapping[str, Any], known: Mapping[str, str],
                  where: str = "") -> None:
    for key in data:
        if key not in known:
            hint = suggest(key, known, cutoff=0.5) or f"known keys: {', '.join(known)}"
            ctx.add(line_of(data, key), "KB007", f"unknown key {where}'{key}'; {hint}",
                    Severity.WARNING)


def parse_entry(data: Any, path: Path, *,
                builtin: bool = False) -> tuple[Entry | None, list[Problem]]:
    """Validate one file's data; an Entry only when it has no errors (warnings are fine)."""
    ctx = _Context(path, [], builtin)
    if not isinstance(data, dict):
        ctx.add(line_of(data) or 1, "KB005",
                "the top level must be a mapping of keys (id:, kind:, ...), "
                f"got {_type_name(data)}")
        return None, ctx.problems
    _unknown_keys(ctx, data, FIELDS)
    values = {key: _typed(ctx, data, key, kind) for key, kind in FIELDS.items()}

    kind = values["kind"]
    if kind is not None and kind not in KINDS:
        ctx.add(line_of(data, "kind"), "KB014",
                f"unknown kind '{kind}'; expected one of: {', '.join(KINDS)}")
        kind = None
    for key in REQUIRED.get(kind or "api", REQUIRED["api"]):
        if not data.get(key):
            code = {"patterns": "KB016", "commands": "KB018"}.get(key, "KB006")
            ctx.add(line_of(data, key) or 1, code,
                    f"missing '{key}'" + (f" (required for {kind} entries)" if kind else ""))

    entry_id = values["id"]
    if entry_id is not None:
        if not ID_RE.match(entry_id):
            ctx.add(line_of(data, "id"), "KB008",
                    f"id '{entry_id}' must be kebab-case (lower-case words joined by '-')")
        elif entry_id != path.stem:
            ctx.add(line_of(data, "id"), "KB009",
                    f"id '{entry_id}' differs from the file name '{path.name}'; "
                    f"rename the file to {entry_id}{path.suffix} or fix the id")

    zh = _parse_zh(ctx, data)
    snippets = _parse_list(ctx, data, "snippets", _parse_snippet)
    names = [s.name for s in snippets]
    for snippet in snippets:
        if names.count(snippet.name) > 1:
            ctx.add(snippet.line, "KB015", f"snippet name '{snippet.name}' is used twice; "
                    "give each snippet its own name")
            names = [n for n in names if n != snippet.name]
    patterns, pattern_torch = _parse_patterns(ctx, data, values["patterns"] or [])

    if any(p.severity is Severity.ERROR for p in ctx.problems):
        return None, ctx.problems
    entry = Entry(
        id=entry_id, kind=kind, title=values["title"].strip(), summary=values["summary"].strip(),
        source=path, zh=zh,
        tags=tuple(values["tags"] or ()), aliases=tuple(values["aliases"] or ()),
        body=(values["body"] or "").strip(), see_also=tuple(values["see_also"] or ()),
        commands=tuple(_parse_list(ctx, data, "commands", _parse_command)),
        snippets=tuple(snippets),
        patterns=tuple(patterns), pattern_torch=tuple(pattern_torch),
        causes=tuple(values["causes"] or ()),
        fix=(values["fix"] or "").strip(),
        hints=tuple(_parse_list(ctx, data, "hints", _parse_hint)),
        lookups=tuple(_parse_list(ctx, data, "lookups", functools.partial(
            _parse_lookup, captured=_captured(patterns)))),
        examples=tuple(values["examples"] or ()), builtin=builtin,
    )
    if any(p.severity is Severity.ERROR for p in ctx.problems):  # from commands / hints
        return None, ctx.problems
    return entry, ctx.problems


def _parse_zh(ctx: _Context, data: Mapping[str, Any]) -> Zh:
    raw = _typed(ctx, data, "zh", MAP) or {}
    if raw:
        _unknown_keys(ctx, raw, ZH_FIELDS, "in zh: ")
    values = {key: _typed(ctx, raw, key, kind, "zh: ") for key, kind in ZH_FIELDS.items()}
    for key in ("title", "summary"):
        if not values[key]:
            severity = Severity.ERROR if ctx.builtin else Severity.WARNING
            ctx.add(line_of(raw) or line_of(data), "KB013",
                    f"no Chinese {key} (zh: {key}:); the built-in knowledge base is bilingual"
                    if ctx.builtin else f"no Chinese {key} (zh: {key}:); English is shown instead",
                    severity)
    return Zh(
        title=(values["title"] or "").strip(), summary=(values["summary"] or "").strip(),
        body=(values["body"] or "").strip(), causes=tuple(values["causes"] or ()),
        fix=(values["fix"] or "").strip(),
    )


def _parse_list(ctx: _Context, data: Mapping[str, Any], key: str,
                parse: Callable[[_Context, Any, int], Any]) -> list[Any]:
    items = data.get(key)
    if not isinstance(items, list):
        return []
    out = []
    for i, item in enumerate(items):
        line = line_of(items, i)
        if not isinstance(item, dict):
            ctx.add(line, "KB004",
                    f"each item of '{key}' must be a mapping, got {_type_name(item)}")
            continue
        parsed = parse(ctx, item, line)
        if parsed is not None:
            out.append(parsed)
    return out


def _require(ctx: _Context, item: Mapping[str, Any], keys: tuple[str, ...], what: str,
             line: int) -> bool:
    missing = [k for k in keys if not item.get(k)]
    for key in missing:
        ctx.add(line, "KB006", f"{what} is missing '{key}'")
    return not missing


def _parse_snippet(ctx: _Context, item: Mapping[str, Any], line: int) -> Snippet | None:
    _unknown_keys(ctx, item, SNIPPET_FIELDS, "in a snippet: ")
    v = {key: _typed(ctx, item, key, kind, "snippet ") for key, kind in SNIPPET_FIELDS.items()}
    if not _require(ctx, item, ("name", "code"), "a snippet", line):
        return None
    name = v["name"]
    if name is None or v["code"] is None:
        return None
    if not ID_RE.match(name):
        ctx.add(line_of(item, "name"), "KB008", f"snippet name '{name}' must be kebab-case")
    lang = v["lang"] or "python"
    if lang not in LANGS:
        ctx.add(line_of(item, "lang"), "KB014",
                f"snippet '{name}': unknown lang '{lang}'; expected one of: {', '.join(LANGS)}")
    requires = tuple(v["requires"] or ())
    for need in requires:
        if need not in REQUIREMENTS and not MODULE_REQUIREMENT.fullmatch(need):
            ctx.add(line_of(item, "requires"), "KB014",
                    f"snippet '{name}': unknown requirement '{need}'; expected one of: "
                    f"{', '.join(REQUIREMENTS)}, module:NAME, module:NAME>=VERSION")
    raises = None
    if v["raises"] is not None:
        raw = v["raises"]
        _unknown_keys(ctx, raw, RAISES_FIELDS, "in raises: ")
        r = {key: _typed(ctx, raw, key, kind, "raises ") for key, kind in RAISES_FIELDS.items()}
        if not r["type"]:
            ctx.add(line_of(item, "raises"), "KB006",
                    f"snippet '{name}': raises needs a 'type' (e.g. RuntimeError)")
        else:
            elsewhere = tuple(r["elsewhere"] or ())
            if elsewhere and not r["match"]:
                ctx.add(line_of(raw, "elsewhere"), "KB006",
                        f"snippet '{name}': raises.elsewhere lists other wordings of "
                        "raises.match; add the 'match' this machine's wording meets")
            for key, regexes in (("match", [r["match"] or ""]), ("elsewhere", elsewhere)):
                for i, regex in enumerate(regexes):
                    error = regex_error(regex)
                    if error:
                        at = line_of(raw[key], i) if key == "elsewhere" else line_of(raw, key)
                        ctx.add(at or line_of(raw, key), "KB012",
                                f"snippet '{name}': raises.{key} is not a valid regular "
                                f"expression: {error}")
            raises = Raises(r["type"], r["match"] or "", elsewhere)
    snippet = Snippet(
        name=name, code=v["code"], lang=lang, expect=v["expect"], raises=raises,
        requires=requires, timeout=v["timeout"], tolerance=v["tolerance"], line=line,
    )
    for module in undeclared_modules(snippet):
        ctx.add(line_of(item, "code"), "KB021",
                f"snippet '{name}' imports '{module}' (not the standard library, torch or "
                f"numpy); declare it: requires: [module:{module}]",
                Severity.WARNING)
    if "expect" not in item and raises is None and not requires:
        ctx.add(line, "KB020", f"snippet '{name}' checks nothing; add 'expect' (its printed "
                "output), 'raises', or 'requires' if it cannot run here")
    return snippet


def _parse_command(ctx: _Context, item: Mapping[str, Any], line: int) -> CommandLine | None:
    _unknown_keys(ctx, item, COMMAND_FIELDS, "in a command line: ")
    v = {key: _typed(ctx, item, key, kind, "command ") for key, kind in COMMAND_FIELDS.items()}
    if not _require(ctx, item, ("cmd", "does"), "a command line", line):
        return None
    return CommandLine(cmd=v["cmd"].strip(), does=v["does"].strip(), zh=(v["zh"] or "").strip())


def _parse_hint(ctx: _Context, item: Mapping[str, Any], line: int) -> Hint | None:
    _unknown_keys(ctx, item, HINT_FIELDS, "in a hint: ")
    v = {key: _typed(ctx, item, key, kind, "hint ") for key, kind in HINT_FIELDS.items()}
    if not _require(ctx, item, ("en",), "a hint", line):
        return None
    # The explain package owns the hint language: validate with its own parser.
    from kb.explain.hints import check_condition, check_template

    for key, check in (("when", check_condition), ("en", check_template),
                       ("zh", check_template)):
        if v[key]:
            error = check(v[key])
            if error:
                ctx.add(line_of(item, key), "KB017", f"hint '{key}': {error}")
    return Hint(en=v["en"], zh=v["zh"] or "", when=v["when"] or "")


def _parse_patterns(ctx: _Context, data: Mapping[str, Any],
                    items: list[Any]) -> tuple[list[str], list[str]]:
    """Each pattern and the torch releases that print its wording ("" = the current ones).

    An item is the regex itself, or `{pattern: REGEX, torch: RANGE}` for a wording only
    some releases print (an old one is kept, marked, never deleted). A failed item
    keeps its place as "" so that line numbers and indexes still line up."""
    patterns: list[str] = []
    versions: list[str] = []
    for i, item in enumerate(items):
        line = line_of(items, i) or line_of(data, "patterns")
        pattern, torch = "", ""
        if isinstance(item, str):
            pattern = item
        elif isinstance(item, dict) and "pattern" in item:
            _unknown_keys(ctx, item, PATTERN_FIELDS, "in a pattern: ")
            pattern = _typed(ctx, item, "pattern", TEXT, "pattern ") or ""
            torch = _typed(ctx, item, "torch", TEXT, "pattern ") or ""
            if torch and not TORCH_RANGE_RE.match(torch):
                ctx.add(line_of(item, "torch"), "KB004",
                        f"pattern 'torch' must be old or a range of releases like <1.9, "
                        f">=2.1 or 1.5-1.12, got {torch!r}")
        else:
            hint = ("; a ': ' inside the text makes YAML read a mapping: put the item in quotes, "
                    "or write {pattern: REGEX, torch: RANGE}" if isinstance(item, dict)
                    else "; write it as text")
            ctx.add(line, "KB004", f"'patterns' item {i + 1} must be text, "
                    f"got {_type_name(item)}{hint}")
        if pattern:
            _check_regex(ctx, pattern, line)
        patterns.append(pattern)
        versions.append(torch)
    return patterns, versions


def _check_regex(ctx: _Context, pattern: str, line: int) -> None:
    error = regex_error(pattern)
    if error:
        ctx.add(line, "KB012", f"pattern is not a valid regular expression: {error}")
    elif unsafe := _unsafe_pattern(pattern):
        # a warning: the entry still serves search and show; only explain loses it
        ctx.add(line, "KB022", "kb explain skips this pattern: "
                f"it {unsafe.removeprefix('pattern ')}", Severity.WARNING)
def _captured(patterns: Sequence[str]) -> frozenset[str]:
    """The group names of the entry's valid patterns (what a lookup may read)."""
    names: set[str] = set()
    for pattern in patterns:
        with contextlib.suppress(re.error):
            names.update(re.compile(pattern).groupindex)
    return frozenset(names)


def _parse_lookup(ctx: _Context, item: Mapping[str, Any], line: int, *,
                  captured: frozenset[str]) -> Lookup | None:
    _unknown_keys(ctx, item, LOOKUP_FIELDS, "in a lookup: ")
    v = {key: _typed(ctx, item, key, kind, "lookup ") for key, kind in LOOKUP_FIELDS.items()}
    if not _require(ctx, item, ("name", "among", "of", "gives"), "a lookup", line):
        return None
    if any(v[key] is None for key in ("name", "among", "of", "gives")):
        return None  # a wrong type, reported above
    problems = []
    if v["among"] not in LOOKUP_AMONG:
        problems.append(("among", f"unknown 'among' {v['among']!r}; expected one of: "
                                  f"{', '.join(LOOKUP_AMONG)}"))
    from kb.explain.hints import check_template  # the explain package owns templates

    error = check_template(v["of"])
    read = re.findall(r"\{\s*([A-Za-z_]\w*)\s*\}", v["of"])
    for key, names in (("name", [v["name"]]), ("unless", [v["unless"]] if v["unless"] else []),
                       ("of", read)):
        for name in names:
            if name not in captured and not (key == "name" and name in FRAME_CAPTURES):
                near = suggest(name, captured)
                problems.append((key, f"'{key}' reads the capture '{name}', which no pattern "
                                      f"of this entry makes" + (f"; {near}" if near else "")))
    if error:
        problems.append(("of", f"'of' {error}"))
    for key in ("gives", "wrong"):
        name = v[key]
        if name and not _CAPTURE_NAME.match(name):
            problems.append((key, f"'{key}' must be a capture name (letters, digits, _), "
                                  f"got {name!r}"))
        elif name and name in captured:
            problems.append((key, f"'{key}' {name!r} is already a capture of a pattern; "
                                  "a lookup adds a new one: choose another name"))
    if v["among"] == "signatures" and not v["wrong"]:
        problems.append(("among", "a lookup among 'signatures' needs 'wrong': the capture "
                                  "that receives the keyword it looked up"))
    for key, message in problems:
        ctx.add(line_of(item, key) or line, "KB023", f"lookup: {message}")
    if problems:
        return None
    return Lookup(name=v["name"], among=v["among"], of=v["of"], gives=v["gives"],
                  wrong=v["wrong"] or "", unless=v["unless"] or "")


def _unsafe_pattern(pattern: str) -> str | None:
    """Why `kb explain` would skip this (valid) pattern, in its matcher's own words."""
    from kb.explain.patterns import check_pattern  # imported late like the hint checkers

    return check_pattern(pattern)


def regex_error(pattern: str) -> str | None:
    try:
        re.compile(pattern)
    except re.error as exc:
        return f"{exc.msg} at position {exc.pos}"
    return None


def check_links(entries: Mapping[str, Entry], also_known: set[str] | None = None) -> list[Problem]:
    """see_also targets must exist (in the loaded entries or `also_known`)."""
    known = set(entries) | (also_known or set())
    problems = []
    for entry in entries.values():
        for target in entry.see_also:
            if target not in known:
                near = suggest(target, known)
                hint = f"; {near}" if near else ""
                problems.append(Problem(entry.source, _find_line(entry.source, target), "KB011",
                                        f"see_also '{target}' is not an entry{hint}"))
    return problems


def _find_line(path: Path, text: str) -> int:
    """The line of `path` at or after `see_also:` that mentions `text` (read only to report)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        start = next((i for i, line in enumerate(lines) if line.startswith("see_also")), 0)
        for number, line in enumerate(lines[start:], start + 1):
            if text in line:
                return number
    except (OSError, UnicodeDecodeError):
        pass
    return 0
