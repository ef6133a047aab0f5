"""`@record`: kb's frozen dataclass, built without the dataclasses module.

`@dataclass(frozen=True)` writes the source of six methods per class (__init__,
__repr__, __eq__, __hash__, __setattr__, __delattr__) and compiles each with exec:
about 1 ms a class here, and `kb search` defines 15 of them before it answers, `kb
explain` 27 (issue 12: 14 and 25 ms of a 110 ms budget). Importing dataclasses costs
8 ms more, most of it `inspect` (which imports ast, dis and tokenize). `record` reads
the fields from the class's annotations itself and attaches the same six methods as
closures over the field names, and this module has the `field`, `fields`, `replace`
and `asdict` kb uses with them. What users of a class see is what
@dataclass(frozen=True) gives them: the same constructor (positional or keyword,
defaults, default_factory), repr, equality and hash over the fields with
compare=True, `__match_args__`, and FrozenInstanceError (an AttributeError) on
assignment; tests/test_record.py compares the two.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar, dataclass_transform, overload

_T = TypeVar("_T")


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class FrozenInstanceError(AttributeError):
    """Assigning to or deleting a field of a record."""


class Field:
    """One field of a record: its name, how it defaults, and whether repr and == see it."""

    __slots__ = ("compare", "default", "default_factory", "name", "repr")

    def __init__(self, default: Any, default_factory: Any, repr: bool,
                 compare: bool) -> None:
        self.name = ""
        self.default, self.default_factory = default, default_factory
        self.repr, self.compare = repr, compare

    def __repr__(self) -> str:
        return (f"Field(name={self.name!r}, default={self.default!r}, "
                f"default_factory={self.default_factory!r}, repr={self.repr}, "
                f"compare={self.compare})")


@overload
def field(*, default: _T, repr: bool = True, compare: bool = True) -> _T: ...
@overload
def field(*, default_factory: Callable[[], _T], repr: bool = True,
          compare: bool = True) -> _T: ...
@overload
def field(*, repr: bool = True, compare: bool = True) -> Any: ...
def field(*, default: Any = MISSING, default_factory: Any = MISSING, repr: bool = True,
          compare: bool = True) -> Any:
    """A field's default or default_factory, and whether repr and ==/hash include it."""
    if default is not MISSING and default_factory is not MISSING:
        raise ValueError("cannot specify both default and default_factory")
    return Field(default, default_factory, repr, compare)


def fields(obj: Any) -> tuple[Field, ...]:
    """The fields of a record class or instance, in the order __init__ takes them."""
    try:
        return obj.__record_fields__  # type: ignore[no-any-return]
    except AttributeError:
        raise TypeError(f"{obj!r} is not a record (kb.record)") from None


def replace(obj: _T, /, **changes: Any) -> _T:
    """A copy of record `obj` with `changes` to its fields."""
    for f in fields(obj):
        if f.name not in changes:
            changes[f.name] = getattr(obj, f.name)
    return obj.__class__(**changes)


def asdict(obj: Any) -> dict[str, Any]:
    """Record `obj` as a dict, records inside it as dicts too (as dataclasses.asdict)."""
    if not hasattr(type(obj), "__record_fields__"):  # a record class is no instance either
        raise TypeError(f"asdict() needs a record instance (kb.record), not {obj!r}")
    return _asdict(obj)  # type: ignore[no-any-return]


def _asdict(obj: Any) -> Any:
    if hasattr(type(obj), "__record_fields__"):
        return {f.name: _asdict(getattr(obj, f.name)) for f in obj.__record_fields__}
    dataclasses = sys.modules.get("dataclasses")  # a plain dataclass inside a record
    if dataclasses is not None and dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # a namedtuple
        return type(obj)(*[_asdict(v) for v in obj])
    if isinstance(obj, list | tuple):
        return type(obj)(_asdict(v) for v in obj)
    if isinstance(obj, dict):
        return type(obj)((_asdict(k), _asdict(v)) for k, v in obj.items())
    import copy  # only here: asdict is for --json and reports, never a hot path

    return copy.deepcopy(obj)


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def record(cls: type[_T]) -> type[_T]:
    """Make `cls` a frozen dataclass (see the module's docstring)."""
    own = _own_fields(cls)
    inherited = {f.name: f for base in reversed(cls.__mro__[1:])
                 for f in getattr(base, "__record_fields__", ())}
    collected = tuple({**inherited, **{f.name: f for f in own}}.values())
    seen_default = ""
    for f in collected:
        if f.default is not MISSING or f.default_factory is not MISSING:
            seen_default = f.name
        elif seen_default:
            raise TypeError(f"non-default argument {f.name!r} follows default argument "
                            f"{seen_default!r}")
    names = tuple(f.name for f in collected)
    setattr(cls, "__record_fields__", collected)  # noqa: B010 - not a name mypy knows
    setattr(cls, "__match_args__", names)  # noqa: B010
    methods = (_init(cls.__qualname__, collected),
               *_value_methods(tuple(f.name for f in collected if f.repr),
                               tuple(f.name for f in collected if f.compare)),
               *_frozen_methods(cls, names))
    for method in methods:
        method.__qualname__ = f"{cls.__qualname__}.{method.__name__}"
        method.__module__ = cls.__module__
        setattr(cls, method.__name__, method)
    return cls


