"""The XML reader's fast path: invoice files in the layout Stampli's exporter writes.

Reading through expat costs a Python call per start tag, end tag and text node (about 80 per
invoice line). Here one regular expression reads a whole ``<Line>`` (others the invoice's head,
an approver and its tail), so a line costs one match. The patterns accept only a narrow subset
of well-formed XML, in which the text of every element is exactly what expat reports: UTF-8, the
writer's element order, each element at most once, no DOCTYPE, comment, CDATA, processing
instruction, character reference, namespace prefix, custom field or unknown element, no carriage
return in a value, no tab or line break in an attribute value and no text beside child elements.
A file with anything else, or one that a structural check would reject, raises ``NotCanonical``
and xml_reader reads it through expat, which stays the reference for every issue, message and
location.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, cast

from ml_connector.stampli.columns import INVOICE_HEADER_COLUMNS, INVOICE_LINE_COLUMNS

_CHUNK = 1 << 16
# A document larger than this goes through expat (the buffer here would hold all of it).
_MAX_DOC_CHARS = 4 << 20

_S = r"[ \t\r\n]"  # XML white space
_W = _S + "*"
# Character data as expat reports it unchanged: no markup, no carriage return (expat turns CR LF
# into LF), none of the characters XML forbids; the five predefined entities are decoded below.
_CH = r"[^<&\r\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]"
_ENTITY = "&(?:amp|lt|gt|quot|apos);"
# An attribute value in double quotes; expat would turn white space other than blanks into blanks.
_AC = r'[^"<&\x00-\x1f\ufffe\uffff]'

# Group order of the head pattern: the invoice-level columns in their §4.3 order, without the
# company (the root's ``companyId``) and the approvers (their own pattern), and with
# PaymentReference's ``@type`` just before its text, as the element holds them, and the image's
# ``DocumentFile`` after ``Description`` (our extension, docs/stampli-readers.md).
_head_fields = [c for c in INVOICE_HEADER_COLUMNS if c not in ("stampliCompanyId", "approvers")]
_head_fields.insert(_head_fields.index("paymentReference"), "paymentReferenceType")
_head_fields.insert(_head_fields.index("description") + 1, "documentFile")  # <DocumentFile>, optional
HEAD_FIELDS: tuple[str, ...] = tuple(_head_fields)  # the last one, exportedAt, comes from the middle pattern
# Group order of the line pattern.
LINE_FIELDS = INVOICE_LINE_COLUMNS


class _Patterns(NamedTuple):
    head: re.Pattern[str]  # <Invoice> to <Approval ...>
    approver: re.Pattern[str]
    middle: re.Pattern[str]  # </Approval> to <Lines>
    line: re.Pattern[str]
    tail: re.Pattern[str]  # </Lines></Invoice>


def _patterns(entities: bool) -> _Patterns:
    """With ``entities``, text and attribute values may hold the predefined entities; without,
    they may not (the simpler patterns run faster on the documents that have none)."""
    if entities:
        text = rf"({_CH}*(?:{_ENTITY}{_CH}*)*)"
        value = rf'"({_AC}*(?:{_ENTITY}{_AC}*)*)"'
    else:
        text, value = rf"({_CH}*)", rf'"({_AC}*)"'

    def leaf(tag: str) -> str:
        """An optional element holding only text; its group is None for ``<Tag/>``."""
        return rf"(?:{_W}<{tag}{_W}(?:/>|>{text}</{tag}{_W}>))?"

    def leaves(*tags: str) -> str:
        return "".join(leaf(t) for t in tags)

    def attr(name: str) -> str:
        return rf"{_S}+{name}{_W}={_W}{value}"

    head = (
        rf"<Invoice{_W}>"
        + leaves("StampliInvoiceId", "StampliLink", "DocumentType", "InvoiceNumber", "OriginalInvoiceNumber")
        + rf"(?:{_W}<Vendor{_W}>{leaves('VendorId', 'Name', 'TaxId')}{_W}</Vendor{_W}>)?"
        + leaves("InvoiceDate", "DueDate", "PostingDate", "Currency", "ExchangeRate")
        + rf"(?:{_W}<Amounts{_W}>{leaves('Subtotal', 'Tax', 'Total')}{_W}</Amounts{_W}>)?"
        + leaf("PaymentTerms")
        + rf"(?:{_W}<PaymentReference(?:{attr('type')})?{_W}(?:/>|>{text}</PaymentReference{_W}>))?"
        + leaves("PONumber", "Description", "DocumentFile")
        + rf"{_W}<Approval{attr('status')}(?:{attr('approvedAt')})?{_W}>"
    )
    line = (
        rf"{_W}<Line{attr('number')}{attr('type')}{_W}>"
        + leaves("GLAccount", "ItemCode", "Description", "Quantity", "UnitPrice", "NetAmount")
        + rf"(?:{_W}<Tax(?:{attr('code')})?(?:{attr('rate')})?{_W}(?:/>|>{text}</Tax{_W}>))?"
        + rf"(?:{_W}<Dimensions{_W}>"
        + leaves("Department", "CostCenter", "Location", "Class", "Project")
        + rf"{_W}</Dimensions{_W}>)?"
        + leaf("POLineNumber")
        + rf"{_W}</Line{_W}>"
    )
    return _Patterns(
        head=re.compile(head),
        approver=re.compile(rf'{_W}<Approver{_S}+sequence{_W}={_W}"([0-9]*)"{attr("email")}{_W}/>'),
        middle=re.compile(rf"{_W}</Approval{_W}>{leaf('ExportedAt')}{_W}<Lines{_W}>"),
        line=re.compile(line),
        tail=re.compile(rf"{_W}</Lines{_W}>{_W}</Invoice{_W}>"),
    )


_PLAIN, _WITH_ENTITIES = _patterns(False), _patterns(True)

_PROLOG = re.compile(
    r'(?:<\?xml version="1\.0"(?: encoding="(?:UTF|utf)-8")?\?>)?'
    rf"{_W}<StampliInvoiceExport((?:{_S}+[A-Za-z_][A-Za-z0-9_.-]*{_W}={_W}\"{_AC}*\")*){_W}>"
)
_ROOT_ATTR = re.compile(rf'([A-Za-z_][A-Za-z0-9_.-]*){_W}={_W}"({_AC}*)"')
_DOC_START = re.compile(rf"{_W}(?=<Invoice{_W}>)")
_END = re.compile(rf"{_W}</StampliInvoiceExport{_W}>{_W}")
_DOC_END = "</Invoice>"
_ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&quot;", '"'), ("&apos;", "'"), ("&amp;", "&"))


class NotCanonical(Exception):
    """The file is outside the subset read here: use expat."""


def decode(text: str) -> str:
    """The text of a value with its predefined entities replaced (``&amp;`` last)."""
    if "&" in text:
        for entity, char in _ENTITIES:
            text = text.replace(entity, char)
    return text


@dataclass
class CanonicalInvoice:
    """One ``<Invoice>`` read by the patterns: raw groups (entities not decoded yet)."""

    text: str  # the element's source text, for a rejected record
    head: tuple[str | None, ...]  # HEAD_FIELDS
    approvers: list[tuple[str, str]]  # (sequence, email) in document order
    lines: list[tuple[str | None, ...]]  # LINE_FIELDS


def parse_invoice(doc: str) -> CanonicalInvoice:
    """The values of one ``<Invoice>`` element's source text; NotCanonical outside the subset."""
    patterns = _WITH_ENTITIES if "&" in doc else _PLAIN
    m = patterns.head.match(doc)
    if m is None:
        raise NotCanonical
    head = m.groups()
    pos = m.end()
    approvers: list[tuple[str, str]] = []
    approver = patterns.approver.match
    while (a := approver(doc, pos)) is not None:
        approvers.append((a.group(1), a.group(2)))
        pos = a.end()
    m = patterns.middle.match(doc, pos)
    if m is None:
        raise NotCanonical
    head += (m.group(1),)  # exportedAt
    pos = m.end()
    lines: list[tuple[str | None, ...]] = []
    line = patterns.line.match
    while (ln := line(doc, pos)) is not None:
        lines.append(ln.groups())
        pos = ln.end()
    if patterns.tail.fullmatch(doc, pos) is None or not lines:
        raise NotCanonical
    return CanonicalInvoice(doc, head, approvers, lines)


