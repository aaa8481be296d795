"""Positional constructors for the frozen document dataclasses (``Invoice``, ``InvoiceLine``).

A frozen dataclass sets each field through ``object.__setattr__``; for a 21-field ``InvoiceLine``
that costs about as much as reading its CSV row, and a reader builds one per line.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields, make_dataclass
from typing import TypeVar

_T = TypeVar("_T")


def positional_constructor(cls: type[_T], names: tuple[str, ...]) -> Callable[..., _T]:
    """``make(*values)`` == ``cls(**dict(zip(names, values)))``, but faster for a frozen, slotted
    dataclass whose fields are exactly ``names`` in that order, with a generated ``__init__`` and
    no ``__post_init__``.

    For such a class the constructor returned builds a non-frozen twin with the very same slots
    (plain attribute stores) and turns it into ``cls`` by ``__class__`` assignment: the result is an
    ordinary frozen ``cls`` instance with the same field values. For any other class it just calls
    ``cls`` with keywords."""
    init = cls.__dict__.get("__init__")
    params = getattr(cls, "__dataclass_params__", None)
    if (
        params is None
        or not params.frozen
        or tuple(f.name for f in fields(cls)) != names  # type: ignore[arg-type]
        or getattr(cls, "__slots__", None) != names
        or hasattr(cls, "__post_init__")
        or getattr(getattr(init, "__code__", None), "co_filename", None) != "<string>"  # generated
    ):
        return lambda *values: cls(**dict(zip(names, values, strict=True)))

    def become(self: object) -> None:
        self.__class__ = cls

    twin: Callable[..., _T] = make_dataclass(
        f"_{cls.__name__}Twin",
        names,
        slots=True,
        eq=False,
        repr=False,
        match_args=False,
        namespace={"__post_init__": become, "__module__": __name__},
    )
    try:
        probe = twin(*([None] * len(names)))
    except TypeError:  # the layouts differ after all
        return lambda *values: cls(**dict(zip(names, values, strict=True)))
    assert type(probe) is cls
    return twin


def field_names(cls: type) -> tuple[str, ...]:
    """The dataclass's field names in declaration order (the positional constructor's order)."""
    return tuple(f.name for f in fields(cls))
