"""`@record` behaves as `@dataclass(frozen=True)` does, for every class shape kb uses
(required fields, defaults, default_factory, compare=False), and kb's own frozen
classes all use it (each costs ~1 ms to define the other way: issue 12)."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kb import record as kbrecord
from kb.model import Entry, Hit, Zh
from kb.record import FrozenInstanceError, record

KB = Path(__file__).resolve().parent.parent / "kb"


# Fields of a class: name, and how it defaults (None: required; "value"; "factory";
# "nocompare": a default left out of ==/hash, as kb.explain.derive.Situation.names is).
@st.composite
def shapes(draw: st.DrawFn) -> list[tuple[str, str | None]]:
    count = draw(st.integers(0, 6))
    required = draw(st.integers(0, count))
    kinds = st.sampled_from(["value", "factory", "nocompare"])
    return [(f"f{i}", None if i < required else draw(kinds)) for i in range(count)]


def make(shape: list[tuple[str, str | None]], decorator: Any) -> type:
    field = kbrecord.field if decorator is record else dataclasses.field
    namespace: dict[str, Any] = {"__annotations__": {name: "int" for name, _ in shape}}
    for name, kind in shape:
        if kind == "value":
            namespace[name] = 7
        elif kind == "factory":
            namespace[name] = field(default_factory=lambda: [1])
        elif kind == "nocompare":
            namespace[name] = field(default=3, compare=False)
    cls = decorator(type("Shape", (), namespace))
    globals()["Shape"] = cls  # pickle finds a class by module and name
    return cls


def outcome(cls: type, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    try:
        return cls(*args, **kwargs)
    except TypeError as exc:
        return TypeError(re.sub(r"^\S*__init__\(\)", "__init__()", str(exc)))


calls = st.tuples(st.lists(st.integers(0, 2), max_size=7).map(tuple),
                  st.dictionaries(st.sampled_from([f"f{i}" for i in range(7)] + ["nope"]),
                                  st.integers(0, 2), max_size=4))


@given(shapes(), calls)
def test_construction_repr_eq_and_hash_match_dataclass(shape: list[tuple[str, str | None]],
                                                       call: tuple[tuple[Any, ...],
                                                                   dict[str, Any]]) -> None:
    args, kwargs = call
    expected = outcome(make(shape, dataclass(frozen=True)), args, kwargs)
    cls = make(shape, record)
    got = outcome(cls, args, kwargs)
    if isinstance(expected, TypeError):
        assert isinstance(got, TypeError)
        # one fault at a time is worded as Python words it (with several, which one
        # Python names first is its own affair)
        names = [name for name, _ in shape]
        too_many, unknown = len(args) > len(names), set(kwargs) - set(names)
        twice = set(kwargs) & set(names[:len(args)])
        if sum(map(bool, (too_many, unknown, twice))) <= 1 and not (too_many and kwargs):
            assert str(got) == str(expected)
        return
    assert repr(got) == repr(expected)
    assert kbrecord.asdict(got) == dataclasses.asdict(expected)
    assert [f.name for f in kbrecord.fields(got)] == [
        f.name for f in dataclasses.fields(expected)]
    assert got.__match_args__ == expected.__match_args__
    twin = outcome(cls, args, kwargs)
    assert got == twin
    assert not got != twin  # noqa: SIM202 - __ne__ comes from __eq__, checked here
    if all(kind != "factory" for _, kind in shape):  # a list field is unhashable, as there
        assert hash(got) == hash(twin) == hash(expected)
    assert got != expected  # another class: never equal, as dataclasses compare
    for name, kind in shape:
        if kind == "nocompare":
            assert got == kbrecord.replace(got, **{name: 99})
        else:
            assert got != kbrecord.replace(got, **{name: 99})
    assert pickle.loads(pickle.dumps(got)) == got
    assert copy.deepcopy(got) == got


def test_fields_are_frozen() -> None:
    zh = Zh(title="卷积")
    with pytest.raises(FrozenInstanceError, match="cannot assign to field 'title'"):
        zh.title = "x"  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError, match="cannot assign to field 'other'"):
        zh.other = "x"  # type: ignore[attr-defined]
    with pytest.raises(FrozenInstanceError, match="cannot delete field 'title'"):
        del zh.title  # type: ignore[misc]


def test_kb_classes_keep_their_dataclass_behaviour() -> None:
    entry = Entry("view-reshape", "api", "view vs reshape", "s", Path("e.yaml"))
    assert entry.zh == Zh() and entry.tags == ()
    assert kbrecord.replace(entry, tags=("x",)).tags == ("x",)
    assert repr(Hit("a", "api", "A", 1.0)) == (
        "Hit(id='a', kind='api', title='A', score=1.0, excerpt='', summary='')")
    assert {Hit("a", "api", "A", 1.0), Hit("a", "api", "A", 1.0)} == {Hit("a", "api", "A", 1.0)}
    with pytest.raises(TypeError, match=r"missing 1 required positional argument: 'source'"):
        Entry("a", "api", "A", "s")  # type: ignore[call-arg]


def test_kb_defines_its_frozen_classes_with_record() -> None:
    slow = [f"{path.relative_to(KB.parent)}:{number}"
            for path in sorted(KB.rglob("*.py")) if path.name != "record.py"
            for number, line in enumerate(path.read_text().splitlines(), 1)
            if re.match(r"\s*@(dataclasses\.)?dataclass\(.*frozen=True", line)]
    assert not slow, f"use @record (kb.record) for a frozen dataclass: {slow}"


def test_class_shapes_dataclasses_refuses_are_refused_the_same_way() -> None:
    for decorator in (dataclass(frozen=True), record):
        with pytest.raises(TypeError, match="non-default argument 'b' follows default argument"):
            decorator(type("Bad", (), {"__annotations__": {"a": "int", "b": "int"}, "a": 1}))
        with pytest.raises(ValueError, match="mutable default <class 'list'> for field a is not "
                                             "allowed: use default_factory"):
            decorator(type("Bad", (), {"__annotations__": {"a": "list[int]"}, "a": []}))
    with pytest.raises(TypeError, match=r"Bad\.a: a @record field is kb\.record\.field"):
        record(type("Bad", (), {"__annotations__": {"a": "int"},
                                "a": dataclasses.field(default=1)}))


ClassVariant = int


def test_classvars_are_not_fields_and_nested_records_become_dicts() -> None:
    @record
    class Inner:
        n: int
        kinds: ClassVar[tuple[str, ...]] = ("a",)
        variant: ClassVariant = 0  # a type named like ClassVar is still a field

    @record
    class Outer:
        inner: Inner
        many: tuple[Inner, ...] = ()
        by: dict[str, Inner] = kbrecord.field(default_factory=dict)

    assert [f.name for f in kbrecord.fields(Inner)] == ["n", "variant"]
    assert Inner.kinds == ("a",) and "by" not in Outer.__dict__  # a factory leaves no default
    value = Outer(Inner(1), (Inner(2),), {"k": Inner(3)})
    assert kbrecord.asdict(value) == {"inner": {"n": 1, "variant": 0},
                                      "many": ({"n": 2, "variant": 0},),
                                      "by": {"k": {"n": 3, "variant": 0}}}
    for not_a_record in ({"n": 1}, Inner):
        with pytest.raises(TypeError, match="needs a record instance"):
            kbrecord.asdict(not_a_record)
    assert issubclass(FrozenInstanceError, AttributeError)
