"""``datatype``: the dataclass decorator the ledger needs, at a third of the import cost.

Every command is a fresh process, and ``dataclasses`` builds each class by
compiling five to eight generated functions one at a time and then creating
the class a second time for its slots: ~1 ms a class on the 2-core machine,
~27 ms for the value types an update imports (a quarter of the
command here; docs/performance.md). ``datatype`` writes the same methods for the
subset of features the ledger uses -- ``__init__`` (defaults, factories,
``init=False``), ``__repr__``, ``__eq__``, ``__hash__`` and read-only fields
when frozen, ordering when asked, ``__slots__`` -- as one source compiled
once, so a class costs ~0.3 ms. Declarations read as with dataclasses and
type-check the same (``dataclass_transform``); ``tests/test_datatype.py`` holds
the two to the same behaviour.

Not supported (nothing here uses them): inheritance and ``ClassVar``/``InitVar``
fields (both refused), ``__post_init__``, ``kw_only``, ``dataclasses.fields``/
``asdict`` (use ``replace`` here).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, dataclass_transform, overload

T = TypeVar("T")
_MISSING: Any = object()
_ORDER = (("__lt__", "<"), ("__le__", "<="), ("__gt__", ">"), ("__ge__", ">="))


class _Field:
    __slots__ = ("default", "factory", "init")

    def __init__(self, default: Any, factory: Any, init: bool) -> None:
        self.default = default
        self.factory = factory
        self.init = init


@overload
def field(*, default: T, init: bool = True) -> T: ...
@overload
def field(*, default_factory: Callable[[], T], init: bool = True) -> T: ...
def field(*, default: Any = _MISSING, default_factory: Any = _MISSING, init: bool = True) -> Any:
    """A field with a default, a default factory, or left out of ``__init__``."""
    if (default is _MISSING) == (default_factory is _MISSING):
        raise TypeError("field() needs exactly one of default and default_factory")
    return _Field(default, default_factory, init)


def _source(
    cls: type, names: list[str], frozen: bool, order: bool
) -> tuple[str, dict[str, Any], tuple[str, ...]]:
    """The methods' source, the globals it needs (defaults, factories), the init fields."""
    env: dict[str, Any] = {"_MISSING": _MISSING, "_set": object.__setattr__}
    params: list[str] = []
    body: list[str] = []
    for name in names:
        found = cls.__dict__.get(name, _MISSING)
        spec = found if isinstance(found, _Field) else _Field(found, _MISSING, True)
        if spec.factory is not _MISSING:
            env[f"_f_{name}"] = spec.factory
            value = f"_f_{name}()"
            if spec.init:
                params.append(f"{name}=_MISSING")
                value = f"{value} if {name} is _MISSING else {name}"
        elif spec.default is not _MISSING:
            env[f"_d_{name}"] = spec.default
            value = name if spec.init else f"_d_{name}"
            if spec.init:
                params.append(f"{name}=_d_{name}")
        else:
            if any("=" in p for p in params):
                raise TypeError(f"non-default field {name!r} follows a default one")
            params.append(name)
            value = name
        body.append(f" _set(self, {name!r}, {value})" if frozen else f" self.{name} = {value}")
    mine = "(" + "".join(f"self.{n}," for n in names) + ")"
    theirs = "(" + "".join(f"other.{n}," for n in names) + ")"
    shown = ", ".join(f"{n}={{self.{n}!r}}" for n in names)
    same = "if other.__class__ is self.__class__:"
    lines = [f"def __init__(self, {', '.join(params)}):", *(body or [" pass"])]
    lines += ["def __repr__(self):", f" return f'{cls.__qualname__}({shown})'"]
    compare = [("__eq__", "==")] + (list(_ORDER) if order else [])
    for method, op in compare:
        lines += [f"def {method}(self, other):", f" {same} return {mine} {op} {theirs}"]
        lines += [" return NotImplemented"]
    if frozen:
        lines += ["def __hash__(self):", f" return hash({mine})"]
        for method, verb, args in (
            ("__setattr__", "assign to", ", value"),
            ("__delattr__", "delete", ""),
        ):
            lines += [f"def {method}(self, name{args}):"]
            lines += [f" raise AttributeError(f'cannot {verb} field {{name!r}}')"]
    return "\n".join(lines), env, tuple(p.partition("=")[0] for p in params)


