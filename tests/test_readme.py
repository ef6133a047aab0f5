"""The README's example commands print what the README says (rerun with --update-golden)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kb.cli import app

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"```console\n\$ kb (?P<cmd>[^\n]*)\n(?P<out>.*?)```", re.S)


TIMES = re.compile(r"\b\d+\.\d+ s\b")


def masked(text: str) -> str:
    """Durations differ from run to run; everything else must match."""
    return TIMES.sub("#.## s", text)


def render(cmd: str) -> str:
    result = CliRunner().invoke(app, shlex.split(cmd), env={"COLUMNS": "80"}, prog_name="kb")
    return result.stdout + result.stderr


def test_readme_examples_are_real_output(request: pytest.FixtureRequest) -> None:
    text = README.read_text(encoding="utf-8")
    blocks = list(BLOCK.finditer(text))
    assert len(blocks) >= 4
    if request.config.getoption("--update-golden"):
        text = BLOCK.sub(lambda m: f"```console\n$ kb {m['cmd']}\n{render(m['cmd'])}```", text)
        README.write_text(text, encoding="utf-8")
        return
    for m in blocks:
        assert masked(render(m["cmd"])) == masked(m["out"]), \
            f"README block `kb {m['cmd']}` is out of date; " \
            "rerun pytest tests/test_readme.py --update-golden"


def test_readme_lists_every_lint_rule() -> None:
    from kb.schema import RULES

    text = README.read_text(encoding="utf-8")
    for code, rule in RULES.items():
        assert f"| {code} | {rule} |" in text
