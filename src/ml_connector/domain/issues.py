"""Issues: what validation finds. Validation returns issues; it does not raise."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Level(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Issue:
    """One finding, precise enough for a person to go and look: file, row or XPath, field."""

    level: Level
    code: str
    message: str
    file: str | None = None
    row: int | None = None
    xpath: str | None = None
    field: str | None = None
    document: str | None = None  # the document key the issue belongs to, when there is one
    line: int | None = None  # the physical line in an XML file

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"level": str(self.level), "code": self.code, "message": self.message}
        for name in ("file", "row", "line", "xpath", "field", "document"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out

    def __str__(self) -> str:
        where = self.file or ""
        if self.row is not None:
            where += f" row {self.row}"
        if self.line is not None:
            where += f" line {self.line}"
        if self.xpath:
            where += f" {self.xpath}"
        if self.field:
            where += f" field {self.field}"
        return f"{self.level.upper()} {self.code}: {self.message}" + (f" ({where.strip()})" if where else "")


def error(code: str, message: str, **where: object) -> Issue:
    return Issue(Level.ERROR, code, message, **where)  # type: ignore[arg-type]


def warning(code: str, message: str, **where: object) -> Issue:
    return Issue(Level.WARNING, code, message, **where)  # type: ignore[arg-type]
