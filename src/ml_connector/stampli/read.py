"""Public entry points: ``iter_export`` (streaming) and ``read_export`` (collected).

Contract for file-level failures: ``iter_export`` raises ``FileRejected`` (carrying the issues)
before returning for what can be told up front (the file's size, encoding and header; for XML its
whole structure, in a first pass). A CSV file's records are checked in the one pass that reads
them: the returned ``ExportStream`` raises ``FileRejected`` where it meets a broken record, after the
documents before it. So a consumer uses a file's documents only once the stream has ended without
``FileRejected`` (the intake keeps them out of posting until then). The stream yields ``Invoice`` /
``Payment`` / ``RejectedRecord`` items; ``ExportStream.issues`` accumulates file-level warnings and
the warnings of accepted documents; a ``RejectedRecord`` carries its own issues. ``read_export``
never raises for bad data: it turns ``FileRejected`` into ``status="rejected"``.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ml_connector.domain.documents import Invoice, Payment, Provenance
from ml_connector.domain.issues import Issue, Level, error
from ml_connector.domain.money import money_context
from ml_connector.stampli.build import BuildContext, RawDocument, build_invoices, build_payment
from ml_connector.stampli.codes import SKIP_CODES
from ml_connector.stampli.columns import Kind
from ml_connector.stampli.csv_reader import CsvPlan, iter_csv_documents, scan_csv
from ml_connector.stampli.errors import FileRejected
from ml_connector.stampli.profile import ReaderProfile
from ml_connector.stampli.xml_reader import XmlPlan, iter_xml_documents, scan_xml

Status = Literal["ok", "partial", "rejected"]
RecordKind = Literal["invoice", "payment_application"]


@dataclass
class RejectedRecord:
    """A document that was not accepted, with enough to inspect or replay it later.

    For payments one record covers the whole payment (all its applications): ``kind`` is
    ``"payment_application"`` and ``key`` is ``"PAY:<stampliPaymentId>"``, the common prefix of
    its application keys. ``raw`` is the header plus the document's rows re-serialised in the
    file's dialect (CSV), or the ``<Invoice>``/``<Payment>`` element (XML)."""

    key: str | None
    kind: RecordKind
    raw: str
    parsed: dict[str, Any] | None
    issues: list[Issue]
    provenance: Provenance

    @property
    def skipped(self) -> bool:
        """Rejected only because it is not approved or not paid (the pipeline skips these)."""
        errors = {i.code for i in self.issues if i.level == Level.ERROR}
        return bool(errors) and errors <= SKIP_CODES


