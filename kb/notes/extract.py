"""Notes -> blocks of Python and the claims beside them.

- Markdown: fenced blocks (```python, ```py, ```pycon, or no language with Python
  inside), an output block right after one ("Output:" / "输出" / "结果" before it, or
  ```output), headings for `kb import`.
- Notebooks: code cells (magics blanked), each cell's saved text/plain output.
- Plain text (pasted from a blog): runs of lines that parse as Python and use ASCII
  names; `>>>` sessions with their output; prose is skipped.
- .py: the file is one block.

Bad input is a `NoteError` naming the file and line, never a traceback.
"""

from __future__ import annotations

import ast
import json
import re
import textwrap
from pathlib import Path

from kb.errors import KbError
from kb.notes.claims import code_claims, looks_like_output
from kb.notes.model import Block, Claim, ClaimKind, Note, Span

NOTE_SUFFIXES = (".md", ".markdown", ".ipynb", ".txt", ".py")
MAX_NOTE_BYTES = 8 << 20
WINDOW = 400  # lines tried at once when looking for code in plain text
_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`\s]*)[^`]*$")
_HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(?P<title>.+?)\s*#*\s*$")
_LABEL = re.compile(r"^\s*(?:\*\*|__)?\s*(?:output|out|result|results|输出|结果|运行结果|输出结果"
                    r"|打印结果)\s*(?:\*\*|__)?\s*[:：]?\s*(?:\*\*|__)?\s*$", re.I)
PY_INFOS = ("python", "py", "python3", "py3", "ipython", "ipython3", "{python}", "pycon")
OUT_INFOS = ("output", "out", "result", "stdout")


class NoteError(KbError):
    """A note that cannot be read: not UTF-8, not a notebook, too big."""


def is_note_path(path: Path) -> bool:
    return path.suffix.lower() in NOTE_SUFFIXES


