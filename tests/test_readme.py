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


HEADING = re.compile(r"^### (.*`kb .*)$", re.M)
SPAN = re.compile(r"`kb (\w+)([^`]*)`")
OPTION = re.compile(r"(?<![\w-])--[a-z][\w-]*")  # not the bare `--` before a command


def test_readme_synopses_name_every_option_typer_has() -> None:
    """Each `### kb CMD ...` heading is a synopsis: together, a command's headings name
    exactly the options typer gives it (issue 11), so the README cannot drift from
    --help."""
    import click
    from typer.main import get_command

    group = get_command(app)
    assert isinstance(group, click.Group)
    named: dict[str, set[str]] = {}
    for heading in HEADING.findall(README.read_text(encoding="utf-8")):
        for command, synopsis in SPAN.findall(heading):
            named.setdefault(command, set()).update(OPTION.findall(synopsis))
    assert len(named) >= 8
    for command, options in sorted(named.items()):
        params = group.commands[command].params
        real = {opt for p in params if isinstance(p, click.Option)
                for opt in p.opts + p.secondary_opts if opt.startswith("--")} - {"--help"}
        assert options == real, (f"README synopsis of `kb {command}`: missing "
                                 f"{sorted(real - options)}, unknown {sorted(options - real)}")
