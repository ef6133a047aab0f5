"""The command line: each command parses, calls one function, renders its result.

`KbGroup.invoke` turns a `KbError` into a one-line message on stderr and its exit
code (through kb.commands.exit_code_for, which kb.launch uses too). Heavy modules are
imported inside the commands so `kb search` starts fast and never imports torch. The
bodies of search, show and explain live in kb.commands, without typer: kb.launch runs
their common invocations without importing this module (issue 12).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from typer.core import TyperGroup

from kb import commands
from kb.commands import check_kind, exit_code_for, problem_warning, warn
from kb.errors import ExitCode, UsageError


class KbGroup(TyperGroup):
    """Maps library errors to messages and exit codes, for every command."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (Exception, KeyboardInterrupt) as exc:
            code = exit_code_for(exc)
            if code is None:
                raise
            raise typer.Exit(code) from None


APP_SETTINGS: dict[str, Any] = dict(
    cls=KbGroup,
    help="kb: an offline knowledge base for PyTorch users: commands, API notes and errors.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app = typer.Typer(**APP_SETTINGS)


# ---------------------------------------------------------------- shared options


def _complete_id(incomplete: str) -> list[str]:
    from kb.loader import all_ids
    from kb.paths import entry_sources

    return sorted(i for i in set(all_ids(entry_sources())) if i.startswith(incomplete))


def _complete_tag(incomplete: str) -> list[str]:
    from kb.index import all_docs
    from kb.search import open_knowledge_base

    tags = {t for _, doc in all_docs(open_knowledge_base()) for t in doc["tags"]}
    return sorted(t for t in tags if t.startswith(incomplete))


EntriesOpt = Annotated[
    list[Path] | None,
    typer.Option("--entries", metavar="DIR",
                 help="Also read entries from DIR (repeatable; overrides KB_PATH and built-in "
                      "entries by id)."),
]
LangOpt = Annotated[
    str | None,
    typer.Option("--lang", metavar="en|zh",
                 help="Language of the answer (default: KB_LANG, else the locale)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
KindOpt = Annotated[
    str | None,
    typer.Option("--kind", "-k", metavar="KIND", help="Only entries of this kind: "
                 "command, api, concept, error."),
]
TagOpt = Annotated[
    str | None,
    typer.Option("--tag", "-t", metavar="TAG", help="Only entries with this tag.",
                 autocompletion=_complete_tag),
]


# ---------------------------------------------------------------- commands


@app.command()
def search(
    query: Annotated[list[str], typer.Argument(help="Words to look for (any language).")],
    kind: KindOpt = None,
    tag: TagOpt = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most N results.")] = 10,
    lang: LangOpt = None,
    json_out: JsonOpt = False,
    entries: EntriesOpt = None,
) -> None:
    """Ranked full-text search over every entry (English and Chinese, typo tolerant)."""
    _exit(commands.search(query, kind, tag, limit, lang, json_out, entries))


@app.command()
def show(
    entry_id: Annotated[str, typer.Argument(metavar="ID", help="The entry's id.",
                                            autocompletion=_complete_id)],
    lang: LangOpt = None,
    json_out: JsonOpt = False,
    entries: EntriesOpt = None,
) -> None:
    """One entry, rendered: summary, notes, commands, causes and fix, snippets."""
    _exit(commands.show(entry_id, lang, json_out, entries))


@app.command("list")
def list_(
    kind: KindOpt = None,
    tag: TagOpt = None,
    lang: LangOpt = None,
    json_out: JsonOpt = False,
    entries: EntriesOpt = None,
) -> None:
    """Every entry, one line each."""
    from kb.paths import language
    from kb.render import make_output, print_json
    from kb.render.hits import hit_json, render_hits
    from kb.search import list_entries, open_knowledge_base

    check_kind(kind)
    index = open_knowledge_base(None, entries or [])
    warn(index.warnings + problem_warning(index.meta.skipped_files))
    hits = list_entries(kind=kind, tag=tag, lang=language(lang).code, index=index)
    if json_out:
        print_json([{k: v for k, v in hit_json(h).items() if k not in ("score", "excerpt")}
                    for h in hits])
    else:
        render_hits(make_output(), hits, excerpts=False)


@app.command()
def lint(
    paths: Annotated[list[Path] | None, typer.Argument(
        help="Entry files or directories (default: the whole knowledge base).")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Fail on warnings too.")] = False,
    json_out: JsonOpt = False,
    entries: EntriesOpt = None,
) -> None:
    """Validate entries: every problem with file:line, a rule code and what to do."""
    from kb.lint import lint as run_lint
    from kb.render import make_console, print_json
    from kb.render.problems import problem_json, render_problems

    report = run_lint(paths or [], entries or [])
    if json_out:
        print_json({"files": report.files, "entries": report.entries,
                    "problems": [problem_json(p) for p in report.problems]})
    else:
        render_problems(make_console(), report)
    if report.failed(strict):
        raise typer.Exit(int(ExitCode.FAILURE))


@app.command()
def paths(entries: EntriesOpt = None, lang: LangOpt = None) -> None:
    """Where entries, the index and the cache come from, and why."""
    from kb.paths import cache_dir, entry_sources, language
    from kb.render import make_console
    from kb.render.problems import render_paths

    render_paths(make_console(), entry_sources(entries or []), cache_dir(), language(lang))


@app.command()
def doctor(json_out: JsonOpt = False, entries: EntriesOpt = None) -> None:
    """What decides whether snippets and training run here: Python, torch (build, CUDA,
    devices), the NVIDIA driver, the sandbox, the snippets' modules; each problem names
    the entry that explains it. Exit 1 when it finds a problem."""
    from kb.doctor import doctor as run_doctor
    from kb.loader import load_entries
    from kb.render import make_console, print_json
    from kb.render.doctor import render_doctor

    report = run_doctor(load_entries(entries or []).entries)
    if json_out:
        print_json(report.to_json())
    else:
        render_doctor(make_console(), report)
    if report.problems:
        raise typer.Exit(int(ExitCode.FAILURE))


# ---------------------------------------------------------------- explain (issue #4)


class _ExplainCommand(typer.core.TyperCommand):
    """`kb explain -- CMD ARGS...`: click keeps no record of `--`, so take the command
    off the arguments here, before its own options (which it may share) are parsed."""

    def parse_args(self, ctx: typer.core.click.Context, args: list[str]) -> list[str]:
        if "--" in args:
            ctx.meta["kb.explain.command"] = args[args.index("--") + 1:]
            args = args[:args.index("--")]
        # A pasted "-bash: conda: command not found" starts with '-' but is text: an
        # argument with a space in it is never an option (click would read -b -a -s -h).
        pasted = [a for a in args if a.startswith("-") and " " in a]
        if pasted:
            ctx.meta["kb.explain.text"] = pasted[0]
            args = [a for a in args if a is not pasted[0]]
        return super().parse_args(ctx, args)


@app.command(cls=_ExplainCommand)
def explain(
    ctx: typer.Context,
    text: Annotated[str | None, typer.Argument(
        metavar="[TEXT|-]",
        help="The error or traceback (quote it); `-` or a pipe reads stdin.")] = None,
    file: Annotated[Path | None, typer.Option(
        "--file", "-f", metavar="LOG",
        help="Read the error from a log file (its last 16 MB).")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most N matches.")] = 3,
    full: Annotated[bool, typer.Option(
        "--full", help="The whole answer: what it means, every cause, the whole fix.")] = False,
    why: Annotated[bool, typer.Option(
        "--why", help="Also show which pattern matched, what it captured, and every "
                      "candidate with its score.")] = False,
    lang: LangOpt = None,
    json_out: JsonOpt = False,
    entries: EntriesOpt = None,
    capture: Annotated[bool, typer.Option(
        "--capture", help="With `-- python SCRIPT ARGS`: record the shapes, dtypes and "
                          "devices in the frame that failed (never values).")] = False,
) -> None:
    """Explain an error: where it happened, the entry, its cause and first fix, in your
    own numbers and names (--full for every cause and the whole fix).

    kb explain "RuntimeError: mat1 and mat2 shapes cannot be multiplied (64x512 and 256x10)";
    python train.py 2>&1 | kb explain; kb explain --file train.log;
    kb explain -- python train.py (runs it, explains it if it fails, keeps its exit code);
    kb explain --capture -- python train.py (and the shapes in the frame that failed).
    """
    _exit(commands.explain(
        text if text is not None else ctx.meta.get("kb.explain.text"), file, limit, full, why,
        lang, json_out, entries, capture, ctx.meta.get("kb.explain.command")))


def _exit(code: int) -> None:
    if code:
        raise typer.Exit(code)


# ---------------------------------------------------------------- run and check (issue #3)

GpuOpt = Annotated[bool, typer.Option(
    "--gpu", help="Let snippets see the GPUs (CUDA_VISIBLE_DEVICES kept, devices mounted).")]
IsolationOpt = Annotated[str, typer.Option(
    "--require-isolation", metavar="strong|any", click_type=click.Choice(["strong", "any"]),
    help="strong: refuse to run unless pid, mount and network namespaces are available "
         "(exit 4).")]


@app.command()
def run(
    entry_id: Annotated[str, typer.Argument(metavar="ID", help="The entry's id.",
                                            autocompletion=_complete_id)],
    snippet: Annotated[str | None, typer.Option(
        "--snippet", "-s", metavar="NAME", help="Only this snippet.")] = None,
    gpu: GpuOpt = False,
    require_isolation: IsolationOpt = "any",
    json_out: JsonOpt = False,
    entries: EntriesOpt = None,
) -> None:
    """Run an entry's snippets in the sandbox: the code, its output, a diff against what
    the entry expects, pass or fail (exit 1 on any failure)."""
    from kb.loader import find_entry
    from kb.paths import entry_sources
    from kb.render import make_console, print_json
    from kb.render.runs import render_run, run_json
    from kb.runner import RunOptions, run_entries
    from kb.sandbox import Sandbox

    options = RunOptions(jobs=os.cpu_count() or 1, gpu=gpu,
                         require_isolation=require_isolation, snippet=snippet)
    with Sandbox(gpu=gpu) as sandbox:  # torch loads in the zygote while the entry is read
        entry, _ = find_entry(entry_id, entry_sources(entries or []))
        report = run_entries([entry], options, sandbox=sandbox)
    if json_out:
        print_json(run_json(entry.id, report))
    else:
        render_run(make_console(), entry.id, report)
    if report.failed:
        raise typer.Exit(int(ExitCode.FAILURE))


@app.command()
def check(
    ids: Annotated[list[str] | None, typer.Argument(
        metavar="[ID|NOTE]...", help="Only these entries (default: all); or note files "
        "and folders (.md, .ipynb, .txt, .py) whose claims to check.",
        autocompletion=_complete_id)] = None,
    kind: KindOpt = None,
    jobs: Annotated[int | None, typer.Option(
        "--jobs", "-j", min=1, help="Snippets run at once (default: one per CPU).")] = None,
    json_out: JsonOpt = False,
    junit: Annotated[Path | None, typer.Option(
        "--junit", metavar="FILE", help="Also write a JUnit XML report to FILE.")] = None,
    update_expected: Annotated[bool, typer.Option(
        "--update-expected", help="Rewrite the `expect` blocks whose output changed "
        "(nothing else in the files).")] = False,
    fix: Annotated[bool, typer.Option(
        "--fix", help="Notes: rewrite the wrong claims with the real values (nothing "
        "else in the files).")] = False,
    entries: EntriesOpt = None,
    gpu: GpuOpt = False,
    require_isolation: IsolationOpt = "any",
) -> None:
    """Run every snippet of the knowledge base (or of IDs) and check its output against
    `expect`: a summary with failures first; exit 1 on any failure. Given notes
    (NOTE.md, NOTEBOOK.ipynb, NOTE.txt, NOTE.py, DIR), checks the claims in them."""
    from kb.notes.command import looks_like_path

    if ids and any(looks_like_path(i) for i in ids):  # issue #17: the user's own notes
        from kb.notes.command import CheckOptions, check_notes

        raise typer.Exit(check_notes(ids, CheckOptions(
            json_out=json_out, junit=junit, fix=fix or update_expected,
            jobs=jobs or os.cpu_count() or 1, gpu=gpu, require_isolation=require_isolation)))
    if fix:
        raise UsageError("--fix rewrites notes; for entries use --update-expected")
    from kb.expect_update import update_expected as rewrite
    from kb.loader import load_entries_cached
    from kb.render import make_console, print_json
    from kb.render.runs import check_json, check_progress, junit_xml, render_check
    from kb.runner import RunOptions, Status, run_entries, select_entries, select_snippets
    from kb.sandbox import Sandbox

    check_kind(kind)
    options = RunOptions(jobs=jobs or os.cpu_count() or 1, gpu=gpu,
                         require_isolation=require_isolation)
    console = make_console()
    with Sandbox(gpu=gpu) as sandbox:  # torch loads in the zygote while entries load
        loaded = load_entries_cached(entries or [])
        selected = select_entries(loaded, ids or [], kind)
        warn(problem_warning(len(loaded.skipped_files)))
        total = len(select_snippets(selected))
        with check_progress(None if json_out else console, total) as progress:
            report = run_entries(selected, options, sandbox=sandbox, on_result=progress)
    updates = rewrite(report.results) if update_expected else []
    if junit is not None:
        junit.write_text(junit_xml(report), encoding="utf-8")
    if json_out:
        print_json(check_json(report, len(updates)))
    else:
        render_check(console, report, [str(u) for u in updates])
    fixed = {(u.id, u.snippet) for u in updates}
    if any(r.status is not Status.PASSED and r.status is not Status.SKIPPED
           and (r.id, r.snippet) not in fixed for r in report.results):
        raise typer.Exit(int(ExitCode.FAILURE))


# ---------------------------------------------------------------- new and import (issue #17)

DirOpt = Annotated[Path | None, typer.Option(
    "--dir", metavar="DIR", help="Write here (default: the first KB_PATH directory).")]


FROM_ERROR_NOTHING = ("nothing to write an entry from: pass the error in quotes (kb new "
                      "--from-error \"TEXT\"), pipe it (... 2>&1 | kb new --from-error), or use "
                      "--from-error --file LOG")


class _NewCommand(typer.core.TyperCommand):
    """`--from-error` with no value (last, or before another option) reads the error
    from a pipe or --file: click options cannot have an optional value, typer's neither."""

    def parse_args(self, ctx: typer.core.click.Context, args: list[str]) -> list[str]:
        if "--from-error" in args:
            at = args.index("--from-error")
            value = args[at + 1] if at + 1 < len(args) else None
            # "-bash: conda: not found" is a value: an option never has a space in it
            if value is None or (value.startswith("-") and value != "-" and " " not in value):
                ctx.meta["kb.new.from_error"] = True
                args = args[:at] + args[at + 1:]
        return super().parse_args(ctx, args)


@app.command(cls=_NewCommand)
def new(
    ctx: typer.Context,
    entry_id: Annotated[str | None, typer.Argument(
        metavar="[ID]", help="The new entry's id (with --from-error, made from the error "
        "when not given).")] = None,
    kind: Annotated[str | None, typer.Option(
        "--kind", "-k", metavar="KIND", help="command, api, concept or error (default: api; "
        "error with --from-error).")] = None,
    directory: DirOpt = None,
    from_error: Annotated[str | None, typer.Option(
        "--from-error", metavar="[TEXT|-]",
        help="Write an error entry from this message or traceback (`-`, a pipe or --file "
             "LOG: read it there): the message as an example, a pattern with its numbers and "
             "quoted names as groups, TODOs for the rest.")] = None,
    file: Annotated[Path | None, typer.Option(
        "--file", "-f", metavar="LOG", help="With --from-error: read the error from a log "
        "file (its last 16 MB).")] = None,
) -> None:
    """Write a valid skeleton entry, or with --from-error an error entry made from a real
    message, open $EDITOR on it (on a terminal), then lint it.

    kb new err-my-loader --kind error; kb new --from-error "ValueError: ...";
    python train.py 2>&1 | kb new --from-error; kb new --from-error --file train.log.
    """
    import shlex
    import subprocess

    from kb.lint import lint as run_lint
    from kb.notes.drafts import new_entry, new_error_entry, target_dir
    from kb.render import make_console
    from kb.render.problems import render_problems

    if from_error is not None or ctx.meta.get("kb.new.from_error"):
        from kb.explain.source import read_paste
        from kb.loader import all_ids
        from kb.paths import entry_sources

        if kind not in (None, "error"):
            raise UsageError(f"--from-error writes an error entry, not --kind {kind}")
        paste = read_paste(from_error, file, sys.stdin, FROM_ERROR_NOTHING)
        path = new_error_entry(paste, entry_id, target_dir(directory),
                               set(all_ids(entry_sources())))
    elif file is not None:
        raise UsageError("--file LOG is read with --from-error: kb new --from-error --file LOG")
    elif entry_id is None:
        raise UsageError("give the new entry's id (kb new ID), or make one from an error "
                         "with --from-error")
    else:
        path = new_entry(entry_id, kind or "api", target_dir(directory))
    console = make_console()
    console.print(f"wrote {path}", markup=False, highlight=False, soft_wrap=True)  # whole
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
    if editor and sys.stdin.isatty():
        subprocess.call([*shlex.split(editor), str(path)])
    report = run_lint([path])
    render_problems(console, report)
    if report.failed():
        raise typer.Exit(int(ExitCode.FAILURE))


@app.command("import")
def import_(
    note: Annotated[Path, typer.Argument(metavar="NOTE",
                                         help="A note: .md, .ipynb, .txt or .py.")],
    directory: DirOpt = None,
) -> None:
    """Turn a note into draft entries (one per heading, else per block), with expect
    from a real run; then lint them."""
    from kb.lint import lint as run_lint
    from kb.notes.command import note_files
    from kb.notes.drafts import import_note, target_dir
    from kb.notes.extract import read_note
    from kb.render import make_console
    from kb.render.problems import render_problems
    from kb.sandbox import Sandbox

    out = target_dir(directory)
    with Sandbox() as sandbox:
        (path,) = note_files([str(note)])
        paths = import_note(read_note(path), out, sandbox)
    console = make_console()
    for p in paths:
        console.print(f"wrote {p}", markup=False, highlight=False)
    report = run_lint(paths, [out])
    render_problems(console, report)
    if report.failed():
        raise typer.Exit(int(ExitCode.FAILURE))


def app_for(args: list[str]) -> typer.Typer:
    """The app with only the command being run, so typer builds one click command from
    its function's signature instead of all twelve (~10 ms of every call, issue 12).
    `kb`, `kb --help`, an unknown command and shell completion get the whole app."""
    name = args[0] if args else ""
    infos = [c for c in app.registered_commands if _command_name(c) == name]
    if len(infos) != 1 or any(k.endswith("_COMPLETE") for k in os.environ):
        return app
    single = typer.Typer(**APP_SETTINGS)
    single.registered_commands = infos
    single.callback()(_no_options)  # a group still: `kb search ...`, not `kb ...`
    return single


def _command_name(info: typer.models.CommandInfo) -> str | None:
    if info.name:
        return info.name
    return typer.main.get_command_name(info.callback.__name__) if info.callback else None


def _no_options() -> None:
    """kb has no options of its own."""


def main() -> None:
    """Console-script entry point."""
    try:
        app_for(sys.argv[1:])()
    except KeyboardInterrupt:  # pragma: no cover - Ctrl-C during argument parsing
        sys.exit(int(ExitCode.INTERRUPTED))
