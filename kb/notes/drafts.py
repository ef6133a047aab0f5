"""`kb new` and `kb import`: skeleton entries, and draft entries made from a note.

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
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from kb.errors import KbError, UsageError
from kb.model import KINDS
from kb.notes.model import ClaimKind, ClaimStatus, Note, NoteResult
from kb.notes.run import NoteOptions, run_notes, statement_names
from kb.sandbox import Job, Sandbox
from kb.yaml_lines import dump_yaml

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
    directory.mkdir(parents=True, exist_ok=True)
    path.write_text(dump_yaml(data), encoding="utf-8")
    return path


# ---------------------------------------------------------------- kb import


@dataclass(frozen=True)
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


