"""kb.runner and kb.expect_update: what each outcome means for a snippet, what is
skipped and why, and how `--update-expected` rewrites only `expect`."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from kb.errors import IsolationError, NotFound
from kb.expect_update import render_block, update_expected
from kb.model import Entry, Raises, Snippet
from kb.runner import RunOptions, Status, judge, run_entries, select_snippets
from kb.sandbox import Outcome, Sandbox

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux sandbox")


def entry(*snippets: Snippet, id: str = "demo", source: Path = Path("demo.yaml")) -> Entry:
    return Entry(id=id, kind="api", title="t", summary="s", source=source, snippets=snippets)


def outcome(stdout: str = "", **kw: object) -> Outcome:
    fields: dict = {"job": 0, "stdout": stdout, "stderr": "", "exit_code": 0, "signal": None,
                    "duration_s": 0.01}
    fields.update(kw)
    return Outcome(**fields)


# ---------------------------------------------------------------- judging outcomes


def test_matching_output_passes() -> None:
    s = Snippet("a", "print(1)", expect="1\n")
    assert judge(entry(s), s, outcome("1\n"), 10).status is Status.PASSED


def test_different_output_fails_with_a_diff_and_can_be_updated() -> None:
    s = Snippet("a", "print(2)", expect="1\n")
    r = judge(entry(s), s, outcome("2\n"), 10)
    assert r.status is Status.FAILED and "+2" in r.diff and r.expect_only


def test_an_unexpected_exception_is_an_error_with_its_type_and_message() -> None:
    s = Snippet("a", "x")
    r = judge(entry(s), s, outcome(exit_code=1, exc_type="NameError",
                                   exc_message="name 'x' is not defined"), 10)
    assert r.status is Status.ERROR
    assert r.reason == "raised NameError: name 'x' is not defined"
    assert (r.exc_type, r.exc_message) == ("NameError", "name 'x' is not defined")


def test_a_declared_exception_passes_and_keeps_the_real_message() -> None:
    s = Snippet("a", "...", raises=Raises("RuntimeError", r"shape '\[2\]' is invalid"))
    r = judge(entry(s), s, outcome(exit_code=1, exc_type="RuntimeError",
                                   exc_message="shape '[2]' is invalid for input of size 3"), 10)
    assert r.status is Status.PASSED
    assert r.exc_message == "shape '[2]' is invalid for input of size 3"


def test_a_declared_exception_that_does_not_come_fails() -> None:
    s = Snippet("a", "...", raises=Raises("RuntimeError", "x"))
    r = judge(entry(s), s, outcome(), 10)
    assert r.status is Status.FAILED and not r.expect_only
    assert r.reason == "expected RuntimeError to be raised; the snippet ended without it"


def test_a_shell_snippet_must_exit_zero() -> None:
    s = Snippet("a", "false", lang="sh")
    r = judge(entry(s), s, outcome(exit_code=1), 10)
    assert r.status is Status.ERROR and r.reason == "exited with status 1"


@pytest.mark.parametrize("kw, status, reason", [
    ({"timed_out": True, "signal": 9, "exit_code": None}, Status.TIMEOUT,
     "still running after 3 s"),
    ({"cut": "stdout over 256 KiB", "signal": 9, "exit_code": None}, Status.KILLED,
     "killed: stdout over 256 KiB"),
    ({"signal": 24, "exit_code": None}, Status.KILLED, "killed by SIGXCPU (CPU time limit)"),
    ({"setup_error": "mount: /tmp: EPERM", "exit_code": 125}, Status.ERROR,
     "the sandbox could not run it"),
])
def test_limits_and_sandbox_failures(kw: dict, status: Status, reason: str) -> None:
    s = Snippet("a", "...", expect="x")
    r = judge(entry(s), s, outcome(**kw), 3)
    assert r.status is status and r.reason.startswith(reason)


def test_select_snippets_by_name() -> None:
    e = entry(Snippet("one", "print(1)"), Snippet("two", "print(2)"))
    assert [s.name for _, s in select_snippets([e], "two")] == ["two"]
    with pytest.raises(NotFound, match="entry 'demo' has no snippet 'tow'; did you mean 'two'"):
        select_snippets([e], "tow")


# ---------------------------------------------------------------- through the sandbox


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as box:
        box.isolation()
        yield box


@linux_only
def test_run_entries_in_order_with_two_jobs(sandbox: Sandbox) -> None:
    e = entry(
        Snippet("slow", "import time; time.sleep(0.5); print('slow')", expect="slow"),
        Snippet("fast", "print('fast')", expect="fast"),
        Snippet("shell", "echo $((6 * 7))", lang="sh", expect="42"),
        Snippet("oops", "print('a')", expect="b"),
    )
    seen: list[str] = []
    report = run_entries([e], RunOptions(jobs=2), sandbox=sandbox,
                         on_result=lambda r: seen.append(r.snippet))
    assert [r.snippet for r in report.results] == ["slow", "fast", "shell", "oops"]
    assert [r.status for r in report.results] == [Status.PASSED] * 3 + [Status.FAILED]
    assert sorted(seen) == sorted(["slow", "fast", "shell", "oops"])
    assert report.failed and report.summary()["passed"] == 3


@linux_only
def test_unmet_requirements_are_skipped_never_passed(sandbox: Sandbox) -> None:
    e = entry(
        Snippet("net", "print(1)", expect="1", requires=("network",)),
        Snippet("gpu", "print(1)", expect="1", requires=("cuda",)),
        Snippet("missing", "print(1)", expect="1", requires=("module:no_such_module_kb",)),
        Snippet("present", "import json; print(1)", expect="1", requires=("module:json",)),
        Snippet("conda", "conda --version", lang="sh", requires=("conda",)),
    )
    report = run_entries([e], RunOptions(), sandbox=sandbox)
    got = {r.snippet: (r.status, r.reason) for r in report.results}
    assert got["net"] == (Status.SKIPPED, "needs the network; snippets run without one")
    assert got["gpu"][0] is Status.SKIPPED and "--gpu" in got["gpu"][1]
    assert got["missing"] == (Status.SKIPPED,
                              "needs the Python module 'no_such_module_kb' "
                              "(pip install no_such_module_kb)")
    assert got["present"][0] is Status.PASSED
    assert got["conda"][0] is Status.SKIPPED
    assert not report.failed


@linux_only
def test_a_module_older_than_required_is_skipped_with_both_versions(sandbox: Sandbox) -> None:
    """Output that only a recent pip prints: on an older one the snippet is skipped,
    never failed (issue 10: kb check passes on every install, or says why not)."""
    import importlib.metadata

    have = importlib.metadata.version("pip")
    e = entry(
        Snippet("recent-enough", "print(1)", expect="1", requires=("module:pip>=1.0",)),
        Snippet("from-the-future", "print(1)", expect="1", requires=("module:pip>=999.1",)),
    )
    report = run_entries([e], RunOptions(), sandbox=sandbox)
    got = {r.snippet: (r.status, r.reason) for r in report.results}
    assert got["recent-enough"][0] is Status.PASSED
    assert got["from-the-future"] == (
        Status.SKIPPED, f"needs pip >= 999.1, found {have} (pip install pip>=999.1)")


@linux_only
def test_a_module_imported_without_being_declared_is_still_a_need(sandbox: Sandbox) -> None:
    """The install users have lacks the `check` extra: a snippet that imports a missing
    module is skipped with its name and pip package, whether or not it declared it."""
    e = entry(
        Snippet("undeclared", "import no_such_module_kb\nprint(1)", expect="1"),
        Snippet("via-torch", "from torch.utils.tensorboard import SummaryWriter",
                expect=""),
        Snippet("guarded", "try:\n    import no_such_module_kb\nexcept ImportError:\n"
                           "    print('fallback')", expect="fallback"),
    )
    report = run_entries([e], RunOptions(), sandbox=sandbox)
    got = {r.snippet: (r.status, r.reason) for r in report.results}
    assert got["undeclared"] == (Status.SKIPPED, "needs the Python module 'no_such_module_kb' "
                                                 "(pip install no_such_module_kb)")
    assert got["guarded"][0] is Status.PASSED
    import importlib.util
    if importlib.util.find_spec("tensorboard") is None:
        assert got["via-torch"] == (Status.SKIPPED, "needs the Python module 'tensorboard' "
                                                    "(pip install tensorboard)")
    else:
        assert got["via-torch"][0] is Status.PASSED


@linux_only
def test_a_snippets_own_timeout_wins(sandbox: Sandbox) -> None:
    e = entry(Snippet("loop", "while True: pass", timeout=1.0))
    (r,) = run_entries([e], RunOptions(timeout_s=60), sandbox=sandbox).results
    assert r.status is Status.TIMEOUT and r.duration_s < 10


@linux_only
def test_strong_isolation_is_refused_when_only_weak_is_there() -> None:
    with Sandbox(disable=("namespaces",)) as weak, pytest.raises(IsolationError) as err:
        run_entries([entry(Snippet("a", "print(1)"))],
                    RunOptions(require_isolation="strong"), sandbox=weak)
    assert "strong isolation is required but only weak isolation is available" in str(err.value)
    assert err.value.exit_code == 4


# ---------------------------------------------------------------- --update-expected

YAML = """\
id: demo   # a comment that must stay
kind: api
title: "Demo"
summary: >
  folded text
