"""`kb explain` as a user runs it: TEXT, `-`, a pipe, --file, `-- CMD`, --json, --lang.
Entries are written to a temporary directory (KB_BUILTIN=0), so the answers are fixed."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kb.cli import app

from .conftest import run_kb

runner = CliRunner()

MAT_ENTRY = """\
id: err-mat-shapes
kind: error
title: "mat1 and mat2 shapes cannot be multiplied"
summary: A Linear layer got an input whose last dim differs from its in_features.
zh:
  title: "mat1 和 mat2 的形状无法相乘"
  summary: Linear 层的输入最后一维与 in_features 不一致。
causes:
  - The flattened size differs from in_features.
fix: |
  Build the layer with the real size: `nn.Linear(n, out)`.
patterns:
  - 'mat1 and mat2 shapes cannot be multiplied \\((?P<mat1>\\d+x\\d+) and (?P<mat2>\\d+x\\d+)\\)'
hints:
  - when: 'mat1[1] != mat2[0]'
    en: >-
      the flattened input has {mat1[1]} features; the Linear layer expects {mat2[0]}:
      use nn.Linear({mat1[1]}, ...)
    zh: '展平后的输入有 {mat1[1]} 个特征，而该 Linear 层需要 {mat2[0]} 个'
"""
MESSAGE = "RuntimeError: mat1 and mat2 shapes cannot be multiplied (64x512 and 256x10)"
HINT = "the flattened input has 512 features; the Linear layer expects 256: use nn.Linear(512, ...)"


@pytest.fixture
def kb_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KB_BUILTIN", "0")
    directory = tmp_path / "entries"
    directory.mkdir()
    (directory / "err-mat-shapes.yaml").write_text(MAT_ENTRY, encoding="utf-8")
    monkeypatch.setenv("KB_PATH", str(directory))
    return directory


def invoke(*args: str, input: str | None = None):
    return runner.invoke(app, ["explain", *args], input=input)


def test_text_argument_is_explained_with_the_users_numbers(kb_dir: Path) -> None:
    result = invoke(MESSAGE)
    assert result.exit_code == 0, result.output
    assert "err-mat-shapes" in result.stdout
    assert HINT in " ".join(result.stdout.split())
    assert "kb show err-mat-shapes" in result.stdout


def test_the_short_answer_is_the_error_the_hint_and_the_first_step(kb_dir: Path) -> None:
    expected = textwrap.dedent("""\
        Error: RuntimeError: mat1 and mat2 shapes cannot be multiplied (64x512 and 256x10)

        err-mat-shapes  mat1 and mat2 shapes cannot be multiplied  (matched, 1.00)
        In your case: <HINT>
        Fix, first step: Build the layer with the real size: nn.Linear(n, out).
        More: kb show err-mat-shapes, or kb explain --full
        """).replace("<HINT>", HINT)
    out = invoke(MESSAGE).stdout
    assert [" ".join(b.split()) for b in out.split("\nFix")] == \
        [" ".join(b.split()) for b in expected.split("\nFix")]
    assert len(out.splitlines()) == 7  # the hint folds onto a second line at 80 columns


def test_full_answer_reads_top_down_error_entry_yours_causes_fix(kb_dir: Path) -> None:
    expected = textwrap.dedent("""\
        Error: RuntimeError: mat1 and mat2 shapes cannot be multiplied (64x512 and 256x10)

        err-mat-shapes  mat1 and mat2 shapes cannot be multiplied
        matched, 1.00

        A Linear layer got an input whose last dim differs from its in_features.

        In your case:
          <HINT>

        Causes, most likely first:

         1 The flattened size differs from in_features.

        Fix:
        Build the layer with the real size: nn.Linear(n, out).

        More: kb show err-mat-shapes
        """).replace("<HINT>", HINT)
    assert invoke("--full", MESSAGE).stdout == expected


def test_dash_reads_stdin(kb_dir: Path) -> None:
    traceback = f"Traceback (most recent call last):\n  File \"t.py\", line 1\n{MESSAGE}\n"
    result = invoke("-", input=traceback)
    assert result.exit_code == 0, result.output
    assert "err-mat-shapes" in result.stdout


def test_a_pipe_is_read_without_an_argument(kb_dir: Path) -> None:
    result = invoke(input=f"epoch 1\nepoch 2\n{MESSAGE}\n")
    assert result.exit_code == 0, result.output
    assert "err-mat-shapes" in result.stdout


def test_entries_reads_a_directory_of_your_own(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KB_BUILTIN", "0")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "err-mat-shapes.yaml").write_text(MAT_ENTRY, encoding="utf-8")
    assert invoke(MESSAGE).exit_code == 1  # nothing to answer with
    result = invoke(MESSAGE, "--entries", str(mine), "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)[0]["id"] == "err-mat-shapes"


def test_an_edited_pattern_is_never_answered_from_the_cache(kb_dir: Path) -> None:
    assert invoke(MESSAGE, "--json").exit_code == 0  # prepares and caches the patterns
    entry = kb_dir / "err-mat-shapes.yaml"
    entry.write_text(MAT_ENTRY.replace("mat1 and mat2 shapes", "mat1 und mat2 shapes"),
                     encoding="utf-8")
    stat = entry.stat()
    os.utime(entry, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))  # a later edit
    result = invoke("mat1 und mat2 shapes cannot be multiplied (64x512 and 256x10)", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)[0]["how"] == "pattern"
    old = json.loads(invoke(MESSAGE, "--json").stdout)  # its pattern is gone
    assert old == [] or old[0]["how"] != "pattern"


def test_file_reads_a_log(kb_dir: Path, tmp_path: Path) -> None:
    log = tmp_path / "train.log"
    log.write_text("loss 0.3\n" * 1000 + MESSAGE + "\n", encoding="utf-8")
    result = invoke("--file", str(log))
    assert result.exit_code == 0, result.output
    assert "err-mat-shapes" in result.stdout


def test_a_log_that_is_not_utf8_is_still_read(kb_dir: Path, tmp_path: Path) -> None:
    log = tmp_path / "train.log"
    log.write_bytes(b"\xff\xfe binary junk \x80\n" + MESSAGE.encode() + b"\n")
    assert invoke("--file", str(log)).exit_code == 0


def test_json_is_an_array_of_matches_best_first_with_pinned_keys(kb_dir: Path) -> None:
    result = invoke(MESSAGE, "--json")
    assert result.exit_code == 0, result.output
    matches = json.loads(result.stdout)
    assert [m["id"] for m in matches] == ["err-mat-shapes"]
    best = matches[0]
    assert set(best) == {"id", "title", "score", "captures", "explanation", "hints", "how", "where",
                         "matched", "pattern", "summary", "causes", "fix", "frame", "short",
                         "runtime"}
    assert best["score"] == 1.0 and best["how"] == "pattern" and best["where"] == "final exception"
    assert best["captures"] == {"mat1": [64, 512], "mat2": [256, 10]}
    assert best["explanation"] == HINT
    assert best["frame"] is None  # a message alone says nothing of where
    assert best["short"] == f"{HINT}\nBuild the layer with the real size: `nn.Linear(n, out)`."


def test_lang_zh_answers_in_chinese(kb_dir: Path) -> None:
    result = invoke(MESSAGE, "--lang", "zh", "--json")
    best = json.loads(result.stdout)[0]
    assert best["title"] == "mat1 和 mat2 的形状无法相乘"
    assert best["explanation"] == "展平后的输入有 512 个特征，而该 Linear 层需要 256 个"
    text = invoke(MESSAGE, "--lang", "zh", "--full").stdout
    assert "你的情况" in text and "原因" in text


def test_kb_lang_is_the_default_language(kb_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KB_LANG", "zh")
    assert "你的情况" in invoke(MESSAGE).stdout


def test_an_unrelated_error_is_an_honest_no_with_exit_1(kb_dir: Path) -> None:
    result = invoke("TypeError: Cannot read properties of undefined (reading 'map')")
    assert result.exit_code == 1
    assert "No entry matches this error" in result.stdout
    assert "kb: no entry matches this error" in result.stderr


def test_json_without_a_match_is_an_empty_array_and_exit_1(kb_dir: Path) -> None:
    result = invoke("java.lang.ClassNotFoundException: com.example.Main", "--json")
    assert result.exit_code == 1 and json.loads(result.stdout) == []


def test_text_and_file_together_are_a_usage_error(kb_dir: Path, tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text(MESSAGE, encoding="utf-8")
    result = invoke(MESSAGE, "--file", str(log))
    assert result.exit_code == 2 and "not both" in result.stderr


def test_an_empty_input_is_a_usage_error(kb_dir: Path) -> None:
    result = invoke(input="  \n")
    assert result.exit_code == 2 and "the input is empty" in result.stderr


def test_a_missing_log_says_which_file(kb_dir: Path, tmp_path: Path) -> None:
    result = invoke("--file", str(tmp_path / "nope.log"))
    assert result.exit_code == 3
    assert "nope.log" in result.stderr and "check the path" in result.stderr


def test_nothing_on_a_terminal_is_a_usage_error_that_says_what_to_do() -> None:
    from kb.errors import UsageError
    from kb.explain.source import read_paste

    class Terminal:
        def isatty(self) -> bool:
            return True

    with pytest.raises(UsageError, match="kb explain -- CMD ARGS"):
        read_paste(None, None, Terminal())  # type: ignore[arg-type]


# ---------------------------------------------------------------- kb explain -- CMD ARGS


def script(tmp_path: Path, body: str) -> str:
    path = tmp_path / "train.py"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return str(path)


def test_a_failing_command_is_passed_through_explained_and_keeps_its_exit_code(
        kb_dir: Path, tmp_path: Path) -> None:
    train = script(tmp_path, f"""\
        import sys
        print("epoch 1 loss 0.5")
        sys.stderr.write("Traceback (most recent call last):\\n  File \\"train.py\\", line 3\\n")
        sys.stderr.write("{MESSAGE}\\n")
        sys.exit(3)
        """)
    result = invoke("--", sys.executable, train)
    assert result.exit_code == 3
    assert "epoch 1 loss 0.5" in result.stdout  # the command's own output, passed through
    assert "err-mat-shapes" in result.stderr  # the explanation keeps stdout clean
    assert "err-mat-shapes" not in result.stdout


def test_a_command_that_succeeds_is_only_passed_through(kb_dir: Path, tmp_path: Path) -> None:
    train = script(tmp_path, "print('done')\n")
    result = invoke("--", sys.executable, train)
    assert result.exit_code == 0 and result.stdout == "done\n" and result.stderr == ""


def test_options_after_dashdash_belong_to_the_command(kb_dir: Path, tmp_path: Path) -> None:
    code = "import sys; print(sys.argv[1:]); sys.exit(4)"
    result = invoke("--", sys.executable, "-c", code, "--json")
    assert result.exit_code == 4 and "['--json']" in result.stdout


def test_a_command_killed_by_a_signal_exits_128_plus_n(kb_dir: Path) -> None:
    code = "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"
    result = invoke("--", sys.executable, "-c", code)
    assert result.exit_code == 128 + 15


def test_a_command_that_does_not_exist_says_so(kb_dir: Path) -> None:
    result = invoke("--", "no-such-command-kb-test")
    assert result.exit_code == 2 and "command not found" in result.stderr


def test_text_and_a_command_together_are_a_usage_error(kb_dir: Path) -> None:
    result = invoke(MESSAGE, "--", "true")
    assert result.exit_code == 2 and "not both" in result.stderr


# ---------------------------------------------------------------- the real command


def test_the_real_kb_command_explains_a_pipe_and_never_imports_torch(kb_dir: Path) -> None:
    code = ("import sys\nfrom kb.cli import main\nsys.argv = ['kb', 'explain', '--json']\n"
            "try:\n    main()\nexcept SystemExit as e:\n    code = e.code\n"
            "assert 'torch' not in sys.modules, 'kb explain imported torch'\n"
            "sys.stderr.write(f'exit={code}')\n")
    import os
    import subprocess
    done = subprocess.run([sys.executable, "-c", code], input=MESSAGE, capture_output=True,
                          text=True, env={**os.environ}, timeout=120)
    assert "exit=0" in done.stderr, done.stderr
    assert json.loads(done.stdout)[0]["id"] == "err-mat-shapes"


def test_the_real_kb_command_runs_and_explains_a_failing_command(
        kb_dir: Path, tmp_path: Path) -> None:
    train = script(tmp_path, """\
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied (64x512 and 256x10)")
        """)
    done = run_kb("explain", "--", sys.executable, train)
    assert done.returncode == 1
    assert "Traceback (most recent call last)" in done.stderr  # passed through
    assert HINT in " ".join(done.stderr.split())


def test_what_a_command_prints_is_kept_a_whole_line_at_a_time(tmp_path: Path) -> None:
    """An unbuffered print writes its words one by one; the half that arrives while a
    traceback is being written must not land inside it as the traceback's source line."""
    import io

    from kb.explain.command import run_command
    from kb.explain.frames import user_frame

    train = script(tmp_path, """\
        import sys, time
        sys.stdout.write("batch"); sys.stdout.flush()
        sys.stderr.write("Traceback (most recent call last):\\n")
        sys.stderr.write('  File "t.py", line 7, in <module>\\n')
        sys.stderr.flush(); time.sleep(0.3)
        sys.stdout.write(" (1, 2)"); sys.stdout.flush(); time.sleep(0.3)
        sys.stdout.write("\\n"); sys.stdout.flush(); time.sleep(0.3)
        sys.stderr.write("    out = conv(images)\\nRuntimeError: boom\\n")
        sys.stdout.write("no newline at the end")
        sys.exit(1)
        """)
    out, err = io.BytesIO(), io.BytesIO()
    run = run_command([sys.executable, str(train)], out, err)
    lines = run.output.splitlines()
    assert "batch (1, 2)" in lines and " (1, 2)" not in lines
    assert lines[-1] == "no newline at the end"  # a last, unfinished line is kept too
    assert out.getvalue() == b"batch (1, 2)\nno newline at the end"  # passed through as is
    frame = user_frame(run.output)
    assert frame is None or frame.source != "(1, 2)"
