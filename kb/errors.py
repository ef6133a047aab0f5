"""kb's exceptions and exit codes.

Library code raises a `KbError` subclass with a one-line message that says what
went wrong, where, and what to do next; `kb.cli` is the one place that turns
them into an exit code and a line on stderr (no traceback reaches the user).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILURE = 1  # the answer is "no": nothing found, a check failed, lint found problems
    USAGE = 2  # the command line is wrong (typer/click use 2 as well)
    DATA = 3  # the entries or a file given to kb cannot be used
    ISOLATION = 4  # the sandbox cannot give the isolation that was required
    INTERRUPTED = 130  # Ctrl-C


class KbError(Exception):
    """Base of every error kb reports to the user."""

    exit_code: ExitCode = ExitCode.DATA

    def __init__(self, message: str, exit_code: ExitCode | None = None) -> None:
        super().__init__(message)
        self.message = message
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(KbError):
    """Raised by commands for bad options the parser could not catch."""

    exit_code = ExitCode.USAGE


class NotFound(KbError):
    """Raised by show/run when no entry has the id (the message suggests one)."""

    exit_code = ExitCode.FAILURE


class SourceError(KbError):
    """Raised by the loader when an entry source (directory, file) cannot be used at all."""

    exit_code = ExitCode.DATA


class IsolationError(KbError):
    """Raised by the sandbox when --require-isolation cannot be met."""

    exit_code = ExitCode.ISOLATION


def suggest(word: str, choices: Iterable[str], *, cutoff: float = 0.6) -> str:
    """"did you mean 'x'?" for the choice closest to `word`, or "" when none is close enough.

    The one phrasing of every did-you-mean in kb's messages; the caller adds its own
    fallback (`suggest(...) or "known keys: ..."`) and the separator before it.
    """
    import difflib  # only on the way to an error message, not on every command's start

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=cutoff)
    return f"did you mean '{close[0]}'?" if close else ""
