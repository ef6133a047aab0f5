"""`kb explain --capture -- python SCRIPT ARGS`: real scripts, real torch, real exceptions.

Every script runs twice, once as `python SCRIPT` and once through the hook
(kb/explain/runtime_hook.py), and what the user sees must not differ: stdout,
stderr (the traceback, without the hook's or runpy's frames), the exit code,
sys.argv[1:], sys.path[0], and a sitecustomize on PYTHONPATH. What the hook
recorded (shapes, dtypes, devices of the failing frame's tensors and modules) must
reach the hints and the answer.

These run on this venv's interpreter, Python 3.11, the newest the project supports
that is installed here. How a newer Python is guarded: the hook runs the script
with runpy's public run_path (and, for -m, runpy._run_module_as_main, what `python -m`
itself calls, or run_module when a Python lacks it); everything it records goes
through one `except Exception` that writes nothing; kb reads the record with
`parse_runtime`, which refuses any record not exactly in the format version 1 it
knows; and a record for another frame than the traceback's is not used. So a Python
that changes frames, f_locals or tracebacks loses the shapes, never the run: the
tests below for a failing write, a hostile object and a garbled record check that.
"""

from __future__ import annotations

import concurrent.futures
import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from kb.cli import app
from kb.errors import UsageError
from kb.explain import explain
from kb.explain import runtime_hook as hook
from kb.explain.derive import Situation
from kb.explain.frames import _LIBRARY, Frame
from kb.explain.runtime import (
    HOOK,
    OUT_ENV,
    Recorded,
    Runtime,
    hooked_argv,
    parse_runtime,
    read_runtime,
    run_captured,
)
from kb.loader import load_entries
from kb.render.explain import explanation_json, runtime_lines

from .conftest import run_kb

PY = sys.executable


@pytest.fixture(scope="module")
def entries():
    return load_entries([]).entries


def write(directory: Path, name: str, body: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def plain(argv: list[str], cwd: Path, env: dict[str, str] | None = None):
    """The command as the user would run it without kb."""
    return subprocess.run(argv, cwd=cwd, capture_output=True, timeout=120,
                          env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})


def captured(argv: list[str], cwd: Path, monkeypatch: pytest.MonkeyPatch,
             env: dict[str, str] | None = None):
    """The same command through the hook: (exit code, stdout, stderr, runtime)."""
    monkeypatch.chdir(cwd)
    for k, v in (env or {}).items():
        monkeypatch.setenv(k, v)
    out, err = io.BytesIO(), io.BytesIO()
    run, runtime = run_captured(argv, out, err)
    return run, out.getvalue(), err.getvalue(), runtime


