"""What counts as a claim, and whether a claim matches what ran.

Strict on purpose (issue #17): a false alarm costs more than a miss. A comment is a
claim only when all of it reads like a value Python or torch prints: a shape, a
dtype, a tensor, a number, True/False/None, a list of numbers. Prose (`# 把 batch 维
展平`), placeholders (`#[batch,inchannel,heigth,width]`) and formulas are not.

Comparison: shapes exactly, modulo whitespace (`torch.Size([28,28])` equals
`torch.Size([28, 28])`); other text modulo whitespace and layout; floats within the
precision the note wrote them with; an int list against a torch.Size by its numbers;
a plain number against a one-element tensor by its value.
"""

from __future__ import annotations

import ast
import io
import math
import re
import tokenize

from kb.notes.model import Claim, ClaimKind, Span
from kb.record import record

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<num>[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?j?(?![\w.]))
  | (?P<anchor>torch\.Size\b|tensor\b|array\b|True\b|False\b|None\b|nan\b|-?inf\b
      |torch\.[a-z][a-z0-9_]*\b)
  | (?P<word>(?:device|dtype|requires_grad|grad_fn|float16|float32|float64|int8|int16
      |int32|int64|uint8|bool|complex64|complex128|type|index|size)\b)
  | (?P<str>'[\w:.\-]*')
  | (?P<fn><[A-Za-z_][\w.]*>)
  | (?P<punct>\.\.\.|[\[\](){},=:])
