"""Closing the loop on a miss (issue 16 item 7): `kb explain` finds nothing and offers
`kb new --from-error`, which writes a user entry that lints and that `kb explain` then
answers with, first. With the built-in entries, as a user has them."""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from kb.cli import app

from ..conftest import run_kb

runner = CliRunner()

# Real code raising a real exception that no built-in entry explains (torch's
# lr_scheduler.py: raise ValueError(f"Expected positive integer T_0, but got {T_0}")).
SCHEDULER = """\
import torch
opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0={t0})
"""
MESSAGE = "ValueError: Expected positive integer T_0, but got 0"
HIT = "RuntimeError: mat1 and mat2 shapes cannot be multiplied (64x512 and 256x10)"


@cache
def raised(code: str) -> str:
    """The traceback the installed torch prints (in a child: kb's tests never import torch)."""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 1 and "Traceback (most recent call last)" in run.stderr
    return run.stderr


def traceback_of(t0: int) -> str:
    return raised(SCHEDULER.format(t0=t0))


def one_error_line(stderr: str) -> str:
    """The message kb printed: one `kb:` line (wrapped at the width), no traceback."""
    assert stderr.count("kb: ") == 1 and "Traceback" not in stderr, stderr
    return " ".join(stderr.split())


@pytest.fixture
def mine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user's own entries directory, on KB_PATH."""
    monkeypatch.setenv("KB_PATH", str(tmp_path / "mine"))
    return tmp_path / "mine"


def written(output: str) -> Path:
    line = next(ln for ln in output.splitlines() if ln.startswith("wrote "))
    return Path(line.removeprefix("wrote "))


# ---------------------------------------------------------------- the offer on a miss


def test_a_miss_offers_the_command_that_writes_an_entry(mine: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["explain", MESSAGE])
    assert result.exit_code == 1
    err = " ".join(result.stderr.split())
    assert "kb: no entry matches this error" in err
    assert f"kb: to write an entry for it: kb new --from-error '{MESSAGE}'" in err
    log = tmp_path / "train.log"
    log.write_text(traceback_of(0), encoding="utf-8")
    result = runner.invoke(app, ["explain", "--file", str(log)])
    assert result.exit_code == 1
    assert f"kb new --from-error --file {log}" in " ".join(result.stderr.split())
    result = runner.invoke(app, ["explain"], input=traceback_of(0))
    assert result.exit_code == 1
    assert "pipe the same text to kb new --from-error" in " ".join(result.stderr.split())


def test_no_offer_on_a_hit_nor_with_json(mine: Path) -> None:
    hit = runner.invoke(app, ["explain", HIT])
    assert hit.exit_code == 0 and "kb new" not in hit.stderr + hit.stdout
    as_json = runner.invoke(app, ["explain", "--json", MESSAGE])
    assert as_json.exit_code == 1 and json.loads(as_json.stdout) == []
    assert as_json.stderr == ""


# ---------------------------------------------------------------- kb new --from-error


def test_the_entry_written_lints_and_explain_then_answers_with_it_first(mine: Path) -> None:
    result = runner.invoke(app, ["new", "--from-error", MESSAGE])
    assert result.exit_code == 0, result.output
    path = written(result.stdout)
    assert path.parent == mine and path.name == "err-value-expected-positive-integer-got.yaml"
    assert "1 entries in 1 files: 0 error(s)" in result.stdout
    text = path.read_text(encoding="utf-8")
    assert "- 'ValueError: Expected positive integer T_0, but got 0'\n" in text  # examples:
    assert "- Expected positive integer T_0, but got (?P<got>\\d+)\n" in text  # patterns:
    assert text.count("TODO") == 4  # title, summary, causes, fix
    assert runner.invoke(app, ["lint", str(mine)]).exit_code == 0
    # the same error, and the same with another number, now answer with it, first
    for paste in (traceback_of(0), traceback_of(-3).replace("-3", "7")):
        answer = runner.invoke(app, ["explain", "--json", paste])
        assert answer.exit_code == 0, answer.output
        best = json.loads(answer.stdout)[0]
        assert best["id"] == path.stem and best["how"] == "pattern" and best["score"] == 1.0
    assert best["captures"] == {"got": 7}
    assert "kb new" not in runner.invoke(app, ["explain", MESSAGE]).stderr


def test_from_a_pipe_or_a_log_file_and_ids_are_never_reused(mine: Path, tmp_path: Path
                                                            ) -> None:
    piped = runner.invoke(app, ["new", "--from-error"], input=traceback_of(0))
    assert piped.exit_code == 0, piped.output
    log = tmp_path / "train.log"
    log.write_text("epoch 1 loss 0.3\n" + traceback_of(0), encoding="utf-8")
    again = runner.invoke(app, ["new", "--from-error", "--file", str(log)])
    assert again.exit_code == 0, again.output
    first, second = written(piped.stdout), written(again.stdout)
    assert second.stem == f"{first.stem}-2"  # the first file is left as it was
    named = runner.invoke(app, ["new", "err-t0-positive", "--from-error", "-"],
                          input=traceback_of(0))
    assert named.exit_code == 0 and written(named.stdout) == mine / "err-t0-positive.yaml"
    assert runner.invoke(app, ["lint", "--entries", str(mine), str(mine)]).exit_code == 0


