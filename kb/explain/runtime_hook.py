"""Run a Python script or module as Python would, and record the shapes in its failing frame.

`kb explain --capture -- python SCRIPT ARGS` runs `python HOOK SCRIPT ARGS` (and
`python -m MOD ARGS` runs `python HOOK -m MOD ARGS`), with the interpreter's own
options kept before HOOK. This file is run by its path in the user's interpreter (a
conda env, say) which may not have kb installed, so it imports the stdlib only, and
only what it needs when it needs it; its syntax stays that of Python 3.7.

Run as Python runs it: sys.argv is the script and its arguments; sys.path[0] is the
script's directory (symlinks resolved), or the working directory for -m, and is left
alone under -P/-I as Python leaves it; a script runs with runpy.run_path as
`__main__` (its path made absolute, as Python 3.9+ prints it; sys.argv[0] is that
path too), a module with runpy._run_module_as_main, which is what `python -m` calls
(runpy.run_module where that is missing). site, sitecustomize, usercustomize,
PYTHONPATH and PYTHONSTARTUP are never touched: the interpreter has dealt with them
before this file runs.

When an exception goes uncaught, the innermost frame of the user's own code (not
site-packages, dist-packages, the stdlib or a frozen module: the rule of
kb/explain/frames.py) and its locals are written as JSON to the file named by
KB_CAPTURE_OUT: for tensors shape, dtype, device and requires_grad, for nn.Modules
the class and a one-line repr, for numpy arrays shape and dtype, for `self` its
direct attributes that are any of these. Never a value. torch and numpy are found in
sys.modules (a script that made a tensor imported torch), never imported here. Then
the traceback is printed by sys.excepthook without this file's and runpy's frames,
as Python would print it, and the exit code is 1. If recording fails in any way,
nothing is written. SystemExit and KeyboardInterrupt pass through untouched.
"""

from __future__ import annotations

import os
import runpy  # now, while sys.path[0] is this file's directory: the stdlib's runpy
import sys

TYPE_CHECKING = False  # mypy reads the block below; the user's process never imports typing
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType
    from typing import Any

OUT_ENV = "KB_CAPTURE_OUT"
VERSION = 1
MAX_VALUES = 32  # recorded entries per frame, the names on the failing line first
MAX_SCANNED = 2000  # locals looked at (a script's module frame holds all its globals)
MAX_NAME = 64
MAX_REPR = 160
MAX_SELF_ATTRS = 200
# The same rule as kb/explain/frames.py `_LIBRARY` (tests/test_explain_runtime.py
# checks they are equal): files that are not the user's own.
LIBRARY = (
    r"[\\/](?:site|dist)-packages[\\/]"
    r"|[\\/]lib[\\/]python\d(?:\.\d+)?[\\/]"
    r"|[\\/]Lib[\\/]"
    r"|^<frozen |^<(?:string|attrs generated|decorator)"
    r"|[\\/]s?bin[\\/][\w.-]+$(?<!\.py)"
)


def main(argv: list[str]) -> None:
    out = os.environ.pop(OUT_ENV, None)  # the script and its children never see it
    if argv[:1] == ["-m"] and len(argv) > 1:
        _set_path0(os.getcwd())
        sys.argv = ["-m", *argv[2:]]  # as Python has it while it looks for the module
        run = _module_runner(argv[1])
    elif argv:
        script = argv[0]
        # Python 3.9+ makes the script's path absolute (joined, not normalised)
        path = script if os.path.isabs(script) or sys.version_info < (3, 9) \
            else os.path.join(os.getcwd(), script)
        if not os.path.exists(path):
            sys.stderr.write(f"{sys.executable}: can't open file {path!r}: "
                             "[Errno 2] No such file or directory\n")
            raise SystemExit(2)
        # a script's directory (symlinks resolved), as Python has it; a directory or a
        # zip file is put on sys.path by run_path itself
        _set_path0(os.path.dirname(os.path.realpath(path)) if os.path.isfile(path) else None)
        sys.argv = [path, *argv[1:]]
        run = _script_runner(path)
    else:
        sys.stderr.write("usage: python runtime_hook.py SCRIPT ARGS | -m MODULE ARGS\n")
        raise SystemExit(2)
    pid = os.getpid()
    try:
        run()
    except Exception as exc:  # SystemExit and KeyboardInterrupt are not caught
        if out and os.getpid() == pid:  # not in a child the script forked
            _record(exc, out)
        _print_uncaught(exc)
        raise SystemExit(1) from None


