"""kb lint: load entries the way kb does and collect every problem."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from kb.loader import load_entries, load_files
from kb.model import Problem, Severity
from kb.record import record


@record
class LintReport:
    files: int
    entries: int
    problems: list[Problem]

    def failed(self, strict: bool = False) -> bool:
        return any(strict or p.severity is Severity.ERROR for p in self.problems)


def lint(paths: Sequence[Path], extra_dirs: Sequence[Path] = ()) -> LintReport:
    """Problems of `paths` (files or dirs), or of the whole knowledge base when empty.

    Linting a few files still resolves their see_also links against the whole
    knowledge base, so a single new entry can link to built-in ones.
    """
    if paths:
        known = load_entries(extra_dirs).entries
        loaded = load_files(paths, known_ids=known)
    else:
        loaded = load_entries(extra_dirs)
    problems = sorted(loaded.problems, key=lambda p: (str(p.path), p.line, p.code))
    return LintReport(len(loaded.files), len(loaded.entries), problems)

