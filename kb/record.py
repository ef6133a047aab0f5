"""`@record`: kb's frozen dataclass, built without compiling code at import time.

`@dataclass(frozen=True)` writes the source of six methods per class (__init__,
__repr__, __eq__, __hash__, __setattr__, __delattr__) and compiles each with exec:
about 1 ms a class here, and `kb search` defines 15 of them before it answers, `kb
explain` 27 (issue 12: 14 and 25 ms of a 110 ms budget). `record` lets dataclasses
collect the fields (so `dataclasses.fields`, `replace` and `asdict` work as on any
dataclass) but generate no methods, then attaches the same six as closures over
the field names: a tenth of the cost to define, a few hundred nanoseconds more per
instance. What users of a class see is what @dataclass(frozen=True) gives them:
the same constructor (positional or keyword, defaults, default_factory), repr,
equality and hash over the fields with compare=True, and FrozenInstanceError on
assignment; tests/test_record.py compares the two.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import MISSING, FrozenInstanceError
from typing import Any, TypeVar, dataclass_transform

_T = TypeVar("_T")


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field,))
def record(cls: type[_T]) -> type[_T]:
    """Make `cls` a frozen dataclass (see the module's docstring)."""
    dataclasses.dataclass(init=False, repr=False, eq=False)(cls)
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]  # a dataclass from here on
    names = tuple(f.name for f in fields)
    methods = (_init(cls.__qualname__, fields),
               *_value_methods(tuple(f.name for f in fields if f.repr),
                               tuple(f.name for f in fields if f.compare)),
               *_frozen_methods(cls, names))
    for method in methods:
        method.__qualname__ = f"{cls.__qualname__}.{method.__name__}"
        method.__module__ = cls.__module__
        setattr(cls, method.__name__, method)
    return cls


def _init(where: str, fields: tuple[dataclasses.Field[Any], ...]) -> Callable[..., None]:
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