def _set_path0(path0: str | None) -> None:
    """Put `path0` where Python put this file's directory (it put none under -P or -I)."""
    here = os.path.dirname(os.path.realpath(__file__))
    if sys.path and sys.path[0] and os.path.realpath(sys.path[0]) == here:
        if path0 is None:
            del sys.path[0]
        else:
            sys.path[0] = path0


def _script_runner(path: str) -> Callable[[], object]:
    return lambda: runpy.run_path(path, run_name="__main__")


def _module_runner(module: str) -> Callable[[], object]:
    as_main = getattr(runpy, "_run_module_as_main", None)
    if as_main is None:  # private, but what `python -m` calls; a Python without it
        return lambda: runpy.run_module(module, run_name="__main__", alter_sys=True)

    def run() -> None:
        # `python -m` runs the module in the real __main__: a fresh one, so that this
        # file's own globals are not the module's
        main_module = type(sys)("__main__")
        main_module.__dict__["__builtins__"] = sys.modules["builtins"]
        sys.modules["__main__"] = main_module
        as_main(module, alter_argv=True)

    return run


# ---------------------------------------------------------------- the traceback


def _trimmed(tb: TracebackType | None) -> TracebackType | None:
    """`tb` without its first frames that are this file's or runpy's (Python prints
    none of them for a script; for -m, _run_module_as_main's frames stay, as there)."""
    runpy = sys.modules.get("runpy")
    runpy_file = getattr(runpy, "__file__", None) or ""
    keep_runpy = _keeps_runpy(tb)
    while tb is not None:
        code = tb.tb_frame.f_code
        name = code.co_filename
        if name == __file__:
            tb = tb.tb_next
            continue
        if not keep_runpy and (name == runpy_file or name == "<frozen runpy>"):
            tb = tb.tb_next
            continue
        break
    return tb


def _keeps_runpy(tb: TracebackType | None) -> bool:
    """True when the module ran through _run_module_as_main (its frames are Python's own)."""
    while tb is not None:
        if tb.tb_frame.f_code.co_name == "_run_module_as_main":
            return True
        tb = tb.tb_next
    return False


def _print_uncaught(exc: BaseException) -> None:
    """What Python does with an uncaught exception: sys.last_*, then sys.excepthook."""
    try:
        tb = _trimmed(exc.__traceback__)
        exc.with_traceback(tb)
    except Exception:
        tb = exc.__traceback__
    sys.last_type, sys.last_value, sys.last_traceback = type(exc), exc, tb
    if hasattr(sys, "last_exc"):
        sys.last_exc = exc
    try:
        sys.excepthook(type(exc), exc, tb)
    except Exception as hook_error:  # as Python reports a failing excepthook
        sys.stderr.write("Error in sys.excepthook:\n")
        sys.__excepthook__(type(hook_error), hook_error, hook_error.__traceback__)
        sys.stderr.write("\nOriginal exception was:\n")
        sys.__excepthook__(type(exc), exc, tb)


# ---------------------------------------------------------------- the record


def _record(exc: BaseException, out: str) -> None:
    """Write the innermost user frame's tensors, modules and arrays to `out`, or nothing."""
    try:
        import json

        record = _frame_record(exc)
        if record is None:
            return
        text = json.dumps(record, ensure_ascii=True)
        with open(out, "w", encoding="utf-8") as f:
            f.write(text)
    except Exception:  # a newer Python, a weird object: the text alone will do
        return


