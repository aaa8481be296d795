"""The one exception of the readers: a file-level (structural) failure."""

from __future__ import annotations

from ml_connector.domain.issues import Issue


class FileRejected(Exception):
    """The whole file is rejected; ``issues`` says why (at least one error with a file-level code).

    ``iter_export`` raises it before it returns for what a first look at the file shows (encoding,
    header, and for XML the whole structure), and a CSV stream raises it where its one checking
    pass meets a broken record, possibly after documents of the file: its consumer uses none of a
    file's documents before the stream has ended without it (pipeline/intake.py holds them until
    then). ``warnings`` holds file-level warnings found before the failure (e.g. ``encoding_fallback``)."""

    def __init__(self, issues: list[Issue], warnings: list[Issue] | None = None) -> None:
        super().__init__("; ".join(f"{i.code}: {i.message}" for i in issues))
        self.issues = list(issues)
        self.warnings = list(warnings or [])
