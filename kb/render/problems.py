"""Lint problems and `kb paths` -> text or JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.text import Text

from kb.model import Problem, Severity
from kb.paths import Language, Located, Source

if TYPE_CHECKING:  # kb.lint reads YAML; `kb paths` must not pay for importing it
    from kb.lint import LintReport


def problem_json(p: Problem) -> dict[str, Any]:
    return {"path": str(p.path), "line": p.line, "code": p.code, "severity": p.severity.value,
            "message": p.message}


def render_problems(console: Console, report: LintReport) -> None:
    for p in report.problems:
        style = "red" if p.severity is Severity.ERROR else "yellow"
        console.print(Text(str(p), style=style), soft_wrap=True)  # never cut a location
    errors = sum(p.severity is Severity.ERROR for p in report.problems)
    warnings = len(report.problems) - errors
    summary = f"{report.entries} entries in {report.files} files: "
    summary += f"{errors} error(s), {warnings} warning(s)" if report.problems else "no problems"
    console.print(Text(summary, style="bold" if report.problems else "green"))


def render_paths(console: Console, sources: list[Source], cache: Located,
                 language: Language) -> None:
    console.print(Text("entries", style="bold"))
    for s in sources:
        state = "" if s.path.exists() else "  (missing)"
        console.print(f"  {s.path}  [{s.origin}]{state}", markup=False)
    console.print(Text("cache", style="bold"))
    console.print(f"  {cache.path}  [{cache.why}]", markup=False)
    console.print(f"  index: {cache.path / 'index'}", markup=False)
    console.print(Text("language", style="bold"))
    console.print(f"  {language.code}  [{language.why}]", markup=False)
