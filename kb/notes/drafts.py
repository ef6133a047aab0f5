"""`kb new` and `kb import`: skeleton entries, draft entries made from an error message
(`kb new --from-error`), and draft entries made from a note.

A draft has one snippet per block of the note. A block alone often uses names from
earlier blocks, and a snippet must run alone: so each snippet is the block's
statements that ran, after the earlier statements it needs (a backward slice over the
names they read and write). `x.shape  # claim` lines become `print(x.shape)`, and
`expect` is what the snippet printed when it ran alone in the sandbox, never the
note's claims; claims that were wrong are listed in the body for review.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kb.errors import KbError, UsageError
from kb.model import KINDS
from kb.notes.model import ClaimKind, ClaimStatus, Note, NoteResult
from kb.notes.run import NoteOptions, run_notes, statement_names
from kb.record import record, replace
from kb.sandbox import Job, Sandbox
from kb.yaml_lines import dump_yaml

if TYPE_CHECKING:
    from kb.explain.error_text import ErrorText
    from kb.explain.generalize import Generalized

_ID = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*\Z")
_CJK = re.compile(r"[\u3400-\u9fff]")


def target_dir(option: Path | None) -> Path:
    """--dir, else the first KB_PATH directory."""
    from kb.paths import entry_sources

    if option is not None:
        return option
    for source in entry_sources(builtin=False):
        if source.origin == "KB_PATH":
            return source.path
    raise UsageError("where should it go? pass --dir DIR or set KB_PATH to your entries "
                     "directory")


# ---------------------------------------------------------------- kb new

SKELETONS: dict[str, dict[str, Any]] = {
    "api": {"snippets": [{"name": "example", "code": "import torch\nprint(torch.zeros(2, 3)"
                          ".shape)\n", "expect": "torch.Size([2, 3])\n"}]},
    "concept": {"body": "- What it is, in a few lines.\n"},
    "command": {"commands": [{"cmd": "echo <text>", "does": "print <text>"}]},
    "error": {"patterns": ["SomeError: what the message says"],
              "causes": ["The most likely cause."],
              "fix": "What to do, with the command or the code.\n"},
}


def new_entry(entry_id: str, kind: str, directory: Path) -> Path:
    if not _ID.match(entry_id):
        raise UsageError(f"'{entry_id}' is not a kebab-case id (like view-reshape)")
    if kind not in KINDS:
        raise UsageError(f"unknown kind '{kind}'; expected one of: {', '.join(KINDS)}")
    path = directory / f"{entry_id}.yaml"
    if path.exists():
        raise KbError(f"{path} already exists; edit it, or choose another id")
    data: dict[str, Any] = {"id": entry_id, "kind": kind,
                            "title": entry_id.replace("-", " ").capitalize(),
                            "summary": "One or two sentences: the answer in brief.\n"}
    data.update(SKELETONS[kind])
    _write(path, dump_yaml(data))
    return path


def _write(path: Path, text: str) -> None:
    """`text` into a new file `path` (never over an existing one), its directory made."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("x", encoding="utf-8") as f:
            f.write(text)
    except FileExistsError as e:
        if e.filename is not None and Path(e.filename) == path:
            raise KbError(f"{path} already exists; edit it, or choose another id") from None
        raise KbError(f"cannot write {path}: {e.filename} is a file, not a directory; choose "
                      "another directory with --dir DIR") from None
    except OSError as e:
        raise KbError(f"cannot write {path}: {e.strerror or e}; choose another directory "
                      "with --dir DIR") from None


# ---------------------------------------------------------------- kb new --from-error

# Placeholders a person replaces: kb lint accepts them (a user entry needs only text),
# and "TODO" is what `grep -r TODO` and the entry's own title show until then.
TODO_SUMMARY = "TODO: what this error means, in one or two sentences.\n"
TODO_CAUSE = "TODO: the most likely cause (then the next ones)."
TODO_FIX = "TODO: what to do, with the command or the code.\n"


