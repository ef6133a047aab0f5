"""Where in the user's own code the error happened, and the names on that line.

A pasted traceback lists frames outermost first: the user's script, then torch,
then maybe the stdlib. `user_frame` finds the innermost frame whose file is the
user's own (not site-packages, dist-packages, the stdlib or a frozen module), in the
last traceback of the paste (so a DataLoader worker's "Original Traceback" wins over
the main process's). CPython's form and IPython's (`Cell In[3], line 5`,
`File ~/m.py:44, in f(x)` with `----> 44 code`) are read.

`line_names` reads that frame's line with `ast`: the call on it that is a module or
a function of the user's (`self.fc(...)`, `conv(images)`), its first argument when
that is a plain name, and the name assigned. It names a call only when the line
leaves no doubt: CPython 3.11+'s carets (`^^^^`) pick the failing call; without
them the line must hold exactly one call that is not a builtin, a torch/numpy
function or a tensor method. Otherwise it names nothing, and hints that need a
name are skipped.
"""

from __future__ import annotations

import ast
import builtins
import re

from kb.record import record, replace

_CPYTHON = re.compile(r'^\s*File "(?P<path>[^"\n]{1,1000})", line (?P<line>\d{1,7})'
                      r'(?:, in (?P<func>.{1,200}))?\s*$')
_IPYTHON = re.compile(r"^\s*(?:(?P<cell>Cell In\s?\[\d{1,6}\]), line (?P<cline>\d{1,7})|"
                      r"File (?P<path>\S[^\n]{0,1000}?):(?P<line>\d{1,7})"
                      r"(?:, in (?P<func>.{1,200}))?)\s*$")
_IPYTHON_CODE = re.compile(r"^\s*-+> ?(?P<no>\d{1,7}) (?P<code>.*)$")
_CARETS = re.compile(r"^(?P<pad>\s*)[~^]+\s*$")
_TRACEBACK = "Traceback (most recent call last)"
_MODULE_CALL = re.compile(r"torch[\\/]nn[\\/]modules[\\/]module\.py$")
_LAYER = re.compile(r"torch[\\/]nn[\\/]modules[\\/](\w+)\.py$")
_LIBRARY = re.compile(
    r"[\\/](?:site|dist)-packages[\\/]"  # installed packages: torch, numpy, transformers
    r"|[\\/]lib[\\/]python\d(?:\.\d+)?[\\/]"  # the stdlib on Linux and macOS
    r"|[\\/]Lib[\\/]"  # ... and on Windows
    r"|^<frozen |^<(?:string|attrs generated|decorator)"  # importlib, exec'd code
    r"|[\\/]s?bin[\\/][\w.-]+$(?<!\.py)"  # a console script: .venv/bin/torchrun, accelerate
)

# Calls that are not the user's layer or function: a line calling only these names nothing.
_FUNCTION_ROOTS = frozenset((
    "torch", "nn", "F", "functional", "np", "numpy", "math", "os", "sys", "random", "time",
    "json", "re", "plt", "pd", "copy", "itertools", "functools", "logging", "warnings",
    "einops", "tv", "torchvision", "transforms", "T"))
_TENSOR_METHODS = frozenset((
    "view", "reshape", "size", "permute", "transpose", "flatten", "unflatten", "unsqueeze",
    "squeeze", "to", "cuda", "cpu", "float", "double", "half", "bfloat16", "long", "int",
    "bool", "contiguous", "mean", "sum", "max", "min", "argmax", "argmin", "item", "numpy",
    "tolist", "detach", "clone", "expand", "expand_as", "repeat", "type", "backward", "t",
    "mm", "matmul", "bmm", "softmax", "log_softmax", "masked_fill", "chunk", "split",
    "narrow", "index_select", "gather", "scatter", "view_as", "reshape_as", "new_zeros",
    "new_ones", "new_full", "new_empty", "fill_", "zero_", "add", "sub", "mul", "div",
    "pow", "sqrt", "exp", "log", "abs", "clamp", "norm", "std", "var", "all", "any",
    "nonzero", "sort", "topk", "cumsum", "dim", "ndimension", "numel", "requires_grad_",
    "append", "extend", "items", "keys", "values", "get", "format", "join", "strip",
    "split", "replace", "startswith", "endswith", "update", "pop", "copy_", "float_power"))
_BUILTINS = frozenset(dir(builtins))


@record
class Frame:
    """One frame of a traceback as printed."""

    path: str  # as printed: a path, `Cell In[3]` or `<stdin>`
    line: int
    func: str  # "" when not printed
    source: str  # the line of code, stripped ("" when not printed)
    carets: tuple[int, int] | None = None  # columns of `source` that CPython marked
    layer: str = ""  # the torch.nn module file its call reached next ("linear", "conv")

    @property
    def user(self) -> bool:
        return not _LIBRARY.search(self.path)

    def where(self, width: int = 40) -> str:
        """`model.py:44`, the path shortened from the left to about `width` characters."""
        path = self.path
        if len(path) > width:
            parts = re.split(r"[\\/]", path)
            path = "…/" + "/".join(parts[-2:]) if len(parts) > 2 else path
        return f"{path}:{self.line}"


