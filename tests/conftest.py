"""Shared test set-up: an isolated cache, a fixed knowledge base, and golden files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
GOLDEN = Path(__file__).resolve().parent / "golden"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true",
                     help="rewrite tests/golden/*.txt from the current output")


@pytest.fixture(scope="session")
def torch_names(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, bytes] | None:
    """The installed torch's name table (kb.explain.names), built once per session: its
    cache key and JSON, or None without torch."""
    from kb.explain import names

    key = names.torch_key()
    if key is None:
        return None
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KB_CACHE_DIR", str(tmp_path_factory.mktemp("names-cache")))
        names.build_table(key)
        path = names.table_path(key)
        return (key, path.read_bytes()) if path.is_file() else None


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch,
                  torch_names: tuple[str, bytes] | None):
    """Every test gets its own cache dir, English, no colour, a fixed width. The cache
    starts with the torch name table, so that neither an index build nor an explained
    torch name makes each test import torch in a child for a few seconds."""
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("KB_CACHE_DIR", str(cache))
    if torch_names is not None:
        from kb.explain import names

        key, table = torch_names
        names.table_path(key).parent.mkdir(parents=True)
        names.table_path(key).write_bytes(table)
    for var in ("KB_PATH", "KB_LANG", "KB_BUILTIN", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "100")


@pytest.fixture
def fixture_kb(monkeypatch: pytest.MonkeyPatch) -> Path:
    """Only the small fixed knowledge base in tests/fixtures/kb (built-ins left out)."""
    monkeypatch.setenv("KB_BUILTIN", "0")
    monkeypatch.setenv("KB_PATH", str(FIXTURES / "kb"))
    return FIXTURES / "kb"


@pytest.fixture
def golden(request: pytest.FixtureRequest):
    """golden(name, text): compare with tests/golden/name, or rewrite it with --update-golden."""
    update = request.config.getoption("--update-golden")

    def check(name: str, text: str) -> None:
        path = GOLDEN / name
        if update or not path.exists():
            path.write_text(text, encoding="utf-8")
            if not update:
                pytest.fail(f"golden file {path} was missing and has been written; rerun")
        assert text == path.read_text(encoding="utf-8"), (
            f"output differs from {path}; if the change is intended, rerun with --update-golden")

    return check


def run_kb(*args: str, env: dict[str, str] | None = None, input: str | None = None,
           timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The real `kb` command as a subprocess (python -m kb, this interpreter)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "kb", *args], capture_output=True, text=True,
                          env=full_env, input=input, timeout=timeout, cwd=ROOT)
