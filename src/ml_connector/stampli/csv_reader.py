"""Streaming CSV reader for §4.3 (invoices) and §4.5 (payments).

Two streaming passes, both O(1) in memory; only the second checks and reads records:

1. ``scan_csv`` decodes the whole file (BOM / strict UTF-8 / cp1252 fallback), finds the
   delimiter, resolves the header (raising ``FileRejected`` for it) and counts how many
   *contiguous groups* each document key starts (``_Census``: exactly per key up to
   ``EXACT_KEYS_MAX`` keys, then per hash bucket, a fixed-size bytearray; counts saturate at 2).
2. ``iter_csv_documents`` reads the records with ``csv.reader``, checks each one (strict quoting,
   field count and size, row limit, company: ``_RecordChecks`` raises ``FileRejected`` at the first
   broken record, after the documents before it) and groups them by document key. A group whose
   key started exactly one group is complete when it ends and is yielded at once (the normal,
   contiguous case). Any other group (non-contiguous rows, or, in huge files, a hash collision) is
   spilled to a temporary SQLite file and yielded at the end of the file, in order of its first row.

Why a broken record does not stop the file before its first document: the consumer keeps a file's
documents out of use until the stream has ended (pipeline/intake.py), so checking every record
again in a pass of its own (about a fifth of the reader's time) buys nothing.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import sqlite3
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from itertools import islice
from operator import itemgetter
from pathlib import Path
from typing import TextIO, overload

from ml_connector.domain.documents import KEY_FIELDS, record_key
from ml_connector.domain.issues import Issue, error, warning
from ml_connector.stampli.build import LINE_CELLS, RawDocument, RawLine
from ml_connector.stampli.columns import (
    INVOICE_EXTENSION_COLUMNS,
    INVOICE_HEADER_COLUMNS,
    INVOICE_LINE_COLUMNS,
    PAYMENT_APPLICATION_COLUMNS,
    PAYMENT_LEVEL,
    HeaderMap,
    Kind,
    detect_kind_from_header,
    known_count,
    resolve_header,
)
from ml_connector.stampli.errors import FileRejected
from ml_connector.stampli.profile import ReaderLimits, ReaderProfile
from ml_connector.stampli.values import ValueRules

_DETECT_ORDER = ("\t", ";", ",")
_BUCKET_BITS_MAX = 24  # 16 MiB of group-start counters at most
# Up to this many distinct documents, group starts are counted exactly per key (a few MB), so a
# contiguous file is yielded in file order; beyond it, per hash bucket (fixed memory).
EXACT_KEYS_MAX = 100_000


@dataclass
class CsvPlan:
    path: Path
    file: str
    encoding: str
    delimiter: str
    kind: Kind
    header: HeaderMap
    rules: ValueRules
    buckets: bytearray
    mask: int
    limits: ReaderLimits
    # Every record is one line of at most max_field_chars characters: no field can be longer.
    short_lines: bool
    company_id: str | None  # the configured company, when the file has the column to check
    company_idx: int | None
    warnings: list[Issue] = field(default_factory=list)
    exact: dict[str, int] | None = None  # key -> group starts (saturating at 2), while small

    @cached_property
    def layout(self) -> RowLayout:
        return RowLayout(self.kind, self.header)

    def complete_when_it_ends(self, key: str) -> bool:
        """True when this key's rows form one contiguous group (or may, for a hash collision: no)."""
        if self.exact is not None:
            return self.exact.get(key, 0) == 1
        return self.buckets[hash(key) & self.mask] == 1


def _open_text(path: Path, encoding: str) -> TextIO:
    return io.TextIOWrapper(open(path, "rb"), encoding=encoding, errors="strict", newline="")


def _reject(file: str, code: str, message: str, warnings: list[Issue], **where: object) -> FileRejected:
    return FileRejected([error(code, message, file=file, **where)], warnings)


def _encodings(path: Path, profile: ReaderProfile) -> list[str]:
    with open(path, "rb") as fh:
        head = fh.read(4)
    if profile.encoding:
        enc = profile.encoding.lower().replace("_", "-")
        if enc in ("utf-8", "utf8") and head.startswith(b"\xef\xbb\xbf"):
            return ["utf-8-sig"]
        if enc in ("utf-16", "utf16") and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
            return [enc]
        return [profile.encoding]
    if head.startswith(b"\xef\xbb\xbf"):
        return ["utf-8-sig"]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return ["utf-16"]
    return ["utf-8", "cp1252"]


