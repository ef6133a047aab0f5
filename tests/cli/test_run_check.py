"""`kb run` and `kb check` as a user runs them: CliRunner and the real command."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from typer.testing import CliRunner

from kb.cli import app

from ..conftest import run_kb

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux sandbox")

runner = CliRunner()

ENTRIES = {
    "demo-ok": """\
        id: demo-ok
        kind: api
        title: A passing entry
        summary: Its snippets print what they claim.
        snippets:
          - name: shape
            code: |
              import torch
              print(torch.zeros(2, 3).shape)
            expect: |
              torch.Size([2, 3])
          - name: shell
            lang: sh
            code: |
              mkdir -p d && echo hi > d/f && cat d/f
            expect: |
              hi
        """,
    "demo-bad": """\
        id: demo-bad
        kind: api
        title: A failing entry   # a comment that --update-expected keeps
        summary: Its note drifted from what torch prints.
        snippets:
          - name: drifted
            code: |
              import torch
              print(torch.ones(3).sum())
            expect: |
              tensor(4.)
        """,
    "demo-raises": """\
        id: demo-raises
        kind: api
        title: An entry whose snippet raises
        summary: Its snippet reproduces the real message.
        snippets:
          - name: reproduce
            code: |
              import torch
              torch.arange(6).view(4, 2)
            raises:
              type: RuntimeError
              match: "shape '\\\\[4, 2\\\\]' is invalid for input of size 6"
          - name: on-a-gpu
            code: print(1)
            requires: [cuda]
        """,
}


@pytest.fixture
def kb_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A knowledge base of three entries and nothing else."""
    directory = tmp_path / "entries"
    directory.mkdir()
    for name, text in ENTRIES.items():
        (directory / f"{name}.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
    monkeypatch.setenv("KB_BUILTIN", "0")
    monkeypatch.setenv("KB_PATH", str(directory))
    return directory


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_run_shows_code_output_and_pass(kb_dir: Path) -> None:
    import tempfile

    leftovers = {p.name for p in Path(tempfile.gettempdir()).glob("kb-run-*")}
    result = invoke("run", "demo-ok")
    assert {p.name for p in Path(tempfile.gettempdir()).glob("kb-run-*")} == leftovers
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert out.startswith("isolation: strong (")
    assert "── demo-ok / shape (python)" in out and "print(torch.zeros(2, 3).shape)" in out
    assert "output:\n  torch.Size([2, 3])\nPASSED" in out
    assert "── demo-ok / shell (sh)" in out
    assert out.rstrip().splitlines()[-1].startswith("2 snippets: 2 passed in ")


def test_run_shows_the_diff_and_fails(kb_dir: Path) -> None:
    result = invoke("run", "demo-bad")
    assert result.exit_code == 1
    assert "output differs from expect" in result.stdout
    assert "-tensor(4.)" in result.stdout and "+tensor(3.)" in result.stdout
    assert "FAILED" in result.stdout


def test_run_one_snippet_and_an_unknown_id(kb_dir: Path) -> None:
    result = invoke("run", "demo-ok", "--snippet", "shell", "--json")
    assert result.exit_code == 0
    assert [r["snippet"] for r in json.loads(result.stdout)["results"]] == ["shell"]
    result = invoke("run", "demo-o")
    assert result.exit_code == 1
    assert result.stderr.strip() == "kb: no entry 'demo-o'; did you mean 'demo-ok'?"


def test_run_json_shape(kb_dir: Path) -> None:
    result = invoke("run", "demo-raises", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {"id", "isolation", "results"}
    assert data["id"] == "demo-raises"
    assert set(data["isolation"]) == {"level", "layers", "missing"}
    assert data["isolation"]["level"] in ("strong", "weak")
    first, second = data["results"]
    assert set(first) == {"snippet", "status", "stdout", "expected", "diff", "duration_s",
                          "lang", "reason", "stderr", "exc_type", "exc_message", "source"}
    assert first["status"] == "passed" and first["exc_type"] == "RuntimeError"
    assert first["exc_message"] == "shape '[4, 2]' is invalid for input of size 6"
    assert second["status"] == "skipped" and "cuda" in second["reason"]


def test_check_json_junit_and_summary(kb_dir: Path, tmp_path: Path) -> None:
    junit = tmp_path / "report.xml"
    result = invoke("check", "--json", "--junit", str(junit), "--jobs", "2")
    assert result.exit_code == 1  # demo-bad fails
    data = json.loads(result.stdout)
    assert set(data) == {"isolation", "results", "summary"}
    assert [(r["id"], r["snippet"], r["status"]) for r in data["results"]] == [
        ("demo-bad", "drifted", "failed"), ("demo-ok", "shape", "passed"),
        ("demo-ok", "shell", "passed"), ("demo-raises", "reproduce", "passed"),
        ("demo-raises", "on-a-gpu", "skipped")]
    summary = data["summary"]
    assert {k: summary[k] for k in ("total", "passed", "failed", "error", "timeout", "killed",
                                    "skipped")} == {"total": 5, "passed": 3, "failed": 1,
                                                    "error": 0, "timeout": 0, "killed": 0,
                                                    "skipped": 1}
    suite = ET.parse(junit).getroot()
    assert suite.get("tests") == "5" and suite.get("failures") == "1"
    assert suite.get("skipped") == "1" and len(suite.findall("testcase")) == 5


def test_check_text_lists_failures_first(kb_dir: Path) -> None:
    result = invoke("check", "demo-ok", "demo-bad", "--kind", "api")
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith("isolation:")
    statuses = [line for line in lines if line.split(" ")[0] in
                ("PASSED", "FAILED", "ERROR", "TIMEOUT", "KILLED", "SKIPPED")]
    assert len(statuses) == 1  # passes are only counted; the failure comes first
    assert statuses[0].startswith("FAILED") and "demo-bad / drifted" in statuses[0]
    assert "demo-bad.yaml:6" in " ".join(lines)
    assert lines[-1].startswith("3 snippets: 2 passed, 1 failed in ")


def test_check_update_expected_rewrites_only_expect(kb_dir: Path) -> None:
    path = kb_dir / "demo-bad.yaml"
    before = path.read_text(encoding="utf-8")
    result = invoke("check", "demo-bad", "--update-expected")
    assert result.exit_code == 0, result.output
    flat = " ".join(result.stdout.split())  # a long temporary path wraps the line
    assert "updated " in flat and "demo-bad / drifted" in flat
    assert path.read_text(encoding="utf-8") == before.replace("tensor(4.)", "tensor(3.)")
    assert invoke("check", "demo-bad").exit_code == 0


def test_check_unknown_id_and_kind(kb_dir: Path) -> None:
    result = invoke("check", "demo-okk")
    assert result.exit_code == 1
    assert "did you mean 'demo-ok'?" in result.stderr
    assert invoke("check", "--kind", "nope").exit_code == 2


def test_strong_isolation_required_but_missing(kb_dir: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KB_SANDBOX_DISABLE", "namespaces")
    result = invoke("check", "demo-ok", "--require-isolation", "strong")
    assert result.exit_code == 4
    message = " ".join(result.stderr.split())
    assert "kb: strong isolation is required but only weak isolation is available" in message
    assert message.endswith("or pass --require-isolation any")
    result = invoke("run", "demo-ok")  # "any" runs, and says how weak it is
    assert result.exit_code == 0
    assert result.stdout.startswith("isolation: weak (")
    assert "without namespaces: disabled by KB_SANDBOX_DISABLE" in result.stdout


def test_the_real_command(kb_dir: Path) -> None:
    result = run_kb("run", "demo-ok")
    assert result.returncode == 0, result.stderr
    assert "2 snippets: 2 passed" in result.stdout


def test_run_and_check_never_import_torch_in_kb(kb_dir: Path, tmp_path: Path) -> None:
    code = textwrap.dedent("""
        import sys
        from kb.cli import app
        for args in (["run", "demo-ok"], ["check", "demo-okk"]):
            try:
                app(args)
            except SystemExit:
                pass
        print("torch" in sys.modules, file=sys.stderr)
        """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)
    assert proc.stderr.strip().splitlines()[-1] == "False", proc.stderr
