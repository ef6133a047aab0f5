"""The `kb` console script: the common invocations of search, show and explain start
without typer, and no command pays for tearing the interpreter down (issue 12).

typer and click cost ~20 ms to import, a fifth of a `kb search`. When the arguments
are ones this module reads beyond doubt (the commands' own options, each value where
click would take it and valid for its type, the right number of positional words)
it calls kb.commands directly; anything else (`--help`, `-n5`, `--` and a command,
an unknown option, a bad value, shell completion) goes to the typer app in kb.cli,
which says what is wrong. COMMANDS is checked against the typer declarations by
tests/cli/test_launch.py, and both ways in are run on the same arguments there.

At the end the process exits with os._exit after running the atexit callbacks and
flushing stdout and stderr: the interpreter's own teardown (freeing every module and
the unpickled index and entries) takes ~15 ms and nothing kb needs happens in it.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any, NoReturn

FLAG, TEXT, COUNT, PATH = "flag", "text", "count", "path"  # COUNT: an int >= 1
REPEAT = "repeat"  # a PATH option that may be given more than once (a list)

_LANG = ("lang", TEXT)
_JSON = ("json_out", FLAG)
_ENTRIES = ("entries", REPEAT)
_LIMIT = ("limit", COUNT)

# command -> (positional parameter, least and most positional words, options by name).
# Keep in step with the typer commands in kb.cli (a test compares the two).
COMMANDS: dict[str, tuple[str, int, int | None, dict[str, tuple[str, str]]]] = {
    "search": ("query", 1, None, {
        "--kind": ("kind", TEXT), "-k": ("kind", TEXT), "--tag": ("tag", TEXT),
        "-t": ("tag", TEXT), "--limit": _LIMIT, "-n": _LIMIT, "--lang": _LANG,
        "--json": _JSON, "--entries": _ENTRIES}),
    "show": ("entry_id", 1, 1, {"--lang": _LANG, "--json": _JSON, "--entries": _ENTRIES}),
    "explain": ("text", 0, 1, {
        "--file": ("file", PATH), "-f": ("file", PATH), "--limit": _LIMIT, "-n": _LIMIT,
        "--full": ("full", FLAG), "--why": ("why", FLAG), "--lang": _LANG, "--json": _JSON,
        "--entries": _ENTRIES, "--capture": ("capture", FLAG)}),
}


def main() -> NoReturn:
    """Console-script entry point."""
    args = sys.argv[1:]
    call = parse(args, os.environ)
    finish(run(*call) if call is not None else run_typer())


def parse(args: list[str], environ: Any) -> tuple[str, dict[str, Any]] | None:
    """(command, its keyword arguments), or None when typer should read `args`."""
    if not args or args[0] not in COMMANDS or any(k.endswith("_COMPLETE") for k in environ):
        return None
    positional, least, most, options = COMMANDS[args[0]]
    kwargs: dict[str, Any] = {}
    words: list[str] = []
    rest = iter(args[1:])
    for token in rest:
        # A pasted "-bash: conda: not found" is explain's text: an argument with a space
        # is never an option there (kb.cli._ExplainCommand reads it the same way).
        if token[:1] != "-" or token == "-" or (args[0] == "explain" and " " in token):
            words.append(token)
            continue
        name, eq, attached = token.partition("=")
        if name not in options or (eq and not name.startswith("--")):
            return None  # --help, --, -n5, -n=5, an unknown option: typer's to answer
        dest, takes = options[name]
        if takes == FLAG:
            if eq:
                return None  # click: "Option '--json' does not take a value."
            kwargs[dest] = True
            continue
        value = attached if eq else next(rest, None)
        if value is None or (not eq and value[:1] == "-" and value != "-"):
            return None  # a missing value, or one click might read otherwise
        converted = _convert(takes, value)
        if converted is None:
            return None
        if takes == REPEAT:
            kwargs.setdefault(dest, []).append(converted)
        else:
            kwargs[dest] = converted
    if len(words) < least or (most is not None and len(words) > most):
        return None
    if most is None:
        kwargs[positional] = words
    elif words:
        kwargs[positional] = words[0]
    return args[0], kwargs


def _convert(takes: str, value: str) -> Any:
    """The value as typer would pass it, or None for one it would refuse (so typer
    gives its own message)."""
    if takes == COUNT:
        return int(value) if value.isascii() and value.isdigit() and int(value) >= 1 else None
    if takes in (PATH, REPEAT):
        if os.path.exists(value) and not os.access(value, os.R_OK):
            return None  # click.Path(readable=True): "... is not readable."
        from pathlib import Path

        return Path(value)
    return value


def run(command: str, kwargs: dict[str, Any]) -> int:
    from kb import commands

    try:
        code: int = getattr(commands, command)(**kwargs)
        return code
    except (Exception, KeyboardInterrupt) as exc:
        code_for = commands.exit_code_for(exc)
        if code_for is None:
            raise
        return code_for


def run_typer() -> int:
    from kb.cli import main as typer_main

    try:
        typer_main()
    except SystemExit as exc:
        return exit_status(exc.code)
    return 0


def exit_status(code: object) -> int:
    """What sys.exit(code) would give the shell."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    sys.stderr.write(f"{code}\n")
    return 1


def finish(code: int) -> NoReturn:
    """Exit now: atexit callbacks, then stdout and stderr flushed, then os._exit. A
    thread still running gets the interpreter's usual ending, which waits for it."""
    threading = sys.modules.get("threading")
    if threading is not None and threading.active_count() > 1:
        sys.exit(code)
    import atexit

    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
    except BrokenPipeError:  # the reader went away (`kb list | head -1`)
        code = code or 1
    except (OSError, ValueError):
        sys.exit(code)
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.flush()
    os._exit(code & 0xFF)
