"""`kb check NOTE --fix`: rewrite the wrong claims with what really ran, nothing else.

Text notes are edited line by line at the claim's span (line endings kept); a
notebook is edited as JSON and written back only when Jupyter's own layout gives
back the file byte for byte before the change, so no other byte moves.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from kb.errors import KbError
from kb.notes.model import ClaimResult, ClaimStatus
from kb.record import record


@record
class Fixed:
    path: Path
    line: int
    expr: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.expr}"


def fix_notes(results: Iterable[ClaimResult]) -> list[Fixed]:
    """Rewrite every wrong claim in its file; the fixes made, in file order."""
    by_file: dict[Path, list[ClaimResult]] = {}
    for r in results:
        if r.status is ClaimStatus.WRONG and r.actual is not None:
            by_file.setdefault(r.path, []).append(r)
    fixed: list[Fixed] = []
    for path, wrong in by_file.items():
        if path.suffix.lower() == ".ipynb":
            _fix_notebook(path, wrong)
        else:
            _fix_text(path, wrong)
        fixed.extend(Fixed(path, r.claim.line, r.claim.expr) for r in wrong)
    return fixed


def one_line(text: str) -> str:
    return " ".join(text.split())


def _fix_text(path: Path, wrong: list[ClaimResult]) -> None:
    data = path.read_bytes().decode("utf-8-sig")
    bom = path.read_bytes().startswith(b"\xef\xbb\xbf")
    rows = data.splitlines(keepends=True)
    for r in sorted(wrong, key=lambda r: -r.claim.span.lines[0] if r.claim.span.lines else 0):
        rows = _edit_rows(rows, r)
    text = "".join(rows)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))


def _ending(row: str) -> str:
    return row[len(row.rstrip("\r\n")):] or "\n"


def _edit_rows(rows: list[str], r: ClaimResult) -> list[str]:
    """`rows` (with their endings) with the claim of `r` replaced; its span lines are
    1-based file lines (notebook cells: 0-based source lines)."""
    span, actual = r.claim.span, (r.actual or "").rstrip("\n")
    base = 0 if span.cell is not None else 1
    idx = [n - base for n in span.lines]
    if not idx or idx[0] >= len(rows):
        return rows
    first = rows[idx[0]]
    end = _ending(first) if first.endswith(("\n", "\r")) else ""
    if span.style == "inline":
        body = first.rstrip("\r\n")
        rest = body[span.col:]
        trailing = rest[len(rest.rstrip()):]
        rows[idx[0]] = body[:span.col] + one_line(actual) + trailing + end
        return rows
    if span.style == "comment-lines":
        body = first.rstrip("\r\n")
        hash_at = body.index("#")
        prefix = body[:hash_at + 1] + (" " if body[hash_at + 1:].startswith(" ") else "")
        new = [prefix + line + (end or "\n") for line in actual.split("\n")]
    else:  # raw-lines: an output block, a '''string''', a doctest's output
        body = first.rstrip("\r\n")
        indent = body[:len(body) - len(body.lstrip())]
        new = [indent + line + (end or "\n") for line in actual.split("\n")]
    last = idx[-1]
    if not rows[last].endswith(("\n", "\r")) and new:
        new[-1] = new[-1].rstrip("\r\n")
    return rows[:idx[0]] + new + rows[last + 1:]


def _dump(nb: Any, sort_keys: bool) -> str:
    return json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=sort_keys) + "\n"


def _fix_notebook(path: Path, wrong: list[ClaimResult]) -> None:
    text = path.read_text(encoding="utf-8")
    nb = json.loads(text)
    layout = next((s for s in (True, False) if _dump(nb, s) == text), None)
    if layout is None:
        raise KbError(f"{path}: cannot rewrite it in place: it is not laid out as Jupyter "
                      "writes notebooks (save it from Jupyter once, then rerun --fix)")
    for r in wrong:
        cell = nb["cells"][r.claim.span.cell]
        if r.claim.span.style == "cell-output":
            _fix_outputs(path, cell, r)
            continue
        source = cell["source"]
        listed = isinstance(source, list)
        rows = list(source) if listed else source.splitlines(keepends=True)
        rows = _edit_rows(rows, r)
        cell["source"] = rows if listed else "".join(rows)
    path.write_text(_dump(nb, layout), encoding="utf-8")


def _fix_outputs(path: Path, cell: dict[str, Any], r: ClaimResult) -> None:
    outputs = [o for o in cell.get("outputs", []) if o.get("output_type") in (
        "stream", "execute_result")]
    actual = r.actual or ""
    if len(outputs) != 1:
        raise KbError(f"{path}:{r.claim.line}: cannot fix {r.claim.expr}: its saved output "
                      "has several parts; rerun the notebook in Jupyter instead")
    out = outputs[0]
    lines = [line + "\n" for line in actual.split("\n")]
    if out["output_type"] == "stream":
        out["text"] = lines
    else:
        lines[-1] = lines[-1].rstrip("\n")
        out["data"]["text/plain"] = lines
