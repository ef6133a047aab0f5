"""`kb explain --capture -- python SCRIPT ARGS`: the shapes in the frame that failed.

The command must be a Python interpreter (`python`, `python3`, `python3.12`, a path
ending in one of them, `.exe` on Windows) running a script or `-m MODULE`, with its own
options before it. kb runs it as `python [options] HOOK SCRIPT ARGS`, where HOOK is
kb/explain/runtime_hook.py, a stdlib-only file (the user's interpreter need not have kb
installed) that runs the script as Python would and, when an exception goes uncaught,
writes the innermost user frame's tensors, modules and arrays (shapes, dtypes,
devices; never values) to a temporary file kb names in KB_CAPTURE_OUT and removes
afterwards. `read_runtime` turns that file into a `Runtime`, or None when there is
none or it cannot be read: then the text alone is explained, as without --capture.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from kb.errors import UsageError
from kb.record import record

if TYPE_CHECKING:  # a plain `kb explain` reads none of this module's running part
    from kb.explain.command import CommandRun
    from kb.explain.frames import Frame

HOOK = Path(__file__).with_name("runtime_hook.py")
OUT_ENV = "KB_CAPTURE_OUT"  # the name runtime_hook.py reads
MAX_VALUES = 32
MAX_RECORD_BYTES = 256 * 1024

_PYTHON = re.compile(r"python(?:3(?:\.\d{1,2})?)?(?:\.exe)?", re.IGNORECASE)
_FLAGS = frozenset("bBdEOPqsSuRvI")  # options of python without an argument
_WITH_ARG = frozenset("WX")  # -W arg, -X arg (or -Wd, -Xdev)
_USAGE = "write: kb explain --capture -- python SCRIPT ARGS (or python -m MODULE ARGS)"


@record
class Recorded:
    """One local of the failing frame as the hook recorded it."""

    name: str  # `images`, `self.fc`
    kind: str  # "tensor", "module" or "ndarray"
    type: str  # the class: Tensor, Parameter, Linear, ndarray
    shape: tuple[int, ...] | None = None
    dtype: str = ""  # float32 (a module: its first parameter's)
    device: str = ""  # cpu, cuda:0, meta (a module: its first parameter's)
    requires_grad: bool = False
    repr: str = ""  # a module's one-line repr: Linear(in_features=512, out_features=10, ...)
    on_line: bool = False  # the name is on the failing line

    def describe(self) -> str:
        """`[100, 32, 32, 3] float32 cpu`, `Linear(in_features=512, ...) cpu`."""
        if self.kind == "module":
            parts = [self.repr or f"{self.type}(...)", self.device]
        else:
            shape = "[" + ", ".join(str(d) for d in self.shape or ()) + "]"
            parts = [shape, self.dtype, self.device if self.kind == "tensor" else "numpy",
                     "requires_grad" if self.requires_grad else ""]
        return " ".join(p for p in parts if p)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "kind": self.kind, "type": self.type}
        if self.kind == "module":
            out["repr"] = self.repr
        else:
            out["shape"] = list(self.shape or ())
        if self.dtype:
            out["dtype"] = self.dtype
        if self.device:
            out["device"] = self.device
        if self.kind == "tensor":
            out["requires_grad"] = self.requires_grad
        return out


@record
class Runtime:
    """The frame where the exception went uncaught and what its locals were."""

    file: str  # as the traceback prints it
    line: int
    function: str
    exception: str  # the exception's class name
    values: tuple[Recorded, ...]

    def get(self, name: str) -> Recorded | None:
        return next((v for v in self.values if v.name == name), None)

    def at(self, frame: Frame | None) -> bool:
        """True when `frame` (read from the traceback) is the frame recorded."""
        return frame is not None and frame.path == self.file and frame.line == self.line

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "function": self.function,
                "exception": self.exception, "values": [v.to_json() for v in self.values]}


def hooked_argv(argv: Sequence[str]) -> list[str]:
    """`python [options] HOOK SCRIPT ARGS` for `python [options] SCRIPT ARGS` (and
    `... HOOK -m MODULE ARGS` for -m); UsageError for any other command."""
    if not argv:
        raise UsageError(f"--capture needs a command after `--`; {_USAGE}")
    if not _PYTHON.fullmatch(re.split(r"[\\/]", argv[0])[-1]):
        raise UsageError(f"--capture runs Python scripts, and '{argv[0]}' is not a Python "
                         f"interpreter; {_USAGE}")
    i = 1
    while i < len(argv) and argv[i].startswith("-") and argv[i] != "-":
        option = argv[i]
        if option == "--":
            i += 1
            break
        if option[1:2] == "c":
            raise UsageError(f"--capture runs a script or a module, not `python -c CODE` "
                             f"(put the code in a file); {_USAGE}")
        if option.startswith("--"):
            raise UsageError(f"--capture does not know python's option '{option}'; {_USAGE}")
        for j, letter in enumerate(option[1:], 1):
            if letter == "m":  # -m MODULE, or -mMODULE
                module, rest = (option[j + 1:], i + 1) if option[j + 1:] else \
                    (argv[i + 1] if i + 1 < len(argv) else "", i + 2)
                if not module:
                    raise UsageError(f"python -m needs a module name; {_USAGE}")
                return [*argv[:i], *([option[:j]] if j > 1 else []), str(HOOK), "-m", module,
                        *argv[rest:]]
            if letter in _WITH_ARG:
                i += 0 if option[j + 1:] else 1  # its argument is the next word
                break
            if letter not in _FLAGS:
                raise UsageError(f"--capture does not know python's option '-{letter}' "
                                 f"(in '{option}'); {_USAGE}")
        i += 1
    if i >= len(argv) or argv[i] == "-":
        raise UsageError(f"--capture needs the script python runs; {_USAGE}")
    return [*argv[:i], str(HOOK), *argv[i:]]


def run_captured(argv: Sequence[str], out: IO[bytes],
                 err: IO[bytes]) -> tuple[CommandRun, Runtime | None]:
    """Run the Python command `argv` through the hook: its run (as run_command gives it,
    with the command as the user wrote it) and what the hook recorded, if anything."""
    import os
    import tempfile

    from kb.explain.command import CommandRun, run_command

    command = hooked_argv(argv)
    fd, name = tempfile.mkstemp(prefix="kb-capture-", suffix=".json")
    os.close(fd)
    try:
        run = run_command(command, out, err, env={OUT_ENV: name})
        runtime = read_runtime(Path(name)) if run.exit_code != 0 else None
    finally:
        Path(name).unlink(missing_ok=True)
    return CommandRun(tuple(argv), run.exit_code, run.output), runtime


def read_runtime(path: Path) -> Runtime | None:
    """The hook's record in `path`, or None (empty, too big, not the format it writes)."""
    import json

    try:
        if path.stat().st_size > MAX_RECORD_BYTES:
            return None
        data = json.loads(path.read_text(encoding="utf-8") or "null")
    except (OSError, ValueError):
        return None
    return parse_runtime(data)


