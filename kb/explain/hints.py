"""The hint language: `when` conditions and `{expr}` templates over a pattern's captures.

docs/entry-format.md ("Errors: patterns, causes, fix, hints") is the spec: capture
names, numbers, strings, `[i]` indexing, `len()`, `== != < <= > >=`, `and or not`,
`+ - * //`. Expressions are parsed with `ast` and walked by a whitelist evaluator;
nothing is ever passed to eval(), and every operation checks its operand types and
sizes (entries may come from users' own directories).
"""

from __future__ import annotations

import ast
import warnings
from collections.abc import Mapping, Sequence
from typing import cast

from kb.model import Hint, localized

# A captured value: a list of ints (`100, 32, 32, 3`), an int, or text.
Value = int | str | list[int]

_ALLOWED = ("capture names, numbers, 'strings', x[i], len(x), has(x), == != < <= > >=, "
            "and/or/not, + - * //")
_MAX_INT = 10**18  # `a * b * c` stays a number a human can read
_MAX_LEN = 10_000  # `xs + xs` cannot grow a list without bound

_FUNCTIONS = frozenset(("len", "has"))  # len(x); has(x): was x captured (or derived)?
_BINOPS = (ast.Add, ast.Sub, ast.Mult, ast.FloorDiv)
_CMPOPS = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE)
_UNARY = (ast.Not, ast.USub, ast.UAdd)


class HintError(Exception):
    """An expression that cannot be evaluated for these captures (the hint is skipped)."""


def check_condition(expr: str) -> str | None:
    """None if `expr` is a valid `when` condition, else what is wrong, in one line."""
    if not expr.strip():
        return None
    try:
        _parse(expr)
    except HintError as e:
        return f"'when' {e}"
    return None


def check_template(text: str) -> str | None:
    """None if every `{expr}` in a hint text is valid, else what is wrong, in one line."""
    try:
        _split_template(text)
    except HintError as e:
        return f"hint text {e}"
    return None


def render_hints(hints: Sequence[Hint], captures: Mapping[str, Value], lang: str) -> list[str]:
    """The hint texts (in `lang`, falling back to English) that apply to these captures.

    A hint applies when its `when` is empty or true; it is skipped when it names a
    capture the pattern did not capture, or when an expression fails on these values
    (an index past the end, a list compared with a number).
    """
    out = []
    for hint in hints:
        text = localized(hint.en, hint.zh, lang)
        try:
            if hint.when.strip() and not evaluate(hint.when, captures):
                continue
            out.append(fill_template(text, captures))
        except HintError:
            continue
    return out


def evaluate(expr: str, captures: Mapping[str, Value]) -> Value | bool:
    """The value of `expr` with `captures` as its variables (HintError if it cannot be had)."""
    # a name is looked up when it is reached: `has(x) and x == 1` is false without x
    return _eval(_parse(expr).body, captures)


def fill_template(text: str, captures: Mapping[str, Value]) -> str:
    """`text` with each `{expr}` replaced by its value; a list prints as `100, 32, 32, 3`."""
    parts = []
    for literal, expr in _split_template(text):
        parts.append(literal)
        if expr is not None:
            parts.append(format_value(evaluate(expr, captures)))
    return "".join(parts)


def format_value(value: Value | bool) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


# ---------------------------------------------------------------- parsing

_cache: dict[str, ast.Expression] = {}  # parsed and checked expressions


def _parse(expr: str) -> ast.Expression:
    if expr in _cache:
        return _cache[expr]
    try:
        with warnings.catch_warnings():  # "invalid decimal literal" for `3and`: an error below
            warnings.simplefilter("ignore", SyntaxWarning)
            tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError as e:
        raise HintError(f"is not a valid expression ({e.msg} at column {e.offset or 0}): "
                        f"{expr!r}") from None
    callees = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    for node in ast.walk(tree):
        _check_node(node, expr)
        if isinstance(node, ast.Name) and node.id in _FUNCTIONS and id(node) not in callees:
            raise HintError(f"uses {node.id} without calling it (write {node.id}(x)): {expr!r}")
    if len(_cache) < 4096:
        _cache[expr] = tree
    return tree


def _check_node(node: ast.AST, expr: str) -> None:
    ok = isinstance(node, (ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.Compare, ast.Load))
    ok = ok or isinstance(node, _BINOPS + _CMPOPS + _UNARY)
    if isinstance(node, ast.BinOp):
        ok = isinstance(node.op, _BINOPS)
    elif isinstance(node, ast.UnaryOp):
        ok = isinstance(node.op, _UNARY)
    elif isinstance(node, ast.Constant):
        ok = type(node.value) in (int, str, bool)
    elif isinstance(node, ast.Name):
        ok = isinstance(node.ctx, ast.Load)
    elif isinstance(node, ast.Subscript):
        ok = not isinstance(node.slice, ast.Slice)
    elif isinstance(node, ast.Call):
        func = node.func.id if isinstance(node.func, ast.Name) else ""
        ok = func in _FUNCTIONS and len(node.args) == 1 and not node.keywords
        ok = ok and (func != "has" or isinstance(node.args[0], ast.Name))
    if not ok:
        what = type(node).__name__
        if isinstance(node, ast.Call):
            what = "a call other than len(x) or has(name)"
        elif isinstance(node, ast.Constant):
            what = f"the constant {node.value!r}"
        elif isinstance(node, ast.Subscript):
            what = "a slice"
        elif isinstance(node, (ast.BinOp, ast.UnaryOp)):
            what = f"the operator {type(node.op).__name__}"
        raise HintError(f"uses {what}, which hints do not allow (allowed: {_ALLOWED}): {expr!r}")


