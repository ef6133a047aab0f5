"""YAML with line numbers: mappings and lists that remember where they were written.

kb.loader reads entry files through here and the schema uses `line_of` to place
every problem at its line. It sits below both, so neither imports the other for it
(issue 11: model <- yaml_lines <- schema <- cache <- loader). `dump_yaml` writes the
entries `kb new` and `kb import` draft. Only this module and kb.expect_update (which
edits `expect` blocks in place) import yaml; ruff's TID251 holds that.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from kb.model import Problem

try:  # libyaml's parser is ~10x faster; the constructor below stays Python either way
    _BaseLoader: Any = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - pyyaml built without libyaml
    _BaseLoader = yaml.SafeLoader


class LineDict(dict):  # type: ignore[type-arg]
    """A YAML mapping that remembers the line (1-based) of itself and of each key."""

    line: int = 0
    lines: dict[str, int]


def line_of(data: Any, key: str | int | None = None) -> int:
    """The line of `key` (a mapping key or a list index) in YAML read by this module, else
    the line of `data` itself, else 0."""
    lines = getattr(data, "lines", None)
    if key is not None and lines is not None:
        try:
            return int(lines[key])
        except (KeyError, IndexError, TypeError):
            pass
    return int(getattr(data, "line", 0))


class LineList(list):  # type: ignore[type-arg]
    """A YAML sequence that remembers the line of itself and of each item."""

    line: int = 0
    lines: list[int]


class _LineLoader(_BaseLoader):  # type: ignore[misc]  # CSafeLoader or SafeLoader, see above
    pass


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> LineDict:
    loader.flatten_mapping(node)
    result = LineDict()
    result.line = node.start_mark.line + 1
    result.lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            key = str(key)
        result[key] = loader.construct_object(value_node, deep=True)
        result.lines[key] = key_node.start_mark.line + 1
    return result


def _construct_sequence(loader: yaml.SafeLoader, node: yaml.SequenceNode) -> LineList:
    result = LineList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = node.start_mark.line + 1
    result.lines = [child.start_mark.line + 1 for child in node.value]
    return result


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)
# Dates and times stay text: an entry's `expect` of "2024-01-01" is output, not a date.
_LineLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
}


def parse_yaml(text: str, path: Path) -> tuple[Any, list[Problem]]:
    """YAML text -> data with line numbers, or a KB001 problem at the line."""
    try:
        return yaml.load(text, Loader=_LineLoader), []
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        what = (exc.problem or "invalid YAML").strip()
        return None, [
            Problem(path, line, "KB001", f"YAML syntax error: {what}; fix the YAML at this line")
        ]
    except yaml.YAMLError as exc:
        return None, [Problem(path, 0, "KB001", f"YAML error: {exc}; fix the file's YAML")]


class _Dumper(yaml.SafeDumper):
    pass


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None  # code and output read as written
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def dump_yaml(data: dict[str, Any], width: int = 88) -> str:
    """An entry as YAML a person edits next: keys in the given order, multi-line text as
    `|` blocks, Chinese as itself; one-line text folded at `width` (a pattern reads best
    unfolded)."""
    return yaml.dump(data, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=width)
