"""`kb check NOTE`, `kb new` and `kb import` as a user runs them (issue #17)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from typer.testing import CliRunner

from kb.cli import app

from ..conftest import run_kb
from ..notes.conftest import MARKDOWN, NOTEBOOK, write

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux sandbox")
runner = CliRunner()
SEEDS = Path(__file__).resolve().parent.parent / "data" / "seeds"
WRONG = """\
# My notes

```python
import torch
x = torch.zeros(2, 3)
x.shape  # torch.Size([3, 2])
x.sum()  # tensor(0.)
```
"""


def test_wrong_shape_reported_and_fixed(tmp_path: Path) -> None:
    note = write(tmp_path, "my-notes.md", WRONG)
    junit = tmp_path / "j.xml"
    result = runner.invoke(app, ["check", str(note), "--junit", str(junit)])
    assert result.exit_code == 1, result.output
    assert f"{note}:6: claimed torch.Size([3, 2]), got torch.Size([2, 3])" in result.stdout
    assert "  x.shape" in result.stdout
    assert "1 note: 2 claims: 1 right, 1 wrong, 0 unchecked" in result.stdout
    case = ET.parse(junit).getroot().find("testcase/failure")
    assert case is not None and "torch.Size([2, 3])" in case.attrib["message"]
    fixed = runner.invoke(app, ["check", str(note), "--fix"])
    assert fixed.exit_code == 0, fixed.output
    assert note.read_text(encoding="utf-8") == WRONG.replace("([3, 2])", "([2, 3])")
    assert runner.invoke(app, ["check", str(note)]).exit_code == 0


def test_json_and_fix_of_a_stale_notebook(tmp_path: Path) -> None:
    nb = write(tmp_path, "n.ipynb", NOTEBOOK)
    result = runner.invoke(app, ["check", str(nb), "--json"])
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert set(data) == {"isolation", "results", "notes", "summary"}
    wrong = [r for r in data["results"] if r["status"] == "wrong"]
    assert {tuple(sorted(r)) for r in wrong} == {tuple(sorted(
        ["file", "line", "expr", "claimed", "actual", "status", "kind", "reason"]))}
    assert [(r["expr"], r["actual"]) for r in wrong] == [
        ("cell 3", "tensor(15)"), ("x.is_contiguous()", "True")]
    before = nb.read_text(encoding="utf-8")
    assert runner.invoke(app, ["check", str(nb), "--fix"]).exit_code == 0
    after = nb.read_text(encoding="utf-8")
    assert after == before.replace('"tensor(16)\\n"', '"tensor(15)\\n"').replace(
        "x.is_contiguous()  # False", "x.is_contiguous()  # True")
    assert runner.invoke(app, ["check", str(nb)]).exit_code == 0


def test_markdown_fix_changes_only_the_claims(tmp_path: Path) -> None:
    note = write(tmp_path, "n.md", MARKDOWN)
    assert runner.invoke(app, ["check", str(note), "--fix"]).exit_code == 0
    text = note.read_text(encoding="utf-8")
    assert text == MARKDOWN.replace("torch.Size([8, 16, 32, 32])", "torch.Size([8, 16, 30, 30])"
                                    ).replace(">>> torch.ones(2).sum()\ntensor(3.)",
                                              ">>> torch.ones(2).sum()\ntensor(2.)")


@pytest.mark.parametrize("data, code, message", [
    (b"\xff\xfe", 3, "bad.txt:1: not UTF-8"),
])
def test_bad_input_one_line_no_traceback(tmp_path: Path, data: bytes, code: int,
                                         message: str) -> None:
    (tmp_path / "bad.txt").write_bytes(data)
    result = runner.invoke(app, ["check", str(tmp_path / "bad.txt")])
    assert result.exit_code == code
    assert message in result.stderr and "Traceback" not in result.output + result.stderr


def test_missing_and_unknown_paths(tmp_path: Path) -> None:
    assert runner.invoke(app, ["check", str(tmp_path / "nope.md")]).exit_code == 2
    (tmp_path / "x.csv").write_text("a,b\n")
    result = runner.invoke(app, ["check", str(tmp_path / "x.csv")])
    assert result.exit_code == 2 and "not a note" in result.stderr


def test_every_seed_runs_without_a_traceback() -> None:
    result = run_kb("check", str(SEEDS), "--json", timeout=600)
    assert "Traceback" not in result.stderr and result.returncode == 1, result.stderr
    data = json.loads(result.stdout)
    wrong = [(Path(r["file"]).name, r["line"], r["actual"]) for r in data["results"]
             if r["status"] == "wrong"]
    assert wrong == [("004_d31c7e761ffad68e.txt", 85, "torch.Size([256, 3, 217, 217])")]
    assert data["summary"]["notes"] == 5


def test_import_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KB_BUILTIN", "0")
    note = write(tmp_path, "n.md", MARKDOWN)
    drafts = tmp_path / "drafts"
    result = runner.invoke(app, ["import", str(note), "--dir", str(drafts)])
    assert result.exit_code == 0, result.output
    assert "0 error(s)" in result.stdout
    files = sorted(p.stem for p in drafts.glob("*.yaml"))
    assert files == ["printing", "shapes"]
    shapes = (drafts / "shapes.yaml").read_text(encoding="utf-8")
    assert "torch.Size([8, 16, 30, 30])" in shapes  # expect from the run
    assert "was claimed to give `torch.Size([8, 16, 32, 32])`" in shapes  # listed for review
    check = runner.invoke(app, ["check", "--entries", str(drafts), *files])
    assert check.exit_code == 0, check.output
    assert "failed" not in check.stdout


def test_new_writes_a_skeleton_that_lints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    monkeypatch.setenv("KB_PATH", str(tmp_path / "mine"))
    for kind in ("api", "concept", "command", "error"):
        result = runner.invoke(app, ["new", f"my-{kind}", "--kind", kind])
        assert result.exit_code == 0, result.output
        assert (tmp_path / "mine" / f"my-{kind}.yaml").exists()
    again = runner.invoke(app, ["new", "my-api"])
    assert again.exit_code == 3
    assert "already exists" in " ".join(again.stderr.split())  # a long path wraps the line


def test_check_note_as_a_subprocess(tmp_path: Path) -> None:
    note = write(tmp_path, "my-notes.md", WRONG)
    result = run_kb("check", str(note))
    assert result.returncode == 1
    assert "claimed torch.Size([3, 2]), got torch.Size([2, 3])" in result.stdout