snippets:
  - name: first
    code: |
      print(1)
    expect: |
      old

  # a comment between snippets
  - name: second
    code: print(2)
    expect: 'two'   # quoted on purpose
    tolerance: 0.1
  - name: third
    code: print(3)
"""


def failed(source: Path, name: str, stdout: str) -> object:
    from kb.runner import SnippetResult

    return SnippetResult(id="demo", snippet=name, status=Status.FAILED, stdout=stdout,
                         source=source, expect_only=True)


def test_update_rewrites_only_the_expect_blocks(tmp_path: Path) -> None:
    path = tmp_path / "demo.yaml"
    path.write_text(YAML, encoding="utf-8")
    updates = update_expected([failed(path, "first", "new 1\n  indented\n"),
                               failed(path, "second", "2\n"),
                               failed(path, "third", "three\n")])
    assert [u.snippet for u in updates] == ["first", "second", "third"]
    text = path.read_text(encoding="utf-8")
    assert text == YAML.replace("      old\n", "      new 1\n        indented\n").replace(
        "expect: 'two'", 'expect: "2\\n"').replace(
        "    code: print(3)\n", "    code: print(3)\n    expect: |\n      three\n")
    data = yaml.safe_load(text)
    assert [s.get("expect") for s in data["snippets"]] == ["new 1\n  indented\n", "2\n",
                                                          "three\n"]


def test_update_leaves_passing_and_erroring_snippets_alone(tmp_path: Path) -> None:
    from kb.runner import SnippetResult

    path = tmp_path / "demo.yaml"
    path.write_text(YAML, encoding="utf-8")
    errored = SnippetResult(id="demo", snippet="first", status=Status.ERROR, stdout="x",
                            source=path)
    assert update_expected([errored]) == []
    assert path.read_text(encoding="utf-8") == YAML


@pytest.mark.parametrize("output, block", [
    ("a\nb\n", "|\n  a\n  b\n"),
    ("  lead\nx\n", "|2\n    lead\n  x\n"),
    ("", '""\n'),
    ("bell\x07\n", '"bell\\u0007\\n"\n'),
])
def test_render_block(output: str, block: str) -> None:
    assert render_block(output, 0) == block
    assert yaml.safe_load(f"k: {block}")["k"].rstrip("\n") == output.rstrip("\n")


def test_update_keeps_the_file_when_the_snippet_is_gone(tmp_path: Path) -> None:
    from kb.errors import SourceError

    path = tmp_path / "demo.yaml"
    path.write_text(YAML, encoding="utf-8")
    with pytest.raises(SourceError, match="snippet 'gone' is not in the file"):
        update_expected([failed(path, "gone", "x\n")])
    assert path.read_text(encoding="utf-8") == YAML


@pytest.mark.parametrize("req, found, gpu, reason", [
    ("cuda", {}, False, "needs a GPU (cuda); run with --gpu on a machine that has one"),
    ("cuda", {"cuda": False}, True, "needs CUDA; torch.cuda.is_available() is False"),
    ("cuda", {"cuda": True, "gpus": 1}, True, None),
    ("multi-gpu", {"cuda": True, "gpus": 1}, True, "needs 2 or more GPUs; found 1"),
    ("multi-gpu", {"cuda": True, "gpus": 2}, True, None),
    ("nvidia-smi", {"commands": {"nvidia-smi": True}}, True, None),
    ("module:tqdm", {"modules": {"tqdm": True}}, False, None),
    ("network", {}, True, "needs the network; snippets run without one"),
    ("quantum", {}, False, "unknown requirement 'quantum'"),
])
def test_requirement_reasons(req: str, found: dict, gpu: bool, reason: str | None) -> None:
    from kb.runner import _unmet

    assert _unmet(req, found, gpu) == reason
