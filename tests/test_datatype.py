"""``ledger._datatype`` behaves as ``dataclasses`` does for every feature the ledger uses."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import subprocess
import sys
from typing import ClassVar

import pytest

from ledger import _datatype


def _pair(frozen: bool, order: bool = False) -> tuple[type, type]:
    """The same declaration made by dataclasses and by datatype."""
    made = []
    for decorate, field in (
        (dataclasses.dataclass(frozen=frozen, order=order, slots=True), dataclasses.field),
        (_datatype.datatype(frozen=frozen, order=order), _datatype.field),
    ):

        class Point:
            x: int
            y: str = "y"
            tags: tuple[str, ...] = field(default=())
            seen: list[int] = field(default_factory=list)

            def total(self) -> int:
                return self.x + len(self.seen)

        made.append(decorate(Point))
    return made[0], made[1]


@pytest.mark.parametrize("frozen", [True, False])
def test_construction_repr_and_equality_match(frozen: bool) -> None:
    dc, dt = _pair(frozen)
    for args, kwargs in (((1,), {}), ((2, "b"), {"tags": ("t",)}), ((), {"x": 3, "seen": [4]})):
        a, b = dc(*args, **kwargs), dt(*args, **kwargs)
        assert repr(a).replace("_pair.<locals>.", "") == repr(b).replace("_pair.<locals>.", "")
        assert b == dt(*args, **kwargs) and b != dt(99)
        assert b.total() == a.total()
        assert (b == a) is False  # another class is never equal, as with dataclasses
    assert dt(1).seen is not dt(1).seen  # a factory per instance
    with pytest.raises(TypeError):
        dt()  # a field without a default is required
    with pytest.raises(TypeError):
        dt(1, nope=2)


def test_frozen_values_hash_and_refuse_changes() -> None:
    _, dt = _pair(frozen=True)
    value = dt(1, tags=("a",))
    with pytest.raises(TypeError):
        hash(value)  # (its list field is unhashable, as with dataclasses)
    hashable = dt(1, tags=("a",), seen=())
    assert hash(hashable) == hash(dt(1, tags=("a",), seen=()))
    assert len({hashable, dt(1, tags=("a",), seen=()), dt(2, seen=())}) == 2
    with pytest.raises(AttributeError):
        value.x = 2
    with pytest.raises(AttributeError):
        del value.x
    with pytest.raises(AttributeError):
        value.other = 1  # slots: no attribute outside the fields
    assert not hasattr(value, "__dict__")


def test_mutable_values_change_and_are_unhashable() -> None:
    dc, dt = _pair(frozen=False)
    value = dt(1)
    value.x = 5
    assert value.x == 5
    assert dc.__hash__ is None and dt.__hash__ is None
    with pytest.raises(TypeError):
        hash(value)


def test_order_matches() -> None:
    dc, dt = _pair(frozen=True, order=True)
    cases = [(1, "a"), (1, "b"), (0, "z"), (2, "a")]
    assert sorted(cases, key=lambda c: dc(*c)) == sorted(cases, key=lambda c: dt(*c))
    assert dt(1) <= dt(1) and dt(1) < dt(2) and dt(2) > dt(1) and dt(2) >= dt(2)
    with pytest.raises(TypeError):
        assert dt(1) < 2


def test_replace_matches_and_skips_init_false_fields() -> None:
    dc, dt = _pair(frozen=True)
    assert dataclasses.replace(dc(1), y="n").y == _datatype.replace(dt(1), y="n").y == "n"
    assert _datatype.replace(dt(1, tags=("a",)), x=2) == dt(2, tags=("a",))

    @_datatype.datatype
    class Held:
        name: str
        cache: int | None = _datatype.field(default=None, init=False)

    held = Held("a")
    held.cache = 3
    assert _datatype.replace(held, name="b").cache is None  # (dataclasses: the same)
    with pytest.raises(TypeError):
        Held("a", 3)  # type: ignore[call-arg]


def test_a_method_the_class_writes_wins() -> None:
    @_datatype.datatype(frozen=True)
    class Named:
        name: str

        def __repr__(self) -> str:
            return f"<{self.name}>"

    assert repr(Named("a")) == "<a>"


def test_declarations_it_does_not_support_are_refused() -> None:
    with pytest.raises(TypeError):
        _datatype.field()

    class Base:
        pass

    with pytest.raises(TypeError):

        @_datatype.datatype
        class Child(Base):
            x: int

    with pytest.raises(TypeError):

        @_datatype.datatype
        class Late:
            x: int = 1
            y: int


def test_the_write_path_imports_no_dataclasses() -> None:
    code = (
        "import sys, cli._main, ledger, ledger._ledger, ledger._write, ledger._view, "
        "ledger._claims, ledger._model, ledger._replay, ledger._snapshot\n"
        "print('dataclasses' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# (module level: pickle finds a class by its qualified name)
@_datatype.datatype(frozen=True)
class _Frozen:
    x: int
    tags: tuple[str, ...] = ()


def test_frozen_values_copy_and_pickle() -> None:
    value = _Frozen(1, ("a",))
    for copied in (copy.copy(value), copy.deepcopy(value), pickle.loads(pickle.dumps(value))):
        assert copied == value and copied is not value
        with pytest.raises(AttributeError):
            copied.x = 2


def test_a_frozen_class_writing_eq_alone_keeps_a_hash_as_with_dataclasses() -> None:
    made = []
    for decorate in (
        dataclasses.dataclass(frozen=True, slots=True),
        _datatype.datatype(frozen=True),
    ):

        class Loose:
            x: int

            def __eq__(self, other: object) -> bool:
                return type(other) is type(self) and other.x % 2 == self.x % 2

        made.append(decorate(Loose))
    for cls in made:
        assert cls(1) == cls(3)
        assert hash(cls(1)) == hash(cls(1))


def test_names_match_args_and_class_defaults_match_dataclasses() -> None:
    dc, dt = _pair(frozen=True)
    assert dt.__qualname__ == dc.__qualname__ and dt.__match_args__ == dc.__match_args__
    assert dt.__init__.__module__ == __name__

    for decorate, field in (
        (dataclasses.dataclass, dataclasses.field),
        (_datatype.datatype(slots=False), _datatype.field),
    ):

        class Plain:
            since: float = 0.0
            later: int = field(default=3, init=False)
            seen: list[int] = field(default_factory=list)

        made = decorate(Plain)
        assert made.since == 0.0 and made.later == 3 and not hasattr(made, "seen")
        value = made()
        assert (value.since, value.later, value.seen) == (0.0, 3, [])
        value.extra = 1  # (no slots: any attribute, as the four such classes here allow)


def test_class_variables_are_refused() -> None:
    with pytest.raises(TypeError):

        @_datatype.datatype
        class Limits:
            LIMIT: ClassVar[int] = 3
            x: int = 0