def _getstate(self: Any) -> tuple[Any, ...]:
    return tuple(getattr(self, name) for name in self.__datatype_fields__)


def _setstate(self: Any, state: tuple[Any, ...]) -> None:
    for name, value in zip(self.__datatype_fields__, state, strict=True):
        object.__setattr__(self, name, value)


def _build(cls: type, frozen: bool, order: bool, slots: bool) -> type:
    # (the class's own annotations, unevaluated: inspect is not imported for this)
    annotations: dict[str, Any] = cls.__dict__.get("__annotations__", {})  # noqa: RUF063
    names = list(annotations)
    if cls.__bases__ != (object,):
        raise TypeError(f"datatype {cls.__name__}: a datatype does not inherit")
    if any("ClassVar" in str(a) or "InitVar" in str(a) for a in annotations.values()):
        raise TypeError(f"datatype {cls.__name__}: ClassVar and InitVar are not supported")
    source, env, init = _source(cls, names, frozen, order)
    methods: dict[str, Any] = {}
    env["__name__"] = cls.__module__
    exec(source, env, methods)  # (the source is built above from the class's field names)
    body = {k: v for k, v in cls.__dict__.items() if k not in ("__dict__", "__weakref__")}
    for name in names:
        found = body.pop(name, _MISSING)
        if isinstance(found, _Field):
            found = found.default
        # (without slots the default stays on the class, as with dataclasses)
        if not slots and found is not _MISSING:
            body[name] = found
    # (Python sets __hash__ = None in a class that writes __eq__ alone; dataclasses and
    # this decorator then still give a frozen class its hash)
    implicit = body.get("__hash__", _MISSING) is None and "__eq__" in body
    for name, method in methods.items():
        if name not in body or (name == "__hash__" and implicit):
            method.__qualname__ = f"{cls.__qualname__}.{name}"
            body[name] = method  # (a method the class writes itself wins, as with dataclasses)
    if frozen:  # (copy and pickle restore a frozen value's fields past its __setattr__)
        body.setdefault("__getstate__", _getstate)
        body.setdefault("__setstate__", _setstate)
    if not frozen and ("__hash__" not in cls.__dict__ or implicit):
        body["__hash__"] = None  # (mutable and compared by value: unhashable, as dataclasses do)
    if slots:
        body["__slots__"] = tuple(names)
    body["__qualname__"] = cls.__qualname__
    body["__match_args__"] = init
    body["__datatype_fields__"] = tuple(names)
    built = type(cls.__name__, cls.__bases__, body)
    built.__datatype_init__ = init  # type: ignore[attr-defined]
    return built


@overload
@dataclass_transform(field_specifiers=(field,))
def datatype(cls: type[T], /) -> type[T]: ...
@overload
def datatype(
    *, frozen: bool = False, order: bool = False, slots: bool = True
) -> Callable[[type[T]], type[T]]: ...
def datatype(
    cls: type[T] | None = None, /, *, frozen: bool = False, order: bool = False, slots: bool = True
) -> Any:
    """Make ``cls`` a datatype: like ``@dataclass(slots=True)`` with the same arguments."""

    def wrap(c: type[T]) -> type[T]:
        return _build(c, frozen, order, slots)

    return wrap if cls is None else wrap(cls)


def replace(obj: T, /, **changes: Any) -> T:
    """A copy of a datatype value with some fields changed (``dataclasses.replace``)."""
    init: tuple[str, ...] = obj.__datatype_init__  # type: ignore[attr-defined]
    values = {name: getattr(obj, name) for name in init}
    values.update(changes)
    return obj.__class__(**values)