def read_note(path: Path) -> Note:
    """The note at `path`, as blocks and claims; NoteError when it cannot be read."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise NoteError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    if len(data) > MAX_NOTE_BYTES:
        raise NoteError(f"{path}: {len(data)} bytes is too big for a note "
                        f"(at most {MAX_NOTE_BYTES})")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise NoteError(f"{path}:{line}: not UTF-8 text (byte {data[exc.start]:#04x}); "
                        "save it as UTF-8") from None
    suffix = path.suffix.lower()
    if suffix == ".ipynb":
        return notebook_note(path, text)
    if suffix in (".md", ".markdown"):
        return markdown_note(path, text)
    if suffix == ".py":
        return python_note(path, text)
    return text_note(path, text)


# ---------------------------------------------------------------- shared


def _code_ok(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return True


def _bad_name_line(tree: ast.AST) -> int | None:
    """The first line using a non-ASCII name: prose, since identifiers in notes are ASCII
    (`可视化` alone is a valid Python expression)."""
    worst: int | None = None
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Name):
            names = [node.id]
        elif isinstance(node, ast.Attribute):
            names = [node.attr]
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names = [node.name]
        elif isinstance(node, ast.arg):
            names = [node.arg]
        elif isinstance(node, ast.alias):
            names = [node.name, node.asname or ""]
        if any(not n.isascii() for n in names):
            line = getattr(node, "lineno", None)
            if line is not None and (worst is None or line < worst):
                worst = line
    return worst


def _trivial(stmt: ast.stmt) -> bool:
    """A bare name, number, string or dotted name: a word of prose more likely than code."""
    if not isinstance(stmt, ast.Expr):
        return isinstance(stmt, ast.Pass)
    value = stmt.value
    while isinstance(value, ast.Attribute):
        value = value.value
    return isinstance(value, ast.Name | ast.Constant)


class _Builder:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.blocks: list[Block] = []
        self.claims: list[Claim] = []
        self.headings: list[tuple[int, str, str]] = []

    def add(self, code: str, lines: list[int], cell: int | None = None,
            extra: list[Claim] | None = None) -> int:
        index = len(self.blocks)
        self.blocks.append(Block(index, code, tuple(lines), cell))
        self.claims.extend(code_claims(code, index, lines, cell))
        for claim in extra or ():
            self.claims.append(_with_block(claim, index))
        return index

    def note(self, kind: str) -> Note:
        return Note(self.path, kind, tuple(self.blocks), tuple(self.claims),
                    tuple(self.headings))


def _with_block(claim: Claim, index: int) -> Claim:
    return Claim(claim.kind, index, claim.first, claim.last, claim.line, claim.expr,
                 claim.claimed, claim.span, claim.display)


def _output_claim(block: Block, text: str, line: int, span: Span) -> Claim:
    return Claim(ClaimKind.OUTPUT, block.index, 1, len(block.code.splitlines()) or 1, line,
                 f"the output of the block at line {block.file_line(1)}", text.strip("\n"),
                 span, display="last")


# ---------------------------------------------------------------- doctest sessions


def _prompt(line: str) -> str | None:
    stripped = line.lstrip()
    if stripped.startswith(">>> ") or stripped == ">>>":
        return stripped[4:]
    return None


def doctest_session(lines: list[str], numbers: list[int], start: int, strict: bool
                    ) -> tuple[str, list[int], list[Claim], int]:
    """The `>>>` session starting at lines[start]: its code, the file line of each code
    line, its claims (block index 0 for now), and the index after it. `strict`: output
    lines must read as values (pasted text) rather than run to the next blank line."""
    code: list[str] = []
    code_lines: list[int] = []
    claims: list[Claim] = []
    i = start
    while i < len(lines):
        source = _prompt(lines[i])
        if source is None:
            break
        example = [source]
        example_lines = [numbers[i]]
        i += 1
        while i < len(lines) and lines[i].lstrip().startswith("..."):
            rest = lines[i].lstrip()[3:]
            example.append(rest[1:] if rest.startswith(" ") else rest)
            example_lines.append(numbers[i])
            i += 1
        out_start = i
        while i < len(lines) and lines[i].strip() and _prompt(lines[i]) is None:
            i += 1
        output = lines[out_start:i]
        if strict:  # keep the longest run of lines that reads like output
            keep = len(output)
            while keep and not looks_like_output("\n".join(output[:keep])):
                keep -= 1
            i = out_start + keep
            output = output[:keep]
        text = "\n".join(example) + "\n"
        if not _code_ok(text):
            if output or not code:
                continue
            break
        first = len(code) + 1
        code.extend(example)
        code_lines.extend(example_lines)
        out_text = textwrap.dedent("\n".join(output)).strip("\n")
        if output and looks_like_output(out_text):
            claims.append(Claim(
                ClaimKind.DOCTEST, 0, first, len(code), numbers[out_start],
                " ".join(s.strip() for s in example), out_text,
                Span("raw-lines", tuple(numbers[out_start:i])), display="each"))
        if strict and i < len(lines) and not lines[i].strip():
            j = i
            while j < len(lines) and not lines[j].strip():
                j += 1
            if j < len(lines) and _prompt(lines[j]) is not None:
                i = j
                continue
            break
    return "\n".join(code) + "\n", code_lines, claims, i


# ---------------------------------------------------------------- plain text


def text_note(path: Path, text: str) -> Note:
    builder = _Builder(path)
    lines = text.split("\n")
    numbers = list(range(1, len(lines) + 1))
    i = 0
    last_block: Block | None = None
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        if _prompt(line) is not None:
            code, code_lines, claims, after = doctest_session(lines, numbers, i, strict=True)
            if code.strip():
                builder.add(code, code_lines, extra=claims)
                last_block = builder.blocks[-1]
            i = max(after, i + 1)
            continue
        if _LABEL.match(line) and last_block is not None:
            j = i + 1
            while j < len(lines) and lines[j].strip():
                j += 1
            out = "\n".join(lines[i + 1:j])
            if j > i + 1 and looks_like_output(out):
                builder.claims.append(_output_claim(
                    last_block, textwrap.dedent(out), i + 2,
                    Span("raw-lines", tuple(range(i + 2, j + 1)))))
                last_block = None
                i = j
                continue
        end = _code_run(lines, i)
        if end <= i:
            i += 1
            continue
        code = textwrap.dedent("\n".join(lines[i:end])) + "\n"
        builder.add(code, numbers[i:end])
        last_block = builder.blocks[-1]
        i = end
    return builder.note("text")


def _code_run(lines: list[str], start: int) -> int:
    """The end (exclusive) of the longest run of lines from `start` that is Python code,
    or `start` when the line there is prose. Shrinks at each syntax error's line."""
    # a label ends a run (the caller reads the output after it); a `>>>` line does only
    # where it breaks the syntax: inside a docstring it is part of the code
    end = _next_label(lines, start + 1, min(len(lines), start + WINDOW))
    while end > start:
        while end > start and not lines[end - 1].strip():
            end -= 1
        if end <= start:
            break
        window = textwrap.dedent("\n".join(lines[start:end])) + "\n"
        try:
            tree = ast.parse(window)
        except SyntaxError as exc:
            bad = (exc.lineno or 1)
            if bad <= 1:
                return start
            end = min(end - 1, start + bad - 1)
            continue
        except ValueError:  # null bytes
            return start
        prose_line = _bad_name_line(tree)
        if prose_line is not None:
            if prose_line <= 1:
                return start
            end = start + prose_line - 1
            continue
        body = tree.body
        if not body:
            return start
        # trim prose-like statements at both ends; a run of only those is not code
        while body and _trivial(body[-1]) and not _has_comment_claim(window, body[-1]):
            body = body[:-1]
        if not body:
            return start
        if _trivial(body[0]) and not _has_comment_claim(window, body[0]):
            return start if body[0].lineno == 1 else start + body[0].lineno - 1
        last = max((s.end_lineno or s.lineno) for s in body)
        # the run may end in comment lines after the last statement (claims)
        while last < end - start and lines[start + last].lstrip().startswith("#"):
            last += 1
        return start + last
    return start


