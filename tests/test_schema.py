"""Validation: one failing fixture per rule fires exactly that rule (like tldr-lint)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kb.lint import lint
from kb.loader import load_files
from kb.model import Severity
from kb.paths import BUILTIN_ENTRIES
from kb.schema import RULES, parse_entry
from kb.yaml_lines import parse_yaml

from .conftest import FIXTURES

LINT = FIXTURES / "lint"
CASES = sorted(LINT.iterdir())


def expected_code(path: Path) -> str:
    return path.name[:5].upper()


@pytest.mark.parametrize("path", CASES, ids=[p.name for p in CASES])
def test_each_fixture_fires_exactly_its_rule(path: Path) -> None:
    report = lint([path])
    codes = {p.code for p in report.problems}
    assert codes == {expected_code(path)}, [str(p) for p in report.problems]
    for problem in report.problems:
        assert problem.path == path
        assert problem.line >= 1, str(problem)


def test_every_rule_has_a_fixture() -> None:
    covered = {expected_code(p) for p in CASES} | {"KB010", "KB019"}
    assert covered == set(RULES)


def test_duplicate_ids_in_one_source() -> None:
    report = lint([FIXTURES / "lint-dup"])
    assert [p.code for p in report.problems] == ["KB010"]
    assert "rename one of them" in report.problems[0].message


def test_missing_kb_path_directory_is_a_warning(monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    monkeypatch.setenv("KB_PATH", str(tmp_path / "nope"))
    report = lint([])
    kb019 = [p for p in report.problems if p.code == "KB019"]
    assert len(kb019) == 1 and kb019[0].severity is Severity.WARNING
    assert report.entries > 0  # the rest still loads


def test_a_pattern_explain_would_skip_is_a_warning_and_the_entry_still_loads() -> None:
    """kb explain skips a pattern that can backtrack exponentially; lint says so, and
    --strict fails, but search and show keep the entry."""
    report = lint([LINT / "kb022-backtracking-pattern.yaml"])
    (problem,) = report.problems
    assert problem.severity is Severity.WARNING and "exponentially" in problem.message
    assert report.entries == 1
    assert not report.failed() and report.failed(strict=True)


def test_missing_chinese_is_an_error_only_for_builtin_entries() -> None:
    data, _ = parse_yaml((LINT / "kb013-no-chinese.yaml").read_text(), LINT / "x.yaml")
    _, user = parse_entry(data, LINT / "kb013-no-chinese.yaml", builtin=False)
    entry_b, builtin = parse_entry(data, LINT / "kb013-no-chinese.yaml", builtin=True)
    assert {p.severity for p in user} == {Severity.WARNING}
    assert {p.severity for p in builtin} == {Severity.ERROR} and entry_b is None


def test_unknown_key_names_the_nearest_known_key() -> None:
    report = lint([LINT / "kb007-unknown-key.yaml"])
    assert "did you mean 'summary'?" in report.problems[0].message


def test_wrong_type_says_what_it_got() -> None:
    (problem,) = lint([LINT / "kb004-wrong-type.yaml"]).problems
    assert str(problem).endswith("KB004 snippet 'expect' must be text, got a list")
    assert problem.line == 9


def test_yaml_error_has_the_line() -> None:
    (problem,) = lint([LINT / "KB001-yaml-syntax.yaml"]).problems
    assert problem.line == 4 and problem.code == "KB001"


def test_a_broken_file_never_hides_the_good_ones(tmp_path: Path) -> None:
    for src in (FIXTURES / "kb").iterdir():
        (tmp_path / src.name).write_bytes(src.read_bytes())
    (tmp_path / "broken.yaml").write_text("id: broken\nkind: [\n")
    loaded = load_files([tmp_path])
    assert set(loaded.entries) == {"view-reshape", "err-conv-channels", "tar-extract",
                                   "my-notes-ssh"}
    assert [p.code for p in loaded.problems] == ["KB001"]


def test_the_builtin_knowledge_base_is_clean() -> None:
    report = lint([BUILTIN_ENTRIES])
    assert report.problems == [], "\n".join(map(str, report.problems))


def test_a_colon_in_a_list_item_is_explained(tmp_path: Path) -> None:
    note = tmp_path / "colon-note.yaml"
    note.write_text("id: colon-note\nkind: error\ntitle: t\nsummary: s\npatterns: [x]\n"
                    "fix: f\ncauses:\n  - fine\n  - Nothing yet: it buffers\n")
    (problem,) = [p for p in lint([note]).problems if p.code == "KB004"]
    assert problem.line == 9
    assert "'causes' item 2 must be text, got a mapping; a ': ' inside the text" in \
        problem.message


def _error_entry(tmp_path: Path, patterns: str) -> Path:
    note = tmp_path / "old-note.yaml"
    note.write_text("id: old-note\nkind: error\ntitle: t\nsummary: s\nfix: f\ncauses: [c]\n"
                    f"patterns:\n{patterns}", encoding="utf-8")
    return note


def test_an_old_wording_is_a_pattern_marked_with_its_releases(tmp_path: Path) -> None:
    note = _error_entry(tmp_path, "  - 'new wording'\n  - pattern: 'old (?P<n>\\d+) wording'\n"
                                  "    torch: old\n  - pattern: 'older'\n    torch: '<1.9'\n")
    (entry,) = load_files([note]).entries.values()
    assert entry.patterns == ("new wording", r"old (?P<n>\d+) wording", "older")
    assert entry.pattern_torch == ("", "old", "<1.9")
    assert entry.torch_of("older") == "<1.9" and entry.torch_of("new wording") == ""


@pytest.mark.parametrize(("patterns", "line", "says"), [
    ("  - pattern: 'x'\n    torch: soon\n", 9,
     "pattern 'torch' must be old or a range of releases like <1.9"),
    ("  - RuntimeError: x\n", 8, "'patterns' item 1 must be text, got a mapping; a ': ' inside"),
    ("  - pattern: 'x'\n    torhc: old\n", 9, "torhc"),
    ("  - pattern: '(x'\n    torch: old\n", 8, "KB012"),
])
def test_a_bad_pattern_item_names_its_line(tmp_path: Path, patterns: str, line: int,
                                           says: str) -> None:
    problems = [p for p in lint([_error_entry(tmp_path, patterns)]).problems
                if p.code != "KB013"]  # no Chinese: a warning for a user's entry
    assert problems and problems[0].line == line and says in str(problems[0]), problems