def _own_fields(cls: type[Any]) -> list[Field]:
    """The fields `cls` itself annotates; a class attribute that is a default stays one."""
    own = []
    annotations = cls.__dict__.get("__annotations__", {})  # noqa: RUF063 - inspect costs 6 ms
    for name, annotation in annotations.items():
        if _is_classvar(annotation):
            continue
        value = cls.__dict__.get(name, MISSING)
        if type(value).__module__ == "dataclasses":  # dataclasses.field: its options would be lost
            raise TypeError(f"{cls.__qualname__}.{name}: a @record field is kb.record.field, "
                            "not dataclasses.field")
        f = value if isinstance(value, Field) else Field(value, MISSING, True, True)
        f.name = name
        if f.default is not MISSING and type(f.default).__hash__ is None:
            raise ValueError(f"mutable default {type(f.default)} for field {name} is not "
                             "allowed: use default_factory")
        if f.default is not MISSING:
            setattr(cls, name, f.default)
        elif isinstance(value, Field):
            delattr(cls, name)  # as dataclasses: a factory's field has no class attribute
        own.append(f)
    return own


def _is_classvar(annotation: Any) -> bool:
    if isinstance(annotation, str):  # `from __future__ import annotations`, as kb writes
        return annotation.partition("[")[0].strip() in ("ClassVar", "typing.ClassVar")
    return getattr(annotation, "__origin__", annotation) is getattr(
        sys.modules.get("typing"), "ClassVar", None)


def _init(where: str, fields: tuple[Field, ...]) -> Callable[..., None]:
    names = tuple(f.name for f in fields)
    defaults = tuple((f.name, f.default, f.default_factory) for f in fields)
    required = sum(default is MISSING and factory is MISSING for _, default, factory in defaults)
    setter = object.__setattr__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if len(args) > len(names):
            raise TypeError(f"{where}.__init__() {_takes(required + 1, len(names) + 1)} "
                            f"but {len(args) + 1} were given")
        if args and kwargs:
            for name in kwargs:  # the first in the call's order, as Python names it
                if name in names[:len(args)]:
                    raise TypeError(f"{where}.__init__() got multiple values for argument "
                                    f"{name!r}")
        for name, value in zip(names, args, strict=False):
            setter(self, name, value)
        missing = []
        for name, default, factory in defaults[len(args):]:
            if name in kwargs:
                setter(self, name, kwargs.pop(name))
            elif default is not MISSING:
                setter(self, name, default)
            elif factory is not MISSING:
                setter(self, name, factory())
            else:
                missing.append(repr(name))
        if kwargs:
            raise TypeError(f"{where}.__init__() got an unexpected keyword argument "
                            f"{next(iter(kwargs))!r}")
        if missing:
            listed = (" and ".join(missing) if len(missing) < 3
                      else f"{', '.join(missing[:-1])}, and {missing[-1]}")
            raise TypeError(f"{where}.__init__() missing {len(missing)} required positional "
                            f"argument{'s' if len(missing) > 1 else ''}: {listed}")

    return __init__


def _takes(least: int, most: int) -> str:
    """Python's own wording of how many positional arguments a function takes."""
    if least == most:
        return f"takes {most} positional argument{'s' if most > 1 else ''}"
    return f"takes from {least} to {most} positional arguments"


def _value_methods(shown: tuple[str, ...],
                   compared: tuple[str, ...]) -> tuple[Callable[..., Any], ...]:
    def values(self: Any) -> tuple[Any, ...]:
        return tuple([getattr(self, name) for name in compared])

    def __repr__(self: Any) -> str:
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in shown)
        return f"{self.__class__.__qualname__}({inner})"

    def __eq__(self: Any, other: object) -> bool:
        if other.__class__ is self.__class__:
            return values(self) == values(other)
        return NotImplemented

    def __hash__(self: Any) -> int:
        return hash(values(self))

    return __repr__, __eq__, __hash__


def _frozen_methods(cls: type[Any], names: tuple[str, ...]) -> tuple[Callable[..., None], ...]:
    def __setattr__(self: Any, name: str, value: Any) -> None:
        if type(self) is cls or name in names:
            raise FrozenInstanceError(f"cannot assign to field {name!r}")
        super(cls, self).__setattr__(name, value)

    def __delattr__(self: Any, name: str) -> None:
        if type(self) is cls or name in names:
            raise FrozenInstanceError(f"cannot delete field {name!r}")
        super(cls, self).__delattr__(name)

    return __setattr__, __delattr__
