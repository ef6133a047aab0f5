"""Run and check reports -> rich text, JSON or JUnit XML.

`kb run` shows each snippet in full (code, output, the diff against `expect`);
`kb check` shows a summary with the failures first. JSON keys are pinned by
tests/cli/test_run_check.py.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any
from xml.etree import ElementTree as ET

from rich.console import Console
from rich.padding import Padding
from rich.text import Text

from kb.runner import BAD, Report, SnippetResult, Status
from kb.sandbox import Isolation

STATUS_STYLE = {
    Status.PASSED: "bold green", Status.FAILED: "bold red", Status.ERROR: "bold red",
    Status.TIMEOUT: "bold yellow", Status.KILLED: "bold magenta", Status.SKIPPED: "dim",
}
STDERR_LINES = 15  # the tail of stderr shown for a failure (a traceback's end is what matters)


# ---------------------------------------------------------------- JSON


def isolation_json(isolation: Isolation) -> dict[str, Any]:
    return isolation.to_json()


def result_json(result: SnippetResult, *, with_id: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {"id": result.id} if with_id else {}
    data.update({
        "snippet": result.snippet,
        "status": result.status.value,
        "stdout": result.stdout,
        "expected": result.expected,
        "diff": result.diff,
        "duration_s": result.duration_s,
        "lang": result.lang,
        "reason": result.reason,
        "stderr": result.stderr,
        "exc_type": result.exc_type,
        "exc_message": result.exc_message,
        "source": result.where,
    })
    return data


def run_json(entry_id: str, report: Report) -> dict[str, Any]:
    return {"id": entry_id, "isolation": isolation_json(report.isolation),
            "results": [result_json(r) for r in report.results]}


def check_json(report: Report, updated: int = 0) -> dict[str, Any]:
    summary = report.summary()
    if updated:
        summary["updated"] = updated
    return {"isolation": isolation_json(report.isolation),
            "results": [result_json(r, with_id=True) for r in report.results],
            "summary": summary}


# ---------------------------------------------------------------- text


def render_isolation(console: Console, isolation: Isolation) -> None:
    style = "green" if isolation.strong else "yellow"
    line = Text("isolation: ", style="dim")
    line.append(isolation.level, style=f"bold {style}")
    line.append(f" ({', '.join(isolation.layers)})", style="dim")
    console.print(line)
    for layer, why in isolation.missing:
        console.print(Text(f"  without {layer}: {why}", style="yellow"))


def _status(result: SnippetResult) -> Text:
    text = Text(result.status.value.upper(), style=STATUS_STYLE[result.status])
    if result.status is not Status.SKIPPED:
        text.append(f"  {result.duration_s:.2f} s", style="dim")
    return text


def _diff(diff: str) -> Text:
    out = Text()
    for line in diff.splitlines():
        style = ("red" if line.startswith("-") and not line.startswith("---") else
                 "green" if line.startswith("+") and not line.startswith("+++") else "dim")
        out.append(line + "\n", style=style)
    out.rstrip()
    return out


def _stderr_tail(stderr: str) -> str:
    lines = stderr.rstrip().splitlines()
    tail = lines[-STDERR_LINES:]
    return "\n".join((["..."] if len(lines) > len(tail) else []) + tail)


def render_run(console: Console, entry_id: str, report: Report) -> None:
    """Every snippet in full: highlighted code, its output, a diff when it fails."""
    from kb.render.markup import code  # pygments: only kb run pays for it

    render_isolation(console, report.isolation)
    if not report.results:
        console.print(Text(f"entry '{entry_id}' has no snippets to run", style="dim"))
        return
    for result in report.results:
        console.print()
        console.print(Text(f"── {entry_id} / {result.snippet} ({result.lang})", style="bold"))
        console.print(code(console, result.code, result.lang))
        if result.status is Status.SKIPPED:
            console.print(Text.assemble(_status(result), f"  {result.reason}"))
            continue
        console.print(Text("output:", style="dim"))
        output = result.stdout.rstrip("\n")
        console.print(Padding(Text(output) if output else Text("(nothing)", style="dim"),
                              (0, 0, 0, 2)))
        if result.status is not Status.PASSED:
            _render_failure(console, result)
        console.print(_status(result))
    console.print()
    console.print(_summary_line(report))


def _render_failure(console: Console, result: SnippetResult, indent: int = 0) -> None:
    pad = (0, 0, 0, indent)
    if result.reason:
        console.print(Padding(Text(result.reason, style="red"), pad))
    if result.diff:
        console.print(Padding(Text("diff (expected -> actual):", style="dim"), pad))
        console.print(Padding(_diff(result.diff), (0, 0, 0, indent + 2)))
    if result.stderr.strip() and result.status is not Status.PASSED:
        console.print(Padding(Text("stderr:", style="dim"), pad))
        console.print(Padding(Text(_stderr_tail(result.stderr), style="dim"),
                              (0, 0, 0, indent + 2)))


def render_check(console: Console, report: Report, updated: list[str] | None = None) -> None:
    """Failures first (each with where, why and the diff), then what was skipped, then
    one summary line."""
    render_isolation(console, report.isolation)
    bad = [r for r in report.results if r.status in BAD]
    for result in bad:
        console.print()
        head = Text.assemble(_status(result), "  ", (f"{result.id} / {result.snippet}", "bold"))
        if result.where:
            head.append(f"  {result.where}", style="dim")
        console.print(head)
        _render_failure(console, result, indent=2)
    skipped = [r for r in report.results if r.status is Status.SKIPPED]
    if skipped:
        console.print()
        for result in skipped:
            console.print(Text.assemble(_status(result), f"  {result.id} / {result.snippet}: ",
                                        (result.reason, "dim")))
    for line in updated or []:
        console.print(Text(f"updated {line}", style="cyan"))
    console.print()
    console.print(_summary_line(report))


def _summary_line(report: Report) -> Text:
    counts = report.summary()
    parts = [f"{counts[s.value]} {s.value}" for s in Status if counts[s.value]]
    style = "bold red" if report.failed else "bold green"
    text = Text(f"{counts['total']} snippet{'s' if counts['total'] != 1 else ''}: ", style=style)
    text.append(", ".join(parts) if parts else "none run", style=style)
    text.append(f" in {report.duration_s:.1f} s", style="dim")
    return text


@contextlib.contextmanager
def check_progress(console: Console | None, total: int
                   ) -> Iterator[Callable[[SnippetResult], None]]:
    """A progress bar while `kb check` runs, on a terminal only; yields the callback
    the runner calls as each snippet ends."""
    if console is None or not console.is_terminal or total == 0:
        yield lambda _result: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(TextColumn("checking"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[last]}", style="dim"), console=console,
                  transient=True) as progress:
        task = progress.add_task("check", total=total, last="")

        def advance(result: SnippetResult) -> None:
            progress.update(task, advance=1, last=f"{result.id}/{result.snippet}")

        yield advance


# ---------------------------------------------------------------- JUnit


def junit_xml(report: Report) -> str:
    """JUnit XML for CI dashboards: one testcase per snippet, classname = entry id."""
    counts = report.summary()
    suite = ET.Element("testsuite", {
        "name": "kb check", "tests": str(counts["total"]),
        "failures": str(counts["failed"]),
        "errors": str(counts["error"] + counts["timeout"] + counts["killed"]),
        "skipped": str(counts["skipped"]), "time": f"{report.duration_s:.3f}"})
    for result in report.results:
        case = ET.SubElement(suite, "testcase", {
            "classname": result.id, "name": result.snippet, "time": f"{result.duration_s:.3f}",
            "file": str(result.source or ""), "line": str(result.line)})
        if result.status is Status.SKIPPED:
            ET.SubElement(case, "skipped", {"message": result.reason})
        elif result.status is Status.FAILED:
            ET.SubElement(case, "failure", {"message": result.reason}).text = result.diff
        elif result.status in BAD:
            element = ET.SubElement(case, "error", {"message": result.reason,
                                                    "type": result.status.value})
            element.text = result.stderr
        if result.stdout:
            ET.SubElement(case, "system-out").text = result.stdout
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"
