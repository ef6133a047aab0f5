"""Running entries' snippets: entries -> jobs -> sandbox -> check -> results.

`run_entries` is what `kb run` and `kb check` call: it decides what is skipped
(unmet `requires`, and modules a snippet imports that are not installed), hands
the rest to the sandbox, and judges each outcome against the snippet's claims
(`kb.expect`). It returns data; rendering is elsewhere.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable, Iterable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any

from kb.errors import IsolationError, NotFound, suggest
from kb.expect import check_raises, compare
from kb.loader import Loaded
from kb.model import Entry, Snippet
from kb.record import field, record, replace
from kb.requirements import install_hint, module_requirement, needs, version_tuple
from kb.sandbox import Isolation, Job, Limits, Outcome, Sandbox

ISOLATION_LEVELS = ("any", "strong")


class Status(StrEnum):
    PASSED = "passed"
    FAILED = "failed"  # it ran, and its output or exception is not what the entry claims
    ERROR = "error"  # it could not run as written: an unexpected exception, a bad exit
    TIMEOUT = "timeout"
    KILLED = "killed"  # a limit ended it: output flood, CPU time, a signal
    SKIPPED = "skipped"  # a need (`requires`, an imported module) is not met here; never passed


BAD = (Status.FAILED, Status.ERROR, Status.TIMEOUT, Status.KILLED)


@record
class SnippetResult:
    id: str
    snippet: str
    status: Status
    lang: str = "python"
    code: str = ""
    expected: str | None = None
    stdout: str = ""
    stderr: str = ""
    diff: str = ""
    reason: str = ""  # one line: why it did not pass, or why it was skipped
    duration_s: float = 0.0
    exc_type: str | None = None  # the exception it ended with (kb explain's self-test)
    exc_message: str | None = None
    source: Path | None = None
    line: int = 0
    expect_only: bool = False  # failed only because `expect` differs: --update-expected may fix

    @property
    def where(self) -> str:
        if self.source is None:
            return ""
        return f"{self.source}:{self.line}" if self.line else str(self.source)


@record
class Report:
    isolation: Isolation
    results: tuple[SnippetResult, ...]
    duration_s: float = 0.0

    def count(self, status: Status) -> int:
        return sum(1 for r in self.results if r.status is status)

    @property
    def failed(self) -> bool:
        return any(r.status in BAD for r in self.results)

    def summary(self) -> dict[str, Any]:
        counts: dict[str, Any] = {"total": len(self.results)}
        counts.update({s.value: self.count(s) for s in Status})
        counts["duration_s"] = round(self.duration_s, 3)
        return counts


@record
class RunOptions:
    jobs: int = 1  # snippets running at once
    gpu: bool = False  # let snippets see the GPUs (CUDA_VISIBLE_DEVICES kept, devices mounted)
    require_isolation: str = "any"  # "strong": refuse to run with weaker isolation
    timeout_s: float | None = None  # default wall clock per snippet (a snippet's own wins)
    snippet: str | None = None  # only this snippet (kb run --snippet)
    limits: Limits = field(default_factory=Limits)


def select_snippets(entries: Iterable[Entry], name: str | None = None
                    ) -> list[tuple[Entry, Snippet]]:
    """(entry, snippet) pairs in order; NotFound when `name` is given and no entry has it."""
    entries = list(entries)
    pairs = [(e, s) for e in entries for s in e.snippets if name is None or s.name == name]
    if name is not None and not pairs:
        names = [s.name for e in entries for s in e.snippets]
        ids = ", ".join(e.id for e in entries)
        hint = (suggest(name, names) or
                (f"it has: {', '.join(names)}" if names else "it has no snippets"))
        raise NotFound(f"entry '{ids}' has no snippet '{name}'; {hint}")
    return pairs


def select_entries(loaded: Loaded, ids: Sequence[str] = (), kind: str | None = None
                   ) -> list[Entry]:
    """The entries `kb check` covers: the given ids (NotFound, with a suggestion, for an
    unknown one) or all, in id order, optionally of one kind."""
    chosen = [loaded.get(i) for i in dict.fromkeys(ids)] if ids else [
        loaded.entries[i] for i in sorted(loaded.entries)]
    return [e for e in chosen if kind is None or e.kind == kind]


def run_entries(entries: Sequence[Entry], options: RunOptions, *,
                sandbox: Sandbox | None = None,
                on_result: Callable[[SnippetResult], None] | None = None) -> Report:
    """Run every snippet of `entries` (or only `options.snippet`) and judge each one.

    Pass a started `Sandbox` to overlap its torch import with loading the entries;
    otherwise one is started (and closed) here. Raises IsolationError when
    `require_isolation` is "strong" and the sandbox cannot give it.
    """
    if sandbox is None:
        with Sandbox(gpu=options.gpu) as own:
            return run_entries(entries, options, sandbox=own, on_result=on_result)
    started = time.monotonic()
    isolation = sandbox.isolation()
    require(isolation, options.require_isolation)
    pairs = select_snippets(entries, options.snippet)
    unmet = unmet_requirements([s for _, s in pairs], sandbox, options.gpu)
    results: dict[int, SnippetResult] = {}
    jobs: list[Job] = []
    for index, (entry, snippet) in enumerate(pairs):
        why = [unmet[r] for r in needs(snippet) if r in unmet]
        if why:
            results[index] = _result(entry, snippet, Status.SKIPPED, reason="; ".join(why))
            if on_result:
                on_result(results[index])
            continue
        jobs.append(_job(index, entry, snippet, options))
    for outcome in sandbox.run(jobs, workers=options.jobs):
        entry, snippet = pairs[outcome.job]
        results[outcome.job] = judge(entry, snippet, outcome, _timeout(snippet, options))
        if on_result:
            on_result(results[outcome.job])
    ordered = tuple(results[i] for i in sorted(results))
    return Report(isolation, ordered, time.monotonic() - started)


def require(isolation: Isolation, level: str) -> None:
    if level not in ISOLATION_LEVELS:
        raise IsolationError(f"unknown isolation level '{level}'; use one of: "
                             f"{', '.join(ISOLATION_LEVELS)}")
    if level == "strong" and not isolation.strong:
        why = "; ".join(f"{layer}: {reason}" for layer, reason in isolation.missing)
        raise IsolationError(
            f"strong isolation is required but only {isolation.level} isolation is available "
            f"here ({why or 'no namespaces'}); allow user namespaces (or run as root), "
            "or pass --require-isolation any")


def _timeout(snippet: Snippet, options: RunOptions) -> float:
    return snippet.timeout or options.timeout_s or options.limits.timeout_s


def _job(index: int, entry: Entry, snippet: Snippet, options: RunOptions) -> Job:
    limits = replace(options.limits, timeout_s=_timeout(snippet, options))
    return Job(index, f"{entry.id}/{snippet.name}", snippet.lang, snippet.code, limits,
               gpu=options.gpu)


def _result(entry: Entry, snippet: Snippet, status: Status, **fields: Any) -> SnippetResult:
    return SnippetResult(id=entry.id, snippet=snippet.name, status=status, lang=snippet.lang,
                         code=snippet.code, expected=snippet.expect, source=entry.source,
                         line=snippet.line, **fields)


def judge(entry: Entry, snippet: Snippet, outcome: Outcome, timeout_s: float) -> SnippetResult:
    """One outcome against the snippet's claims: `expect`, `raises`, a clean exit."""
    comparison = compare(snippet.expect, outcome.stdout, snippet.tolerance)

    def result(status: Status, reason: str = "", expect_only: bool = False) -> SnippetResult:
        return _result(entry, snippet, status, stdout=outcome.stdout, stderr=outcome.stderr,
                       diff="" if comparison.ok else comparison.diff, reason=reason,
                       duration_s=outcome.duration_s, exc_type=outcome.exc_type,
                       exc_message=outcome.exc_message, expect_only=expect_only)

    if outcome.setup_error:
        return result(Status.ERROR, f"the sandbox could not run it: {outcome.setup_error}")
    if outcome.timed_out:
        return result(Status.TIMEOUT, f"still running after {timeout_s:g} s (wall clock); "
                                      "make it faster or give it a `timeout:`")
    if outcome.cut:
        return result(Status.KILLED, f"killed: {outcome.cut} (output is cut there)")
    if outcome.signal is not None:
        return result(Status.KILLED, _signal_reason(outcome.signal))
    if snippet.raises is not None:
        problem = check_raises(snippet.raises, outcome.exc_type, outcome.exc_message)
        if problem:
            return result(Status.FAILED, problem)
    elif outcome.exc_type:
        message = (outcome.exc_message or "").strip().splitlines()
        first = f": {message[0]}" if message else ""
        return result(Status.ERROR, f"raised {outcome.exc_type}{first}")
    elif outcome.exit_code:
        return result(Status.ERROR, f"exited with status {outcome.exit_code}")
    if not comparison.ok:
        return result(Status.FAILED, comparison.reason, expect_only=True)
    return result(Status.PASSED)


