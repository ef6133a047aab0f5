"""torch.compile graph breaks answered from torch's own graph_break_registry.json.

Real messages come from a real torch.compile run in a subprocess (backend="eager", CPU);
kb reads the registry from the torch that `import torch` would find, never importing it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kb.explain import graph_breaks
from kb.explain.derive import Situation, derive
from kb.loader import load_sources_cached
from kb.paths import entry_sources

from .conftest import ROOT, run_kb

# A script that breaks the graph three times: print under fullgraph=True (the exception),
# then print and a data-dependent branch without it (the TORCH_LOGS="graph_breaks" log).
_SCRIPT = textwrap.dedent('''
    import io, sys, traceback
    log = io.StringIO()
    sys.stderr = log
    import torch

    @torch.compile(backend="eager", fullgraph=True)
    def printing(x):
        print("step")
        return x + 1

    try:
        printing(torch.ones(3))
    except Exception:
        raised = traceback.format_exc()

    torch._logging.set_logs(graph_breaks=True)

    def branching(x):
        print("step")
        if x.sum() > 0:
            return x * 2
        return x - 1

    torch.compile(branching, backend="eager")(torch.ones(3))
    sys.stderr = sys.__stderr__
    print(raised + "\\n=====\\n" + log.getvalue())
''')


@pytest.fixture(scope="module")
def real_breaks(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """(the Unsupported traceback, the graph_breaks log) as torch printed them."""
    script = tmp_path_factory.mktemp("gb") / "model.py"
    script.write_text(_SCRIPT, encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=300, cwd=script.parent)
    assert done.returncode == 0, done.stderr
    raised, log = done.stdout.split("\n=====\n")
    assert "torch._dynamo.exc.Unsupported: Failed to trace builtin operator" in raised
    assert "Graph Break Reason: Data-dependent branching" in log
    return raised, log


def _registry() -> dict[str, list[dict[str, object]]]:
    path = graph_breaks.installed_path()
    assert path is not None, "the test venv's torch ships graph_break_registry.json"
    data: dict[str, list[dict[str, object]]] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _json(paste: str, *args: str, env: dict[str, str] | None = None) -> list[dict[str, object]]:
    done = run_kb("explain", "--json", *args, input=paste, env=env)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    found: list[dict[str, object]] = json.loads(done.stdout)
    return found


def _dynamo(found: list[dict[str, object]]) -> dict[str, object]:
    return next(m for m in found if m["id"] == "err-dynamo-unsupported")


# ---------------------------------------------------------------- real messages


def test_a_fullgraph_break_is_explained_from_the_registry_with_its_id(
        real_breaks: tuple[str, str]) -> None:
    raised, _ = real_breaks
    match = _json(raised)[0]
    assert match["id"] == "err-dynamo-unsupported"
    registered = next(v for v in _registry()["GB0059"]
                      if v["Gb_type"] == "Failed to trace builtin operator")
    captures = match["captures"]
    assert isinstance(captures, dict)
    assert captures["gb_id"] == "GB0059"
    assert captures["gb_registry_type"] == registered["Gb_type"]
    # the registry's explanation, its {fn.__name__} filled from the printed context line
    # ("builtin print [...] False"), the placeholder the line leaves ambiguous kept readable
    explanation = str(captures["gb_explanation"])
    assert "builtin operator `print`" in explanation
    assert "<real_arg_types>" in explanation and "{" not in explanation
    hints = match["hints"]
    assert isinstance(hints, list)
    assert hints[0].startswith("GB0059 in torch's own graph_break_registry.json "
                               "(Failed to trace builtin operator): ")
    assert any(h.startswith("torch's registry advises for GB0059: Avoid calling builtin `print`")
               for h in hints)


def test_the_graph_breaks_log_is_explained_by_the_break_its_link_names(
        real_breaks: tuple[str, str]) -> None:
    _, log = real_breaks
    assert log.index("gb/gb0059.html") < log.index("gb/gb0170.html")  # print, then the `if`
    match = _dynamo(_json(log))
    captures = match["captures"]
    assert isinstance(captures, dict)
    page = str(captures["gb_page"])
    assert captures["gb_id"] == "GB" + page[2:]
    types = {v["Gb_type"] for v in _registry()[str(captures["gb_id"])]}
    assert captures["gb_registry_type"] in types
    # either break, as linked: its own gb_type and context, never the other's
    assert graph_breaks.find(log, "GB0170").gb_type == "Data-dependent branching"
    assert graph_breaks.find(log, "GB0170").context.startswith("attempted to jump with")
    assert graph_breaks.find(log).gb_type == "Failed to trace builtin operator"
    assert graph_breaks.find(log).gb_id == "GB0059"


def test_the_text_answer_says_the_hint_is_torchs_in_both_languages(
        real_breaks: tuple[str, str]) -> None:
    raised, _ = real_breaks
    en = run_kb("explain", input=raised)
    assert en.returncode == 0, en.stderr
    assert "GB0059 in torch's own graph_break_registry.json" in en.stdout
    zh = run_kb("explain", "--lang", "zh", input=raised)
    assert "torch 自带的 graph_break_registry.json 中的 GB0059" in zh.stdout
    assert "登记表原文是英文" in zh.stdout


def test_an_old_one_line_unsupported_is_found_by_its_gb_type_alone() -> None:
    # as pasted in huggingface/peft#2627: no link, no explanation; the registry has both
    match = _json("Some Gemma generate tests fail on GPU with: "
                  "torch._dynamo.exc.Unsupported: Data-dependent branching")[0]
    assert match["id"] == "err-dynamo-unsupported"
    assert match["captures"]["gb_id"] == "GB0170"  # type: ignore[index]
    assert "gb_explanation" in match["captures"]  # type: ignore[operator]


# ---------------------------------------------------------------- without a registry


def _fake_torch(root: Path, registry: str | None) -> dict[str, str]:
    """An environment whose `torch` is a directory holding only this registry file."""
    dynamo = root / "torch" / "_dynamo"
    dynamo.mkdir(parents=True)
    (root / "torch" / "__init__.py").write_text("raise SystemExit('kb imported torch')\n")
    if registry is not None:
        (dynamo / "graph_break_registry.json").write_text(registry, encoding="utf-8")
    return {"PYTHONPATH": os.pathsep.join([str(root), str(ROOT)])}


@pytest.mark.parametrize("registry", [
    None,  # a torch older than the registry
    "{not json",
    '{"GB0170": "Data-dependent branching"}',  # JSON, not the registry's shape
    "[]",
    "{}",
])
def test_a_missing_or_malformed_registry_leaves_the_plain_answer(
        tmp_path: Path, real_breaks: tuple[str, str], registry: str | None) -> None:
    raised, _ = real_breaks
    match = _json(raised, env=_fake_torch(tmp_path, registry))[0]
    assert match["id"] == "err-dynamo-unsupported"
    assert not any(name in match["captures"]  # type: ignore[operator]
                   for name in ("gb_id", "gb_explanation", "gb_hints"))
    assert not any("registry" in h for h in match["hints"])  # type: ignore[union-attr]
    assert match["summary"]


def test_no_torch_at_all_leaves_the_plain_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    monkeypatch.setattr(graph_breaks, "_installed", [])  # not read yet in this process
    assert graph_breaks.installed_path() is None
    captures = {"gb_type": "Data-dependent branching"}
    assert graph_breaks.captures(captures, "", graph_breaks.installed_registry) == {}


# ---------------------------------------------------------------- who pays


_AUDIT = textwrap.dedent('''
    import sys
    opened = []
    def hook(event, args):
        if event == "open" and "graph_break_registry" in str(args[0]):
            opened.append(args[0])
    sys.addaudithook(hook)
    from kb.cli import app
    try:
        app(["explain", "--json", sys.argv[1]])
    except SystemExit:
        pass
    print("OPENED", len(opened), "torch" in sys.modules, "kb.explain.graph_breaks" in sys.modules)
''')


@pytest.mark.parametrize(("message", "opens"), [
    ("RuntimeError: mat1 and mat2 shapes cannot be multiplied (64x512 and 256x10)", 0),
    # a graph-break word inside another error: no gb_ capture, no registry
    ("torch.onnx.errors.UnsupportedOperatorError: Exporting the operator 'aten::unfold_copy' "
     "to ONNX opset version 17 is not supported", 0),
    ("torch._dynamo.exc.Unsupported: Data-dependent branching", 1),
])
def test_only_a_graph_break_opens_the_registry(message: str, opens: int) -> None:
    done = subprocess.run([sys.executable, "-c", _AUDIT, message], capture_output=True,
                          text=True, timeout=120, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    # the registry opened (and the module that reads it imported) only for a graph break
    assert f"OPENED {opens} False {bool(opens)}" in done.stdout


def test_a_match_without_graph_break_captures_never_asks_for_the_registry() -> None:
    entries = load_sources_cached(entry_sources()).entries
    asked: list[int] = []

    def reader() -> graph_breaks.Registry | None:
        asked.append(1)
        return None

    situation = Situation(paste="Unsupported: x\n  Explanation: y", graph_breaks=reader)
    derive(entries["err-mat-shapes"], {"mat1": [64, 512]}, situation)
    assert asked == []
    derive(entries["err-dynamo-unsupported"], {"gb_type": "x"}, situation)
    assert asked == [1]


# ---------------------------------------------------------------- look-alikes


@pytest.mark.parametrize("message", [
    # ONNX's own "unsupported", not a graph break
    "torch.onnx.errors.UnsupportedOperatorError: Exporting the operator 'aten::unfold_copy' "
    "to ONNX opset version 17 is not supported",
    # torch/fx/passes/graph_drawer.py's own "Unsupported"
    "RuntimeError: Unsupported qscheme: torch.per_channel_affine_float_qparams",
])
def test_look_alikes_are_not_graph_breaks(message: str) -> None:
    done = run_kb("explain", "--json", message)
    found = json.loads(done.stdout) if done.stdout.strip() else []
    assert all(m["id"] != "err-dynamo-unsupported" for m in found)


# ---------------------------------------------------------------- the parser


def test_registry_texts_that_are_source_code_are_not_shown() -> None:
    registry = graph_breaks.parse_registry({"GB0001": [
        {"Gb_type": "T", "Context": "", "Explanation": "str(cause)", "Hints": ["msg"]},
        {"Gb_type": "T", "Context": "", "Explanation": "x.y() is not supported",
         "Hints": ["Set `a` ", "or `b`.", "Stop."]},
    ]})
    assert registry is not None
    found = registry.lookup(graph_breaks.Found(gb_type="T"))
    assert found is not None
    assert found.explanation == "x.y() is not supported"  # prose that parses as a comparison
    assert found.hints == ("Set `a` or `b`.", "Stop.")  # fragments joined as torch joins them


def test_the_gb_type_is_read_from_a_2_13_log_whose_reason_line_is_generic() -> None:
    prefix = ("V1204 02:23:59.802000 2279 torch/_dynamo/symbolic_convert.py:5124] [0/0] "
              "[__graph_breaks] ")
    log = "\n".join(prefix + line for line in [
        "Graph Break Reason: Encountered graph break when attempting to trace CALL: "
        "a function call, e.g. f(x, y):",
        "",
        "Unsupported Tensor.item() call with capture_scalar_outputs=False",
        "  Explanation: Dynamo does not support tracing `Tensor.item()`.",
        "  Developer debug context: call_method TensorVariable() item () {}",
    ])
    found = graph_breaks.find(log)
    assert found.gb_type == "Unsupported Tensor.item() call with capture_scalar_outputs=False"
    assert found.context == "call_method TensorVariable() item () {}"
    assert found.gb_id == ""


_WORD = st.text(alphabet="abcdefgh()[]<>'_.0123", min_size=1, max_size=12)


@given(st.lists(_WORD, min_size=1, max_size=5))
def test_context_values_round_trip_when_the_split_is_unique(values: list[str]) -> None:
    names = [f"v{i}" for i in range(len(values))]
    template = "ctx " + " | ".join("{" + n + "}" for n in names) + " end"
    printed = "ctx " + " | ".join(values) + " end"
    assert graph_breaks._context_values(template, printed) == dict(zip(names, values,
                                                                       strict=True))


@given(st.text(max_size=300), st.text(max_size=300))
def test_context_values_and_find_never_fail(template: str, printed: str) -> None:
    values = graph_breaks._context_values(template, printed)
    assert all(isinstance(v, str) and v for v in values.values())
    graph_breaks.find(template + "\n  Explanation: x\n" + printed)
