"""Did-you-mean for torch names and keywords (kb.explain.names, issue 16 item 3) and the
file that shadows a module (item 4): CPython's own suggestion, the installed torch's
names read in a child process and cached, real errors raised by real code, and the
look-alikes that must not get a suggestion."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from kb.cli import app
from kb.explain import explain
from kb.explain import names as names_module
from kb.explain.derive import Situation, shadowing_file
from kb.explain.names import (
    MAX_CANDIDATE_ITEMS,
    NameTable,
    closest,
    given_keywords,
    load_table,
    signature_keywords,
    suggestion,
    torch_key,
)
from kb.loader import load_sources_cached
from kb.model import Entry
from kb.paths import entry_sources
from tests.conftest import run_kb

HAS_TORCH = torch_key() is not None
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="needs torch installed")


# ---------------------------------------------------------------- CPython's own suggestion


def cpython_suggestion(name: str, candidates: Sequence[str]) -> str | None:
    """What the interpreter itself prints for a real AttributeError on an object whose
    dir() is `candidates` (3.11: Python/suggestions.c, reached through the excepthook)."""
    listed = list(candidates)

    class Namespace:
        def __dir__(self) -> list[str]:
            return listed

    try:
        getattr(Namespace(), name)
    except AttributeError as exc:
        err = io.StringIO()
        saved, sys.stderr = sys.stderr, err
        try:
            sys.__excepthook__(type(exc), exc, None)
        finally:
            sys.stderr = saved
        line = err.getvalue().strip().splitlines()[-1]
        marker = ". Did you mean: '"
        return line[line.index(marker) + len(marker):-2] if marker in line else None
    raise AssertionError(f"{name!r} did not raise")


identifier = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,44}", fullmatch=True).filter(
    lambda s: not s.startswith("__"))  # dunders are real attributes of every object


@settings(max_examples=400, deadline=None)
@given(identifier, st.lists(identifier, max_size=25))
@example("zero", ["zeros", "zero_", "nonzero"])
@example("ab", ["ac"])  # the C code's unbounded start (traceback.py's copy rejects it)
@example("kernal_size", ["kernel_size", "padding"])
@example("szie", ["size"])  # a swap costs two moves: too far for CPython
@example("a" * 41, ["a" * 41 + "b"])  # MAX_STRING_SIZE counts after the common affixes
def test_the_suggestion_is_the_interpreters_own(name: str, candidates: list[str]) -> None:
    assert suggestion(name, sorted(candidates)) == cpython_suggestion(name, candidates)


def test_past_the_candidate_cap_cpython_and_suggestion_say_nothing() -> None:
    names = [f"name{i:04d}" for i in range(MAX_CANDIDATE_ITEMS - 2)] + ["zeros"]  # 749
    assert suggestion("zero", sorted(names)) == cpython_suggestion("zero", names) == "zeros"
    names.append("extra")  # 750: the C code stops at as many (traceback.py: past)
    assert suggestion("zero", sorted(names)) is None is cpython_suggestion("zero", names)
    assert closest("zero", names) == "zeros"  # kb lifts that cap, and only that


def test_closest_hides_underscored_names_and_puts_in_place_ones_last() -> None:
    assert closest("zero", ["nonzero", "zero_", "zeros"]) == "zeros"
    assert closest("zero_", ["zero_x", "zeros"]) == "zero_x"  # typed with _: order kept
    assert closest("sdpa", ["_sdpa", "sdp"]) == "sdp"
    assert closest("_sdp", ["_sdpa", "sdp"]) == "_sdpa"


@needs_torch
def test_szie_is_too_far_from_size_for_cpython_as_for_kb() -> None:
    public = [n for n in load_table().attributes["torch.Tensor"] if not n.startswith("_")]
    assert len(public) < MAX_CANDIDATE_ITEMS  # so the interpreter does try them
    assert cpython_suggestion("szie", public) is None
    assert closest("szie", public) is None
    assert closest("unsqeeze", public) == cpython_suggestion("unsqeeze", public) == "unsqueeze"


# ---------------------------------------------------------------- keywords in the message

RANDN = ("TypeError: randn() received an invalid combination of arguments - got (int, "
         "dtpye=torch.dtype), but expected one of:\n"
         " * (tuple of ints size, *, torch.Generator generator, Tensor out = None, torch.dtype "
         "dtype = None, torch.layout layout = None, torch.device device = None, bool pin_memory "
         "= False, bool requires_grad = False)\n"
         " * (tuple of ints size, *, Tensor out = None, torch.dtype dtype = None, torch.layout "
         "layout = None, torch.device device = None, bool pin_memory = False, bool "
         "requires_grad = False)\n")

type_name = st.sampled_from(["Tensor", "int", "float", "bool", "tuple of ints", "torch.dtype",
                             "torch.Generator", "Scalar", "IntArrayRef[2]"])
param = st.tuples(type_name, st.from_regex(r"[a-z][a-z_]{0,12}", fullmatch=True),
                  st.sampled_from(["", " = None", " = False", " = 1", " = (1, 1)"]))


@given(st.lists(st.lists(param, min_size=1, max_size=6), min_size=1, max_size=4),
       st.booleans())
def test_signature_keywords_reads_every_parameter_torch_lists(
        signatures: list[list[tuple[str, str, str]]], joined: bool) -> None:
    lines = [" * (" + ", ".join(f"{t} {n}{d}" for t, n, d in sig) + ")" for sig in signatures]
    text = (" " if joined else "\n").join(lines)  # as printed, or pasted onto one line
    expected = list(dict.fromkeys(n for sig in signatures for _, n, _ in sig))
    assert list(signature_keywords(text)) == expected


def test_given_keywords_are_the_names_before_an_equals_sign() -> None:
    assert given_keywords("int, dtpye=torch.dtype") == ("dtpye",)
    assert given_keywords("int, Tensor, torch.Size, device=torch.device, generator=torch."
                          "_C.Generator") == ("device", "generator")
    assert given_keywords("tuple, int") == ()


# ---------------------------------------------------------------- through explain, real errors


@pytest.fixture(scope="module")
def builtin() -> dict:
    return dict(load_sources_cached(entry_sources([])).entries)


def real_error(code: str, cwd: Path) -> str:
    """The traceback a real Python prints for `code`, run as a script in `cwd`."""
    (cwd / "snippet_under_test.py").write_text(textwrap.dedent(code))
    run = subprocess.run([sys.executable, "snippet_under_test.py"], capture_output=True, text=True,
                         cwd=cwd, timeout=120, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert run.returncode == 1, run.stderr
    return run.stderr


def hints(text: str, entries: dict, entry_id: str, situation: Situation | None = None,
          lang: str = "en") -> list[str]:
    result = explain(text, entries, lang=lang, situation=situation)
    assert result.matches and result.matches[0].entry.id == entry_id, \
        [m.entry.id for m in result.matches]
    return list(result.matches[0].hints)


MISSPELT = [
    ("import torch\ntorch.zero(3)\n", "err-torch-no-attribute", "did you mean torch.zeros?"),
    ("import torch\nx = torch.zeros(2, 3)\nx.unsqeeze(0)\n", "err-torch-no-attribute",
     "Python suggests x.unsqueeze"),  # a tensor's dir() is under the cap: Python's own
    ("import torch.nn.functional as F\nF.sofmax\n", "err-torch-no-attribute",
     "Python found torch.nn.functional.softmax"),  # Python's own hint: nothing added
    ("from torch import nn\nnn.Conv2d(3, 8, kernal_size=3)\n", "err-unexpected-keyword",
     "did you mean kernel_size=?"),
    ("from torch.utils.data import DataLoader\nDataLoader(range(4), batchsize=2)\n",
     "err-unexpected-keyword", "did you mean batch_size=?"),
    ("import torch\nopt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1, "
     "momentun=0.9)\n", "err-unexpected-keyword", "did you mean momentum=?"),
    ("import torch\ntorch.randn(2, dtpye=torch.float64)\n", "err-unexpected-keyword",
     "did you mean dtype=?"),
]

_DRIVER = """
import io, json, runpy, sys
out = []
for path in sys.argv[1:]:
    try:
        runpy.run_path(path, run_name="__main__")
    except Exception as exc:
        sys.stderr = io.StringIO()
        sys.__excepthook__(type(exc), exc, exc.__traceback__)  # the interpreter's own print
        out.append(sys.stderr.getvalue())
        sys.stderr = sys.__stderr__
    else:
        out.append("")
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def misspelt_errors(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The tracebacks of MISSPELT's scripts, each run for real (in one child: one torch
    import for them all)."""
    folder = tmp_path_factory.mktemp("misspelt")
    scripts = []
    for i, (code, _, _) in enumerate(MISSPELT):
        (folder / f"train{i}.py").write_text(code)
        scripts.append(f"train{i}.py")
    run = subprocess.run([sys.executable, "-c", _DRIVER, *scripts], capture_output=True,
                         text=True, cwd=folder, timeout=300)
    assert run.returncode == 0, run.stderr
    errors: list[str] = json.loads(run.stdout)
    assert all(errors), errors
    return errors


@needs_torch
@pytest.mark.parametrize("case", range(len(MISSPELT)), ids=[a for _, _, a in MISSPELT])
def test_a_real_misspelling_gets_the_name_it_meant(case: int, misspelt_errors: list[str],
                                                   builtin: dict) -> None:
    _, entry_id, answer = MISSPELT[case]
    found = hints(misspelt_errors[case], builtin, entry_id)
    assert any(h.startswith(answer) for h in found), found
    said = [h for h in found if h.startswith(("did you mean", "Python found", "Python suggests"))]
    assert len(said) == 1, found


@needs_torch
def test_the_suggestion_in_chinese(builtin: dict) -> None:
    found = hints("AttributeError: module 'torch' has no attribute 'zero'", builtin,
                  "err-torch-no-attribute", lang="zh")
    assert found[0].startswith("你是不是要写 torch.zeros？")


@needs_torch
def test_a_message_without_pythons_hint_gets_kbs(builtin: dict) -> None:
    """3.8/3.9, or a paste that lost its last sentence: kb finds what Python would."""
    found = hints("AttributeError: module 'torch.nn' has no attribute 'Conv2D'", builtin,
                  "err-torch-no-attribute")
    assert found[0].startswith("did you mean torch.nn.Conv2d?")
    found = hints("AttributeError: 'Tensor' object has no attribute 'unsqeeze'", builtin,
                  "err-torch-no-attribute")
    assert found[0].startswith("did you mean x.unsqueeze?")
    # a real paste (Novartis/torchsurv#98): a case flip is half an edit
    found = hints("AttributeError: 'Tensor' object has no attribute 'Size'", builtin,
                  "err-torch-no-attribute")
    assert found[0].startswith("did you mean x.size?")


@needs_torch
@pytest.mark.parametrize("text", [
    "AttributeError: module 'torch' has no attribute 'banana'",  # nothing close enough
    "AttributeError: 'Tensor' object has no attribute 'szie'",  # a swap: too far for CPython
    "AttributeError: module 'torch' has no attribute 'zeros'",  # torch has it: shadowed
    "AttributeError: module 'torch.cuda' has no attribute 'amp_'",  # no names read for it
    "TypeError: __init__() got an unexpected keyword argument 'kernal_size'",  # which class?
    "TypeError: forward() got an unexpected keyword argument 'mask'",  # the user's forward
    # real pastes: Adam has no momentum at all (pykale/pykale#447); TensorFlow's conv2d
    # (ipazc/mtcnn#59) and convolution2d (alrojo/tensorflow-tutorial#2) are C++ or not torch
    "Adam.__init__() got an unexpected keyword argument 'momentum'",
    "TypeError: conv2d() got an unexpected keyword argument 'filters'",
    "TypeError: convolution2d() got an unexpected keyword argument 'normalize_fn'",
])
def test_no_suggestion_when_cpythons_rule_or_the_table_gives_none(text: str,
                                                                   builtin: dict) -> None:
    result = explain(text, builtin)
    for m in result.matches:
        assert not [h for h in m.hints if h.startswith("did you mean")], m.hints


@pytest.mark.parametrize("text", [
    "AttributeError: module 'numpy' has no attribute 'float'",
    "AttributeError: module 'mymodel' has no attribute 'Nett'",
    "AttributeError: 'MyNet' object has no attribute 'fc1'",
    "TypeError: Cannot read properties of undefined (reading 'zero')",
    "error[E0599]: no method named `szie` found for struct `Tensor` in the current scope",
    "NameError: name 'torch' is not defined",
    "AttributeError: 'DataFrame' object has no attribute 'szie'",
    # TensorFlow's tensor (tatp22/multidim-positional-encoding#28): no quotes round Tensor
    "AttributeError: Tensor object has no attribute 'size'.",
])
def test_look_alikes_get_no_torch_suggestion(text: str, builtin: dict) -> None:
    result = explain(text, builtin)  # (similar wording may still offer the entry)
    assert not [h for m in result.matches for h in m.hints if "did you mean" in h]
    assert not [m for m in result.matches if {"closest", "tensor_closest"} & set(m.captures)]


def test_without_torch_the_hints_that_need_it_are_skipped(builtin: dict) -> None:
    none = Situation(names=NameTable)
    found = hints("AttributeError: module 'torch' has no attribute 'zero'", builtin,
                  "err-torch-no-attribute", situation=none)
    assert found and not [h for h in found if h.startswith("did you mean")]
    # the message's own signatures need no table
    found = hints(RANDN, builtin, "err-unexpected-keyword", situation=none)
    assert found[0].startswith("did you mean dtype=?")


# ---------------------------------------------------------------- the table and its cache


@needs_torch
def test_the_table_holds_dir_and_the_signatures_of_the_installed_torch() -> None:
    table = load_table()
    assert {"torch", "torch.nn", "torch.nn.functional", "torch.Tensor", "torch.optim",
            "torch.utils.data"} <= set(table.attributes)
    assert "zeros" in table.attributes["torch"] and "Conv2d" in table.attributes["torch.nn"]
    assert "kernel_size" in table.parameters["Conv2d.__init__"]
    assert "batch_size" in table.parameters["DataLoader.__init__"]
    assert "momentum" in table.parameters["SGD.__init__"]
    assert "scale_factor" in table.parameters["interpolate"]


@needs_torch
def test_explain_builds_the_table_once_when_the_cache_has_none(
        builtin: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KB_CACHE_DIR", str(tmp_path))
    key = torch_key()
    assert key is not None and not names_module.table_path(key).exists()
    found = hints("AttributeError: module 'torch' has no attribute 'zero'", builtin,
                  "err-torch-no-attribute")
    assert found[0].startswith("did you mean torch.zeros?")
    assert json.loads(names_module.table_path(key).read_text())["attributes"]["torch"]

    def no_child(*args: object, **kwargs: object) -> None:
        raise AssertionError("built again although cached")

    monkeypatch.setattr(subprocess, "run", no_child)
    assert "zeros" in load_table().attributes["torch"]


def test_no_table_needed_no_torch_imported_and_no_child(builtin: dict,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    def no_child(*args: object, **kwargs: object) -> None:
        raise AssertionError("a child was started for an entry without lookups")

    monkeypatch.setattr(names_module, "load_table", no_child)
    monkeypatch.setattr(subprocess, "run", no_child)
    result = explain("RuntimeError: mat1 and mat2 shapes cannot be multiplied (64x512 and "
                     "256x10)", builtin)
    assert result.found


def fake_torch(root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A torch package that fails when imported, first on sys.path (and not yet imported
    here: find_spec answers from sys.modules when an earlier test imported the real one)."""
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    monkeypatch.syspath_prepend(str(root))
    package = root / "torch"
    package.mkdir()
    (package / "__init__.py").write_text("raise SystemExit('never imported')\n")
    (package / "version.py").write_text("__version__ = '9.9'\n")
    return package