@dataclass
class ReadResult:
    file: str
    kind: Kind | None
    status: Status
    documents: list[Invoice] | list[Payment]
    rejected: list[RejectedRecord]
    issues: list[Issue]
    sha256: str = ""
    format: Literal["csv", "xml"] | None = None


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _looks_like_xml(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(512)
    for bom, enc in ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if head.startswith(bom):
            text = head[len(bom) :].decode(enc, errors="ignore")
            break
    else:
        text = head.decode("latin-1")
    return text.lstrip().startswith("<")


def _kind_from_name(name: str) -> Kind | None:
    low = name.lower()
    if "payment" in low:
        return "payments"
    if "invoice" in low:
        return "invoices"
    return None


class ExportStream(Iterator[Invoice | Payment | RejectedRecord]):
    """The documents of one structurally sound file, produced lazily, ``BATCH`` at a time."""

    # Documents read and built together: large enough that a field's column is read in a few C
    # calls, small enough that memory stays flat (at most this many documents, or the document
    # that reaches this many lines, at once).
    BATCH = 64
    BATCH_LINES = 512

    def __init__(
        self,
        *,
        file: str,
        kind: Kind,
        fmt: Literal["csv", "xml"],
        sha256: str,
        issues: list[Issue],
        raws: Iterator[tuple[RawDocument, Callable[[], str]]],
        ctx: BuildContext,
    ) -> None:
        self.file = file
        self.kind: Kind = kind
        self.format: Literal["csv", "xml"] = fmt
        self.sha256 = sha256
        self.issues = issues
        self._raws = raws
        self._ctx = ctx
        self._ready: deque[Invoice | Payment | RejectedRecord] = deque()

    def __iter__(self) -> ExportStream:
        return self

    def __next__(self) -> Invoice | Payment | RejectedRecord:
        # Each document is built under the trapping decimal context, entered per step: a context entered
        # in a generator would stay current in the caller between two steps.
        with money_context():
            return self._next()

    def _next(self) -> Invoice | Payment | RejectedRecord:
        if not self._ready:
            self._read_batch()
        return self._ready.popleft()

    def _read_batch(self) -> None:
        """The next ``BATCH`` documents, invoices built together (``build_invoices`` reads a
        batch field by field); StopIteration at the end."""
        items: list[tuple[RawDocument, Callable[[], str]]] = []
        lines = 0
        for item in self._raws:
            items.append(item)
            lines += len(item[0].lines)
            if len(items) >= self.BATCH or lines >= self.BATCH_LINES:
                break
        if not items:
            raise StopIteration
        self._build(items)

    def _build(self, items: list[tuple[RawDocument, Callable[[], str]]]) -> None:
        invoices = [raw for raw, _ in items if raw.kind == "invoice"]
        built = iter(build_invoices(invoices, self._ctx)) if invoices else iter(())
        for raw, text in items:
            doc: Invoice | Payment | None
            if raw.kind == "invoice":
                doc, issues = next(built)
            else:
                doc, issues = build_payment(raw, self._ctx)
            if doc is not None:
                self.issues.extend(issues)
                self._ready.append(doc)
                continue
            self._ready.append(
                RejectedRecord(
                    key=raw.key(),
                    kind="invoice" if raw.kind == "invoice" else "payment_application",
                    raw=text(),
                    parsed=raw.parsed_json(),
                    issues=issues,
                    provenance=Provenance(
                        self._ctx.remote_path, self._ctx.sha256, rows=raw.rows, xpath=raw.xpath
                    ),
                )
            )


def iter_export(
    path: Path,
    *,
    remote_path: str | None = None,
    profile: ReaderProfile,
    kind: str | None = None,
    sha256: str | None = None,
) -> ExportStream:
    """Check what the file's start tells (raises ``FileRejected``), then stream its documents
    (a CSV stream raises ``FileRejected`` at a broken record: see the module's contract)."""
    path = Path(path)
    file = remote_path or str(path)
    if kind is not None and kind not in ("invoices", "payments"):
        raise ValueError(f"kind must be 'invoices' or 'payments', not {kind!r}")
    wanted: Kind | None = kind  # type: ignore[assignment]
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise FileRejected(
            [error("io_error", f"cannot read the file: {exc.strerror or exc}", file=file)]
        ) from None
    if size == 0:
        raise FileRejected([error("empty_file", "the file is empty (0 bytes)", file=file)])
    if size > profile.limits.max_file_bytes:
        raise FileRejected(
            [
                error(
                    "file_too_large", f"{size} bytes; the limit is {profile.limits.max_file_bytes}", file=file
                )
            ]
        )
    try:
        digest = sha256 or file_sha256(path)
        name_kind = _kind_from_name(path.name if remote_path is None else remote_path.rsplit("/", 1)[-1])
        is_xml = _looks_like_xml(path)
        ctx_rules: Any
        raws: Iterator[tuple[RawDocument, Callable[[], str]]]
        cplan: CsvPlan | None = None
        xplan: XmlPlan | None = None
        if is_xml:
            xplan = scan_xml(path, file=file, profile=profile, kind=wanted)
            the_kind, warnings, ctx_rules = xplan.kind, xplan.warnings, xplan.rules
        else:
            cplan = scan_csv(path, file=file, profile=profile, kind=wanted, hint=name_kind)
            the_kind, warnings, ctx_rules = cplan.kind, cplan.warnings, cplan.rules
    except OSError as exc:
        raise FileRejected(
            [error("io_error", f"cannot read the file: {exc.strerror or exc}", file=file)]
        ) from None
    ctx = BuildContext(
        file=file,
        remote_path=file,
        sha256=digest,
        rules=ctx_rules,
        approved_statuses=profile.approved_statuses,
        tolerance=profile.amount_tolerance,
        max_lines=profile.limits.max_lines_per_document,
    )
    if cplan is not None:
        raws = iter_csv_documents(cplan, ctx.max_lines)
    else:
        assert xplan is not None
        raws = iter_xml_documents(xplan, set())
    return ExportStream(
        file=file,
        kind=the_kind,
        fmt="xml" if is_xml else "csv",
        sha256=digest,
        issues=warnings,
        raws=raws,
        ctx=ctx,
    )


def read_export(
    path: Path,
    *,
    remote_path: str | None = None,
    profile: ReaderProfile,
    kind: str | None = None,
    sha256: str | None = None,
) -> ReadResult:
    """Read a whole file. Memory grows with the number of documents; use ``iter_export`` to stream."""
    file = remote_path or str(path)
    try:
        stream = iter_export(path, remote_path=remote_path, profile=profile, kind=kind, sha256=sha256)
        documents: list[Any] = []
        rejected: list[RejectedRecord] = []
        for item in stream:
            if isinstance(item, RejectedRecord):
                rejected.append(item)
            else:
                documents.append(item)
    except FileRejected as exc:
        name = Path(path).name if remote_path is None else remote_path.rsplit("/", 1)[-1]
        digest = sha256 or ""
        if not digest:
            try:
                digest = file_sha256(Path(path))
            except OSError:
                digest = ""
        return ReadResult(
            file=file,
            kind=kind or _kind_from_name(name),  # type: ignore[arg-type]
            status="rejected",
            documents=[],
            rejected=[],
            issues=exc.warnings + exc.issues,
            sha256=digest,
        )
    issues = list(stream.issues) + [i for r in rejected for i in r.issues]
    return ReadResult(
        file=file,
        kind=stream.kind,
        status="partial" if rejected else "ok",
        documents=documents,
        rejected=rejected,
        issues=issues,
        sha256=stream.sha256,
        format=stream.format,
    )
