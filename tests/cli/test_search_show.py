"""search / show / list / lint / paths as a user runs them: CliRunner and real subprocesses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kb.cli import app

from ..conftest import FIXTURES, run_kb

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_search_ranks_the_entry_first(fixture_kb: Path) -> None:
    result = invoke("search", "view", "memory")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].startswith("view-reshape ")


@pytest.mark.parametrize("query, expected", [
    ("reshap", "view-reshape"),        # typo: a missing letter
    ("resahpe", "view-reshape"),       # typo: swapped letters
    ("tar untar gzip", "tar-extract"),  # OR: 'untar' and 'gzip' are not all there
    ("nhwc channels", "err-conv-channels"),
    ("解压", "tar-extract"),
    ("跳板机", "my-notes-ssh"),
    ("改变形状", "view-reshape"),
])
def test_search_finds(fixture_kb: Path, query: str, expected: str) -> None:
    result = invoke("search", *query.split(), "--json")
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)
    assert hits[0]["id"] == expected


def test_search_json_shape_is_stable(fixture_kb: Path) -> None:
    hits = json.loads(invoke("search", "tensor", "--json").stdout)
    assert hits, "expected hits"
    for hit in hits:
        assert set(hit) == {"id", "kind", "title", "score", "summary", "excerpt"}
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)


def test_search_filters_by_kind_and_tag(fixture_kb: Path) -> None:
    ids = [h["id"] for h in json.loads(invoke("search", "tensor", "x", "--kind", "error",
                                              "--json").stdout)]
    assert ids == ["err-conv-channels"]
    ids = [h["id"] for h in json.loads(invoke("search", "tar", "ssh", "--tag", "remote",
                                              "--json").stdout)]
    assert ids == ["my-notes-ssh"]


def test_search_nothing_exits_1_with_a_hint(fixture_kb: Path) -> None:
    result = invoke("search", "qqqzzzxxx")
    assert result.exit_code == 1
    assert "nothing matches 'qqqzzzxxx'" in result.stderr
    assert result.stdout == ""


def test_search_bad_kind_is_a_usage_error(fixture_kb: Path) -> None:
    result = invoke("search", "x", "--kind", "recipe")
    assert result.exit_code == 2
    assert "unknown kind 'recipe'; expected one of: command, api, concept, error" in result.stderr


def test_search_chinese_answers_in_chinese(fixture_kb: Path) -> None:
    result = invoke("search", "解压", "--lang", "zh")
    assert "tar：解压、查看和创建" in result.stdout


def test_lang_falls_back_to_english_when_chinese_is_missing(fixture_kb: Path,
                                                             tmp_path: Path) -> None:
    (tmp_path / "en-only.yaml").write_text(
        "id: en-only\nkind: api\ntitle: English only note\nsummary: plain words\n")
    result = invoke("show", "en-only", "--lang", "zh", "--entries", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert "English only note" in result.stdout


def test_show_golden(fixture_kb: Path, golden) -> None:
    result = invoke("show", "err-conv-channels")
    assert result.exit_code == 0
    golden("show-err-conv-channels.txt", result.stdout.replace(str(FIXTURES), "<fixtures>"))


def test_show_golden_zh(fixture_kb: Path, golden) -> None:
    result = invoke("show", "tar-extract", "--lang", "zh")
    golden("show-tar-extract-zh.txt", result.stdout.replace(str(FIXTURES), "<fixtures>"))


def test_search_golden(fixture_kb: Path, golden) -> None:
    golden("search-view.txt", invoke("search", "view").stdout)


def test_list_golden(fixture_kb: Path, golden) -> None:
    golden("list.txt", invoke("list").stdout)


def test_show_json_is_the_whole_entry(fixture_kb: Path) -> None:
    data = json.loads(invoke("show", "view-reshape", "--json").stdout)
    assert data["id"] == "view-reshape" and data["kind"] == "api"
    assert data["zh"]["title"].startswith("Tensor.view 与")
    assert [s["name"] for s in data["snippets"]] == ["view-and-infer", "view-shares-memory",
                                                     "reshape-copies-when-needed"]
    assert data["source"].endswith("view-reshape.yaml")


def test_show_unknown_id(fixture_kb: Path) -> None:
    result = invoke("show", "view-reshap")
    assert result.exit_code == 1
    assert result.stderr.strip() == "kb: no entry 'view-reshap'; did you mean 'view-reshape'?"


def test_show_says_which_file_it_overrides(fixture_kb: Path, tmp_path: Path) -> None:
    src = (FIXTURES / "kb" / "tar-extract.yaml").read_text(encoding="utf-8")
    (tmp_path / "tar-extract.yaml").write_text(src.replace("tar: extract", "MY tar"),
                                               encoding="utf-8")
    result = invoke("show", "tar-extract", "--entries", str(tmp_path))
    assert "MY tar" in result.stdout
    assert f"overrides {FIXTURES / 'kb' / 'tar-extract.yaml'}" in result.stdout


def test_list_filters(fixture_kb: Path) -> None:
    rows = json.loads(invoke("list", "--kind", "command", "--json").stdout)
    assert [r["id"] for r in rows] == ["my-notes-ssh", "tar-extract"]
    assert set(rows[0]) == {"id", "kind", "title", "summary"}


def test_a_broken_entry_warns_but_search_still_answers(fixture_kb: Path, tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("id: broken\nkind: [\n")
    result = invoke("search", "tar", "--entries", str(tmp_path))
    assert result.exit_code == 0
    assert "tar-extract" in result.stdout
    assert "1 entry file(s) could not be loaded; run `kb lint`" in result.stderr


def test_lint_reports_and_fails(tmp_path: Path) -> None:
    bad = tmp_path / "bad-note.yaml"
    bad.write_text("id: bad-note\nkind: api\ntitle: t\nsummary: s\nsnippets:\n"
                   "  - name: x\n    code: print(1)\n    expect: [1]\n")
    result = invoke("lint", str(bad))
    assert result.exit_code == 1
    assert f"{bad}:8: KB004 snippet 'expect' must be text, got a list" in result.stdout
    data = json.loads(invoke("lint", str(bad), "--json").stdout)
    assert {p["code"] for p in data["problems"]} == {"KB004", "KB013"}


def test_lint_warnings_pass_unless_strict(tmp_path: Path) -> None:
    note = tmp_path / "en-note.yaml"
    note.write_text("id: en-note\nkind: api\ntitle: t\nsummary: s\n")
    assert invoke("lint", str(note)).exit_code == 0
    assert invoke("lint", "--strict", str(note)).exit_code == 1


def test_paths_says_why(fixture_kb: Path, tmp_path: Path) -> None:
    result = invoke("paths", "--entries", str(tmp_path))
    out = result.stdout
    assert f"{FIXTURES / 'kb'}  [KB_PATH]" in out
    assert f"{tmp_path}  [--entries]" in out
    assert "[KB_CACHE_DIR]" in out and "[LANG]" in out


def test_unwritable_cache_falls_back_with_a_warning(fixture_kb: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("")
    monkeypatch.setenv("KB_CACHE_DIR", str(blocker))
    result = invoke("search", "tar")
    assert result.exit_code == 0 and "tar-extract" in result.stdout
    assert "using a temporary index" in result.stderr


# ---------------------------------------------------------------- the real command


def test_subprocess_search_and_exit_codes(fixture_kb: Path) -> None:
    env = {"KB_PATH": str(FIXTURES / "kb"), "KB_BUILTIN": "0"}
    ok = run_kb("search", "conv", "channels", env=env)
    assert ok.returncode == 0 and ok.stdout.startswith("err-conv-channels")
    missing = run_kb("show", "nope-nope", env=env)
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    assert missing.stderr.startswith("kb: no entry 'nope-nope'")


def test_search_show_list_never_import_torch(fixture_kb: Path) -> None:
    code = ("import sys\nfrom typer.testing import CliRunner\nfrom kb.cli import app\n"
            "r = CliRunner()\n"
            "for args in (['search', 'conv2d'], ['show', 'view-reshape'], ['list'],"
            " ['lint']):\n"
            "    r.invoke(app, args)\n"
            "print('torch' in sys.modules, 'numpy' in sys.modules)\n")
    result = run_kb_python(code)
    assert result.stdout.strip() == "False False", result.stderr


def run_kb_python(code: str):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)


def test_shell_completion_of_ids_and_tags(fixture_kb: Path) -> None:
    import os
    import subprocess
    import sys

    kb = str(Path(sys.executable).with_name("kb"))  # the console script: its name is the key
    env = {**os.environ, "KB_PATH": str(FIXTURES / "kb"), "KB_BUILTIN": "0",
           "_KB_COMPLETE": "complete_bash"}

    def complete(words: str, cword: int) -> list[str]:
        out = subprocess.run([kb], env={**env, "COMP_WORDS": words, "COMP_CWORD": str(cword)},
                             capture_output=True, text=True, timeout=60)
        return out.stdout.split()

    assert complete("kb show view-", 2) == ["view-reshape"]
    assert complete("kb search x --tag s", 4) == ["shape", "shell", "ssh"]


def test_columns_are_aligned_by_display_width(fixture_kb: Path) -> None:
    from rich.cells import cell_len

    lines = invoke("list", "--lang", "zh").stdout.splitlines()
    titles = {"err-conv-channels": "Conv2d 报错", "my-notes-ssh": "登录实验室服务器",
              "tar-extract": "tar：解压", "view-reshape": "Tensor.view 与"}
    starts = set()
    for line in lines:
        entry_id = line.split()[0]
        prefix = line[: line.index(titles[entry_id])]
        starts.add(cell_len(prefix))
    assert len(starts) == 1, lines


def test_brackets_in_titles_are_text_not_markup(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KB_BUILTIN", "0")
    (tmp_path / "eye-note.yaml").write_text(
        "id: eye-note\nkind: api\ntitle: one-hot with np.eye(C)[labels] and [bold]x\n"
        "summary: s\n")
    out = invoke("search", "eye", "--entries", str(tmp_path)).stdout
    assert "np.eye(C)[labels] and [bold]x" in out


def test_the_top_hits_do_not_depend_on_limit() -> None:
    """whoosh's top-N collector once dropped the best hit when --limit was small."""
    full = [h["id"] for h in json.loads(invoke("search", "reshape", "a", "tensor", "--limit",
                                               "50", "--json").stdout)]
    for n in (1, 3, 5):
        top = [h["id"] for h in json.loads(invoke("search", "reshape", "a", "tensor", "--limit",
                                                  str(n), "--json").stdout)]
        assert top == full[:n]


def test_explain_takes_a_paste_that_starts_with_a_dash() -> None:
    result = invoke("explain", "--json", "-bash: conda: command not found")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["id"] == "err-conda-not-found"
