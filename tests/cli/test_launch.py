"""kb.launch: the console script's way in without typer for search, show and explain.

Its table of options must be typer's (compared here with the click commands typer
builds), it must take the common invocations itself, and whatever it takes must give
exactly what typer gives: the same stdout, stderr and exit code on the same arguments.
"""

from __future__ import annotations

import io
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import click
import pytest
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from kb import launch
from kb.cli import app

from ..conftest import ROOT, run_kb

runner = CliRunner()


def _takes(param: click.Option) -> str:
    if param.is_flag:
        return launch.FLAG
    if isinstance(param.type, click.Path):
        # click.Path refuses only paths that exist and cannot be read: what _convert checks
        assert (param.type.exists, param.type.readable, param.type.allow_dash) == (
            False, True, False)
        return launch.REPEAT if param.multiple else launch.PATH
    if isinstance(param.type, click.IntRange):
        assert (param.type.min, param.type.max, param.type.min_open) == (1, None, False)
        return launch.COUNT
    assert param.type is click.STRING and not param.multiple, param
    return launch.TEXT


@pytest.mark.parametrize("name", sorted(launch.COMMANDS))
def test_the_table_is_typers_declaration(name: str) -> None:
    command = typer.main.get_command(app).commands[name]  # type: ignore[attr-defined]
    positional, least, most, options = launch.COMMANDS[name]
    declared = {}
    for param in command.params:
        if isinstance(param, click.Argument):
            assert param.name == positional
            assert (least, most) == ((1 if param.required else 0, None) if param.nargs == -1
                                     else (1 if param.required else 0, 1))
        elif isinstance(param, click.Option) and param.name != "help":
            for opt in [*param.opts, *param.secondary_opts]:
                declared[opt] = (param.name, _takes(param))
    assert declared == options


def _fast(args: list[str]) -> tuple[int, str, str]:
    call = launch.parse(args, {})
    assert call is not None, f"kb.launch should take {args}"
    out, err, stdin = io.StringIO(), io.StringIO(), sys.stdin
    sys.stdin = io.StringIO("")  # as CliRunner gives: an empty pipe
    try:
        with redirect_stdout(out), redirect_stderr(err):
            code = launch.run(*call)
    finally:
        sys.stdin = stdin
    return code, out.getvalue(), err.getvalue()


def _typer(args: list[str]) -> tuple[int, str, str]:
    result = runner.invoke(app, args)
    return result.exit_code, result.stdout, result.stderr


COMMON = [
    ["search", "conv2d"],
    ["search", "view", "memory", "--json"],
    ["search", "tensor", "-n", "2", "--kind", "api"],
    ["search", "--limit=1", "卷积", "--lang", "zh"],
    ["search", "tar", "-t", "remote"],
    ["search", "nothing-like-this-anywhere"],
    ["search", "x", "--kind", "nonsense"],
    ["show", "view-reshape"],
    ["show", "view-reshape", "--json", "--lang", "zh"],
    ["show", "view-reshap"],
    ["explain", "RuntimeError: mat1 and mat2 shapes cannot be multiplied (64x512 and 256x10)"],
    ["explain", "-bash: conda: command not found", "--why"],
    ["explain", "--full", "--json", "RuntimeError: CUDA error: out of memory"],
    ["explain", "nothing like an error at all"],
    ["explain", "--capture", "x"],
    ["explain", "-f", "no-such.log"],
]


@pytest.mark.parametrize("args", COMMON, ids=" ".join)
def test_common_invocations_skip_typer_and_answer_as_typer_does(
        fixture_kb: Path, args: list[str]) -> None:
    assert _fast(args) == _typer(args)


@pytest.mark.parametrize("args", [
    [], ["--help"], ["list"], ["search"], ["search", "-h", "x"], ["search", "--", "-x"],
    ["search", "-n5", "x"], ["search", "-n=5", "x"], ["search", "-n", "0", "x"],
    ["search", "-n", "two", "x"], ["search", "x", "--json=1"], ["search", "x", "--kind"],
    ["search", "x", "-k", "-t"], ["show"], ["show", "a", "b"], ["explain", "a", "b"],
    ["explain", "--", "python", "train.py"], ["explain", "--unknown"],
])
def test_anything_else_is_typers(args: list[str]) -> None:
    assert launch.parse(args, {}) is None


def test_shell_completion_is_typers() -> None:
    assert launch.parse(["search", "x"], {"_KB_COMPLETE": "complete_bash"}) is None


WORDS = st.sampled_from(["conv2d", "view", "tar", "卷积", "reshape", "x", "-", "",
                         "view-reshape", "err-conv-channels", "-bash: conda: not found"])
OPTIONS = st.sampled_from(["--json", "--kind", "-k", "api", "error", "--tag", "-t", "remote",
                           "--limit", "-n", "1", "3", "0", "--lang", "zh", "en", "fr",
                           "--full", "--why", "--entries", "--limit=2", "--lang=zh", "-x",
                           "--file", "-f", "--capture"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(command=st.sampled_from(sorted(launch.COMMANDS)),
       rest=st.lists(st.one_of(WORDS, OPTIONS), max_size=5))
def test_whatever_it_takes_gives_what_typer_gives(fixture_kb: Path, command: str,
                                                  rest: list[str]) -> None:
    args = [command, *rest]
    if launch.parse(args, {}) is not None:
        assert _fast(args) == _typer(args)


def test_the_console_script_is_kb_launch() -> None:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'kb = "kb.launch:main"' in text


def test_a_command_leaves_typer_and_click_unimported(fixture_kb: Path) -> None:
    probe = ("import atexit, sys\n"
             "atexit.register(lambda: print(sorted(m for m in ('typer', 'click') "
             "if m in sys.modules), file=sys.stderr))\n"
             "sys.argv = ['kb', *sys.argv[1:]]\nfrom kb.launch import main\nmain()\n")
    for args in (["search", "conv2d"], ["show", "view-reshape"], ["explain", "x y z"]):
        result = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True,
                                text=True, timeout=120)
        assert result.stderr.strip().splitlines()[-1] == "[]", result.stderr
    result = subprocess.run([sys.executable, "-c", probe, "search", "--help"],
                            capture_output=True, text=True, timeout=120)
    assert result.stderr.strip().splitlines()[-1] == "['click', 'typer']"  # typer's to answer


def test_a_closed_pipe_ends_quietly_with_1() -> None:
    """`kb list | head -1`: the reader goes away; no traceback, no "Exception ignored"."""
    proc = subprocess.Popen([sys.executable, "-m", "kb", "list"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=ROOT)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 1
    assert err == ""


def test_output_and_exit_code_survive_the_quick_exit(fixture_kb: Path) -> None:
    result = run_kb("search", "nothing-like-this-anywhere")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.startswith("kb: nothing matches")
    result = run_kb("show", "view-reshape", "--json")
    assert result.returncode == 0 and result.stdout.rstrip().endswith("}")