def _ends_with_newline(path: Path, encoding: str) -> bool:
    with open(path, "rb") as fh:
        fh.seek(0, io.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - 4))
        tail = fh.read()
    if encoding.startswith("utf-16"):
        return tail.endswith((b"\n\x00", b"\x00\n", b"\r\x00", b"\x00\r"))
    return tail.endswith((b"\n", b"\r"))


class _Lines:
    """The file's physical lines as csv.reader's source, with one line that can be handed back.

    Pass 1 reads lines itself and gives csv.reader only the ones it cannot check with str methods;
    csv.reader never reads ahead of the record it returns, so both see every line exactly once."""

    __slots__ = ("chars", "pending", "source")

    def __init__(self, source: Iterator[str]) -> None:
        self.source = source
        self.pending: str | None = None
        self.chars = 0  # characters handed to csv.reader (to find where a record starts)

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = self.pending
        if line is not None:
            self.pending = None
        else:
            line = next(self.source)
        self.chars += len(line)
        return line


def _key_columns(kind: Kind, header: HeaderMap) -> list[int]:
    idx = header.index
    if kind == "payments":
        return [idx["stampliPaymentId"]]
    names = ("stampliInvoiceId", "stampliCompanyId", "vendorId", "invoiceNumber", "documentType")
    return [i for i in (idx.get(c) for c in names) if i is not None]


def key_function(kind: Kind, header: HeaderMap) -> Callable[[list[str]], str]:
    """The grouping key of a row: ``record_key`` of its key cells (absent columns read as empty)."""
    key_kind = "payment" if kind == "payments" else "invoice"
    cols = [header.index.get(name) for name in KEY_FIELDS[key_kind]]
    if None in cols or len(cols) == 1:

        def key_of_cells(row: list[str]) -> str:
            return record_key(key_kind, [row[i] if i is not None else None for i in cols], complete=False)

        return key_of_cells
    cells = itemgetter(*cols)  # the common case: every key column present, one C call per row

    def key(row: list[str]) -> str:
        return record_key(key_kind, cells(row), complete=False)

    return key


def scan_csv(
    path: Path, *, file: str, profile: ReaderProfile, kind: Kind | None, hint: Kind | None = None
) -> CsvPlan:
    """Pass 1: every structural check; raises ``FileRejected``. ``kind`` is a requirement (a
    header of the other kind is ``kind_mismatch``); ``hint`` (from the file name) is used only when
    the header does not tell."""
    warnings: list[Issue] = []
    candidates = _encodings(path, profile)
    for n, enc in enumerate(candidates):
        try:
            return _scan(path, file, profile, kind, hint, enc, warnings)
        except UnicodeDecodeError as exc:
            if n + 1 < len(candidates):
                warnings.append(
                    warning(
                        "encoding_fallback",
                        f"not valid UTF-8 ({exc.reason} at byte {exc.start} of a read block); "
                        f"decoded as Windows-1252 - check that the letters look right",
                        file=file,
                    )
                )
                continue
            raise _reject(
                file, "encoding_error", f"cannot decode the file as {enc}: {exc.reason}", warnings
            ) from None
        except UnicodeError as exc:
            raise _reject(
                file, "encoding_error", f"cannot decode the file as {enc}: {exc}", warnings
            ) from None
    raise AssertionError("unreachable")  # pragma: no cover


def _header_cells(line: str, delimiter: str) -> list[str]:
    """The first line split as a header; a plain split when csv.reader refuses it (a cell over
    csv's own size limit): the real header pass then reports exactly what is wrong."""
    try:
        return next(csv.reader([line], delimiter=delimiter), [])
    except csv.Error:
        return line.split(delimiter)


def _detect_delimiter(line: str, profile: ReaderProfile) -> str | None:
    if profile.delimiter:
        cells = _header_cells(line, profile.delimiter)
        return profile.delimiter if known_count(cells, profile.header_aliases) > 3 else None
    for d in _DETECT_ORDER:
        cells = _header_cells(line, d)
        if known_count(cells, profile.header_aliases) > 3:
            return d
    return None


def _column_name(cells: tuple[str, ...] | list[str], col: int | None) -> str | None:
    """How an issue names a column: its header text, or its position when there is none."""
    if col is None:
        return None
    if col < len(cells) and cells[col].strip():
        return cells[col].strip()
    return f"column{col + 1}"


