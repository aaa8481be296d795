"""JSON in and out of the simulator with exact money.

Request bodies are parsed with ``parse_float=Decimal`` so no amount ever becomes a float. Responses
are written by :func:`dumps`, which emits a ``Decimal`` as a plain JSON number literal (``12500.00``),
never through ``float``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any


def loads(data: bytes | str) -> Any:
    """Parse JSON; numbers with a fraction or exponent become ``Decimal``."""
    return json.loads(data, parse_float=Decimal)


def _decimal_literal(value: Decimal) -> str:
    if not value.is_finite():
        raise ValueError(f"cannot serialise {value!r} as JSON")
    text = format(value, "f")
    return "0" if text in {"-0", "-0.0"} else text


def _encode(value: Any, out: list[str]) -> None:
    if value is None or isinstance(value, bool | str):
        out.append(json.dumps(value, ensure_ascii=False))
    elif isinstance(value, Decimal):
        out.append(_decimal_literal(value))
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, float):
        raise TypeError("the simulator never serialises floats; use Decimal")
    elif isinstance(value, Mapping):
        out.append("{")
        for i, (key, item) in enumerate(value.items()):
            if i:
                out.append(",")
            out.append(json.dumps(str(key), ensure_ascii=False))
            out.append(":")
            _encode(item, out)
        out.append("}")
    elif isinstance(value, Sequence):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _encode(item, out)
        out.append("]")
    else:
        raise TypeError(f"cannot serialise {type(value).__name__} as JSON")


def dumps(value: Any) -> str:
    out: list[str] = []
    _encode(value, out)
    return "".join(out)