def _next_label(lines: list[str], start: int, end: int) -> int:
    """The first line in [start, end) that is a label, else `end`."""
    return next((k for k in range(start, end) if _LABEL.match(lines[k])), end)


def _has_comment_claim(code: str, stmt: ast.stmt) -> bool:
    return any(c.first == stmt.lineno for c in code_claims(code, 0))


# ---------------------------------------------------------------- Markdown


def markdown_note(path: Path, text: str) -> Note:
    builder = _Builder(path)
    lines = text.split("\n")
    i = 0
    prose: list[str] = []
    label_pending = False
    last_block: Block | None = None
    between = False  # only blank lines / a label since the last code block
    while i < len(lines):
        line = lines[i]
        heading = _HEADING.match(line)
        fence = _FENCE.match(line)
        if heading and not fence:
            builder.headings.append((len(builder.blocks), heading["title"], ""))
            prose = []
            last_block, label_pending = None, False
            i += 1
            continue
        if not fence:
            if _LABEL.match(line):
                label_pending = True
            elif line.strip():
                between = False
                label_pending = False
                prose.append(line.strip())
                _set_prose(builder, prose)
            elif prose:
                prose.append("")
            i += 1
            continue
        mark = fence["fence"]
        info = fence["info"].lower().strip("{}")
        j = i + 1
        while j < len(lines) and not (lines[j].strip().startswith(mark[0] * len(mark))
                                      and not lines[j].strip().strip(mark[0])):
            j += 1
        body = lines[i + 1:j]
        body_numbers = list(range(i + 2, j + 2))
        is_output = info in OUT_INFOS or (label_pending and info in ("", "text", "console"))
        if is_output and last_block is not None and between:
            out = textwrap.dedent("\n".join(body))
            builder.claims.append(_output_claim(last_block, out, i + 2,
                                                Span("raw-lines", tuple(body_numbers))))
            last_block = None
        elif info in PY_INFOS or (info == "" and _looks_like_python(body)):
            if any(_prompt(b) is not None for b in body):
                code, code_lines, claims, _ = doctest_session(body, body_numbers, _first_prompt(
                    body), strict=False)
            else:
                code, code_lines, claims = textwrap.dedent("\n".join(body)) + "\n", \
                    body_numbers, []
            if code.strip() and _code_ok(code):
                builder.add(code, code_lines, extra=claims)
                last_block = builder.blocks[-1]
            between = True
        label_pending = False
        i = j + 1
    return builder.note("markdown")


def _first_prompt(body: list[str]) -> int:
    return next(k for k, b in enumerate(body) if _prompt(b) is not None)


def _set_prose(builder: _Builder, prose: list[str]) -> None:
    """The first paragraph after the latest heading (before its first block), for kb
    import's summary."""
    if not builder.headings:
        return
    at, title, _ = builder.headings[-1]
    if at != len(builder.blocks):
        return
    paragraph: list[str] = []
    for row in prose:
        if not row:
            break
        paragraph.append(row)
    builder.headings[-1] = (at, title, " ".join(paragraph))