def _signal_reason(sig: int) -> str:
    try:
        name = signal.Signals(sig).name
    except ValueError:
        name = f"signal {sig}"
    why = {"SIGXCPU": "CPU time limit", "SIGKILL": "a limit (memory or CPU time)",
           "SIGXFSZ": "file size limit", "SIGSEGV": "a crash"}.get(name, "a signal")
    return f"killed by {name} ({why})"


# ---------------------------------------------------------------- requirements

_REASONS = {
    "network": "needs the network; snippets run without one",
    "conda": "needs conda, which the sandbox does not have",
}


def unmet_requirements(snippets: Sequence[Snippet], sandbox: Sandbox,
                       gpu: bool) -> dict[str, str]:
    """Each requirement of these snippets that is not met here, with the reason.
    Modules, commands and CUDA are looked up in a sandboxed child, where snippets run."""
    wanted = sorted({r for s in snippets for r in needs(s)})
    if not wanted:
        return {}
    asked = [module_requirement(r) for r in wanted if r.startswith("module:")]
    modules = sorted({name for name, _ in asked})
    versioned = sorted({name for name, least in asked if least})
    commands = [c for c in ("conda", "nvidia-smi") if c in wanted]
    gpu_needed = gpu and any(r in ("cuda", "multi-gpu") for r in wanted)
    found = _probe(sandbox, modules, versioned, commands, gpu_needed) if (
        modules or commands or gpu_needed) else {}
    unmet: dict[str, str] = {}
    for req in wanted:
        reason = _unmet(req, found, gpu)
        if reason:
            unmet[req] = reason
    return unmet