def test_the_key_follows_torchs_files_without_importing_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = fake_torch(tmp_path, monkeypatch)
    first = torch_key()
    assert first is not None and "torch" not in sys.modules
    assert torch_key() == first
    stat = (package / "version.py").stat()
    os.utime(package / "version.py", ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert torch_key() not in (None, first)  # a reinstall: a new table


def test_a_torch_that_fails_to_import_gives_an_empty_table(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_torch(tmp_path, monkeypatch)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))  # the child finds the same torch
    assert load_table() == NameTable()


def test_no_torch_means_an_empty_table_and_no_child(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(names_module.importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("no torch, no child"))
    assert torch_key() is None and load_table() == NameTable()


@needs_torch
def test_building_the_index_builds_the_table_in_the_background(tmp_path: Path) -> None:
    env = {"KB_CACHE_DIR": str(tmp_path)}
    assert run_kb("search", "conv2d", "--limit", "1", env=env).returncode == 0
    key = torch_key()
    assert key is not None
    path = names_module.table_path(key)
    deadline = time.monotonic() + 90
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "Conv2d" in json.loads(path.read_text())["attributes"]["torch.nn"]
    assert not [p for p in path.parent.iterdir() if p.name.startswith("tmp-")]


# ---------------------------------------------------------------- the CLI


@needs_torch
def test_cli_answers_with_the_name_meant_in_both_languages() -> None:
    runner = CliRunner()
    message = "AttributeError: module 'torch' has no attribute 'zero'"
    result = runner.invoke(app, ["explain", message])
    assert result.exit_code == 0, result.output
    assert "did you mean torch.zeros?" in " ".join(result.output.split())
    result = runner.invoke(app, ["explain", "--lang", "zh", message])
    assert "你是不是要写torch.zeros？" in "".join(result.output.split())


@needs_torch
def test_cli_subprocess_json_has_the_derived_capture(tmp_path: Path) -> None:
    traceback_text = real_error("from torch import nn\nnn.Conv2d(3, 8, kernal_size=3)\n",
                                tmp_path)
    run = run_kb("explain", "--json", input=traceback_text)
    assert run.returncode == 0, run.stderr
    (top, *_) = json.loads(run.stdout)
    assert top["id"] == "err-unexpected-keyword"
    assert top["captures"]["closest_kw"] == "kernel_size"
    assert top["captures"]["wrong_kw"] == "kernal_size"


def test_cli_subprocess_look_alike_has_no_suggestion() -> None:
    run = run_kb("explain", "AttributeError: module 'numpy' has no attribute 'float'")
    assert run.returncode == 0 and "did you mean" not in run.stdout.lower()


# ---------------------------------------------------------------- item 4: shadowed modules


def test_a_timeit_py_of_yours_is_named_as_the_file_that_shadows_timeit(
        builtin: dict, tmp_path: Path) -> None:
    (tmp_path / "timeit.py").write_text("def run():\n    pass\n")
    text = real_error("from timeit import default_timer\n", tmp_path)
    found = hints(text, builtin, "err-shadowed-module")
    assert found[0] == (f"your file {tmp_path / 'timeit.py'} shadows the module timeit: rename "
                        "it (e.g. my_timeit.py) and delete the __pycache__ folder next to it")


@needs_torch
def test_a_script_named_torch_py_is_named_from_its_traceback(builtin: dict,
                                                             tmp_path: Path) -> None:
    """3.11 names no file in a circular import: the traceback's own frame does."""
    (tmp_path / "torch.py").write_text("import torch\nx = torch.zeros(2)\n")
    run = subprocess.run([sys.executable, "torch.py"], capture_output=True, text=True,
                         cwd=tmp_path, timeout=60)
    assert "partially initialized module 'torch'" in run.stderr
    found = hints(run.stderr, builtin, "err-shadowed-module")
    assert found[0].startswith(f"your file {tmp_path / 'torch.py'} shadows the module torch")
    run = run_kb("explain", "--lang", "zh", input=run.stderr)
    assert f"你的文件{tmp_path / 'torch.py'}挡住了模块torch" in "".join(run.stdout.split())


@pytest.mark.parametrize("text", [
    # a module of your own, named like no library: it just lacks the name
    "ImportError: cannot import name 'Net' from 'mymodel' (/home/u/proj/mymodel.py)",
    # the real standard library
    "ImportError: cannot import name 'x' from 'timeit' (/usr/lib/python3.11/timeit.py)",
    # the message alone names no file
    "AttributeError: partially initialized module 'torch' has no attribute 'cuda' (most "
    "likely due to a circular import)",
    # the real torch half-imported: its frames are in site-packages, the user's is train.py
    'Traceback (most recent call last):\n  File "/home/u/proj/train.py", line 1, in <module>\n'
    '    import torch\n  File "/opt/env/lib/python3.11/site-packages/torch/__init__.py", line '
    "9, in <module>\n    x = torch.zeros(1)\nAttributeError: partially initialized module "
    "'torch' has no attribute 'zeros' (most likely due to a circular import)",
])
def test_no_shadowing_file_is_named_for_look_alikes(text: str, builtin: dict) -> None:
    result = explain(text, builtin)
    assert not [h for m in result.matches for h in m.hints if h.startswith("your file")]


def test_shadowing_file_reads_windows_and_package_paths() -> None:
    assert shadowing_file("C:\\naucse-python\\02\\random.py", "random") == \
        "C:\\naucse-python\\02\\random.py"
    assert shadowing_file("/home/u/proj/json/__init__.py", "json") == \
        "/home/u/proj/json/__init__.py"
    assert shadowing_file("/home/u/proj/random_utils.py", "random") is None
    assert shadowing_file("/usr/lib/python3.11/random.py", "random") is None
    assert shadowing_file("/home/u/.venv/lib/python3.11/site-packages/numpy/__init__.py",
                          "numpy") is None


# ---------------------------------------------------------------- the lookups' schema (KB023)


def parse_lookups(lookups: list[dict[str, str]]) -> tuple[Entry | None, list[str]]:
    from kb.schema import parse_entry

    data = {"id": "x", "kind": "error", "title": "t", "summary": "s",
            "zh": {"title": "标题", "summary": "摘要"}, "causes": ["c"], "fix": "f",
            "patterns": ["module '(?P<module>\\w+)' has no attribute '(?P<attr>\\w+)'"],
            "lookups": lookups}
    entry, problems = parse_entry(data, Path("x.yaml"))
    return entry, [f"{p.code} {p.message}" for p in problems]


def test_a_valid_lookup_is_kept_on_the_entry() -> None:
    entry, problems = parse_lookups([{"name": "attr", "among": "attributes", "of": "{module}",
                                      "gives": "closest"},
                                     {"name": "frame_file", "among": "files", "of": "{module}",
                                      "gives": "shadow_file"}])
    assert problems == [] and entry is not None
    assert [(lk.name, lk.among, lk.gives) for lk in entry.lookups] == [
        ("attr", "attributes", "closest"), ("frame_file", "files", "shadow_file")]


@pytest.mark.parametrize(("lookup", "says"), [
    ({"name": "atr", "among": "attributes", "of": "{module}", "gives": "closest"},
     "'name' reads the capture 'atr', which no pattern of this entry makes; did you mean 'attr'?"),
    ({"name": "attr", "among": "atributes", "of": "{module}", "gives": "closest"},
     "unknown 'among' 'atributes'; expected one of: attributes, parameters, signatures, files"),
    ({"name": "attr", "among": "attributes", "of": "{modul}", "gives": "closest"},
     "'of' reads the capture 'modul'"),
    ({"name": "attr", "among": "attributes", "of": "{module}", "gives": "attr"},
     "'gives' 'attr' is already a capture of a pattern"),
    ({"name": "attr", "among": "attributes", "of": "{module}", "gives": "the closest"},
     "'gives' must be a capture name"),
    ({"name": "attr", "among": "signatures", "of": "{module}", "gives": "closest"},
     "needs 'wrong'"),
    ({"name": "attr", "among": "attributes", "of": "{module", "gives": "closest"},
     "'of' hint text has a '{' without its '}'"),
])
def test_a_wrong_lookup_is_kb023_saying_what_is_wrong(lookup: dict[str, str], says: str) -> None:
    entry, problems = parse_lookups([lookup])
    assert entry is None
    assert len(problems) == 1 and problems[0].startswith("KB023 lookup: ")
    assert says in problems[0], problems


def test_a_lookup_missing_a_key_is_kb006() -> None:
    entry, problems = parse_lookups([{"name": "attr", "among": "attributes"}])
    assert entry is None and sorted(problems) == ["KB006 a lookup is missing 'gives'",
                                                  "KB006 a lookup is missing 'of'"]