def new_error_entry(paste: str, entry_id: str | None, directory: Path,
                    taken: Collection[str] = ()) -> Path:
    """Write a user error entry for the final exception in `paste`: the message as an
    `examples:` line, a pattern made from it (kb.explain.generalize) that is checked to
    match it the way `kb explain` matches, and TODO placeholders. Its id is `entry_id`,
    else one made from the exception's type and words, not in `taken` nor in the
    directory. Returns the file's path."""
    from kb.explain.error_text import extract

    error = extract(paste)
    found, example = pattern_for(error)
    if entry_id is None:
        entry_id = _free_id(_error_id(error.exc_type, found.words), directory, taken)
    elif not _ID.match(entry_id):
        raise UsageError(f"'{entry_id}' is not a kebab-case id (like err-my-loader)")
    captured = "".join(f"- `{name}`: {text}\n" for name, text in found.groups)
    data: dict[str, Any] = {
        "id": entry_id, "kind": "error",
        "title": f"TODO: a title for {_shorten(example, 60)}",
        "summary": TODO_SUMMARY,
        "body": "Drafted by `kb new --from-error`.\n" + (
            "\nThe pattern captures these values of the message, for hints "
            "(`{name}` in a hint's text, see docs/entry-format.md):\n\n" + captured
            if captured else ""),
        "patterns": [found.pattern],
        "examples": [example],
        "causes": [TODO_CAUSE],
        "fix": TODO_FIX,
    }
    path = directory / f"{entry_id}.yaml"
    _write(path, dump_yaml(data, width=100_000))  # the pattern on one line, as written
    return path


def pattern_for(error: ErrorText) -> tuple[Generalized, str]:
    """The pattern made from the error's message, checked to match the text `kb explain`
    matches it in, and the message as a user quotes it (the `examples:` line). The final
    exception first; when its message says too little (`ValueError` alone, a torchrun
    `ChildFailedError:`), the earlier exceptions, then the last lines of the paste (a
    shell error has no exception: the lines kb explain quotes first)."""
    from kb.explain.generalize import generalize
    from kb.explain.paste import join_lines
    from kb.explain.patterns import match

    problem: KbError | None = None
    for message, text, example in _candidates(error):
        try:
            found = generalize(message)
        except UsageError as e:
            problem = problem or e
            continue
        if match(found.pattern, text) or match(found.pattern, join_lines(text)):
            return found, example.replace(message, found.message) if example else found.message
    raise problem or KbError(f"no pattern made from {_shorten(error.headline, 60)!r} matches "
                             "it; write the entry with `kb new ID --kind error`")


def _candidates(error: ErrorText) -> Iterator[tuple[str, str, str]]:
    """(a message to make the pattern from, the text it must match, its example line)."""
    from kb.explain.paste import join_lines

    for segment in error.segments:
        if segment.origin == "final exception":
            yield error.message, segment.text, f"{error.exc_type}: {error.message}"
    for segment in error.segments:
        if segment.origin == "earlier exception":
            yield join_lines(segment.text), segment.text, ""
    for segment in error.segments:
        if segment.origin == "tail":
            lines = [ln.strip() for ln in reversed(segment.text.splitlines()) if ln.strip()]
            quoted = [] if error.exc_type else [ln for ln in lines if ln in error.message]
            if not error.exc_type:
                yield error.message, segment.text, ""
            for line in [*quoted, *lines][:8]:
                yield line, segment.text, ""


def _error_id(exc_type: str, words: tuple[str, ...]) -> str:
    """err-, the exception's type without Error (`RuntimeError` -> runtime), and the first
    words of the message that say something, at most 48 characters."""
    from kb.explain.generalize import STOPWORDS

    skip = STOPWORDS - {"not"}  # err-command-not-found
    name = re.sub(r"(?:Error|Exception)\Z", "", exc_type.rsplit(".", 1)[-1])
    parts = ["err", *re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).lower().split()]
    keys = [w.lower() for w in words if w.lower() not in skip and len(w) > 1 and "'" not in w]
    for word in dict.fromkeys(keys):
        if len(parts) >= 6 or len("-".join([*parts, word])) > 48:
            break
        parts.append(word)
    return "-".join(parts) if len(parts) > 1 else "err-from-message"


def _free_id(base: str, directory: Path, taken: Collection[str]) -> str:
    """`base`, else `base-2`, `base-3`...: no entry has it and no file is in the way."""
    entry_id, n = base, 1
    while entry_id in taken or (directory / f"{entry_id}.yaml").exists():
        n += 1
        entry_id = f"{base}-{n}"
    return entry_id


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 3].rstrip() + "..."


# ---------------------------------------------------------------- kb import


@record
class _Statement:
    block: int
    index: int
    source: str
    loads: frozenset[str]
    stores: frozenset[str]
    ok: bool
    is_import: bool


