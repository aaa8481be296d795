"""Cheap line numbers for configuration problems: scan the raw TOML text for table headers and keys.

This is not a TOML parser. It recognises ``[a.b]`` / ``[[a]]`` headers and ``key = `` / ``a.b = ``
assignments at the start of a line, skips multi-line strings, and maps each dotted path to the
first line it appears on. Anything it cannot place falls back to the nearest enclosing table.
"""

from __future__ import annotations

import re

_BARE = r"[A-Za-z0-9_-]+"
_QUOTED = r'"(?:[^"\\]|\\.)*"|\'[^\']*\''
_KEY = rf"(?:{_BARE}|{_QUOTED})"
_DOTTED = rf"{_KEY}(?:\s*\.\s*{_KEY})*"
_HEADER = re.compile(rf"^\s*\[(\[)?\s*(?P<key>{_DOTTED})\s*\]\]?\s*(?:#.*)?$")
_ASSIGN = re.compile(rf"^\s*(?P<key>{_DOTTED})\s*=")
_PART = re.compile(_KEY)


def _split(dotted: str) -> tuple[str, ...]:
    parts = []
    for m in _PART.finditer(dotted):
        token = m.group(0)
        if token[0] in "\"'":
            token = token[1:-1]
        parts.append(token)
    return tuple(parts)


class LineIndex:
    def __init__(self, text: str) -> None:
        self._lines: dict[tuple[str, ...], int] = {}
        table: tuple[str, ...] = ()
        in_multiline: str | None = None
        for lineno, line in enumerate(text.splitlines(), start=1):
            if in_multiline is not None:
                if in_multiline in line:
                    in_multiline = None
                continue
            header = _HEADER.match(line)
            if header:
                table = _split(header["key"])
                self._lines.setdefault(table, lineno)
                continue
            assign = _ASSIGN.match(line)
            if assign:
                path = table + _split(assign["key"])
                for n in range(len(table) + 1, len(path) + 1):
                    self._lines.setdefault(path[:n], lineno)
                rest = line[assign.end() :]
                for quote in ('"""', "'''"):
                    if rest.count(quote) == 1:
                        in_multiline = quote
                        break

    def line_of(self, path: tuple[str, ...]) -> int | None:
        """Line of ``path``, else of its nearest ancestor that appears in the text, else None."""
        while path:
            if path in self._lines:
                return self._lines[path]
            path = path[:-1]
        return None

    def exact(self, path: tuple[str, ...]) -> int | None:
        return self._lines.get(path)
