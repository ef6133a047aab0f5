"""The bodies of `kb search`, `kb show` and `kb explain`, free of typer and click.

Each takes the parsed options as plain values, calls one library function, renders
its result and returns the exit code. kb.cli's typer commands call them, and so does
kb.launch, which starts the common invocations of these three without importing
typer or click (~20 ms of a ~100 ms command, issue 12). `exit_code_for` is the one
place that turns an exception into a line on stderr and an exit code, for both ways in.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from kb.errors import ExitCode, KbError, UsageError


def search(query: list[str], kind: str | None = None, tag: str | None = None,
           limit: int = 10, lang: str | None = None, json_out: bool = False,
           entries: list[Path] | None = None) -> int:
    from kb.paths import language
    from kb.render import make_output, print_json
    from kb.render.hits import hit_json, render_hits
    from kb.search import open_knowledge_base
    from kb.search import search as run_search

    check_kind(kind)
    text = " ".join(query)
    index = open_knowledge_base(None, entries or [])
    warn(index.warnings + problem_warning(index.meta.skipped_files))
    hits = run_search(text, kind=kind, tag=tag, limit=limit, lang=language(lang).code,
                      index=index)
    if json_out:
        print_json([hit_json(h) for h in hits])
    else:
        render_hits(make_output(), hits)
    if hits:
        return ExitCode.OK
    if not json_out:
        error_line(f"nothing matches '{text}'"
                   + (" with these filters; try without --kind/--tag" if kind or tag
                      else "; try fewer or other words, or `kb list`"))
    return ExitCode.FAILURE


def show(entry_id: str, lang: str | None = None, json_out: bool = False,
         entries: list[Path] | None = None) -> int:
    from kb.loader import find_entry
    from kb.paths import entry_sources, language
    from kb.render import make_output, print_json
    from kb.render.entries import entry_json, render_entry

    entry, overridden = find_entry(entry_id, entry_sources(entries or []))
    if json_out:
        print_json(entry_json(entry, [str(p) for p in overridden]))
    else:
        render_entry(make_output(), entry, language(lang).code, [str(p) for p in overridden])
    return ExitCode.OK


def explain(text: str | None = None, file: Path | None = None, limit: int = 3,
            full: bool = False, why: bool = False, lang: str | None = None,
            json_out: bool = False, entries: list[Path] | None = None,
            capture: bool = False, command: list[str] | None = None) -> int:
    """`command`: what came after `--`, to run and explain if it fails."""
    from kb.explain import explain as run_explain
    from kb.explain import prepared
    from kb.explain.derive import Situation
    from kb.explain.source import read_paste
    from kb.loader import load_sources_cached
    from kb.paths import entry_sources, language
    from kb.render import make_output, print_json
    from kb.render.explain import explanation_json, render_explanation

    exit_code, runtime = 0, None
    if capture and command is None:
        raise UsageError("--capture runs a Python script; "
                         "write: kb explain --capture -- python SCRIPT ARGS")
    if command is not None:
        from kb.explain.command import run_command
        from kb.explain.runtime import run_captured

        if text is not None or file is not None:
            raise UsageError("give either TEXT/--file or a command after `--`, not both")
        if capture:
            run, runtime = run_captured(command, sys.stdout.buffer, sys.stderr.buffer)
        else:
            run = run_command(command, sys.stdout.buffer, sys.stderr.buffer)
        if run.exit_code == 0:
            return ExitCode.OK
        paste, exit_code = run.output, run.exit_code
    else:
        paste = read_paste(text, file, sys.stdin)
    sources = entry_sources(entries or [])
    known = load_sources_cached(sources).entries
    result = run_explain(paste, known, lang=language(lang).code, limit=limit,
                         ready=prepared(sources, known), situation=Situation(runtime=runtime))
    if json_out:
        print_json(explanation_json(result))
    else:  # after a command, its own stdout stays clean: the explanation goes to stderr
        render_explanation(make_output(stderr=command is not None), result, full=full, why=why)
    if not result.found:
        if not json_out:
            error_line("no entry matches this error; try `kb search` with its key words")
            error_line(new_offer(text, file, command))
        return exit_code or ExitCode.FAILURE
    return exit_code


# ---------------------------------------------------------------- shared by the commands


def exit_code_for(exc: BaseException) -> int | None:
    """The exit code for an exception a command raised, after its one line on stderr;
    None when it is not kb's to report (click's usage errors, or KB_DEBUG is set)."""
    if isinstance(exc, KbError):
        error_line(exc.message)
        return int(exc.exit_code)
    if isinstance(exc, BrokenPipeError):  # the reader went away (`kb list | head -1`)
        _quiet_stdout()
        return int(ExitCode.FAILURE)  # as click has it
    if isinstance(exc, KeyboardInterrupt):
        error_line("interrupted")
        return int(ExitCode.INTERRUPTED)
    if not isinstance(exc, Exception) or os.environ.get("KB_DEBUG") or _is_cli_exception(exc):
        return None
    error_line(f"internal error: {type(exc).__name__}: {exc} "
               "(rerun with KB_DEBUG=1 for the traceback, and please report it)")
    return int(ExitCode.DATA)


def _quiet_stdout() -> None:
    """What is still buffered for a closed pipe goes nowhere, instead of failing again
    (and printing "Exception ignored ...") when Python flushes stdout at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # no real file behind stdout (a test's)
        pass


def _is_cli_exception(exc: Exception) -> bool:
    """Usage errors, Exit and Abort belong to click/typer, which report them themselves."""
    return type(exc).__module__.split(".")[0] in ("click", "typer")


def error_line(message: str) -> None:
    from kb.render import make_output

    make_output(stderr=True).print(f"kb: {message}", style="red", markup=False, highlight=False)


def warn(warnings: list[str]) -> None:
    from kb.render import make_output

    console = make_output(stderr=True)
    for w in warnings:
        console.print(f"kb: warning: {w}", style="yellow", markup=False)


def problem_warning(count: int) -> list[str]:
    if not count:
        return []
    return [f"{count} entry file(s) could not be loaded; run `kb lint` to see why"]


def check_kind(kind: str | None) -> None:
    from kb.model import KINDS

    if kind is not None and kind not in KINDS:
        raise UsageError(f"unknown kind '{kind}'; expected one of: {', '.join(KINDS)}")


def new_offer(text: str | None, file: Path | None, command: list[str] | None) -> str:
    """After a miss: the command line that writes an entry for this error (issue 16 item 7)."""
    import shlex

    if file is not None:
        how = f"kb new --from-error --file {shlex.quote(str(file))}"
    elif command is not None:
        how = f"{shlex.join(command)} 2>&1 | kb new --from-error"
    elif text is not None and text != "-" and "\n" not in text.strip() and len(text) <= 200:
        quoted = shlex.quote(text.strip())
        if "'\"'\"'" in quoted and not set('"$`\\!') & set(text):  # 'x' reads best in "..."
            quoted = f'"{text.strip()}"'
        how = f"kb new --from-error {quoted}"
    else:
        how = "pipe the same text to kb new --from-error"
    return f"to write an entry for it: {how}"