def _unmet(req: str, found: dict[str, Any], gpu: bool) -> str | None:
    if req == "network":
        return _REASONS["network"]
    if req.startswith("module:"):
        name, least = module_requirement(req)
        if not found.get("modules", {}).get(name):
            return f"needs the Python module '{name}' ({install_hint(name)})"
        return _too_old(name, least, found.get("versions", {}).get(name))
    if req == "conda":
        return None if found.get("commands", {}).get("conda") else _REASONS["conda"]
    if req in ("cuda", "multi-gpu", "nvidia-smi") and not gpu:
        return f"needs a GPU ({req}); run with --gpu on a machine that has one"
    if req == "cuda":
        return None if found.get("cuda") else "needs CUDA; torch.cuda.is_available() is False"
    if req == "multi-gpu":
        count = found.get("gpus", 0)
        return None if count >= 2 else f"needs 2 or more GPUs; found {count}"
    if req == "nvidia-smi":
        return None if found.get("commands", {}).get("nvidia-smi") else (
            "needs nvidia-smi, not found")
    return f"unknown requirement '{req}'"


def _too_old(name: str, least: tuple[int, ...] | None, have: str | None) -> str | None:
    """Why the installed `name` (version `have`) is older than `least`, or None."""
    if least is None:
        return None
    installed = version_tuple(have or "")
    if installed is not None and installed >= least:
        return None
    wanted = ".".join(map(str, least))
    return (f"needs {name} >= {wanted}, found {have or 'no version'} "
            f"({install_hint(name)}>={wanted})")


def _probe(sandbox: Sandbox, modules: Sequence[str], versioned: Sequence[str],
           commands: Sequence[str], gpu: bool) -> dict[str, Any]:
    code = f"""
import importlib.metadata, importlib.util, json, shutil
out = {{"modules": {{}}, "versions": {{}}, "commands": {{}}, "cuda": False, "gpus": 0}}
for name in {modules!r}:
    try:
        out["modules"][name] = importlib.util.find_spec(name) is not None
    except Exception:
        out["modules"][name] = False
for name in {versioned!r}:
    try:
        out["versions"][name] = importlib.metadata.version(name)
    except Exception:
        out["versions"][name] = None
for command in {commands!r}:
    out["commands"][command] = shutil.which(command) is not None
if {gpu!r}:
    import torch
    out["cuda"] = torch.cuda.is_available()
    out["gpus"] = torch.cuda.device_count() if out["cuda"] else 0
print(json.dumps(out))
"""
    job = Job(-1, "requirements", "python", code, Limits(timeout_s=60), gpu=gpu)
    for outcome in sandbox.run([job]):
        try:
            data = json.loads(outcome.stdout.strip().splitlines()[-1])
            return data if isinstance(data, dict) else {}
        except (ValueError, IndexError):
            return {}
    return {}