def _long_field_column(path: Path, encoding: str, delimiter: str, start: int, limit: int) -> int | None:
    """The 0-based column of the first field longer than ``limit`` characters in the record that
    starts ``start`` characters into the file (csv.reader stops at such a field without saying
    which). Reads that one record with a small quote-aware state machine; None if it ends first."""
    with _open_text(path, encoding) as text:
        while start > 0:
            skipped = text.read(min(start, 1 << 20))
            if not skipped:
                return None
            start -= len(skipped)
        col, length, state = 0, 0, "start"
        while chunk := text.read(1 << 16):
            for c in chunk:
                if state == "quoted":
                    if c == '"':
                        state = "quote"
                        continue
                elif state == "quote" and c == '"':
                    state = "quoted"
                elif c == delimiter:
                    col, length, state = col + 1, 0, "start"
                    continue
                elif c in "\r\n" or state == "quote":
                    return None
                elif state == "start" and c == '"':
                    state = "quoted"
                    continue
                else:
                    state = "plain"
                length += 1
                if length > limit:
                    return col
    return None


def _scan(
    path: Path,
    file: str,
    profile: ReaderProfile,
    kind: Kind | None,
    hint: Kind | None,
    encoding: str,
    warnings: list[Issue],
) -> CsvPlan:
    limits = profile.limits
    if csv.field_size_limit() <= limits.max_field_chars:
        csv.field_size_limit(limits.max_field_chars + 1)
    with _open_text(path, encoding) as text:
        first = text.readline(limits.max_field_chars * 4)
    first = first.lstrip("\ufeff")
    if "\x00" in first:
        raise _reject(
            file, "encoding_error", "NUL bytes in the header: UTF-16 without a BOM is not accepted", warnings
        )
    if not first.strip():
        raise _reject(file, "empty_file", "the file has no header row", warnings)
    delimiter = _detect_delimiter(first.rstrip("\r\n"), profile)
    if delimiter is None:
        raise _reject(
            file,
            "delimiter_undetected",
            f"the configured delimiter {profile.delimiter!r} does not split the header into known columns"
            if profile.delimiter
            else "none of TAB, ';' or ',' splits the header into more than 3 known columns",
            warnings,
            row=1,
        )
    with _open_text(path, encoding) as text:
        lines = _Lines(text)
        reader = csv.reader(lines, delimiter=delimiter, strict=True)
        try:
            cells = next(reader)
        except csv.Error as exc:
            raise _csv_error(
                file, exc, 1, warnings, path, encoding, delimiter, 0, limits.max_field_chars, []
            ) from None
        if cells:
            cells[0] = cells[0].lstrip("\ufeff")
        longest = max(map(len, cells), default=0)
        if longest > limits.max_field_chars:
            col = next(i for i, c in enumerate(cells) if len(c) == longest)
            raise _too_large(file, warnings, 1, col, f"column{col + 1}", longest, limits.max_field_chars)
        found = detect_kind_from_header(cells, profile.header_aliases)
        if kind is not None and found is not None and found != kind:
            raise _reject(
                file, "kind_mismatch", f"expected {kind} but the header is a {found} header", warnings, row=1
            )
        the_kind = kind or found or hint
        if the_kind is None:
            raise _reject(
                file, "unknown_kind", "the header names neither invoice nor payment columns", warnings, row=1
            )
        header = resolve_header(cells, the_kind, profile.header_aliases)
        problems = [
            error("duplicate_column", f"two header cells map to column {name}", file=file, row=1, field=name)
            for name in header.duplicates
        ] + [
            error(
                "missing_column",
                f"required column {name} is missing from the header",
                file=file,
                row=1,
                field=name,
            )
            for name in header.missing
        ]
        for name in header.extra:
            warnings.append(
                warning(
                    "unknown_column",
                    f"unknown column {name!r}; values kept under 'extra'",
                    file=file,
                    field=name,
                )
            )
        if problems:
            raise FileRejected(problems, warnings)

        # Group-start counters, sized from the file (about one bucket per 16 bytes, bounded).
        size = path.stat().st_size
        bits = max(10, min(_BUCKET_BITS_MAX, (max(size, 1) // 16).bit_length()))
        census = _Census(the_kind, header, delimiter, bits)
        # The records after the header: their lines counted by key (the structure is checked in
        # pass 2, record by record; the consumer uses nothing of a file before it is read whole).
        has_records = census.count(text, lambda: _open_text(path, encoding))
    if not has_records:
        warnings.append(warning("no_records", "the file has a header but no records", file=file))
    comma_rule = profile.decimal_sep is None and delimiter == ";"
    rules = ValueRules(
        decimal_sep=profile.decimal_sep or ".",
        thousands_sep=profile.thousands_sep,
        comma_rule=comma_rule,
        date_formats=profile.date_formats,
        datetime_formats=profile.datetime_formats,
        tz=profile.tz,
    )
    company_idx = header.index.get("stampliCompanyId") if profile.company_id is not None else None
    return CsvPlan(
        path,
        file,
        encoding,
        delimiter,
        the_kind,
        header,
        rules,
        census.buckets,
        census.mask,
        limits,
        census.by_split and census.longest <= limits.max_field_chars,
        profile.company_id if company_idx is not None else None,
        company_idx,
        warnings,
        census.exact,
    )


class _Census:
    """Pass 1's count of each document key's group starts (contiguous runs of its rows), read from
    the raw lines: pass 2 then yields a group as it ends when its key starts one run in the file.

    While every line is one record with no quote in its key cells and no CR but its line end (the
    common case), a line is read by splitting its first cells on the delimiter: exactly what
    csv.reader reads. At the first line that is not so, the count starts again with csv.reader over
    the whole file. Counts saturate at 2: exactly per key up to ``EXACT_KEYS_MAX`` keys, then per
    hash bucket (a collision only adds runs: a group is then spilled and merged, never yielded
    before its last row)."""

    BLOCK = 1 << 20  # characters read at a time

    def __init__(self, kind: Kind, header: HeaderMap, delimiter: str, bits: int) -> None:
        self.key_of = key_function(kind, header)
        self.delimiter = delimiter
        self.split_at = max(_key_columns(kind, header)) + 1
        self.payments = kind == "payments"
        self.id_col = (
            header.index["stampliPaymentId"] if self.payments else header.index.get("stampliInvoiceId")
        )
        self.buckets = bytearray(1 << bits)
        self.mask = (1 << bits) - 1
        self.exact: dict[str, int] | None = {}
        self.prev_cell: str | None = None
        self.prev_key: str | None = None
        self.any = False
        self.by_split = True  # every record was one line, read by splitting
        self.longest = 0  # characters of the longest line (read by splitting)

    def count(self, text: TextIO, reopen: Callable[[], TextIO]) -> bool:
        """Counts the runs of the records left in ``text`` (after the header); True if there is at
        least one. ``reopen`` gives the file from its start, for csv.reader."""
        carry = ""
        while block := text.read(self.BLOCK):
            block = carry + block
            cut = block.rfind("\n") + 1
            carry = block[cut:]
            body = block[:cut]
            # A CR that does not end a line ends a record for csv.reader: only csv.reader can tell.
            crs = body.count("\r")
            if (crs and crs != body.count("\r\n")) or not self._split_lines(body.split("\n")[:-1]):
                return self._csv_count(reopen)
        if carry and ("\r" in carry[:-1] or not self._split_lines([carry])):
            return self._csv_count(reopen)
        return self.any

    def _split_lines(self, lines: list[str]) -> bool:
        """Counts these lines by splitting their first cells; False at the first one that only
        csv.reader reads exactly (then nothing of the count is used)."""
        if lines:
            self.longest = max(self.longest, max(map(len, lines)))
        plain: list[bool] = []
        self._count(self._split_rows(lines, plain))
        return not plain

    def _split_rows(self, lines: list[str], stopped: list[bool]) -> Iterator[list[str] | None]:
        """Each line's first cells (None: a short record, which pass 2 rejects); at a line with a
        quoted cell going on to the next, or a quote in or before its key cells, ``stopped`` gets
        an entry and the rows end."""
        d, split_at = self.delimiter, self.split_at
        for line in lines:
            if line.count('"') & 1:
                stopped.append(True)
                return
            parts = line.split(d, split_at)
            if len(parts) <= split_at:
                if line.strip("\r"):
                    yield None
                continue  # a blank line is no record (csv.reader skips it)
            if line.find('"', 0, len(line) - len(parts[-1])) >= 0:
                stopped.append(True)
                return
            yield parts

    def _csv_count(self, reopen: Callable[[], TextIO]) -> bool:
        """The whole count again, every record as csv.reader reads it."""
        self.buckets = bytearray(len(self.buckets))
        self.exact = {}
        self.prev_cell = self.prev_key = None
        self.any = False
        self.by_split = False
        with reopen() as text:
            self._count(self._csv_rows(text))
        return self.any

    def _csv_rows(self, text: TextIO) -> Iterator[list[str] | None]:
        """The records after the header as csv.reader reads them (None: one too short to hold the
        key cells); a broken record ends them (pass 2 stops there too, and reports it)."""
        reader = csv.reader(text, delimiter=self.delimiter, strict=True)
        try:
            next(reader, None)  # the header
            for row in reader:
                if row:
                    yield row if len(row) >= self.split_at else None
        except csv.Error:
            yield None

    def _count(self, rows: Iterable[list[str] | None]) -> None:
        """Counts the runs of these records' keys (None: a record without them breaks a run). As in
        pass 2, a row whose id cell (when that cell alone makes the key) is the very text of the
        previous row's continues that row's group, without computing its key."""
        id_col, key_of, payments = self.id_col, self.key_of, self.payments
        prev_cell, prev_key = self.prev_cell, self.prev_key
        for cells in rows:
            self.any = True
            if cells is None:
                prev_cell = prev_key = None
                continue
            cell = cells[id_col] if id_col is not None else None
            if cell is not None and cell == prev_cell:
                continue
            prev_cell = cell if cell is not None and (payments or cell.strip()) else None
            key = key_of(cells)
            if key != prev_key:
                prev_key = key
                self._start(key)
        self.prev_cell, self.prev_key = prev_cell, prev_key

    def _start(self, key: str) -> None:
        exact = self.exact
        if exact is not None:
            exact[key] = min(exact.get(key, 0) + 1, 2)
            if len(exact) > EXACT_KEYS_MAX:
                buckets, mask = self.buckets, self.mask
                for k, count in exact.items():
                    b = hash(k) & mask
                    buckets[b] = min(buckets[b] + count, 2)
                self.exact = None
            return
        b = hash(key) & self.mask
        if self.buckets[b] < 2:
            self.buckets[b] += 1


def _too_large(
    file: str,
    warnings: list[Issue],
    rec_no: int,
    col: int | None,
    name: str | None,
    size: int | None,
    limit: int,
) -> FileRejected:
    where = f" in column {col + 1} ({name})" if col is not None else ""
    length = f"{size} characters" if size is not None else f"more than {limit} characters"
    return _reject(
        file,
        "field_too_large",
        f"a field of {length}{where}; the limit is {limit} (limits.max_field_chars)",
        warnings,
        row=rec_no,
        **({"field": name} if name is not None else {}),
    )


def _csv_error(
    file: str,
    exc: csv.Error,
    rec_no: int,
    warnings: list[Issue],
    path: Path,
    encoding: str,
    delimiter: str,
    rec_start: int,
    limit: int,
    header: list[str],
) -> FileRejected:
    msg = str(exc)
    if "unexpected end of data" in msg:
        return _reject(
            file,
            "unterminated_quote",
            f"a quoted field is still open at end of file (from record {rec_no})",
            warnings,
            row=rec_no,
        )
    if "field larger than field limit" in msg:
        col = _long_field_column(path, encoding, delimiter, rec_start, limit)
        return _too_large(file, warnings, rec_no, col, _column_name(header, col), None, limit)
    return _reject(file, "malformed_csv", f"broken CSV quoting: {msg}", warnings, row=rec_no)


# ---- pass 2 --------------------------------------------------------------------------------------

Group = list[tuple[int, list[str]]]


def _raw_text(plan: CsvPlan, group: Group) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=plan.delimiter, lineterminator="\r\n")
    writer.writerow(plan.header.cells)
    for _, row in group:
        writer.writerow(row)
    return out.getvalue()


class _RecordChecks:
    """Pass 2's structural checks, record by record in file order, raising ``FileRejected`` at the
    first broken record: strict quoting (csv.reader), field count and size, the row limit and the
    company. A batch whose records are all sound is passed in a few C calls."""

    BATCH = 512

    def __init__(self, plan: CsvPlan) -> None:
        self.plan = plan
        self.ncols = len(plan.header.cells)
        self.max_rows = plan.limits.max_rows
        self.max_chars = plan.limits.max_field_chars
        self.company = plan.company_id
        self.company_cell = itemgetter(plan.company_idx) if plan.company_idx is not None else None
        self.records = 0
        self.short_row: int | None = None  # a record of another field count: broken if any follows

    def batches(self, reader: Iterator[list[str]]) -> Iterator[list[list[str]]]:
        """The records after the header, checked, a batch at a time."""
        rec_no = 1  # the header
        while True:
            chunk: list[list[str]] = []
            try:
                chunk.extend(islice(reader, self.BATCH))  # keeps the records read before an error
            except csv.Error as exc:
                rows = [row for row in chunk if row]
                self._check(rows, rec_no)  # a broken record before it comes first
                raise self._csv_error(exc, rec_no + len(rows) + 1) from None
            if not chunk:
                break
            rows = chunk if [] not in chunk else [row for row in chunk if row]  # blank lines: no record
            sound = self._check(rows, rec_no)
            rec_no += len(rows)
            yield sound
        if self.short_row is not None:
            plan = self.plan
            if _ends_with_newline(plan.path, plan.encoding):
                raise self._reject("row_field_count", _FIELD_COUNT, self.short_row)
            raise self._reject(
                "truncated_file",
                "the last record is short and has no line end: the file is partial",
                self.short_row,
            )

    def _check(self, rows: list[list[str]], before: int) -> list[list[str]]:
        """Checks ``rows``, records ``before + 1`` on; returns those to read: all of them, or those
        before a record of another field count (an error at the next record or at the end)."""
        if not rows:
            return rows
        if (
            self.short_row is None
            and self.records + len(rows) <= self.max_rows
            and set(map(len, rows)) == {self.ncols}
            and (self.plan.short_lines or max(map(len, map("".join, rows))) <= self.max_chars)
            and (self.company_cell is None or all(map(self._company_ok, set(map(self.company_cell, rows)))))
        ):
            self.records += len(rows)
            return rows
        for n, row in enumerate(rows, start=before + 1):
            self._check_record(row, n)
        return rows if self.short_row is None else rows[: self.short_row - before - 1]

    def _company_ok(self, cell: str) -> bool:
        cid = cell.strip()
        return not cid or cid == self.company

    def _check_record(self, row: list[str], rec_no: int) -> None:
        if self.short_row is not None:
            raise self._reject("row_field_count", _FIELD_COUNT, self.short_row)
        self.records += 1
        if self.records > self.max_rows:
            raise self._reject("too_many_rows", f"more than {self.max_rows} records", rec_no)
        if len(row) != self.ncols:
            self.short_row = rec_no
            return
        longest = max(map(len, row))
        if longest > self.max_chars:
            col = next(i for i, c in enumerate(row) if len(c) == longest)
            plan = self.plan
            raise _too_large(
                plan.file,
                plan.warnings,
                rec_no,
                col,
                _column_name(plan.header.cells, col),
                longest,
                self.max_chars,
            )
        if self.company_cell is not None and not self._company_ok(cid := self.company_cell(row)):
            raise self._reject(
                "company_mismatch",
                f"stampliCompanyId {cid.strip()!r} is not the configured company {self.company!r}",
                rec_no,
                field="stampliCompanyId",
            )

    def _reject(self, code: str, message: str, row: int, **where: object) -> FileRejected:
        return _reject(self.plan.file, code, message, self.plan.warnings, row=row, **where)

    def _csv_error(self, exc: csv.Error, rec_no: int) -> FileRejected:
        plan = self.plan
        start = _record_start(plan.path, plan.encoding, plan.delimiter, rec_no)
        return _csv_error(
            plan.file,
            exc,
            rec_no,
            plan.warnings,
            plan.path,
            plan.encoding,
            plan.delimiter,
            start,
            self.max_chars,
            list(plan.header.cells),
        )


_FIELD_COUNT = "record has a different number of fields than the header"


def _record_start(path: Path, encoding: str, delimiter: str, rec_no: int) -> int:
    """Characters before record ``rec_no`` (the header is record 1), for a record csv.reader
    cannot read (it stops there): read again up to it, counting what csv.reader was handed."""
    with _open_text(path, encoding) as text:
        lines = _Lines(text)
        reader = csv.reader(lines, delimiter=delimiter, strict=True)
        seen = 0
        start = 0
        try:
            while seen < rec_no:
                start = lines.chars
                if next(reader):
                    seen += 1
        except (csv.Error, StopIteration):
            pass
    return start


def iter_csv_groups(plan: CsvPlan, max_lines: int) -> Iterator[Group]:
    """Pass 2: every record checked (``_RecordChecks``: a broken one raises ``FileRejected`` where
    it stands) and grouped by key; yields each document's rows (at most ``max_lines + 1`` of them):
    contiguous groups as they end, then the spilled (non-contiguous) ones in order of their first row."""
    key_of = key_function(plan.kind, plan.header)
    payments = plan.kind == "payments"
    idx = plan.header.index
    id_col = idx["stampliPaymentId"] if payments else idx.get("stampliInvoiceId")
    checks = _RecordChecks(plan)
    with contextlib.ExitStack() as stack:
        spill: _Spill | None = None
        text = stack.enter_context(_open_text(plan.path, plan.encoding))
        reader = csv.reader(text, delimiter=plan.delimiter, strict=True)
        next(reader)
        group: Group = []
        group_key: str | None = None
        # The id cell of the current group when that cell alone makes the key: a row with the
        # very same cell text belongs to the group without computing its key.
        group_cell: str | None = None
        rec_no = 1

        def complete(key: str, ended: Group) -> bool:
            """True when the group that just ended is whole (yield it); else it is spilled."""
            nonlocal spill
            if plan.complete_when_it_ends(key):
                return True
            if spill is None:
                spill = stack.enter_context(_Spill())
            spill.add(key, ended)
            return False

        for rows in checks.batches(reader):
            for row in rows:
                rec_no += 1
                cell = row[id_col] if id_col is not None else None
                if cell is None or cell != group_cell:
                    key = key_of(row)
                    if key != group_key:
                        if group_key is not None and complete(group_key, group):
                            yield group
                        group, group_key = [], key
                    group_cell = cell if cell is not None and (payments or cell.strip()) else None
                if len(group) <= max_lines:
                    group.append((rec_no, row))
        if group_key is not None and complete(group_key, group):
            yield group
        if spill is not None:
            yield from spill.groups(max_lines)


def iter_csv_documents(plan: CsvPlan, max_lines: int) -> Iterator[tuple[RawDocument, Callable[[], str]]]:
    """Pass 2: yields each document's raw record and a function giving its raw CSV text."""
    for group in iter_csv_groups(plan, max_lines):
        yield csv_document(plan, group)


def csv_document(plan: CsvPlan, group: Group) -> tuple[RawDocument, Callable[[], str]]:
    """One document's raw record and a function giving its raw CSV text."""
    return _document(plan, group), _text_fn(plan, group)


def _text_fn(plan: CsvPlan, group: Group) -> Callable[[], str]:
    return lambda: _raw_text(plan, group)


class _Spill:
    """Rows of non-contiguous groups, on disk, read back grouped and in first-row order."""

    def __enter__(self) -> _Spill:
        self._dir = tempfile.TemporaryDirectory(prefix="ml-connector-spill-")
        self._db = sqlite3.connect(Path(self._dir.name) / "spill.sqlite")
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("CREATE TABLE spill (k TEXT NOT NULL, rn INTEGER NOT NULL, row TEXT NOT NULL)")
        return self

    def __exit__(self, *exc: object) -> None:
        self._db.close()
        self._dir.cleanup()

    def add(self, key: str, group: Group) -> None:
        self._db.executemany(
            "INSERT INTO spill VALUES (?, ?, ?)",
            [(key, rn, json.dumps(row, ensure_ascii=False)) for rn, row in group],
        )

    def groups(self, max_lines: int) -> Iterator[Group]:
        self._db.execute("CREATE INDEX spill_k ON spill (k, rn)")
        cur = self._db.execute(
            "SELECT s.k, s.rn, s.row FROM spill s "
            "JOIN (SELECT k, MIN(rn) AS f FROM spill GROUP BY k) g ON s.k = g.k ORDER BY g.f, s.rn"
        )
        group: Group = []
        current: str | None = None
        for key, rn, row in cur:
            if key != current:
                if group:
                    yield group
                group, current = [], key
            if len(group) <= max_lines:
                group.append((rn, json.loads(row)))
        if group:
            yield group


class RowLayout:
    """Where each canonical field sits in this file's rows, worked out once per file: a document is
    then read with one ``itemgetter`` call per row instead of one lookup per field."""

    def __init__(self, kind: Kind, header: HeaderMap) -> None:
        idx = header.index
        self.invoices = kind == "invoices"
        if self.invoices:
            self.doc_cols = [c for c in INVOICE_HEADER_COLUMNS + INVOICE_EXTENSION_COLUMNS if c in idx]
            self.line_cols = [c for c in INVOICE_LINE_COLUMNS if c in idx]
        else:
            self.doc_cols = [c for c in idx if c in PAYMENT_LEVEL]
            self.line_cols = [c for c in PAYMENT_APPLICATION_COLUMNS if c in idx]
        self.doc_cells = _cells_getter([idx[c] for c in self.doc_cols])
        self.line_cells = _cells_getter([idx[c] for c in self.line_cols])
        # An invoice line is read by position (``RawLine.cells``), its mapping only on demand.
        self.line_index = {c: idx[c] for c in self.line_cols}
        positions = [self.line_index.get(c) for c in LINE_CELLS]
        self.rule_cells: Callable[[list[str]], tuple[str | None, ...]]
        if None in positions:
            self.rule_cells = lambda row: tuple(row[p] if p is not None else None for p in positions)
        else:
            self.rule_cells = _cells_getter(positions)  # type: ignore[arg-type]  # no None in it
        self.custom = dict(header.custom)
        self.extra = dict(header.extra)


class _RowValues(Mapping[str, str | None]):
    """A line's cells by canonical field name, read from its row on demand: the same mapping as
    ``dict(zip(layout.line_cols, layout.line_cells(row)))``, without building it for every line."""

    __slots__ = ("_index", "_row")

    def __init__(self, row: list[str], index: dict[str, int]) -> None:
        self._row = row
        self._index = index

    def __getitem__(self, name: str) -> str | None:
        return self._row[self._index[name]]

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def __repr__(self) -> str:
        return repr(dict(self.items()))


class _CsvLines(Sequence[RawLine]):
    """An invoice's lines, each ``RawLine`` built from its row on first use (the column-wise read
    in ``build_invoice`` uses ``RawDocument.line_cells`` and needs none)."""

    __slots__ = ("_built", "_cells", "_group", "_index")

    def __init__(self, group: Group, index: dict[str, int], cells: list[tuple[str | None, ...]]) -> None:
        self._group = group
        self._index = index
        self._cells = cells
        self._built: list[RawLine] | None = None

    def _lines(self) -> list[RawLine]:
        if self._built is None:
            index = self._index
            self._built = [
                RawLine(_RowValues(row, index), {}, {}, rn, None, cells)
                for (rn, row), cells in zip(self._group, self._cells, strict=True)
            ]
        return self._built

    def __len__(self) -> int:
        return len(self._group)

    @overload
    def __getitem__(self, i: int) -> RawLine: ...
    @overload
    def __getitem__(self, i: slice) -> list[RawLine]: ...
    def __getitem__(self, i: int | slice) -> RawLine | list[RawLine]:
        return self._lines()[i]

    def __iter__(self) -> Iterator[RawLine]:
        return iter(self._lines())


def _cells_getter(positions: list[int]) -> Callable[[list[str]], tuple[str, ...]]:
    """The cells at ``positions`` as a tuple (also for one position, or none)."""
    if len(positions) > 1:
        return itemgetter(*positions)
    return lambda row: tuple(row[i] for i in positions)


def _document(plan: CsvPlan, group: Group) -> RawDocument:
    layout = plan.layout
    doc_cols, line_cols, doc_cells, line_cells = (
        layout.doc_cols,
        layout.line_cols,
        layout.doc_cells,
        layout.line_cells,
    )
    rows = tuple([rn for rn, _ in group])
    first = group[0][1]
    first_cells = doc_cells(first)
    doc_values: dict[str, str | None] = dict(zip(doc_cols, first_cells, strict=True))
    # Custom fields: the same value on every row belongs to the invoice; otherwise to the line.
    doc_custom: dict[str, str] = {}
    line_custom: list[tuple[str, int]] = []
    for name, pos in layout.custom.items():
        values = {row[pos] for _, row in group}
        if len(values) == 1:
            if first[pos]:
                doc_custom[name] = first[pos]
        else:
            line_custom.append((name, pos))
    line_extra = layout.extra if layout.invoices else {}
    if line_custom or line_extra:
        lines = [
            RawLine(
                dict(zip(line_cols, line_cells(row), strict=True)),
                {n: row[p] for n, p in line_custom if row[p]},
                {n: row[p] for n, p in line_extra.items() if row[p]},
                rn,
            )
            for rn, row in group
        ]
    elif layout.invoices:
        # By position: build_invoice reads the cells column by column; a RawLine is built only
        # when the per-line rules or a rejected record ask for one.
        by_position = list(map(layout.rule_cells, [row for _, row in group]))
        raw = RawDocument("invoice", doc_values, _CsvLines(group, layout.line_index, by_position), rows)
        raw.custom, raw.line_cells = doc_custom, by_position
        _check_header(plan, raw, group, first_cells)
        return raw
    else:
        lines = [RawLine(dict(zip(line_cols, line_cells(row), strict=True)), {}, {}, rn) for rn, row in group]
    extra = {n: first[p] for n, p in layout.extra.items() if first[p]} if not layout.invoices else {}
    raw = RawDocument(
        "invoice" if layout.invoices else "payment", doc_values, lines, rows, None, doc_custom, extra
    )
    _check_header(plan, raw, group, first_cells)
    return raw


def _check_header(plan: CsvPlan, raw: RawDocument, group: Group, first_cells: tuple[str, ...]) -> None:
    """``header_mismatch`` for each document-level cell of a later row that differs from the first's."""
    layout = plan.layout
    doc_cols, doc_cells = layout.doc_cols, layout.doc_cells
    if len(group) == 1:
        return
    first_rn = group[0][0]
    mismatched = [(rn, cells) for rn, row in group[1:] if (cells := doc_cells(row)) != first_cells]
    if mismatched:
        doc_key = raw.key()
        for rn, cells in mismatched:
            for c, cell, first_cell in zip(doc_cols, cells, first_cells, strict=True):
                if cell != first_cell:
                    raw.issues.append(
                        error(
                            "header_mismatch",
                            f"{c} is {cell!r} here but {first_cell!r} on row {first_rn}",
                            file=plan.file,
                            row=rn,
                            field=c,
                            document=doc_key,
                        )
                    )