def _root_tag_end(text: str) -> int:
    start = text.find("<StampliInvoiceExport")
    return -1 if start < 0 else text.find(">", start)


def _long_run(max_chars: int) -> re.Pattern[str]:
    """More than ``max_chars`` characters without a ``<``: holds every text node and attribute value
    that long (and some shorter ones, which then take the expat path, no harm done)."""
    return re.compile(f"[^<]{{{max_chars + 1}}}")


class CanonicalFile:
    """The root's attributes and the ``<Invoice>`` elements' texts of one file, streamed.

    Reading raises ``NotCanonical`` as soon as the file leaves the subset; any text run or
    attribute longer than ``max_chars`` (the reader's field limit) counts as leaving it, so that
    expat reports it exactly."""

    def __init__(self, path: Path, max_chars: int) -> None:
        self.path = path
        self.max_chars = max_chars
        self.long_run = _long_run(max_chars)

    def read(self) -> tuple[dict[str, str], Iterator[str]]:
        """The root's attributes, and an iterator over the documents' source texts."""
        items = self._items()
        attrs = next(items)
        assert isinstance(attrs, dict)
        return attrs, cast(Iterator[str], items)

    def _items(self) -> Iterator[dict[str, str] | str]:
        """First the root's attributes, then each document's source text."""
        try:
            with open(self.path, encoding="utf-8", newline="") as fh:
                yield from self._read(fh.read)
        except UnicodeDecodeError:
            raise NotCanonical from None

    def _read(self, read: Callable[[int], str]) -> Iterator[dict[str, str] | str]:
        buf: str = read(_CHUNK)
        while _root_tag_end(buf) < 0 and len(buf) < _MAX_DOC_CHARS:  # a read may end inside it
            more = read(_CHUNK)
            if not more:
                break
            buf += more
        m = _PROLOG.match(buf)
        if m is None or len(m.group(0)) > self.max_chars:
            raise NotCanonical
        attrs: dict[str, str] = {}
        for name, value in _ROOT_ATTR.findall(m.group(1)):
            if name in attrs:  # a repeated attribute is not well-formed
                raise NotCanonical
            attrs[name] = decode(value)
        yield attrs
        pos = m.end()
        eof = False
        while True:
            end = buf.find(_DOC_END, pos)
            while end < 0 and not eof:
                if len(buf) - pos > _MAX_DOC_CHARS:
                    raise NotCanonical
                more = read(max(_CHUNK, len(buf) - pos))
                if not more:
                    eof = True
                    break
                start = max(0, len(buf) - pos - len(_DOC_END))
                buf = buf[pos:] + more
                pos = 0
                end = buf.find(_DOC_END, start)
            if end < 0:
                if _END.fullmatch(buf, pos) is None or len(buf) - pos > self.max_chars:
                    raise NotCanonical
                return
            m = _DOC_START.match(buf, pos)
            if m is None or m.end() - m.start() > self.max_chars:  # no document here, or a long blank
                raise NotCanonical
            stop = end + len(_DOC_END)
            doc = buf[m.end() : stop]
            if "]]>" in doc or (len(doc) > self.max_chars and self.long_run.search(doc)):
                raise NotCanonical
            yield doc
            pos = stop