def _looks_like_python(body: list[str]) -> bool:
    if any(_prompt(b) is not None for b in body):
        return True
    code = textwrap.dedent("\n".join(body)) + "\n"
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return bool(tree.body) and _bad_name_line(tree) is None and not all(
        _trivial(s) for s in tree.body)


# ---------------------------------------------------------------- .py


def python_note(path: Path, text: str) -> Note:
    builder = _Builder(path)
    if not _code_ok(text):
        try:
            ast.parse(text)
        except SyntaxError as exc:
            raise NoteError(f"{path}:{exc.lineno or 1}: not valid Python "
                            f"({exc.msg})") from None
    builder.add(text if text.endswith("\n") else text + "\n",
                list(range(1, text.count("\n") + 2)))
    return builder.note("python")


# ---------------------------------------------------------------- notebooks


def notebook_note(path: Path, text: str) -> Note:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise NoteError(f"{path}:{exc.lineno}: not a notebook: invalid JSON ({exc.msg}, "
                        f"column {exc.colno})") from None
    cells = data.get("cells") if isinstance(data, dict) else None
    if not isinstance(cells, list):
        raise NoteError(f"{path}:1: not a notebook: no list of \"cells\" (nbformat 4 "
                        "is read; convert older ones with `jupyter nbconvert --to notebook`)")
    source_lines = [text.count("\n", 0, m.start()) + 1
                    for m in re.finditer(r'"source"\s*:', text)]
    builder = _Builder(path)
    prose_seen = False
    for index, cell in enumerate(cells):
        if not isinstance(cell, dict):
            raise NoteError(f"{path}:1: not a notebook: cell {index + 1} is not an object")
        kind = cell.get("cell_type")
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(str(s) for s in source)
        if not isinstance(source, str):
            raise NoteError(f"{path}:1: cell {index + 1}: \"source\" is not text")
        first = source_lines[index] if index < len(source_lines) else 1
        listed = isinstance(cell.get("source"), list)
        count = max(1, source.count("\n") + (0 if source.endswith("\n") else 1))
        numbers = [first + 1 + k if listed else first for k in range(count)]
        if kind == "markdown":
            for row in source.split("\n"):
                heading = _HEADING.match(row)
                if heading:
                    builder.headings.append((len(builder.blocks), heading["title"], ""))
                    prose_seen = False
                elif row.strip() and builder.headings and not prose_seen:
                    head = builder.headings[-1]
                    if head[0] == len(builder.blocks):
                        builder.headings[-1] = (head[0], head[1], row.strip())
                        prose_seen = True
            continue
        if kind != "code" or source.lstrip().startswith("%%"):
            continue
        code = _blank_magics(source)
        if not code.strip() or not _code_ok(code):
            continue
        extra: list[Claim] = []
        saved = _saved_output(cell.get("outputs"))
        if saved is not None:
            extra.append(Claim(ClaimKind.CELL, 0, 1, count, numbers[0],
                               f"cell {index + 1}", saved, Span("cell-output", cell=index),
                               display="last"))
        builder.add(code, numbers, cell=index, extra=extra)
    return builder.note("notebook")


def _blank_magics(source: str) -> str:
    """IPython lines (`%matplotlib inline`, `!pip install x`) become `pass`, keeping lines."""
    rows = source.split("\n")
    out = []
    for row in rows:
        stripped = row.lstrip()
        if stripped.startswith(("%", "!")):
            out.append(row[:len(row) - len(stripped)] + "pass")
        else:
            out.append(row)
    text = "\n".join(out)
    return text if text.endswith("\n") else text + "\n"


def _saved_output(outputs: object) -> str | None:
    """A cell's saved text: stdout streams and the text/plain result, as nbval compares;
    None when there is nothing to compare (no outputs, an error, only images)."""
    if not isinstance(outputs, list) or not outputs:
        return None
    parts: list[str] = []
    for out in outputs:
        if not isinstance(out, dict):
            return None
        kind = out.get("output_type")
        if kind == "error":
            return None
        if kind == "stream" and out.get("name") == "stdout":
            parts.append(_joined(out.get("text", "")))
        elif kind == "execute_result":
            plain = (out.get("data") or {}).get("text/plain")
            if plain is None:
                return None
            parts.append(_joined(plain) + "\n")
    text = "".join(parts)
    return text if text.strip() else None


def _joined(value: object) -> str:
    if isinstance(value, list):
        return "".join(str(v) for v in value)
    return str(value)