""", re.X | re.A)
_SHAPE = re.compile(r"torch\.Size\(\[[\d,\s]*\]\)")
_INTS = re.compile(r"[\[(]?\s*\d+(?:\s*,\s*\d+)*\s*,?\s*[\])]?")
_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?|[-+]?(?:nan|inf)\b")
_ADDRESS = re.compile(r"\b0x[0-9a-fA-F]{6,}\b")
_TIGHT = re.compile(r"\s*([\[\](){},:=])\s*")
_SCALAR_TENSOR = re.compile(r"tensor\((?P<n>[-+]?[\d.eE+-]+|nan|inf|-inf|True|False)"
                            r"(?:,[^()]*)?\)")
STRUCTURAL = ("torch.Size(", "torch.")  # shapes and dtypes: never a matter of random numbers


def looks_like_output(text: str) -> bool:
    """True when every line of `text` reads like printed values (see the module doc)."""
    text = text.strip()
    if not text or len(text) > 20000:
        return False
    pos, depth, anchored = 0, 0, False
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            return False
        kind = m.lastgroup
        if kind in ("num", "anchor"):
            anchored = True
        elif kind == "punct":
            depth += m.group() in "[({"
            depth -= m.group() in "])}"
            if depth < 0:
                return False
        pos = m.end()
    return anchored and depth == 0


def is_structural(text: str) -> bool:
    """A shape or dtype claim: what random numbers cannot change."""
    t = text.strip()
    return bool(_SHAPE.fullmatch(t) or re.fullmatch(r"torch\.[a-z][a-z0-9_]*", t)
                or _INTS.fullmatch(t))


def squash(text: str) -> str:
    """Layout-free text: whitespace runs become one space, none around brackets and
    commas; memory addresses masked."""
    text = _ADDRESS.sub("0x?", text.replace("\r\n", "\n")).strip()
    text = re.sub(r"\s+", " ", text)
    return _TIGHT.sub(r"\1", text)


@record
class Verdict:
    ok: bool
    reason: str = ""


def compare(claimed: str, actual: str) -> Verdict:
    """Does `actual` (what ran) say what `claimed` says? See the module doc."""
    want, got = squash(claimed), squash(actual)
    if want == got:
        return Verdict(True)
    got_shape = _SHAPE.fullmatch(got)
    if _SHAPE.fullmatch(want) or (got_shape and _INTS.fullmatch(want)):
        if got_shape and _numbers(want) == _numbers(got) and (
                want.startswith("torch.Size") or _INTS.fullmatch(want)):
            return Verdict(True)
        return Verdict(False, "shape differs")
    scalar = _SCALAR_TENSOR.fullmatch(got)
    if scalar and _NUMBER.fullmatch(want):
        return Verdict(_numbers_close(_numbers(want), _numbers(scalar["n"])), "value differs")
    # same text between the numbers, numbers within the written precision
    want_rest, got_rest = _NUMBER.sub("#", want), _NUMBER.sub("#", got)
    if want_rest != got_rest:
        return Verdict(False, "output differs")
    if _numbers_close(_numbers(want), _numbers(got), _NUMBER.findall(want)):
        return Verdict(True)
    return Verdict(False, "numbers differ")


def _numbers(text: str) -> list[float]:
    return [float(n) for n in _NUMBER.findall(text)]


def _numbers_close(want: list[float], got: list[float], written: list[str] | None = None
                   ) -> bool:
    if len(want) != len(got):
        return False
    for k, (a, b) in enumerate(zip(want, got, strict=True)):
        if math.isnan(a) or math.isnan(b):
            if not (math.isnan(a) and math.isnan(b)):
                return False
            continue
        text = written[k] if written else repr(a)
        if re.fullmatch(r"[-+]?\d+", text) and float(b).is_integer():
            if a != b:
                return False
            continue
        # a value written with d decimals stands for anything that rounds to it
        decimals = len(text.split(".")[1].split("e")[0].split("E")[0]) if "." in text else 0
        tol = 0.5 * 10 ** -decimals * (10 ** math.floor(math.log10(abs(a))) if (
            "e" in text.lower() and a) else 1)
        if not math.isclose(a, b, rel_tol=1e-4, abs_tol=max(tol * 1.01, 1e-9)):
            return False
    return True


# ---------------------------------------------------------------- claims in code


def comments_of(code: str) -> dict[int, tuple[int, str]]:
    """Code line -> (column of the '#', the comment text after it)."""
    found: dict[int, tuple[int, str]] = {}
    try:
        for tok in tokenize.generate_tokens(io.StringIO(code).readline):
            if tok.type == tokenize.COMMENT:
                found[tok.start[0]] = (tok.start[1], tok.string[1:])
    except (tokenize.TokenError, SyntaxError, IndentationError):
        pass
    return found


def _is_print(node: ast.AST) -> bool:
    return (isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Name) and node.value.func.id == "print")


def code_claims(code: str, block: int, file_line: list[int] | None = None,
                notebook_cell: int | None = None) -> list[Claim]:
    """Claims written in a block's code: `expr  # value`, `print(...)` with its output in
    comments (same line or the comment lines right after), and a top-level '''string'''
    of output after statements that print."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    lines = code.splitlines()
    comments = comments_of(code)

    def where(n: int) -> int:
        return file_line[n - 1] if file_line and 0 < n <= len(file_line) else n

    def span_line(n: int) -> int:  # notebooks: 0-based source line; else the file line
        return n - 1 if notebook_cell is not None else where(n)

    claims: list[Claim] = []
    since = 1  # the first code line whose output an output string may claim
    body = tree.body
    for k, stmt in enumerate(body):
        end = stmt.end_lineno or stmt.lineno
        if not isinstance(stmt, ast.Expr):
            continue
        expr_src = ast.get_source_segment(code, stmt) or ""
        if isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str):
            text = stmt.value.value
            printed = any(_is_print(s) for s in body[:k] if s.lineno >= since)
            if printed and looks_like_output(text) and "\n" in expr_src:
                inner = list(range(stmt.lineno + 1, end))
                claims.append(Claim(
                    ClaimKind.OUTPUT, block, since, stmt.lineno - 1, where(stmt.lineno + 1),
                    "the output above", text.strip("\n"),
                    Span("raw-lines", tuple(span_line(n) for n in inner), cell=notebook_cell),
                    display="none"))
            since = end + 1
            continue
        # same line: `expr  # value`
        inline = comments.get(end)
        if inline is not None and _code_before(lines, end, inline[0]):
            col, text = inline
            if looks_like_output(text):
                lead = len(text) - len(text.lstrip())
                claims.append(Claim(
                    ClaimKind.PRINT if _is_print(stmt) else ClaimKind.VALUE, block,
                    stmt.lineno, stmt.lineno, where(end), expr_src, text.strip(),
                    Span("inline", (span_line(end),), col + 1 + lead, cell=notebook_cell)))
                continue
        # the comment lines right after
        follow: list[int] = []
        n = end + 1
        while n <= len(lines) and lines[n - 1].lstrip().startswith("#"):
            follow.append(n)
            n += 1
        if follow:
            text = "\n".join(comments[m][1] if m in comments else "" for m in follow)
            text = _dedent_comment(text)
            if looks_like_output(text):
                claims.append(Claim(
                    ClaimKind.PRINT if _is_print(stmt) else ClaimKind.VALUE, block,
                    stmt.lineno, stmt.lineno, where(follow[0]), expr_src, text,
                    Span("comment-lines", tuple(span_line(m) for m in follow),
                         cell=notebook_cell)))
    return claims


def _code_before(lines: list[str], line: int, col: int) -> bool:
    return bool(lines[line - 1][:col].strip())


def _dedent_comment(text: str) -> str:
    rows = text.split("\n")
    # `# tensor([[1, 2],` / `#         [3, 4]])`: one space after '#' is the convention
    if all(r.startswith(" ") or not r for r in rows):
        rows = [r[1:] for r in rows]
    return "\n".join(rows).strip("\n")