def _frame_record(exc: BaseException) -> dict[str, object] | None:
    import re

    library = re.compile(LIBRARY)
    found = None
    tb = exc.__traceback__
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if name != __file__ and not library.search(name):
            found = tb
        tb = tb.tb_next
    if found is None:
        return None
    frame, line = found.tb_frame, found.tb_lineno
    on_line = _names_on_line(frame.f_code.co_filename, line)
    kinds = _Kinds()
    first: list[dict[str, object]] = []
    rest: list[dict[str, object]] = []
    for n, (name, value) in enumerate(list(frame.f_locals.items())):
        if n >= MAX_SCANNED:
            break
        if not isinstance(name, str) or name.startswith("__"):
            continue
        entry = kinds.describe(name, value)
        if entry is not None:
            entry["on_line"] = name in on_line
            (first if name in on_line else rest).append(entry)
        if name == "self":
            for attr, attr_value in _self_attrs(value):
                dotted = "self." + attr
                entry = kinds.describe(dotted, attr_value)
                if entry is not None:
                    entry["on_line"] = dotted in on_line
                    (first if dotted in on_line else rest).append(entry)
    values = (first + rest)[:MAX_VALUES]
    return {
        "version": VERSION, "python": ".".join(str(n) for n in sys.version_info[:3]),
        "file": frame.f_code.co_filename, "line": line, "function": frame.f_code.co_name,
        "exception": type(exc).__name__, "values": values,
        "truncated": len(first) + len(rest) > MAX_VALUES,
    }


def _names_on_line(filename: str, line: int) -> set[str]:
    """Every name and dotted name on the failing line: `self.fc(x)` -> self, self.fc, x."""
    import linecache
    import re

    source = linecache.getline(filename, line)
    names: set[str] = set()
    for dotted in re.findall(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*", source):
        parts = dotted.split(".")
        for i in range(1, len(parts) + 1):
            names.add(".".join(parts[:i]))
    return names


def _self_attrs(obj: object) -> list[tuple[str, object]]:
    """`self`'s own attributes: an nn.Module's submodules, parameters and buffers, and
    what its __dict__ holds (read without its __getattr__)."""
    out: list[tuple[str, object]] = []
    try:
        own = object.__getattribute__(obj, "__dict__")
    except Exception:
        return out
    if not isinstance(own, dict):
        return out
    for key in ("_modules", "_parameters", "_buffers"):
        table = own.get(key)
        if isinstance(table, dict):
            out.extend((k, v) for k, v in table.items() if isinstance(k, str) and v is not None)
    out.extend((k, v) for k, v in own.items() if isinstance(k, str) and not k.startswith("_"))
    return out[:MAX_SELF_ATTRS]


class _Kinds:
    """Tells tensors, modules and arrays apart by the classes already imported."""

    def __init__(self) -> None:
        torch = sys.modules.get("torch")
        self.tensor = getattr(torch, "Tensor", None)
        self.module = getattr(getattr(torch, "nn", None), "Module", None)
        self.ndarray = getattr(sys.modules.get("numpy"), "ndarray", None)

    def describe(self, name: str, value: object) -> dict[str, object] | None:
        """What is recorded of `value`, or None (not one of the three, or it resists)."""
        try:
            if self.tensor is not None and isinstance(value, self.tensor):
                return self._tensor(name, value)
            if self.module is not None and isinstance(value, self.module):
                return self._module(name, value)
            if self.ndarray is not None and isinstance(value, self.ndarray):
                return {"name": _cap(name, MAX_NAME), "kind": "ndarray",
                        "type": type(value).__name__, "shape": _shape(value),
                        "dtype": str(value.dtype)}
        except Exception:
            return None
        return None

    @staticmethod
    def _tensor(name: str, value: Any) -> dict[str, object]:
        return {"name": _cap(name, MAX_NAME), "kind": "tensor", "type": type(value).__name__,
                "shape": _shape(value), "dtype": _dtype(value.dtype),
                "device": str(value.device), "requires_grad": bool(value.requires_grad)}

    def _module(self, name: str, value: Any) -> dict[str, object]:
        cls = type(value).__name__
        try:
            extra = str(value.extra_repr())
        except Exception:
            extra = ""
        extra = " ".join(extra.split())
        if not extra and getattr(value, "_modules", None):
            extra = "..."
        entry: dict[str, object] = {"name": _cap(name, MAX_NAME), "kind": "module",
                                    "type": cls, "repr": _cap(f"{cls}({extra})", MAX_REPR)}
        try:
            first = next(iter(value.parameters()), None)
            if first is not None:
                entry["device"] = str(first.device)
                entry["dtype"] = _dtype(first.dtype)
        except Exception:
            pass
        return entry


def _shape(value: Any) -> list[int]:
    return [int(d) for d in tuple(value.shape)[:64]]


def _dtype(dtype: object) -> str:
    text = str(dtype)
    return text[len("torch."):] if text.startswith("torch.") else text


def _cap(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


if __name__ == "__main__":
    main(sys.argv[1:])
