"""Running notes: plan each note, run it as one sandbox job, judge its claims.

The judging is pure (events in, results out) so it is tested without a sandbox.
"""

from __future__ import annotations

import ast
import json
import re
import secrets
import time
from collections.abc import Sequence
from typing import Any

from kb.notes.claims import compare, is_structural
from kb.notes.driver import driver_code
from kb.notes.model import (
    BlockFailure,
    Claim,
    ClaimKind,
    ClaimResult,
    ClaimStatus,
    Note,
    NoteResult,
)
from kb.record import field, record, replace
from kb.requirements import install_hint
from kb.sandbox import Job, Limits, Outcome, Sandbox

OUTPUT_CAP = 20000  # characters of one statement's output or repr kept
MAX_PLAN = 900_000  # the sandbox takes one job's code in a record of 1 MiB


@record
class NoteOptions:
    block_cpu_s: float = 10.0  # each block's budget of CPU time
    block_wall_s: float = 60.0  # and of wall-clock time (a block that sleeps)
    note_s: float = 180.0  # the whole note, wall clock: the sandbox kills it there
    jobs: int = 1
    gpu: bool = False
    limits: Limits = field(default_factory=Limits)


# ---------------------------------------------------------------- the plan


def statement_names(stmt: ast.stmt) -> dict[str, list[str]]:
    """What a statement reads (anywhere in it, function bodies included: conservative),
    what it binds or mutates, and the names it calls methods on (may mutate them)."""
    loads: set[str] = set()
    stores: set[str] = set()
    receivers: set[str] = set()
    for node in ast.walk(stmt):
        if isinstance(node, ast.Name):
            (loads if isinstance(node.ctx, ast.Load) else stores).add(node.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                if alias.name != "*":
                    stores.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            stores.add(node.name)
        elif isinstance(node, ast.Attribute | ast.Subscript) and not isinstance(
                node.ctx, ast.Load):
            base = _base_name(node)
            if base:
                stores.add(base)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and (
                node.func.attr.endswith("_") or (node is getattr(stmt, "value", None)
                and isinstance(stmt, ast.Expr))):
            # called for its effect (`opt.step()`, `x.add_(1)`): it may have changed x;
            # `y = x.view(3)` failing leaves x as it was
            base = _base_name(node.func)
            if base:
                receivers.add(base)
    return {"loads": sorted(loads), "stores": sorted(stores),
            "receivers": sorted(receivers - stores)}


def _base_name(node: ast.AST) -> str | None:
    while isinstance(node, ast.Attribute | ast.Subscript):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _wanted(note: Note) -> dict[int, set[int]]:
    """Per block, the statement lines whose value is part of a claim's output."""
    wanted: dict[int, set[int]] = {}
    for claim in note.claims:
        lines = wanted.setdefault(claim.block, set())
        if claim.kind in (ClaimKind.VALUE, ClaimKind.DOCTEST):
            lines.update(range(claim.first, claim.last + 1))
        elif claim.display == "last":
            lines.add(-claim.last)  # the last statement starting in the range
    return wanted


def plan(note: Note, marker: str, options: NoteOptions) -> dict[str, Any]:
    wanted = _wanted(note)
    blocks = []
    for block in note.blocks:
        tree = ast.parse(block.code)
        want = wanted.get(block.index, set())
        lasts = {-n for n in want if n < 0}
        rows = block.code.splitlines()
        stmts = []
        for k, stmt in enumerate(tree.body):
            meta: dict[str, Any] = dict(statement_names(stmt))
            is_last = any(stmt.lineno <= n and (k + 1 == len(tree.body) or
                                                tree.body[k + 1].lineno > n) for n in lasts)
            end = (stmt.end_lineno or stmt.lineno)
            silenced = rows[end - 1].rstrip().endswith(";") if end <= len(rows) else False
            meta["eval"] = isinstance(stmt, ast.Expr) and not silenced and (
                stmt.lineno in want or is_last)
            stmts.append(meta)
        blocks.append({"index": block.index, "code": block.code, "stmts": stmts})
    return {"marker": marker, "cap": OUTPUT_CAP, "blocks": blocks,
            "cpu_s": options.block_cpu_s, "wall_s": options.block_wall_s}


# ---------------------------------------------------------------- running


def run_notes(notes: Sequence[Note], options: NoteOptions, sandbox: Sandbox
              ) -> list[NoteResult]:
    """Every note as one sandbox job (several at once with `options.jobs`); claims that
    look wrong and may depend on random numbers are run again with another seed."""
    from kb.notes.extract import NoteError

    started = time.monotonic()
    marker = f"@@kb-note-{secrets.token_hex(8)}@@"
    jobs = []
    for k, note in enumerate(notes):
        code = driver_code(plan(note, marker, options))
        if len(code) > MAX_PLAN:
            raise NoteError(f"{note.path}: its code is too big to run as one note "
                            f"({len(code)} bytes; at most {MAX_PLAN})")
        jobs.append(Job(k, f"note:{note.path.name}", "python", code,
                        replace(options.limits, timeout_s=options.note_s), gpu=options.gpu))
    outcomes = {o.job: o for o in sandbox.run(jobs, workers=options.jobs)}
    results = [judge(note, outcomes[k], marker, options) for k, note in enumerate(notes)]
    # a wrong value after random numbers: wrong only if another seed gives the same
    again = [k for k, r in enumerate(results) if _doubtful(r)]
    if again:
        reruns = [replace(jobs[k], seed=1) for k in again]
        for outcome in sandbox.run(reruns, workers=options.jobs):
            k = outcome.job
            results[k] = reconsider(results[k], events(outcome.stdout, marker))
    elapsed = time.monotonic() - started
    return [replace(r, duration_s=outcomes[k].duration_s if k in outcomes else elapsed)
            for k, r in enumerate(results)]


def _doubtful(result: NoteResult) -> bool:
    return any(r.status is ClaimStatus.WRONG and not is_structural(r.claim.claimed)
               for r in result.results)


def events(stdout: str, marker: str) -> dict[tuple[int, int], dict[str, Any]]:
    found: dict[tuple[int, int], dict[str, Any]] = {}
    for line in stdout.splitlines():
        if line.startswith(marker):
            try:
                event = json.loads(line[len(marker):])
            except ValueError:
                continue
            if isinstance(event, dict) and "b" in event:
                found[(event["b"], event["s"])] = event
            elif isinstance(event, dict) and event.get("done"):
                found[(-1, -1)] = event
    return found


# ---------------------------------------------------------------- judging


_GPU = re.compile(r"\bCUDA\b|\bcuda\b|NVIDIA|nvidia|\bGPU\b|cudnn", re.I)
_NET = re.compile(r"without a network|Name or service not known|Temporary failure in name "
                  r"resolution|Network is unreachable|getaddrinfo|URLError|Connection refused")


def failure_reason(event: dict[str, Any], note: Note, options: NoteOptions) -> str:
    """One line: why a statement did not run as written."""
    kind = event.get("exc_type") or ""
    message = (event.get("message") or "").strip().splitlines()
    first = message[0] if message else ""
    block = note.blocks[event["b"]]
    where = f"line {block.file_line(event.get('line', 1))}"
    if kind == "timeout":
        return (f"{where}: its block ran out of time ({options.block_cpu_s:g} s of CPU or "
                f"{options.block_wall_s:g} s)")
    if kind == "ModuleNotFoundError":
        name = (event.get("module") or first.split("'")[1:2] or ["?"])
        name = name if isinstance(name, str) else name[0]
        return f"{where}: needs the Python module '{name}' ({install_hint(name)})"
    if _NET.search(first) or kind in ("gaierror", "URLError", "ConnectionError"):
        return f"{where}: needs the network; notes run without one"
    if _GPU.search(first):
        return f"{where}: needs a GPU (CUDA); run with --gpu on a machine that has one"
    return f"{where}: raised {kind}" + (f": {first}" if first else "")


def judge(note: Note, outcome: Outcome, marker: str, options: NoteOptions) -> NoteResult:
    found = events(outcome.stdout, marker)
    why_stopped = _stopped(outcome, options, (-1, -1) in found)
    failures: list[BlockFailure] = []
    statements = 0
    cause_reason: dict[tuple[int, int], str] = {}
    for key in sorted(k for k in found if k[0] >= 0):
        event = found[key]
        statements += 1
        if event.get("status") == "error":
            reason = failure_reason(event, note, options)
            cause_reason[key] = reason
            block = note.blocks[event["b"]]
            failures.append(BlockFailure(event["b"], block.file_line(event["line"]), reason))
    for key in sorted(k for k in found if k[0] >= 0):
        event = found[key]
        if event.get("status") == "skipped":
            cause = event.get("cause") or {}
            origin = (cause.get("b", -1), cause.get("s", -1))
            for f, failure in enumerate(failures):
                if (failure.block, failure.line) == (origin[0], note.blocks[origin[0]].file_line(
                        cause.get("line", 1)) if origin[0] >= 0 else -1):
                    failures[f] = replace(failure, skipped=failure.skipped + 1)
    results = [judge_claim(note, claim, found, cause_reason, why_stopped)
               for claim in note.claims]
    if why_stopped and not found:
        error = why_stopped
    else:
        error = why_stopped if why_stopped and (-1, -1) not in found else ""
    return NoteResult(note, tuple(results), tuple(failures), outcome.duration_s, error,
                      statements, tuple(found[k] for k in sorted(found) if k[0] >= 0))


def _stopped(outcome: Outcome, options: NoteOptions, done: bool) -> str:
    if done:
        return ""
    if outcome.setup_error:
        return f"the sandbox could not run it: {outcome.setup_error}"
    if outcome.timed_out:
        return f"the note ran past its bound of {options.note_s:g} s and was stopped"
    if outcome.cut:
        return f"stopped: {outcome.cut}"
    if outcome.signal is not None:
        return f"the interpreter was killed by signal {outcome.signal} (a limit: memory or CPU)"
    return f"the interpreter ended early (exit status {outcome.exit_code})"


def _covered(note: Note, claim: Claim, found: dict[tuple[int, int], dict[str, Any]]
             ) -> list[tuple[int, dict[str, Any] | None]]:
    tree = ast.parse(note.blocks[claim.block].code)
    return [(k, found.get((claim.block, k))) for k, stmt in enumerate(tree.body)
            if claim.first <= stmt.lineno <= claim.last]


def observed(note: Note, claim: Claim, found: dict[tuple[int, int], dict[str, Any]],
             cause_reason: dict[tuple[int, int], str], why_stopped: str
             ) -> tuple[str | None, str]:
    """(what ran, "") or (None, why it cannot be told)."""
    covered = _covered(note, claim, found)
    if not covered:
        return None, "no statement to evaluate"
    parts: list[str] = []
    for k, event in covered:
        if event is None:
            return None, why_stopped or "not run: its block stopped before it"
        status = event.get("status")
        if status == "error":
            return None, cause_reason.get((claim.block, k), "it raised")
        if status == "skipped":
            cause = event.get("cause") or {}
            origin = (cause.get("b", -1), cause.get("s", -1))
            reason = cause_reason.get(origin) or "an earlier statement failed"
            name = event.get("name")
            return None, (f"uses '{name}', which is missing because {reason}" if name else
                          f"not run because {reason}")
        parts.append(event.get("out", ""))
        if "repr" in event:
            if claim.kind is ClaimKind.VALUE:
                return event["repr"], ""
            parts.append(event["repr"] + "\n")
    text = "".join(parts)
    if claim.kind is ClaimKind.VALUE and not text:
        return None, "the expression gives None: the comment is not its value"
    return text, ""


def judge_claim(note: Note, claim: Claim, found: dict[tuple[int, int], dict[str, Any]],
                cause_reason: dict[tuple[int, int], str], why_stopped: str) -> ClaimResult:
    actual, why = observed(note, claim, found, cause_reason, why_stopped)
    if actual is None:
        if claim.claimed.strip() == "None" and why.startswith("the expression gives None"):
            return ClaimResult(claim, ClaimStatus.RIGHT, "None", path=note.path)
        return ClaimResult(claim, ClaimStatus.UNCHECKED, None, why, note.path)
    verdict = compare(claim.claimed, actual)
    status = ClaimStatus.RIGHT if verdict.ok else ClaimStatus.WRONG
    return ClaimResult(claim, status, actual.rstrip("\n"), verdict.reason, note.path)


def reconsider(result: NoteResult, second: dict[tuple[int, int], dict[str, Any]]
               ) -> NoteResult:
    """Wrong values that another seed changes are about random numbers, not the note."""
    changed = []
    for r in result.results:
        if r.status is ClaimStatus.WRONG and not is_structural(r.claim.claimed):
            again, _ = observed(result.note, r.claim, second, {}, "")
            if again is None or again.rstrip("\n") != r.actual:
                r = replace(r, status=ClaimStatus.UNCHECKED, reason=(
                    "depends on random numbers the note does not seed (another seed gives "
                    "another value); add torch.manual_seed(...) to check it"))
        changed.append(r)
    return replace(result, results=tuple(changed))