@pytest.mark.parametrize(("code", "again", "pattern", "captures"), [
    ("torch.nn.Linear(2, 3).get_parameter('weights')",
     "torch.nn.Linear(8, 8).get_parameter('bais')",
     r"Linear has no attribute `(?P<attribute>[^`\n]+)`", {"attribute": "bais"}),
    ("torch.zeros(2, 3).unflatten(1, (2, 2))", "torch.zeros(4, 5, 6).unflatten(2, (4, 4))",
     r"unflatten: Provided sizes \[(?P<sizes>[-\d, ]+)\] don't multiply up to the size of dim "
     r"(?P<dim>\d+) \((?P<n1>\d+)\) in the input tensor",
     {"sizes": [4, 4], "dim": 2, "n1": 6}),
])
def test_names_and_sizes_become_groups_that_match_the_error_with_other_values(
        mine: Path, code: str, again: str, pattern: str, captures: dict[str, object]) -> None:
    """Real torch errors: `Linear has no attribute `weights``, unflatten's sizes."""
    result = runner.invoke(app, ["new", "--from-error", "-"],
                           input=raised(f"import torch; {code}"))
    assert result.exit_code == 0, result.output
    path = written(result.stdout)
    assert yaml.safe_load(path.read_text(encoding="utf-8"))["patterns"] == [pattern]
    answer = runner.invoke(app, ["explain", "--json", raised(f"import torch; {again}")])
    best = json.loads(answer.stdout)[0]
    assert best["id"] == path.stem and best["captures"] == captures


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(("args", "stdin", "code", "says"), [
    (["--from-error", ""], None, 2, "kb: the input is empty: pass the error in quotes"),
    (["--from-error", "-"], "  \n", 2, "kb: the input is empty"),
    (["--from-error", "'x' 3 [1, 2]"], None, 2, "too little fixed text"),
    (["--from-error", "--file", "/nonexistent/train.log"], None, 3,
     "kb: cannot read /nonexistent/train.log"),
    (["--file", "train.log"], None, 2, "--file LOG is read with --from-error"),
    (["--kind", "api", "--from-error", MESSAGE], None, 2, "--from-error writes an error entry"),
    (["Not-Kebab", "--from-error", MESSAGE], None, 2, "is not a kebab-case id"),
    ([], None, 2, "give the new entry's id"),
])
def test_bad_input_is_one_line_and_a_non_zero_exit(mine: Path, args: list[str],
                                                   stdin: str | None, code: int, says: str
                                                   ) -> None:
    result = runner.invoke(app, ["new", *args], input=stdin)
    assert result.exit_code == code, result.output
    assert says in one_error_line(result.stderr)
    assert not mine.exists() or not list(mine.iterdir())


def test_an_existing_id_or_an_unwritable_directory(mine: Path, tmp_path: Path) -> None:
    assert runner.invoke(app, ["new", "err-mine", "--from-error", MESSAGE]).exit_code == 0
    before = (mine / "err-mine.yaml").read_text(encoding="utf-8")
    again = runner.invoke(app, ["new", "err-mine", "--from-error", HIT])
    assert again.exit_code == 3
    assert "err-mine.yaml already exists; edit it, or choose another id" in \
        one_error_line(again.stderr)
    assert (mine / "err-mine.yaml").read_text(encoding="utf-8") == before
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    for directory in (blocker, blocker / "sub"):
        result = runner.invoke(app, ["new", "--dir", str(directory), "--from-error", MESSAGE])
        assert result.exit_code == 3
        assert f"kb: cannot write {directory}/" in one_error_line(result.stderr)


# ---------------------------------------------------------------- as a user runs it


def test_the_loop_as_a_subprocess(tmp_path: Path) -> None:
    env = {"KB_PATH": str(tmp_path / "mine")}
    log = tmp_path / "train.log"
    log.write_text(traceback_of(0), encoding="utf-8")
    miss = run_kb("explain", "--file", str(log), env=env)
    assert miss.returncode == 1
    offer = " ".join(miss.stderr.split())
    assert f"kb: to write an entry for it: kb new --from-error --file {log}" in offer
    new = run_kb("new", "--from-error", "--file", str(log), env=env)
    assert new.returncode == 0, new.stderr
    path = written(new.stdout)
    assert path.parent == tmp_path / "mine" and "0 error(s)" in new.stdout
    hit = run_kb("explain", "--file", str(log), env=env)
    assert hit.returncode == 0, hit.stderr
    assert hit.stdout.splitlines()[2].startswith(path.stem)
    piped = run_kb("new", "--from-error", env=env, input="")
    assert piped.returncode == 2 and "Traceback" not in piped.stderr
    assert piped.stderr.startswith("kb: the input is empty")