def _statements(result: NoteResult) -> list[_Statement]:
    status = {(e["b"], e["s"]): e.get("status") for e in result.observations}
    value_lines = {(c.block, c.first) for c in result.note.claims if c.kind is ClaimKind.VALUE}
    out = []
    for block in result.note.blocks:
        rows = block.code.splitlines()
        for k, stmt in enumerate(ast.parse(block.code).body):
            start = min([stmt.lineno] + [d.lineno for d in getattr(stmt, "decorator_list", [])])
            source = "\n".join(rows[start - 1:stmt.end_lineno or stmt.lineno])
            if (block.index, stmt.lineno) in value_lines and isinstance(stmt, ast.Expr):
                source = f"print({ast.get_source_segment(block.code, stmt.value)})"
            names = statement_names(stmt)
            out.append(_Statement(block.index, k, source, frozenset(names["loads"]),
                                  frozenset(names["stores"] + names["receivers"]),
                                  status.get((block.index, k)) == "ok",
                                  isinstance(stmt, ast.Import | ast.ImportFrom)))
    return out


def snippet_code(statements: list[_Statement], block: int) -> str:
    """The block's statements that ran, after the earlier ones they need."""
    own = [s for s in statements if s.block == block and s.ok]
    if not own:
        return ""
    needed = set().union(*(s.loads for s in own))
    chosen: list[_Statement] = []
    for s in reversed([s for s in statements if s.block < block and s.ok]):
        if s.stores & needed:
            chosen.append(s)
            needed |= s.loads
    return "\n".join(s.source for s in [*reversed(chosen), *own]) + "\n"


def _slug(text: str) -> str:
    return "-".join(re.findall(r"[a-z0-9]+", text.lower()))[:48].strip("-")


def import_note(note: Note, directory: Path, sandbox: Sandbox,
                options: NoteOptions | None = None) -> list[Path]:
    """Write the drafts of `note` into `directory`; their paths."""
    options = options or NoteOptions()
    (result,) = run_notes([note], options, sandbox)
    statements = _statements(result)
    groups = _groups(note)
    stem = _slug(note.path.stem) or "note"
    drafts: list[tuple[str, str, str, list[int]]] = []
    for n, (title, prose, blocks) in enumerate(groups, 1):
        drafts.append((_slug(title) or f"{stem}-{n}", title, prose, blocks))
    codes = {b.index: snippet_code(statements, b.index) for b in note.blocks}
    jobs = [Job(b, f"draft/{b}", "python", code, replace(options.limits, timeout_s=30))
            for b, code in codes.items() if code.strip()]
    printed = {o.job: o for o in sandbox.run(jobs, workers=options.jobs)}
    directory.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    seen: set[str] = set()
    for entry_id, title, prose, blocks in drafts:
        while entry_id in seen or (directory / f"{entry_id}.yaml").exists():
            entry_id = f"{entry_id}-{len(seen) + 1}"
        seen.add(entry_id)
        snippets: list[dict[str, str]] = []
        for b in blocks:
            outcome = printed.get(b)
            if outcome is None or outcome.exc_type or outcome.exit_code or outcome.timed_out \
                    or not outcome.stdout.strip():
                continue  # a snippet must pass and check something
            snippets.append({"name": f"block-{len(snippets) + 1}", "code": codes[b],
                             "expect": outcome.stdout})
        wrong = [r for r in result.results if r.status is ClaimStatus.WRONG
                 and r.claim.block in blocks]
        body = "".join(
            f"- line {r.claim.line}: `{' '.join(r.claim.expr.split())}` was claimed to give "
            f"`{' '.join(r.claim.claimed.split())}`; it gives "
            f"`{' '.join((r.actual or '').split())}`\n" for r in wrong)
        data: dict[str, Any] = {
            "id": entry_id, "kind": "api" if snippets else "concept",
            "title": title, "summary": prose or f"Notes from {note.path.name}.",
        }
        if _CJK.search(title + data["summary"]):
            data["zh"] = {"title": title, "summary": data["summary"]}
        data["body"] = (f"Drafted by `kb import` from {note.path.name}.\n" + (
            "\nClaims in the note that did not hold (review them):\n\n" + body if body else ""))
        if snippets:
            data["snippets"] = snippets
        path = directory / f"{entry_id}.yaml"
        path.write_text(dump_yaml(data), encoding="utf-8")
        paths.append(path)
    return paths


def _groups(note: Note) -> list[tuple[str, str, list[int]]]:
    """(title, first prose paragraph, block indexes): per heading, else per block."""
    heads = [h for h in note.headings]
    if not heads:
        return [(f"{note.path.stem} block {b.index + 1}", "", [b.index]) for b in note.blocks]
    groups = []
    for k, (at, title, prose) in enumerate(heads):
        until = heads[k + 1][0] if k + 1 < len(heads) else len(note.blocks)
        blocks = list(range(at, until))
        if blocks or prose:
            groups.append((title, prose, blocks))
    if heads[0][0] > 0:
        groups.insert(0, (note.path.stem, "", list(range(heads[0][0]))))
    return groups


