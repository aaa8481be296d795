"""JSON with exact money, for the client's requests and the simulator's answers alike.

``json.dumps`` cannot write a ``Decimal`` and going through ``float`` would change amounts, so
``dumps`` writes a Decimal as its plain digits (``31748.10``) and refuses floats and non-finite
numbers; ``loads`` parses every JSON fraction as a ``Decimal``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any


def dumps(value: object) -> str:
    """JSON text for ``value``; Decimals become exact numbers, floats are refused."""
    parts: list[str] = []
    _encode(value, parts)
    return "".join(parts)


def loads(text: str | bytes) -> Any:
    """Parse JSON with every fraction as a Decimal (no float ever appears)."""
    return json.loads(text, parse_float=Decimal)


def _decimal(value: Decimal) -> str:
    if not value.is_finite():
        raise ValueError(f"cannot write a non-finite amount as JSON: {value}")
    # a negative zero is zero: "-0.00" would read as a sign error to a person comparing files
    return format(abs(value) if value.is_zero() else value, "f")


# json's own string writer (C), what ``json.dumps(s, ensure_ascii=False)`` calls for a str, without
# building an encoder for every string of a request
_string = json.encoder.encode_basestring
_LITERALS = {None: "null", True: "true", False: "false"}


def _encode(value: object, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(_string(value))
    elif value is None or isinstance(value, bool):
        out.append(_LITERALS[value])
    elif isinstance(value, Decimal):
        out.append(_decimal(value))
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, float):
        raise TypeError("money is never a float in JSON here; use Decimal")
    elif isinstance(value, Mapping):
        out.append("{")
        for i, (key, item) in enumerate(value.items()):
            if not isinstance(key, str):
                raise TypeError(f"JSON object keys are strings, not {type(key).__name__}")
            if i:
                out.append(",")
            out.append(_string(key))
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
        raise TypeError(f"cannot write {type(value).__name__} as JSON")
