"""What each command imports, so start-up speed and the layering cannot quietly erode.

`kb search` on a built index imports neither torch nor the YAML reader, and no rich
when its output is piped (issue 12); `kb explain` and `kb check` never import whoosh,
which only the search index needs (issue 11). The import graph of kb/ has no cycle.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

KB = Path(__file__).resolve().parent.parent / "kb"

# Runs the real command in a fresh interpreter (output piped, as in a script) and
# prints the top-level packages it imported to stderr's last line (the probe itself
# imports nothing kb might not).
PROBE = """
import atexit, sys
def report():
    modules = sorted({m.split('.')[0] for m in sys.modules})  # before json is imported here
    import json
    print(json.dumps(modules), file=sys.stderr)
atexit.register(report)
sys.argv = ["kb", *sys.argv[1:]]
from kb.launch import main  # the console script (pyproject.toml)
main()
"""


def imported_by(*args: str) -> set[str]:
    subprocess.run([sys.executable, "-c", PROBE, "search", "warm-up"], capture_output=True,
                   text=True, timeout=120)  # builds the index and the entries cache
    result = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True,
                            text=True, timeout=120)
    return set(json.loads(result.stderr.strip().splitlines()[-1]))


@pytest.mark.parametrize("args", [("search", "conv2d"), ("search", "卷积", "--json"),
                                  ("search", "no-such-word-anywhere")])
def test_search_piped_imports_no_torch_yaml_or_rich(fixture_kb: Path, args: tuple[str]) -> None:
    modules = imported_by(*args)
    assert "whoosh" in modules  # the probe saw the search run
    assert not modules & {"torch", "numpy", "yaml", "rich"}
    assert "_hashlib" not in modules  # OpenSSL (~3 ms): kb.cache and whoosh's md5 use CPython's
    # kb.record makes kb's records: dataclasses would import inspect, 8 ms in all
    assert not modules & {"dataclasses", "inspect"}


def test_show_piped_imports_no_whoosh_torch_or_yaml(fixture_kb: Path) -> None:
    modules = imported_by("show", "view-reshape")
    assert "kb" in modules
    # served from the parsed-entries cache (no YAML read), laid out by kb.render.plain;
    # tempfile is only for writing the cache, json only for --json
    assert not modules & {"torch", "numpy", "whoosh", "yaml", "rich", "markdown_it", "pygments",
                          "tempfile", "json", "dataclasses", "inspect", "shutil"}


def test_explain_piped_reads_no_yaml_and_loads_no_rich(fixture_kb: Path) -> None:
    probe = PROBE.replace("{m.split('.')[0] for m in sys.modules}", "set(sys.modules)")
    args = ["explain",
            "RuntimeError: mat1 and mat2 shapes cannot be multiplied (64x512 and 256x10)"]
    for _ in range(2):  # the first builds what explain prepares; the second is served it
        result = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True,
                                text=True, timeout=120)
    modules = set(json.loads(result.stderr.strip().splitlines()[-1]))
    assert "kb.explain" in modules
    assert "yaml" not in modules
    assert "tempfile" not in modules  # only for writing the cache
    assert "json" not in modules  # only for --json
    assert not modules & {"dataclasses", "inspect", "shutil"}  # kb.record; shutil to prune
    # the answer is in kb.render.plain's Markdown subset: rich, markdown-it and pygments
    # stay out of a piped `kb explain`
    assert not {m.split(".")[0] for m in modules} & {"rich", "markdown_it", "pygments"}


@pytest.mark.parametrize("args", [
    ("explain", "RuntimeError: mat1 and mat2 shapes cannot be multiplied (64x512 and 256x10)"),
    ("explain", "nothing like an error at all"),
    ("check", "no-such-id"),
])
def test_explain_and_check_never_import_whoosh(fixture_kb: Path, args: tuple[str]) -> None:
    modules = imported_by(*args)
    assert "kb" in modules
    assert "whoosh" not in modules and "torch" not in modules


def kb_imports(path: Path) -> set[str]:
    """The kb modules a module imports, at any level (function-level imports count too,
    TYPE_CHECKING blocks do not: they never run)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = ".".join(path.relative_to(KB.parent).with_suffix("").parts)
    if path.name == "__init__.py":
        package = package.removesuffix(".__init__")
    else:
        package = package.rpartition(".")[0]
    skip = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
            and "TYPE_CHECKING" in ast.unparse(node.test) for n in ast.walk(node)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, *([base] if base else [])])
            found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
    return {m for m in found if m == "kb" or m.startswith("kb.")}


def test_the_import_graph_of_kb_has_no_cycle() -> None:
    modules = {}
    for path in KB.rglob("*.py"):
        name = ".".join(path.relative_to(KB.parent).with_suffix("").parts).removesuffix(
            ".__init__")
        modules[name] = path
    graph = {name: {m for m in kb_imports(path) if m in modules and m != name}
             for name, path in modules.items()}
    # A package's __init__ is not an edge back to it from its own submodules.
    graph = {name: {m for m in deps if not name.startswith(m + ".")}
             for name, deps in graph.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycle = [*stack[stack.index(dep):], dep]
                pytest.fail(f"import cycle: {' -> '.join(cycle)}")
            if dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)