def _split_template(text: str) -> list[tuple[str, str | None]]:
    """[(literal, expr or None)]; `{{` and `}}` stand for literal braces."""
    parts: list[tuple[str, str | None]] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c in "{}" and text[i:i + 2] == c * 2:
            literal.append(c)
            i += 2
        elif c == "}":
            raise HintError(f"has a '}}' without its '{{' at column {i + 1}: {text!r} "
                            "(write '}}' for a brace)")
        elif c == "{":
            end = text.find("}", i + 1)
            if end < 0:
                raise HintError(f"has a '{{' without its '}}' at column {i + 1}: {text!r}")
            expr = text[i + 1:end]
            if not expr.strip():
                raise HintError(f"has an empty '{{}}' at column {i + 1}: {text!r}")
            _parse(expr)
            parts.append(("".join(literal), expr))
            literal = []
            i = end + 1
        else:
            literal.append(c)
            i += 1
    if literal or not parts:
        parts.append(("".join(literal), None))
    return parts


# ---------------------------------------------------------------- evaluation


def _eval(node: ast.expr, env: Mapping[str, Value]) -> Value | bool:
    if isinstance(node, ast.Constant):
        return cast(Value | bool, node.value)  # int, str or bool: _parse allows no other
    if isinstance(node, ast.Name):
        if node.id not in env:
            raise HintError(f"not captured: {node.id}")
        return env[node.id]
    if isinstance(node, ast.BoolOp):
        return _boolop(node, env)
    if isinstance(node, ast.UnaryOp):
        operand = _eval(node.operand, env)
        if isinstance(node.op, ast.Not):
            return not operand
        number = _int(operand)
        return -number if isinstance(node.op, ast.USub) else number
    if isinstance(node, ast.BinOp):
        return _binop(node.op, _eval(node.left, env), _eval(node.right, env))
    if isinstance(node, ast.Compare):
        return _chain(node, env)
    if isinstance(node, ast.Subscript):
        return _index(_eval(node.value, env), _int(_eval(node.slice, env)))
    if isinstance(node, ast.Call):
        if isinstance(node.func, ast.Name) and node.func.id == "has":
            return isinstance(node.args[0], ast.Name) and node.args[0].id in env
        arg = _eval(node.args[0], env)
        if not isinstance(arg, (list, str)):
            raise HintError(f"len() of {type(arg).__name__}")
        return len(arg)
    raise HintError(f"cannot evaluate {type(node).__name__}")  # unreachable after _parse


def _boolop(node: ast.BoolOp, env: Mapping[str, Value]) -> Value | bool:
    """`and` / `or` as Python has them: the deciding operand, the rest unevaluated."""
    result: Value | bool = True
    for operand_node in node.values:
        result = _eval(operand_node, env)
        if isinstance(node.op, ast.And) and not result:
            return result
        if isinstance(node.op, ast.Or) and result:
            return result
    return result


def _chain(node: ast.Compare, env: Mapping[str, Value]) -> bool:
    """`a < b <= c`: each comparison with the next operand, stopping at the first false."""
    left = _eval(node.left, env)
    for op, right_node in zip(node.ops, node.comparators, strict=True):
        right = _eval(right_node, env)
        if not _compare(op, left, right):
            return False
        left = right
    return True


def _index(seq: Value | bool, index: int) -> Value:
    if not isinstance(seq, (list, str)):
        raise HintError(f"cannot index {type(seq).__name__}")
    try:
        return seq[index]
    except IndexError:
        raise HintError(f"index {index} is past the end of a length-{len(seq)} value") from None


def _int(value: Value | bool) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise HintError(f"expected a number, got {format_value(value)!r}")
    return value


def _binop(op: ast.operator, left: Value | bool, right: Value | bool) -> Value:
    if isinstance(op, ast.Add) and type(left) is type(right) and isinstance(left, (list, str)):
        joined = left + right  # type: ignore[operator]  # same type, checked above
        if len(joined) > _MAX_LEN:
            raise HintError("result too long")
        return joined
    a, b = _int(left), _int(right)
    if isinstance(op, ast.Add):
        result = a + b
    elif isinstance(op, ast.Sub):
        result = a - b
    elif isinstance(op, ast.Mult):
        result = a * b
    else:
        if b == 0:
            raise HintError("division by zero")
        result = a // b
    if abs(result) > _MAX_INT:
        raise HintError("number too large")
    return result


def _compare(op: ast.cmpop, left: Value | bool, right: Value | bool) -> bool:
    if isinstance(op, ast.Eq):
        return left == right
    if isinstance(op, ast.NotEq):
        return left != right
    if not (isinstance(left, int) and isinstance(right, int)) and type(left) is not type(right):
        raise HintError(f"cannot order {format_value(left)!r} and {format_value(right)!r}")
    if isinstance(op, ast.Lt):
        return left < right  # type: ignore[operator]  # same kind, checked above
    if isinstance(op, ast.LtE):
        return left <= right  # type: ignore[operator]
    if isinstance(op, ast.Gt):
        return left > right  # type: ignore[operator]
    return left >= right  # type: ignore[operator]
