"""What a snippet needs to run: its declared `requires`, and the modules it imports.

A snippet that imports PIL fails on an install without pillow, whether or not its
author remembered to write `requires: [module:PIL]`. So the imports are read from
the code itself (with `ast`, never by running it): every module that is neither
the standard library nor one of kb's own dependencies (torch, numpy) is a need,
which `kb check` tests in the sandbox's interpreter and reports as a skip when
unmet, and which `kb lint` asks the author to declare (rule KB021).
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator

from kb.model import Snippet

# kb's own dependencies: present wherever kb runs.
ALWAYS_THERE = frozenset({"torch", "numpy"})
# Parts of torch that import a package of their own, which torch does not install.
VIA_TORCH = {"torch.utils.tensorboard": "tensorboard"}
# Import names whose pip package is called something else.
PIP_NAMES = {
    "PIL": "pillow", "cv2": "opencv-python", "sklearn": "scikit-learn",
    "skimage": "scikit-image", "yaml": "pyyaml", "google": "protobuf",
    "onnxruntime": "onnxruntime", "huggingface_hub": "huggingface_hub",
}
_IMPORT_ERRORS = frozenset({"ImportError", "ModuleNotFoundError", "Exception",
                            "BaseException"})


def imported_modules(code: str) -> tuple[str, ...]:
    """The top-level modules `code` imports, in order of appearance, following
    VIA_TORCH. Imports guarded by `try: ... except ImportError` are optional and left
    out; code that does not parse imports nothing (running it reports the error)."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return ()
    return tuple(dict.fromkeys(_top(name) for name in _imports(tree)))


def _top(name: str) -> str:
    """The module whose presence `import name` depends on."""
    for part, package in VIA_TORCH.items():
        if name == part or name.startswith(part + "."):
            return package
    return name.split(".")[0]


def _imports(node: ast.AST) -> Iterator[str]:
    """Dotted names imported under `node`, skipping the bodies of try blocks whose
    handlers catch an import error."""
    if isinstance(node, ast.Try) and any(_catches_import_error(h) for h in node.handlers):
        for child in (*node.handlers, *node.orelse, *node.finalbody):
            yield from _imports(child)
        return
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name
    elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
        yield node.module
        for alias in node.names:  # `from torch.utils import tensorboard`
            yield f"{node.module}.{alias.name}"
    for child in ast.iter_child_nodes(node):
        yield from _imports(child)


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    if handler.type is None:
        return True
    names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(isinstance(n, ast.Name) and n.id in _IMPORT_ERRORS for n in names)


def third_party(code: str) -> tuple[str, ...]:
    """Imported modules that are neither the standard library nor torch or numpy, nor
    a module the snippet writes itself (`open("helper.py", "w")` then `import helper`)."""
    return tuple(m for m in imported_modules(code)
                 if m not in sys.stdlib_module_names and m not in ALWAYS_THERE
                 and not re.search(rf"(?<![\w.]){re.escape(m)}\.py\b", code))


MODULE_REQUIREMENT = re.compile(
    r"module:(?P<name>[A-Za-z_][\w.]*)(?:>=(?P<version>\d+(?:\.\d+)*))?")


def module_requirement(req: str) -> tuple[str, tuple[int, ...] | None]:
    """`module:pip>=25.3` -> ("pip", (25, 3)); `module:PIL` -> ("PIL", None)."""
    m = MODULE_REQUIREMENT.fullmatch(req)
    if m is None:
        raise ValueError(f"not a module requirement: {req!r}")
    return m.group("name"), version_tuple(m.group("version") or "")


def version_tuple(version: str) -> tuple[int, ...] | None:
    """The leading release numbers of a version: "25.3" -> (25, 3), "2.13.0+cpu" ->
    (2, 13, 0); None when it does not start with one."""
    m = re.match(r"\d+(?:\.\d+)*", version)
    return tuple(int(p) for p in m.group().split(".")) if m else None


def declared_modules(snippet: Snippet) -> tuple[str, ...]:
    return tuple(module_requirement(r)[0].split(".")[0] for r in snippet.requires
                 if r.startswith("module:"))


def undeclared_modules(snippet: Snippet) -> tuple[str, ...]:
    """What a Python snippet imports beyond the stdlib, torch and numpy without saying so."""
    if snippet.lang != "python":
        return ()
    declared = set(declared_modules(snippet))
    return tuple(m for m in third_party(snippet.code) if m not in declared)


def needs(snippet: Snippet) -> tuple[str, ...]:
    """Everything the snippet needs: its `requires`, then `module:X` for each module it
    imports without declaring it."""
    return (*snippet.requires, *(f"module:{m}" for m in undeclared_modules(snippet)))


def install_hint(module: str) -> str:
    return f"pip install {PIP_NAMES.get(module, module)}"
