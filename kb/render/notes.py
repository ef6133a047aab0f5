"""Note check reports (issue #17) -> rich text, JSON or JUnit XML.

Wrong claims first, as `file:line: claimed X, got Y` with the expression under it;
then the unchecked ones with the reason; then blocks that failed to run; one summary.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from xml.etree import ElementTree as ET

from rich.console import Console
from rich.text import Text

from kb.notes.fix import Fixed, one_line
from kb.notes.model import ClaimResult, ClaimStatus, NoteResult
from kb.render.runs import render_isolation
from kb.sandbox import Isolation


def summary(results: Sequence[NoteResult], duration_s: float) -> dict[str, Any]:
    claims = [c for r in results for c in r.results]
    return {
        "notes": len(results),
        "claims": len(claims),
        "right": sum(c.status is ClaimStatus.RIGHT for c in claims),
        "wrong": sum(c.status is ClaimStatus.WRONG for c in claims),
        "unchecked": sum(c.status is ClaimStatus.UNCHECKED for c in claims),
        "blocks": sum(len(r.note.blocks) for r in results),
        "failed_blocks": sum(len({f.block for f in r.failures}) for r in results),
        "duration_s": round(duration_s, 3),
    }


def claim_json(c: ClaimResult) -> dict[str, Any]:
    return {"file": str(c.path), "line": c.claim.line, "expr": c.claim.expr,
            "claimed": c.claim.claimed, "actual": c.actual, "status": c.status.value,
            "kind": c.claim.kind.value, "reason": c.reason}


def notes_json(isolation: Isolation, results: Sequence[NoteResult], duration_s: float,
               fixed: Sequence[Fixed] = ()) -> dict[str, Any]:
    counts = summary(results, duration_s)
    if fixed:
        counts["fixed"] = len(fixed)
    return {
        "isolation": isolation.to_json(),
        "results": [claim_json(c) for r in results for c in r.results],
        "notes": [{"file": str(r.note.path), "kind": r.note.kind, "blocks": len(r.note.blocks),
                   "error": r.error, "duration_s": r.duration_s,
                   "failed": [{"line": f.line, "reason": f.reason, "skipped": f.skipped}
                              for f in r.failures]} for r in results],
        "summary": counts,
    }


def render_notes(console: Console, isolation: Isolation, results: Sequence[NoteResult],
                 duration_s: float, fixed: Sequence[Fixed] = ()) -> None:
    render_isolation(console, isolation)
    claims = [c for r in results for c in r.results]
    wrong = [c for c in claims if c.status is ClaimStatus.WRONG]
    if wrong:
        console.print()
    for c in wrong:
        line = Text(f"{c.where}: ", style="bold")
        line.append(f"claimed {one_line(c.claim.claimed)}, got {one_line(c.actual or '')}",
                    style="red")
        console.print(line, soft_wrap=True)  # file:line reports stay one line
        console.print(Text(f"  {one_line(c.claim.expr)}", style="dim"))
    unchecked = [c for c in claims if c.status is ClaimStatus.UNCHECKED]
    if unchecked:
        console.print()
    for c in unchecked:
        console.print(Text.assemble((f"{c.where}: unchecked ", "yellow"),
                                    (f"{one_line(c.claim.expr)}: {c.reason}", "dim")),
                      soft_wrap=True)
    failures = [(r, f) for r in results for f in r.failures]
    stopped = [r for r in results if r.error]
    if failures or stopped:
        console.print()
        console.print(Text("blocks that failed to run:", style="dim"))
    for r, f in failures:
        after = f" ({f.skipped} statement{'s' if f.skipped != 1 else ''} after it skipped)" \
            if f.skipped else ""
        console.print(Text(f"  {r.note.path}:{f.line}: {f.reason.split(': ', 1)[-1]}{after}",
                           style="dim"), soft_wrap=True)
    for r in stopped:
        console.print(Text(f"  {r.note.path}: {r.error}", style="yellow"))
    for fix in fixed:
        console.print(Text(f"fixed {fix}", style="cyan"))
    console.print()
    console.print(summary_line(results, duration_s))


def summary_line(results: Sequence[NoteResult], duration_s: float) -> Text:
    s = summary(results, duration_s)
    style = "bold red" if s["wrong"] else "bold green"
    notes = f"{s['notes']} note{'s' if s['notes'] != 1 else ''}"
    text = Text(f"{notes}: {s['claims']} claim{'s' if s['claims'] != 1 else ''}: "
                f"{s['right']} right, {s['wrong']} wrong, {s['unchecked']} unchecked; "
                f"{s['failed_blocks']} of {s['blocks']} blocks failed to run", style=style)
    text.append(f" in {duration_s:.1f} s", style="dim")
    return text


def notes_junit(results: Sequence[NoteResult], duration_s: float) -> str:
    """One testcase per claim, classname = the note's file."""
    s = summary(results, duration_s)
    suite = ET.Element("testsuite", {
        "name": "kb check notes", "tests": str(s["claims"]), "failures": str(s["wrong"]),
        "errors": "0", "skipped": str(s["unchecked"]), "time": f"{duration_s:.3f}"})
    for r in results:
        for c in r.results:
            case = ET.SubElement(suite, "testcase", {
                "classname": str(c.path), "name": f"line {c.claim.line}: {c.claim.expr}",
                "file": str(c.path), "line": str(c.claim.line), "time": "0"})
            if c.status is ClaimStatus.WRONG:
                ET.SubElement(case, "failure", {
                    "message": f"claimed {one_line(c.claim.claimed)}, got "
                               f"{one_line(c.actual or '')}"}).text = c.actual
            elif c.status is ClaimStatus.UNCHECKED:
                ET.SubElement(case, "skipped", {"message": c.reason})
    ET.indent(suite)
    return ET.tostring(suite, encoding="unicode", xml_declaration=True) + "\n"
