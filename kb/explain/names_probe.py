"""The names in the installed torch, as JSON on stdout: a script, never imported by kb.

kb runs it as `python names_probe.py` (kb.explain.names.build_table) so that torch is
imported in a child process only, never in kb's own (kb's rule: torch runs only in
child processes). It prints one JSON object:

    {"torch": {"version": ..., "file": ...},
     "attributes": {"torch": [...], "torch.nn": [...], "torch.Tensor": [...], ...},
     "parameters": {"Conv2d.__init__": ["in_channels", ...], "interpolate": [...], ...}}

`attributes` holds dir() of each namespace, keyed by the name an AttributeError gives
it (a module's __name__; "torch.Tensor" for the tensor type). `parameters` holds the
keyword names of each callable, keyed by the function's __qualname__, which is how
CPython 3.10+ names it in "got an unexpected keyword argument" ("Conv2d.__init__()").
A class that inherits __init__ appears under its parent's qualname, as in the message.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
import sys
import tempfile
from typing import Any

NAMESPACES = ("torch", "torch.nn", "torch.nn.functional", "torch.optim",
              "torch.optim.lr_scheduler", "torch.utils.data")


def keywords(fn: Any) -> list[str] | None:
    """The names `fn` accepts as keywords, or None when it has no readable signature
    or takes any keyword (**kwargs: nothing can be misspelt)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # builtins without __text_signature__
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return [p.name for p in params if p.name != "self" and p.kind in (
        inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)]


def probe() -> dict[str, Any]:
    torch = importlib.import_module("torch")
    modules = {name: importlib.import_module(name) for name in NAMESPACES}
    attributes = {name: sorted(dir(m)) for name, m in modules.items()}
    attributes["torch.Tensor"] = sorted(dir(torch.Tensor))
    parameters: dict[str, list[str]] = {}
    for name, module in modules.items():
        if name == "torch":  # its functions are C++ builtins: no signatures to read
            continue
        for attr in attributes[name]:
            obj = getattr(module, attr, None)
            if attr.startswith("_") or obj is None:
                continue
            fn = obj.__init__ if inspect.isclass(obj) else obj
            if not (inspect.isfunction(fn) and fn.__module__.startswith("torch")):
                continue
            names = keywords(fn)
            if names is not None:
                parameters.setdefault(fn.__qualname__, names)
    return {"torch": {"version": str(torch.__version__), "file": str(torch.__file__)},
            "attributes": attributes, "parameters": parameters}


def write_atomic(path: str, text: str) -> None:
    """`text` into `path` through a temporary file renamed into place (a reader never
    sees half a table; kb.cache.write_atomic, which this script cannot import)."""
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="tmp-", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


if __name__ == "__main__":
    # `--out PATH`: write the table there (a build in the background), else print it
    table = json.dumps(probe())
    if sys.argv[1:2] == ["--out"] and len(sys.argv) == 3:
        write_atomic(sys.argv[2], table)
    else:
        sys.stdout.write(table)