def frames(text: str) -> list[Frame]:
    """The frames of the last traceback in `text`, outermost first."""
    lines = text.splitlines()
    start = max((i for i, line in enumerate(lines) if _TRACEBACK in line), default=-1) + 1
    out: list[Frame] = []
    i = start
    while i < len(lines):
        line = lines[i]
        if "File " not in line and "Cell In" not in line:
            i += 1
            continue
        m = _CPYTHON.match(line)
        if m:
            frame, i = _cpython_frame(m, lines, i + 1)
            out.append(frame)
            continue
        m = _IPYTHON.match(line)
        if m:
            frame, i = _ipython_frame(m, lines, i + 1)
            out.append(frame)
            continue
        i += 1
    return out


def user_frame(text: str) -> Frame | None:
    """The innermost frame of the user's own code in the last traceback, if any, with
    the torch.nn layer its line called when the next frames show it (`layer`)."""
    found = frames(text)
    mine = [i for i, f in enumerate(found) if f.user]
    if not mine:
        return None
    frame = found[mine[-1]]
    for after in found[mine[-1] + 1:]:
        if _MODULE_CALL.search(after.path):  # Module.__call__ on the way to forward
            continue
        layer = _LAYER.search(after.path)
        if layer:
            frame = replace(frame, layer=layer.group(1))
        break
    return frame


def _cpython_frame(m: re.Match[str], lines: list[str], i: int) -> tuple[Frame, int]:
    source, carets = "", None
    if i < len(lines) and lines[i].startswith(" ") and not _CPYTHON.match(lines[i]) \
            and not _CARETS.match(lines[i]):
        printed = lines[i]
        source = printed.strip()
        i += 1
        c = _CARETS.match(lines[i]) if i < len(lines) else None
        if c and source:
            indent = len(printed) - len(printed.lstrip())
            marks = lines[i].rstrip()
            first = len(c.group("pad"))
            carets = (first - indent, len(marks) - indent)
            i += 1
    frame = Frame(m.group("path"), int(m.group("line")), (m.group("func") or "").strip(),
                  source, carets)
    return frame, i


def _ipython_frame(m: re.Match[str], lines: list[str], i: int) -> tuple[Frame, int]:
    path = m.group("cell") or m.group("path") or ""
    line = int(m.group("cline") or m.group("line") or 0)
    source = ""
    for j in range(i, min(i + 12, len(lines))):
        code = _IPYTHON_CODE.match(lines[j])
        if code:
            source, line, i = code.group("code").strip(), int(code.group("no")), j + 1
            break
        if _IPYTHON.match(lines[j]) or _CPYTHON.match(lines[j]):
            break
    return Frame(path, line, (m.group("func") or "").strip(), source), i


# ---------------------------------------------------------------- the names on the line


def line_names(frame: Frame) -> dict[str, str]:
    """`frame_call` (the callee, e.g. `self.fc`), `frame_arg` (its first argument when a
    plain name, e.g. `images`) and `frame_target` (the name assigned, e.g. `out`):
    each only when the line leaves no doubt."""
    tree = _parse(frame.source)
    if tree is None:
        return {}
    out: dict[str, str] = {}
    target = _target(tree)
    if target:
        out["frame_target"] = target
    call = _the_call(tree, frame.carets)
    if call is not None:
        callee = _dotted(call.func)
        if callee:
            out["frame_call"] = callee
        if call.args and isinstance(call.args[0], (ast.Name, ast.Attribute)) \
                and _dotted(call.args[0]):
            out["frame_arg"] = _dotted(call.args[0])
    return out


def _parse(source: str) -> ast.Module | None:
    """The line as a statement: a compound header gets a body, an open call its parens."""
    if not source or len(source) > 500:
        return None
    opened = source.count("(") - source.count(")")
    candidates = [source]
    if opened > 0:
        candidates.append(source.rstrip(",") + ")" * opened)
    candidates += [c + " pass" for c in list(candidates) if c.rstrip().endswith(":")]
    for candidate in candidates:
        try:
            return ast.parse(candidate)
        except (SyntaxError, ValueError):
            continue
    return None


def _target(tree: ast.Module) -> str:
    if len(tree.body) == 1 and isinstance(tree.body[0], (ast.Assign, ast.AnnAssign)):
        node = tree.body[0]
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        if len(targets) == 1:
            return _dotted(targets[0])
    return ""


def _the_call(tree: ast.Module, carets: tuple[int, int] | None) -> ast.Call | None:
    calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call)]
    if carets is not None:
        marked = [c for c in calls if (c.col_offset, c.end_col_offset) == carets]
        if len(marked) == 1:
            return marked[0]
        # the carets mark something else (an operator, a subscript): the calls inside it
        calls = [c for c in calls if c.end_col_offset is not None
                 and carets[0] <= c.col_offset and c.end_col_offset <= carets[1]]
    mine = [c for c in calls if _is_users(c)]
    return mine[0] if len(mine) == 1 else None


def _is_users(call: ast.Call) -> bool:
    """A call of the user's layer or function: not a builtin, a library function or a
    tensor method (`x.view`); `self.X(...)` always is."""
    callee = _dotted(call.func)
    if not callee:
        return False
    parts = callee.split(".")
    if parts[0] == "self":
        return len(parts) > 2 or (len(parts) == 2 and parts[1] not in _TENSOR_METHODS)
    if len(parts) == 1:
        return callee not in _BUILTINS
    return parts[0] not in _FUNCTION_ROOTS and parts[-1] not in _TENSOR_METHODS


def _dotted(node: ast.expr) -> str:
    """`a.b.c` for a name or an attribute chain on a name, else ""."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return ""
    parts.append(node.id)
    return ".".join(reversed(parts))