def parse_runtime(data: object) -> Runtime | None:
    """A Runtime from the hook's JSON, or None when any part of it is not as written."""
    if not isinstance(data, dict) or data.get("version") != 1:
        return None
    file, line, function = data.get("file"), data.get("line"), data.get("function")
    exception, values = data.get("exception"), data.get("values")
    if not (isinstance(file, str) and isinstance(line, int) and isinstance(function, str)
            and isinstance(exception, str) and isinstance(values, list)):
        return None
    recorded = [_recorded(v) for v in values[:MAX_VALUES]]
    if any(r is None for r in recorded):
        return None
    return Runtime(file, line, function, exception, tuple(r for r in recorded if r is not None))


def _recorded(v: object) -> Recorded | None:
    if not isinstance(v, dict):
        return None
    name, kind, cls = v.get("name"), v.get("kind"), v.get("type")
    if not (isinstance(name, str) and isinstance(cls, str)
            and kind in ("tensor", "module", "ndarray")):
        return None
    shape = v.get("shape")
    texts = {k: v.get(k, "") for k in ("dtype", "device", "repr")}
    if kind != "module" and not (isinstance(shape, list) and all(_is_int(d) for d in shape)):
        return None
    if not all(isinstance(t, str) for t in texts.values()) \
            or not isinstance(v.get("requires_grad", False), bool) \
            or not isinstance(v.get("on_line", False), bool):
        return None
    return Recorded(name[:64], str(kind), cls[:64],
                    tuple(shape[:64]) if isinstance(shape, list) else None,
                    str(texts["dtype"])[:32], str(texts["device"])[:32],
                    bool(v.get("requires_grad", False)), str(texts["repr"])[:160],
                    bool(v.get("on_line", False)))


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)