def same_as_plain(argv: list[str], cwd: Path, monkeypatch: pytest.MonkeyPatch,
                  env: dict[str, str] | None = None):
    """Run both ways, check the user sees the same, return the captured run's parts.
    The plain run goes on in a thread meanwhile: two torch imports at once on two cores."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        plain_run = pool.submit(plain, argv, cwd, env)
        run, out, err, runtime = captured(argv, cwd, monkeypatch, env)
        before = plain_run.result()
    assert run.exit_code == before.returncode
    assert err.decode() == before.stderr.decode()
    assert out == before.stdout
    return run, out, err, runtime


NHWC = """\
    import torch
    from torch import nn

    conv = nn.Conv2d(3, 24, 3)
    images = torch.randn(100, 32, 32, 3)
    print("batch", tuple(images.shape))
    out = conv(images)
    """

LINEAR = """\
    import torch
    from torch import nn


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3)
            self.fc = nn.Linear(256, 10)
            self.scale = torch.ones(1)
            self.name = "net"

        def forward(self, x):
            x = self.conv(x)
            return self.fc(x.view(x.size(0), -1))


    Net()(torch.randn(64, 3, 10, 10))
    """

# A CUDA tensor on a machine without a GPU: FakeTensorMode keeps device and shape only,
# and raises the very message a GPU run gives (entries/err-device-mismatch.yaml).
FAKE_CUDA = """\
    import torch
    import torch.nn.functional as F
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode():
        logits = torch.empty(4, 10, device="cuda")
        labels = torch.zeros(4, dtype=torch.long)
        loss = F.cross_entropy(logits, labels)
    """

META = """\
    import torch
    from torch import nn

    model = nn.Linear(3, 2).to("meta")
    x = torch.randn(4, 3)
    y = model(x)
    """


# ---------------------------------------------------------------- real scripts, real torch


def test_nhwc_conv_names_the_users_tensor_and_its_shape_in_the_fix(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entries) -> None:
    script = write(tmp_path, "train.py", NHWC)
    run, out, _, runtime = same_as_plain([PY, str(script)], tmp_path, monkeypatch)
    assert run.exit_code == 1 and out == b"batch (100, 32, 32, 3)\n"
    assert runtime is not None
    assert (runtime.file, runtime.line, runtime.function) == (str(script), 7, "<module>")
    assert runtime.get("images") == Recorded("images", "tensor", "Tensor", (100, 32, 32, 3),
                                             "float32", "cpu", False, "", True)
    assert runtime.get("conv") is not None
    assert runtime.get("conv").repr == "Conv2d(3, 24, kernel_size=(3, 3), stride=(1, 1))"
    assert runtime.get("torch") is None and runtime.get("nn") is None  # modules, not tensors

    result = explain(run.output, entries, situation=Situation(runtime=runtime))
    best = result.matches[0]
    assert best.entry.id == "err-conv-channels"
    assert best.captures["frame_arg_shape"] == [100, 32, 32, 3]
    assert best.hints[0] == ("images is [100, 32, 32, 3] float32 on cpu: channels-last (NHWC), "
                             "with its 3 channels last; put them at dim 1 before the layer: "
                             "`images = images.permute(0, 3, 1, 2)`")
    assert runtime_lines(result) == [
        "conv: Conv2d(3, 24, kernel_size=(3, 3), stride=(1, 1)) cpu",
        "images: [100, 32, 32, 3] float32 cpu"]
    zh = explain(run.output, entries, lang="zh", situation=Situation(runtime=runtime))
    assert zh.matches[0].hints[0].startswith("images 是 [100, 32, 32, 3] float32，在 cpu 上")


def test_linear_in_forward_records_self_and_its_layers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entries) -> None:
    script = write(tmp_path, "model.py", LINEAR)
    run, _, _, runtime = same_as_plain([PY, str(script)], tmp_path, monkeypatch)
    assert runtime is not None and runtime.function == "forward" and runtime.line == 15
    names = [v.name for v in runtime.values]
    # the names on the failing line first; `self`'s own layers and tensors, not its "net"
    assert names[:3] == ["self", "self.fc", "x"]
    assert set(names) == {"self", "x", "self.fc", "self.conv", "self.scale"}
    assert runtime.get("self.fc").repr == "Linear(in_features=256, out_features=10, bias=True)"
    assert runtime.get("x").shape == (64, 8, 8, 8) and runtime.get("x").requires_grad

    result = explain(run.output, entries, situation=Situation(runtime=runtime))
    best = result.matches[0]
    assert best.entry.id == "err-mat-shapes"
    assert best.captures["frame_call"] == "self.fc"
    assert best.captures["frame_call_repr"] == "Linear(in_features=256, out_features=10, bias=True)"
    assert best.captures["frame_call_type"] == "Linear"
    assert runtime_lines(result) == [
        "self.fc: Linear(in_features=256, out_features=10, bias=True) cpu",
        "x: [64, 8, 8, 8] float32 cpu requires_grad"]


def test_device_mismatch_says_which_tensor_is_where(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entries) -> None:
    script = write(tmp_path, "loss.py", FAKE_CUDA)
    run, _, _, runtime = same_as_plain([PY, str(script)], tmp_path, monkeypatch)
    assert "found at least two devices, cuda:0 and cpu!" in run.output  # the message never
    assert runtime is not None  # says which tensor is which
    assert runtime.get("logits").device == "cuda:0" and runtime.get("labels").device == "cpu"
    result = explain(run.output, entries, situation=Situation(runtime=runtime))
    best = result.matches[0]
    assert best.entry.id == "err-device-mismatch"
    assert (best.captures["on_dev_a"], best.captures["on_dev_b"]) == ("logits", "labels")
    assert best.hints[0].startswith("logits on cuda:0, labels on cpu: put them on one device")
    zh = explain(run.output, entries, lang="zh", situation=Situation(runtime=runtime))
    assert zh.matches[0].hints[0].startswith("logits 在 cuda:0 上，labels 在 cpu 上")
    assert runtime_lines(result) == ["logits: [4, 10] float32 cuda:0", "labels: [4] int64 cpu"]


def test_a_meta_model_and_a_cpu_input_are_told_apart(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entries) -> None:
    script = write(tmp_path, "meta.py", META)
    run, _, _, runtime = same_as_plain([PY, str(script)], tmp_path, monkeypatch)
    result = explain(run.output, entries, situation=Situation(runtime=runtime))
    assert result.matches[0].entry.id == "err-device-mismatch"
    assert result.matches[0].hints[0] == "model on meta, x on cpu: put them on one device"


def test_without_capture_the_same_text_gets_no_runtime_hint(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entries) -> None:
    script = write(tmp_path, "loss.py", FAKE_CUDA)
    text = plain([PY, str(script)], tmp_path).stderr.decode()
    result = explain(text, entries)
    assert result.runtime is None and runtime_lines(result) == []
    assert result.matches[0].hints[0].startswith("one tensor is on cuda:0 and another on cpu")


def test_an_exception_inside_a_library_records_the_users_calling_frame(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = write(tmp_path, "read.py", """\
        import json

        import numpy as np

        def load(text):
            table = np.zeros((2, 3), dtype=np.float32)
            return json.loads(text)

        load("{")
        """)
    _, _, err, runtime = same_as_plain([PY, str(script)], tmp_path, monkeypatch)
    assert b"json/decoder.py" in err  # raised in the stdlib ...
    assert runtime is not None  # ... recorded where the user's code called it
    assert (runtime.function, runtime.line, runtime.exception) == ("load", 7, "JSONDecodeError")
    assert runtime.values == (Recorded("table", "ndarray", "ndarray", (2, 3), "float32",
                                       on_line=False),)


def test_a_library_module_run_with_dash_m_has_no_user_frame_to_record(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run, _, err, runtime = same_as_plain([PY, "-m", "base64", "no-such-file"], tmp_path,
                                         monkeypatch)
    assert run.exit_code == 1 and b"FileNotFoundError" in err
    assert b"in _run_module_as_main" in err  # python -m's own frame, kept as it prints it
    assert runtime is None


def test_a_module_run_with_dash_m_sees_what_python_dash_m_gives_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "proj/__init__.py", "")
    write(tmp_path, "proj/train.py", """\
        import sys

        import numpy as np

        print(sys.argv, sys.path[0], __name__, __file__)
        weights = np.ones((3, 4))
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied (64x512 and 256x10)")
        """)
    run, out, err, runtime = same_as_plain([PY, "-m", "proj.train", "--lr", "0.1"], tmp_path,
                                           monkeypatch)
    module = tmp_path / "proj" / "train.py"
    assert out.decode() == f"{[str(module), '--lr', '0.1']} {tmp_path} __main__ {module}\n"
    assert run.exit_code == 1 and b"mat1 and mat2" in err and b"runtime_hook" not in err
    assert runtime is not None and runtime.file == str(module) and runtime.line == 7
    assert runtime.get("weights").shape == (3, 4)


def test_sys_exit_keeps_its_code_and_records_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = write(tmp_path, "stop.py", """\
        import sys
        import numpy as np
        table = np.zeros(3)
        print("stopping")
        sys.exit(3)
        """)
    run, out, _, runtime = same_as_plain([PY, str(script)], tmp_path, monkeypatch)
    assert run.exit_code == 3 and out == b"stopping\n" and runtime is None


def test_a_hostile_object_breaks_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = write(tmp_path, "hostile.py", """\
        import torch
        from torch import nn

        class Bad(torch.Tensor):
            @property
            def shape(self):
                raise RuntimeError("no shape for you")

        class Odd:
            def __repr__(self):
                raise RuntimeError("no repr")
            def __getattribute__(self, name):
                raise RuntimeError("no attributes")

        class Sly(nn.Module):
            def extra_repr(self):
                raise RuntimeError("no extra repr")

        class Weird:
            @property
            def __class__(self):
                raise RuntimeError("no class")

        bad = torch.zeros(2).as_subclass(Bad)
        odd, sly, weird = Odd(), Sly(), Weird()
        good = torch.zeros(5, 6)

        def step(self):
            return good @ good

        step(odd)
        """)
    run, _, err, runtime = same_as_plain([PY, str(script)], tmp_path, monkeypatch)
    assert run.exit_code == 1 and b"mat1 and mat2 shapes cannot be multiplied" in err
    assert runtime is not None and runtime.function == "step"  # `self` is the hostile Odd
    assert runtime.values == ()  # step's only local; `good` is a global, not step's


def test_hostile_globals_at_module_level_are_skipped_the_rest_recorded(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = write(tmp_path, "hostile2.py", """\
        import torch
        from torch import nn

        class Bad(torch.Tensor):
            @property
            def shape(self):
                raise RuntimeError("no shape for you")

        class Sly(nn.Module):
            def extra_repr(self):
                raise RuntimeError("no extra repr")

        class Weird:
            @property
            def __class__(self):
                raise RuntimeError("no class")

        bad = torch.zeros(2).as_subclass(Bad)
        sly, weird = Sly(), Weird()
        good = torch.zeros(5, 6)
        good @ good
        """)
    _, _, _, runtime = same_as_plain([PY, str(script)], tmp_path, monkeypatch)
    assert runtime is not None
    assert [v.name for v in runtime.values] == ["good", "sly"]
    assert runtime.get("sly").repr == "Sly()"


def test_stdout_is_passed_through_byte_for_byte(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = write(tmp_path, "noisy.py", """\
        import sys
        for i in range(3):
            print(f"epoch {i} loss {1 / (i + 1):.3f}")
        sys.stdout.buffer.write(bytes(range(256)))
        sys.stdout.flush()
        print("日本語 ✓", file=sys.stderr)
        raise ValueError("done")
        """)
    run, out, _, _ = same_as_plain([PY, str(script)], tmp_path, monkeypatch)
    assert out.startswith(b"epoch 0 loss 1.000\nepoch 1 loss 0.500\n")
    assert bytes(range(256)) in out and run.exit_code == 1


def test_the_users_sitecustomize_runs_and_the_script_sees_what_python_gives_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = write(tmp_path, "site/sitecustomize.py", """\
        import sys
        sys.stderr.write("sitecustomize ran\\n")
        sys.kb_test_marker = "from sitecustomize"
        """)
    write(tmp_path, "work/helper.py", "VALUE = 42\n")
    script = write(tmp_path, "work/main.py", """\
        import os, sys
        import helper  # found through sys.path[0], the script's directory
        print(sys.argv[1:], sys.path[0], __name__, __file__, helper.VALUE)
        print(getattr(sys, "kb_test_marker", None), os.environ.get("KB_CAPTURE_OUT"))
        print(sys.path[1:3])
        """)
    env = {"PYTHONPATH": str(site.parent)}
    run, out, err, runtime = same_as_plain([PY, "work/main.py", "a", "--b"], tmp_path,
                                           monkeypatch, env)
    assert run.exit_code == 0 and runtime is None
    assert err == b"sitecustomize ran\n"
    assert out.decode().splitlines()[:2] == [
        f"['a', '--b'] {script.parent} __main__ {script} 42", "from sitecustomize None"]


def test_the_record_file_is_removed_and_torch_is_never_imported_by_the_hook(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = write(tmp_path, "plain.py", """\
        import atexit, sys
        atexit.register(lambda: print("torch" in sys.modules, "numpy" in sys.modules))
        x = [1, 2, 3]
        raise KeyError("missing")
        """)
    made: list[str] = []
    real = __import__("tempfile").mkstemp

    def spy(*args, **kwargs):
        fd, name = real(*args, **kwargs)
        made.append(name)
        return fd, name

    monkeypatch.setattr("tempfile.mkstemp", spy)
    _, out, _, runtime = same_as_plain([PY, str(script)], tmp_path, monkeypatch)
    assert out == b"False False\n"
    assert runtime is not None and runtime.values == ()  # a list is none of the three kinds
    assert made and not any(Path(m).exists() for m in made)


def test_a_failing_record_changes_nothing(tmp_path: Path) -> None:
    """The hook itself, with a record file it cannot write: the run is as without it."""
    script = write(tmp_path, "train.py", NHWC)
    env = {**os.environ, OUT_ENV: str(tmp_path / "no-such-dir" / "out.json")}
    hooked = subprocess.run([PY, str(HOOK), str(script)], cwd=tmp_path, capture_output=True,
                            env=env, timeout=120)
    before = plain([PY, str(script)], tmp_path)
    assert (hooked.returncode, hooked.stdout, hooked.stderr) == \
        (before.returncode, before.stdout, before.stderr)
    assert not (tmp_path / "no-such-dir").exists()


def test_a_syntax_error_and_a_missing_script_look_as_python_prints_them(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = write(tmp_path, "broken.py", "x = (\n")
    _, _, err, runtime = same_as_plain([PY, str(broken)], tmp_path, monkeypatch)
    assert b"SyntaxError" in err and b"Traceback" not in err and runtime is None
    run, _, err, _ = same_as_plain([PY, "missing.py"], tmp_path, monkeypatch)
    assert run.exit_code == 2 and b"can't open file" in err


# ---------------------------------------------------------------- kb's side of the record


def test_the_hook_and_kb_agree_on_what_is_the_users_code() -> None:
    assert _LIBRARY.pattern == hook.LIBRARY
    assert hook.OUT_ENV == OUT_ENV


RECORD = {"version": 1, "python": "3.11.7", "file": "/p/train.py", "line": 7,
          "function": "<module>", "exception": "RuntimeError", "truncated": False,
          "values": [{"name": "images", "kind": "tensor", "type": "Tensor",
                      "shape": [2, 3], "dtype": "float32", "device": "cpu",
                      "requires_grad": False, "on_line": True}]}


@pytest.mark.parametrize("change", [
    {"version": 2}, {"line": "7"}, {"values": "images"}, {"file": None},
    {"values": [{"name": "x", "kind": "tensor", "type": "Tensor", "shape": ["2"]}]},
    {"values": [{"name": "x", "kind": "dict", "type": "dict"}]},
    {"values": [{"name": "x", "kind": "tensor", "type": "Tensor", "shape": [1],
                 "requires_grad": "yes"}]},
])
def test_a_record_not_in_the_format_is_not_used(change: dict) -> None:
    assert parse_runtime(RECORD) is not None
    assert parse_runtime({**RECORD, **change}) is None


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=8), inner, max_size=5)))
def test_any_json_is_a_runtime_or_none_never_an_error(data: object) -> None:
    result = parse_runtime(data)
    assert result is None or isinstance(result, Runtime)


def test_an_empty_garbled_or_huge_record_file_is_none(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    for text in ("", "{", "[1, 2]", "x" * (300 * 1024)):
        path.write_text(text, encoding="utf-8")
        assert read_runtime(path) is None
    path.write_text(json.dumps(RECORD), encoding="utf-8")
    assert read_runtime(path).get("images").shape == (2, 3)
    assert read_runtime(tmp_path / "absent.json") is None


def test_a_record_of_another_frame_than_the_tracebacks_is_not_used(entries) -> None:
    runtime = parse_runtime(RECORD)
    text = ('Traceback (most recent call last):\n  File "/p/train.py", line 9, in <module>\n'
            "    out = conv(images)\nRuntimeError: Given groups=1, weight of size [24, 3, 3, 3],"
            " expected input[100, 32, 32, 3] to have 3 channels, but got 32 channels instead\n")
    result = explain(text, entries, situation=Situation(runtime=runtime))
    assert result.runtime is None and "frame_arg_shape" not in result.matches[0].captures
    at = Situation(frame=Frame("/p/train.py", 7, "<module>", "out = conv(images)"),
                   runtime=runtime)
    assert at.runtime_at_frame() is runtime


def test_on_device_prefers_the_failing_lines_names_and_bounds_the_list() -> None:
    from kb.explain.derive import _on_device

    values = tuple(Recorded(f"t{i}", "tensor", "Tensor", (1,), "float32", "cuda:1",
                            on_line=i in (4, 5)) for i in range(6))
    assert _on_device(values, "cuda:1") == "t4, t5"
    assert _on_device(values, "cuda") == "t4, t5"  # an old message's bare device type
    assert _on_device(values, "cpu") == ""
    off_line = tuple(Recorded(v.name, v.kind, v.type, v.shape, v.dtype, v.device)
                     for v in values)
    assert _on_device(off_line, "cuda:1") == "t0, t1, t2, ..."


# ---------------------------------------------------------------- the command line


@pytest.mark.parametrize(("argv", "expected"), [
    (["python", "t.py", "-x"], ["python", str(HOOK), "t.py", "-x"]),
    (["/opt/conda/bin/python3.12", "-u", "-X", "dev", "t.py"],
     ["/opt/conda/bin/python3.12", "-u", "-X", "dev", str(HOOK), "t.py"]),
    (["python3", "-Wignore", "-OO", "t.py"], ["python3", "-Wignore", "-OO", str(HOOK), "t.py"]),
    (["python", "-m", "pkg.train", "--lr", "1"],
     ["python", str(HOOK), "-m", "pkg.train", "--lr", "1"]),
    (["python", "-um", "pkg"], ["python", "-u", str(HOOK), "-m", "pkg"]),
    (["python", "-mpkg", "a"], ["python", str(HOOK), "-m", "pkg", "a"]),
    (["C:\\Python311\\python.exe", "t.py"], ["C:\\Python311\\python.exe", str(HOOK), "t.py"]),
])
def test_the_hook_goes_after_pythons_own_options(argv: list[str], expected: list[str]) -> None:
    assert hooked_argv(argv) == expected


@pytest.mark.parametrize(("argv", "says"), [
    ([], "needs a command"),
    (["torchrun", "t.py"], "'torchrun' is not a Python interpreter"),
    (["python2x", "t.py"], "not a Python interpreter"),
    (["python", "-c", "1/0"], "not `python -c CODE`"),
    (["python"], "needs the script"),
    (["python", "-"], "needs the script"),
    (["python", "-m"], "needs a module name"),
    (["python", "-i", "t.py"], "option '-i'"),
    (["python", "--version"], "option '--version'"),
])
def test_any_other_command_is_a_one_line_usage_error(argv: list[str], says: str) -> None:
    with pytest.raises(UsageError, match=says) as raised:
        hooked_argv(argv)
    assert "\n" not in raised.value.message and "kb explain --capture --" in raised.value.message


@given(st.lists(st.sampled_from(["-u", "-B", "-O", "-s", "-E", "-W", "-X", "-uB"]), max_size=5),
       st.lists(st.text(alphabet="abc-=.", max_size=6), max_size=4))
def test_options_stay_before_the_hook_and_arguments_after_the_script(
        options: list[str], args: list[str]) -> None:
    words = [w for o in options for w in ((o, "arg") if o in ("-W", "-X") else (o,))]
    argv = ["python", *words, "train.py", *args]
    out = hooked_argv(argv)
    assert out == ["python", *words, str(HOOK), "train.py", *args]


runner = CliRunner()


def test_cli_capture_without_a_command_is_a_usage_error() -> None:
    result = runner.invoke(app, ["explain", "--capture", "some error"])
    assert result.exit_code == 2
    assert "--capture runs a Python script; write: kb explain --capture -- python SCRIPT ARGS" \
        in result.stderr


def test_cli_capture_of_a_non_python_command_is_a_usage_error() -> None:
    result = runner.invoke(app, ["explain", "--capture", "--", "bash", "train.sh"])
    assert result.exit_code == 2 and "'bash' is not a Python interpreter" in result.stderr
    assert "Traceback" not in result.output


def test_cli_capture_as_a_subprocess_shows_the_shapes_and_keeps_the_exit_code(
        tmp_path: Path) -> None:
    script = write(tmp_path, "train.py", NHWC)
    done = run_kb("explain", "--capture", "--", PY, str(script))
    assert done.returncode == 1
    assert done.stdout == "batch (100, 32, 32, 3)\n"  # the script's own stdout, unchanged
    assert "Traceback (most recent call last)" in done.stderr and "runtime_hook" not in done.stderr
    assert "  images: [100, 32, 32, 3] float32 cpu" in done.stderr
    assert "images = images.permute(0, 3, 1, 2)" in " ".join(done.stderr.split())


def test_cli_capture_json_has_the_runtime_key(tmp_path: Path) -> None:
    script = write(tmp_path, "loss.py", FAKE_CUDA)
    done = run_kb("explain", "--capture", "--json", "--", PY, str(script))
    assert done.returncode == 1
    best = json.loads(done.stdout)[0]
    assert best["id"] == "err-device-mismatch"
    assert best["runtime"]["file"] == str(script) and best["runtime"]["line"] == 8
    assert best["runtime"]["values"][:2] == [
        {"name": "logits", "kind": "tensor", "type": "FakeTensor", "shape": [4, 10],
         "dtype": "float32", "device": "cuda:0", "requires_grad": False},
        {"name": "labels", "kind": "tensor", "type": "FakeTensor", "shape": [4],
         "dtype": "int64", "device": "cpu", "requires_grad": False}]
    assert best["hints"][0].startswith("logits on cuda:0, labels on cpu")
    plain_json = json.loads(run_kb("explain", "--json", "--", PY, str(script)).stdout)
    assert plain_json[0]["runtime"] is None


def test_explanation_json_without_capture_has_a_null_runtime(entries) -> None:
    result = explain("RuntimeError: mat1 and mat2 shapes cannot be multiplied (64x512 and 256x10)",
                     entries)
    assert explanation_json(result)[0]["runtime"] is None
