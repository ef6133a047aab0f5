"""`kb check --update-expected`: rewrite the `expect` blocks whose output changed, and
nothing else. The YAML files are edited as text at the spans the YAML parser
reports, so comments, key order and quoting elsewhere stay exactly as written;
each edited file is parsed again and must give back the new output before it is
saved.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import yaml

from kb.errors import SourceError
from kb.expect import normalise
from kb.record import record
from kb.runner import SnippetResult

try:
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - pyyaml without libyaml
    _Loader = yaml.SafeLoader


@record
class Update:
    path: Path
    id: str
    snippet: str
    line: int  # of the `expect` key (or of the snippet, when the key was added)

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.id} / {self.snippet}"


@record
class _Edit:
    start: int
    end: int
    text: str


def update_expected(results: Iterable[SnippetResult]) -> list[Update]:
    """Rewrite `expect` for every result that failed only on its output."""
    by_file: dict[Path, list[SnippetResult]] = {}
    for result in results:
        if result.expect_only and result.source is not None:
            by_file.setdefault(result.source, []).append(result)
    updates: list[Update] = []
    for path, todo in sorted(by_file.items()):
        updates.extend(_update_file(path, todo))
    return updates


def _update_file(path: Path, results: list[SnippetResult]) -> list[Update]:
    text = path.read_text(encoding="utf-8")
    try:
        root = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise SourceError(f"{path}: cannot update `expect`, the YAML does not parse ({exc}); "
                          "run `kb lint`") from None
    snippets = _value(root, "snippets")
    if not isinstance(snippets, yaml.SequenceNode):
        raise SourceError(f"{path}: cannot update `expect`: no `snippets` list; run `kb lint`")
    edits: list[_Edit] = []
    updates: list[Update] = []
    for result in results:
        node = next((n for n in snippets.value if isinstance(n, yaml.MappingNode) and
                     _scalar(_value(n, "name")) == result.snippet), None)
        if node is None:
            raise SourceError(f"{path}: snippet '{result.snippet}' is not in the file any more; "
                              "rerun kb check")
        edit, line = _edit_for(text, node, result.stdout)
        edits.append(edit)
        updates.append(Update(path, result.id, result.snippet, line))
    new = text
    for edit in sorted(edits, key=lambda e: e.start, reverse=True):
        new = new[:edit.start] + edit.text + new[edit.end:]
    _verify(path, new, {r.snippet: r.stdout for r in results})
    path.write_text(new, encoding="utf-8")
    return updates


def _value(mapping: yaml.Node | None, key: str) -> yaml.Node | None:
    if not isinstance(mapping, yaml.MappingNode):
        return None
    for k, v in mapping.value:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            node: yaml.Node = v
            return node
    return None


def _scalar(node: yaml.Node | None) -> str | None:
    return node.value if isinstance(node, yaml.ScalarNode) else None


def _edit_for(text: str, snippet: yaml.MappingNode, output: str) -> tuple[_Edit, int]:
    key_col = snippet.value[0][0].start_mark.column
    for key, value in snippet.value:
        if isinstance(key, yaml.ScalarNode) and key.value == "expect":
            old = text[value.start_mark.index:value.end_mark.index]
            if old.endswith("\n"):  # a block scalar: keep the blank lines that followed it
                trailing = len(old) - len(old.rstrip("\n"))
                new = render_block(output, key_col) + "\n" * max(0, trailing - 1)
            else:  # quoted or plain, on the key's line
                new = render_block(output, key_col, inline=True)
            return (_Edit(value.start_mark.index, value.end_mark.index, new),
                    key.start_mark.line + 1)
    # no `expect` yet: add it after the snippet's last value
    last = snippet.value[-1][1]
    pos = last.end_mark.index
    if not text[:pos].endswith("\n"):
        newline = text.find("\n", pos)
        pos = len(text) if newline < 0 else newline + 1
        prefix = "" if newline >= 0 else "\n"
    else:
        prefix = ""
    block = render_block(output, key_col)
    return _Edit(pos, pos, f"{prefix}{' ' * key_col}expect: {block}"), snippet.start_mark.line + 1


def render_block(output: str, key_column: int, *, inline: bool = False) -> str:
    """`output` as the YAML value of a key at `key_column`: a literal block (`|`, its
    lines two columns right of the key) when it can be one, else a double-quoted
    string. Trailing whitespace is dropped (it is never compared)."""
    indent = key_column + 2
    lines = normalise(output)
    if not lines:
        return '""' if inline else '""\n'
    text = "\n".join(lines)
    printable = all(ch == "\t" or (ch.isprintable() and ch not in "\ufeff\u2028\u2029")
                    for ch in text.replace("\n", ""))
    if (inline and len(lines) == 1) or not printable:
        quoted = json.dumps(text + "\n", ensure_ascii=False)
        return quoted if inline else quoted + "\n"
    indicator = "|2" if lines[0].startswith(" ") else "|"
    body = "".join((" " * indent + line if line else "") + "\n" for line in lines)
    return f"{indicator}\n{body}"


def _verify(path: Path, new: str, outputs: dict[str, str]) -> None:
    try:
        data = yaml.load(new, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise SourceError(f"{path}: updating `expect` would break the YAML ({exc}); "
                          "the file was left unchanged, edit it by hand") from None
    for snippet in data.get("snippets") or []:
        name = snippet.get("name")
        if name in outputs and normalise(snippet.get("expect")) != normalise(outputs[name]):
            raise SourceError(f"{path}: the rewritten `expect` of '{name}' does not read back "
                              "as its output; the file was left unchanged, edit it by hand")
