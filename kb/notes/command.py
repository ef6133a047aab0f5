"""`kb check PATH...` on notes: find the note files, run them, report, fix."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from kb.errors import ExitCode, UsageError
from kb.notes.extract import NOTE_SUFFIXES, NoteError, is_note_path, read_note
from kb.notes.model import ClaimStatus
from kb.record import record

NOTE_HINT = ", ".join(NOTE_SUFFIXES)


def looks_like_path(arg: str) -> bool:
    """An entry id is kebab-case: anything with a dot or a slash, or on disk, is a path."""
    return "/" in arg or "." in arg or Path(arg).exists()


def note_files(args: Sequence[str]) -> list[Path]:
    files: list[Path] = []
    for arg in args:
        path = Path(arg).expanduser()
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and is_note_path(p)
                           and not any(part.startswith(".") for part in p.relative_to(path).parts))
            if not found:
                raise NoteError(f"{path}: no notes in it ({NOTE_HINT})")
            files.extend(found)
        elif path.is_file():
            if not is_note_path(path):
                raise UsageError(f"{path}: not a note; kb check reads {NOTE_HINT} files "
                                 "(or entry ids)")
            files.append(path)
        else:
            raise NoteError(f"{path}: no such file or directory", ExitCode.USAGE)
    return list(dict.fromkeys(files))


@record
class CheckOptions:
    json_out: bool = False
    junit: Path | None = None
    fix: bool = False
    jobs: int = 1
    gpu: bool = False
    require_isolation: str = "any"
    timeout_s: float | None = None  # each block's CPU budget


def check_notes(args: Sequence[str], options: CheckOptions) -> int:
    """Run the notes, print the report; the exit code (1 when a claim is wrong)."""
    from kb.notes.fix import fix_notes
    from kb.notes.run import NoteOptions, run_notes
    from kb.render import make_console, print_json
    from kb.render.notes import notes_json, notes_junit, render_notes
    from kb.runner import require
    from kb.sandbox import Sandbox

    started = time.monotonic()
    run_options = NoteOptions(jobs=options.jobs, gpu=options.gpu)
    if options.timeout_s:
        run_options = NoteOptions(block_cpu_s=options.timeout_s, jobs=options.jobs,
                                  gpu=options.gpu)
    with Sandbox(gpu=options.gpu) as sandbox:  # torch loads while the notes are read
        notes = [read_note(p) for p in note_files(args)]
        isolation = sandbox.isolation()
        require(isolation, options.require_isolation)
        results = run_notes(notes, run_options, sandbox)
    duration = time.monotonic() - started
    claims = [c for r in results for c in r.results]
    fixed = fix_notes(claims) if options.fix else []
    if options.junit is not None:
        options.junit.write_text(notes_junit(results, duration), encoding="utf-8")
    if options.json_out:
        print_json(notes_json(isolation, results, duration, fixed))
    else:
        render_notes(make_console(), isolation, results, duration, fixed)
    wrong = sum(c.status is ClaimStatus.WRONG for c in claims)
    return int(ExitCode.FAILURE) if wrong > len(fixed) else int(ExitCode.OK)
