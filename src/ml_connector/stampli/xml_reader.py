"""Streaming XML reader for §4.4 (invoices) and the §4.5 payment XML, on expat directly.

Any DOCTYPE (and so any entity declaration) is refused before expat can expand anything, which
covers billion-laughs and XXE. Pass 1 (``scan_xml``) checks well-formedness to the end, depth,
text sizes, the root element, ``companyId`` and ``invoiceCount``/``paymentCount``; pass 2
(``iter_xml_documents``) builds one ``<Invoice>``/``<Payment>`` element at a time and drops it.

Invoice files in the exporter's own layout take the fast path of xml_canonical in both passes
(one regular expression match per line instead of a Python call per XML event); every other file,
and any file a check here would reject, is read through expat, which decides every issue.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.parsers import expat

from ml_connector.domain.issues import Issue, error, warning
from ml_connector.stampli.build import RawDocument, RawLine
from ml_connector.stampli.columns import (
    INVOICE_HEADER_COLUMNS,
    Kind,
)
from ml_connector.stampli.errors import FileRejected
from ml_connector.stampli.profile import ReaderProfile
from ml_connector.stampli.values import ValueRules
from ml_connector.stampli.xml_canonical import (
    HEAD_FIELDS,
    LINE_FIELDS,
    CanonicalFile,
    CanonicalInvoice,
    NotCanonical,
    decode,
    parse_invoice,
)

ROOTS: dict[str, Kind] = {"StampliInvoiceExport": "invoices", "StampliPaymentExport": "payments"}
DOC_TAG: dict[Kind, str] = {"invoices": "Invoice", "payments": "Payment"}
COUNT_ATTR: dict[Kind, str] = {"invoices": "invoiceCount", "payments": "paymentCount"}
_CHUNK = 64 * 1024


class _Refused(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _harden(parser: Any) -> None:
    def doctype(*_: object) -> None:
        raise _Refused(
            "xml_doctype",
            "the XML has a DOCTYPE; DTDs and entity declarations are refused (XXE, entity bombs)",
        )

    def entity(*_: object) -> None:
        raise _Refused("xml_doctype", "the XML declares an entity; refused (XXE, entity bombs)")

    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = entity
    parser.UnparsedEntityDeclHandler = entity
    parser.ExternalEntityRefHandler = entity
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.buffer_text = True


@dataclass
class XmlPlan:
    path: Path
    file: str
    kind: Kind
    root_attrs: dict[str, str]
    count: int
    rules: ValueRules
    warnings: list[Issue] = field(default_factory=list)
    canonical: CanonicalFile | None = None  # set when pass 1 read the file on the fast path


def _feed(path: Path, parser: Any, file: str, after_chunk: Callable[[], None] | None = None) -> None:
    try:
        with open(path, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                parser.Parse(chunk, False)
                if after_chunk is not None:
                    after_chunk()
            parser.Parse(b"", True)
    except expat.ExpatError as exc:
        code = "xml_malformed"
        if exc.code in (
            expat.errors.codes[expat.errors.XML_ERROR_UNKNOWN_ENCODING],
            expat.errors.codes[expat.errors.XML_ERROR_INCORRECT_ENCODING],
        ):
            code = "encoding_error"
        raise FileRejected(
            [
                error(
                    code,
                    f"XML error at line {exc.lineno}, column {exc.offset}: {expat.errors.messages[exc.code]}",
                    file=file,
                    line=exc.lineno,
                )
            ]
        ) from None
    except _Refused as exc:
        raise FileRejected([error(exc.code, exc.message, file=file, line=parser.CurrentLineNumber)]) from None
    except (LookupError, UnicodeError) as exc:  # an encoding expat and Python do not know
        raise FileRejected(
            [
                error(
                    "encoding_error",
                    f"cannot decode the XML: {exc}",
                    file=file,
                    line=parser.CurrentLineNumber,
                )
            ]
        ) from None


def _rules(profile: ReaderProfile) -> ValueRules:
    return ValueRules(decimal_sep=".", date_formats=("%Y-%m-%d",), tz=profile.tz)


# The deepest element the fast path accepts: Invoice/Lines/Line/Dimensions/Department.
_CANONICAL_DEPTH = 6


def _scan_canonical(path: Path, file: str, profile: ReaderProfile, kind: Kind | None) -> XmlPlan | None:
    """Pass 1 on the fast path: the plan ``scan_xml`` would return, or None when the file is
    outside the fast path's subset or when any check fails (expat then reports it)."""
    limits = profile.limits
    if kind not in (None, "invoices") or limits.max_xml_depth < _CANONICAL_DEPTH:
        return None
    source = CanonicalFile(path, limits.max_field_chars)
    docs = rows = 0
    try:
        attrs, texts = source.read()
        cid = attrs.get("companyId")
        if profile.company_id is not None and cid is not None and cid.strip() != profile.company_id:
            return None
        for text in texts:
            docs += 1
            rows += 1 + len(parse_invoice(text).lines)
            if rows > limits.max_rows:
                return None
    except NotCanonical:
        return None
    declared = attrs.get(COUNT_ATTR["invoices"], "").strip()
    if docs == 0 or not _is_ascii_number(declared) or int(declared) != docs:
        return None
    return XmlPlan(path, file, "invoices", attrs, docs, _rules(profile), [], canonical=source)


def scan_xml(path: Path, *, file: str, profile: ReaderProfile, kind: Kind | None) -> XmlPlan:
    fast = _scan_canonical(path, file, profile, kind)
    if fast is not None:
        return fast
    limits = profile.limits
    parser = expat.ParserCreate()
    _harden(parser)
    state: dict[str, Any] = {"depth": 0, "root": None, "attrs": {}, "docs": 0, "rows": 0, "text": 0}
    state["company_text"] = None  # the text of a document's own <StampliCompanyId>, while inside it
    warnings: list[Issue] = []

    def start(name: str, attrs: dict[str, str]) -> None:
        state["depth"] += 1
        state["text"] = 0
        depth = state["depth"]
        if depth > limits.max_xml_depth:
            raise _Refused("xml_too_deep", f"XML nesting deeper than {limits.max_xml_depth} at <{name}>")
        for value in attrs.values():
            if len(value) > limits.max_field_chars:
                raise _Refused(
                    "field_too_large", f"an attribute of <{name}> exceeds {limits.max_field_chars} characters"
                )
        if depth == 1:
            found = ROOTS.get(name)
            if found is None:
                raise _Refused(
                    "unknown_kind",
                    f"root element <{name}> is neither StampliInvoiceExport nor StampliPaymentExport",
                )
            if kind is not None and found != kind:
                raise _Refused("kind_mismatch", f"expected {kind} but the root element is <{name}>")
            state["root"], state["attrs"], state["root_line"] = found, dict(attrs), parser.CurrentLineNumber
            cid = attrs.get("companyId")
            if profile.company_id is not None and cid is not None and cid.strip() != profile.company_id:
                raise _Refused(
                    "company_mismatch",
                    f"companyId {cid!r} is not the configured company {profile.company_id!r}",
                )
        elif depth == 2 and name == DOC_TAG[state["root"]]:
            state["docs"] += 1
        elif depth == 3 and name == "StampliCompanyId" and profile.company_id is not None:
            state["company_text"] = []
        if name in ("Line", "Application") or depth == 2:
            state["rows"] += 1
            if state["rows"] > limits.max_rows:
                raise _Refused("too_many_rows", f"more than {limits.max_rows} documents and lines")

    def end(_name: str) -> None:
        state["depth"] -= 1
        state["text"] = 0
        if state["company_text"] is not None:
            # A document may name its own company; one of another company rejects the file (§4.7).
            cid = "".join(state["company_text"]).strip()
            state["company_text"] = None
            if cid and cid != profile.company_id:
                raise _Refused(
                    "company_mismatch",
                    f"<{DOC_TAG[state['root']]}> number {state['docs']} has StampliCompanyId {cid!r}, "
                    f"not the configured company {profile.company_id!r}",
                )

    def data(text: str) -> None:
        if state["company_text"] is not None:
            state["company_text"].append(text)
        state["text"] += len(text)
        if state["text"] > limits.max_field_chars:
            raise _Refused("field_too_large", f"an XML text node exceeds {limits.max_field_chars} characters")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = data
    _feed(path, parser, file)
    if state["root"] is None:
        raise FileRejected([error("empty_file", "no root element", file=file, line=parser.CurrentLineNumber)])
    root_line: int = state["root_line"]
    the_kind: Kind = state["root"]
    attrs: dict[str, str] = state["attrs"]
    count_attr = COUNT_ATTR[the_kind]
    root_path = "/" + next(k for k, v in ROOTS.items() if v == the_kind)
    if count_attr not in attrs:
        raise FileRejected(
            [
                error(
                    "missing_count",
                    f"the root has no {count_attr} attribute",
                    file=file,
                    xpath=root_path,
                    line=root_line,
                )
            ]
        )
    declared = attrs[count_attr].strip()
    if not _is_ascii_number(declared) or int(declared) != state["docs"]:
        raise FileRejected(
            [
                error(
                    "count_mismatch",
                    f"{count_attr}={declared!r} but the file holds {state['docs']} "
                    f"<{DOC_TAG[the_kind]}> elements",
                    file=file,
                    xpath=root_path,
                    line=root_line,
                )
            ]
        )
    if state["docs"] == 0:
        warnings.append(warning("no_records", "the file holds no documents", file=file, xpath=root_path))
    return XmlPlan(path, file, the_kind, attrs, state["docs"], _rules(profile), warnings)


# ---- pass 2 --------------------------------------------------------------------------------------


def iter_xml_documents(
    plan: XmlPlan, seen_warnings: set[str]
) -> Iterator[tuple[RawDocument, Callable[[], str]]]:
    """Each document as its raw record and a function giving its XML."""
    if plan.canonical is not None:
        return _canonical_documents(plan, plan.canonical)
    return _expat_documents(plan, seen_warnings)


class _DuplicateIds:
    """Flags a document whose id an earlier document of the file already had."""

    def __init__(self, plan: XmlPlan) -> None:
        self.file = plan.file
        self.id_field = "stampliInvoiceId" if plan.kind == "invoices" else "stampliPaymentId"
        self.ids: set[str] = set()

    def check(self, raw: RawDocument, xpath: str) -> None:
        id_field = self.id_field
        doc_id = (raw.header.get(id_field) or "").strip()
        if doc_id:
            if doc_id in self.ids:
                raw.issues.append(
                    error(
                        "duplicate_document",
                        f"{id_field} {doc_id} appears earlier in this file",
                        file=self.file,
                        xpath=xpath,
                        field=id_field,
                        document=raw.key(),
                    )
                )
            self.ids.add(doc_id)


def _expat_documents(
    plan: XmlPlan, seen_warnings: set[str]
) -> Iterator[tuple[RawDocument, Callable[[], str]]]:
    parser = expat.ParserCreate()
    _harden(parser)
    doc_tag = DOC_TAG[plan.kind]
    root_name = next(k for k, v in ROOTS.items() if v == plan.kind)
    state: dict[str, Any] = {"depth": 0, "builder": None, "n": 0}
    done: list[tuple[int, ET.Element]] = []

    def start(name: str, attrs: dict[str, str]) -> None:
        state["depth"] += 1
        if state["depth"] == 2 and name == doc_tag:
            state["builder"] = ET.TreeBuilder()
            state["n"] += 1
        if state["builder"] is not None:
            state["builder"].start(name, attrs)

    def end(name: str) -> None:
        builder = state["builder"]
        if builder is not None:
            builder.end(name)
            if state["depth"] == 2:
                done.append((state["n"], builder.close()))
                state["builder"] = None
        state["depth"] -= 1

    def data(text: str) -> None:
        if state["builder"] is not None:
            state["builder"].data(text)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = data
    company = plan.root_attrs.get("companyId")
    duplicates = _DuplicateIds(plan)
    with open(plan.path, "rb") as fh:
        final = False
        while not final:
            chunk = fh.read(_CHUNK)
            final = not chunk
            try:
                parser.Parse(chunk, final)
            except (expat.ExpatError, _Refused, LookupError, UnicodeError) as exc:  # changed since pass 1
                raise FileRejected(
                    [
                        error(
                            "xml_malformed",
                            f"XML error in pass 2: {exc}",
                            file=plan.file,
                            line=parser.CurrentLineNumber,
                        )
                    ]
                ) from None
            for n, elem in done:
                xpath = f"/{root_name}/{doc_tag}[{n}]"
                if plan.kind == "invoices":
                    raw = _invoice(elem, xpath, company, plan, seen_warnings)
                else:
                    raw = _payment(elem, xpath, company, plan, seen_warnings)
                duplicates.check(raw, xpath)
                yield raw, _fragment(elem)
            done.clear()


def _fragment(elem: ET.Element) -> Callable[[], str]:
    """The element's XML, made only when asked (for a rejected record)."""
    return lambda: ET.tostring(elem, encoding="unicode")


def _canonical_documents(
    plan: XmlPlan, source: CanonicalFile
) -> Iterator[tuple[RawDocument, Callable[[], str]]]:
    """Pass 2 on the fast path: the same raw documents as the expat path builds."""
    company = plan.root_attrs.get("companyId")
    duplicates = _DuplicateIds(plan)
    try:
        _, texts = source.read()  # the root's attributes were read in pass 1
        for n, text in enumerate(texts, start=1):
            xpath = f"/StampliInvoiceExport/Invoice[{n}]"
            raw = _canonical_invoice(parse_invoice(text), xpath, company)
            duplicates.check(raw, xpath)
            yield raw, _source_fragment(text)
    except NotCanonical:
        raise FileRejected(
            [error("xml_malformed", "XML error in pass 2: the file changed since pass 1", file=plan.file)]
        ) from None


def _source_fragment(text: str) -> Callable[[], str]:
    """The XML of an ``<Invoice>`` read on the fast path, exactly as ``_fragment`` writes it: the
    element is built from its source text the way the expat path builds it."""

    def fragment() -> str:
        parser = expat.ParserCreate()
        _harden(parser)
        builder = ET.TreeBuilder()
        parser.StartElementHandler = builder.start
        parser.EndElementHandler = builder.end
        parser.CharacterDataHandler = builder.data
        parser.Parse(text, True)
        return ET.tostring(builder.close(), encoding="unicode")

    return fragment


# The extension fields beside the §4.3 columns they follow in the element (xml_canonical.HEAD_FIELDS).
_AFTER = {
    "paymentReference": ("paymentReference", "paymentReferenceType"),
    "description": ("description", "documentFile"),
}
# The header fields in the order ``_invoice`` writes them (company first, set apart), and where
# each sits in CanonicalInvoice.head.
_HEAD_ORDER: tuple[str, ...] = tuple(
    name
    for c in INVOICE_HEADER_COLUMNS
    if c not in ("stampliCompanyId", "approvers")
    for name in _AFTER.get(c, (c,))
)
_HEAD_AT = tuple(HEAD_FIELDS.index(name) for name in _HEAD_ORDER)
_LINE_NUMBER, _LINE_TYPE = LINE_FIELDS.index("lineNumber"), LINE_FIELDS.index("lineType")
_INVOICE_ID = HEAD_FIELDS.index("stampliInvoiceId")


def _approver_emails(inv: CanonicalInvoice) -> tuple[str, ...]:
    """As ``_invoice`` orders them: by sequence (none: last), then document order; blanks dropped."""
    ranked = sorted(
        (int(seq) if seq else 1 << 30, pos, decode(email)) for pos, (seq, email) in enumerate(inv.approvers)
    )
    return tuple(e for _, _, e in ranked if e)


def _canonical_invoice(inv: CanonicalInvoice, xpath: str, company: str | None) -> RawDocument:
    """What ``_invoice`` returns for the same element: a missing or empty element or attribute
    reads as None, except the ``<Line>`` attributes, taken as written."""
    head = inv.head
    header: dict[str, str | None] = {"stampliCompanyId": company}
    for name, at in zip(_HEAD_ORDER, _HEAD_AT, strict=True):
        value = head[at]
        header[name] = decode(value) if value else None
    lines = []
    entities = "&" in inv.text  # without one, decoding leaves every value as it is
    for n, groups in enumerate(inv.lines, start=1):
        values: dict[str, str | None]
        if entities:
            values = {
                name: decode(value) if value else None
                for name, value in zip(LINE_FIELDS, groups, strict=True)
            }
            values["lineNumber"] = decode(groups[_LINE_NUMBER] or "")
            values["lineType"] = decode(groups[_LINE_TYPE] or "")
        else:
            values = {name: value or None for name, value in zip(LINE_FIELDS, groups, strict=True)}
            values["lineNumber"] = groups[_LINE_NUMBER] or ""
            values["lineType"] = groups[_LINE_TYPE] or ""
        lines.append(RawLine(values, xpath=f"{xpath}/Lines/Line[{n}]"))
    return RawDocument(
        kind="invoice",
        header=header,
        lines=lines,
        xpath=xpath,
        approvers=_approver_emails(inv),
        issues=[],
    )


def _text(elem: ET.Element | None, path: str | None = None) -> str | None:
    if elem is None:
        return None
    node = elem.find(path) if path else elem
    if node is None or node.text is None or node.text == "":
        return None
    return node.text


def _attr(elem: ET.Element | None, path: str, name: str) -> str | None:
    if elem is None:
        return None
    node = elem.find(path) if path else elem
    if node is None:
        return None
    return node.get(name) or None


def _custom(elem: ET.Element) -> dict[str, str]:
    return {f.get("name", ""): f.text or "" for f in elem.findall("CustomFields/Field") if f.get("name")}


_INVOICE_CHILDREN = frozenset(
    {
        "StampliInvoiceId",
        "StampliLink",
        "DocumentType",
        "InvoiceNumber",
        "OriginalInvoiceNumber",
        "Vendor",
        "InvoiceDate",
        "DueDate",
        "PostingDate",
        "Currency",
        "ExchangeRate",
        "Amounts",
        "PaymentTerms",
        "PaymentReference",
        "PONumber",
        "Description",
        "DocumentFile",
        "Approval",
        "ExportedAt",
        "Lines",
        "CustomFields",
        "StampliCompanyId",
    }
)
_LINE_CHILDREN = frozenset(
    {
        "GLAccount",
        "ItemCode",
        "Description",
        "Quantity",
        "UnitPrice",
        "NetAmount",
        "Tax",
        "Dimensions",
        "POLineNumber",
        "CustomFields",
    }
)
_PAYMENT_CHILDREN = frozenset(
    {
        "StampliPaymentId",
        "PaymentNumber",
        "PaymentDate",
        "Method",
        "Status",
        "Source",
        "CheckNumber",
        "BankAccount",
        "Currency",
        "Amount",
        "ExchangeRate",
        "Vendor",
        "RemittanceReference",
        "Void",
        "Applications",
        "ExportedAt",
        "StampliCompanyId",
    }
)
_APPLICATION_CHILDREN = frozenset(
    {
        "StampliInvoiceId",
        "InvoiceNumber",
        "DocumentType",
        "InvoiceCurrency",
        "AppliedAmount",
        "DiscountAmount",
    }
)


def _unknown(
    elem: ET.Element, known: frozenset[str], where: str, plan: XmlPlan, seen: set[str], extra: dict[str, str]
) -> None:
    for child in elem:
        if child.tag in known:
            continue
        if len(child) == 0 and child.text:
            extra[child.tag] = child.text
        tag = f"{where}/{child.tag}"
        if tag not in seen:
            seen.add(tag)
            plan.warnings.append(
                warning(
                    "unknown_element",
                    f"unknown element <{child.tag}> in <{where}>; text kept under 'extra'",
                    file=plan.file,
                    field=child.tag,
                )
            )


# Elements that repeat by design; every other known element may occur at most once in its parent.
_REPEATABLE = frozenset({"Line", "Approver", "Field", "Application"})
_ONCE_ONLY = (_INVOICE_CHILDREN | _LINE_CHILDREN | _PAYMENT_CHILDREN | _APPLICATION_CHILDREN) | frozenset(
    {
        "Subtotal",
        "Total",
        "VendorId",
        "Name",
        "TaxId",
        "Department",
        "CostCenter",
        "Location",
        "Class",
        "Project",
    }
)


def _structure(elem: ET.Element, xpath: str, file: str) -> list[Issue]:
    """A known element twice where it may occur once, or text mixed with child elements
    (``<Total>9312.50<Hidden/>0</Total>``): the reader would have to pick one reading, so the
    document is rejected instead."""
    issues: list[Issue] = []
    for node in elem.iter():
        if len(node) == 0:
            continue
        text = node.text
        if (text and not text.isspace()) or any(c.tail and not c.tail.isspace() for c in node):
            issues.append(
                error(
                    "mixed_content",
                    f"<{node.tag}> mixes text with child elements; its value is ambiguous",
                    file=file,
                    xpath=_path_of(elem, xpath, node),
                    field=node.tag,
                )
            )
        tags = [c.tag for c in node]
        if len(tags) == len(set(tags)):
            continue  # the common case: no tag twice
        seen: set[str] = set()
        for tag in tags:
            if tag in seen and tag in _ONCE_ONLY:
                issues.append(
                    error(
                        "duplicate_element",
                        f"<{tag}> occurs more than once in <{node.tag}>; it may occur once",
                        file=file,
                        xpath=f"{_path_of(elem, xpath, node)}/{tag}[2]",
                        field=tag,
                    )
                )
                break
            seen.add(tag)
    return issues


def _path_of(root: ET.Element, xpath: str, target: ET.Element) -> str:
    """The XPath of ``target`` inside the document ``root`` (at ``xpath``); only for issues."""
    parents = {child: parent for parent in root.iter() for child in parent}
    steps: list[str] = []
    node = target
    while node is not root:
        parent = parents[node]
        if node.tag in _REPEATABLE:
            same = [c for c in parent if c.tag == node.tag]
            steps.append(f"{node.tag}[{same.index(node) + 1}]")
        else:
            steps.append(node.tag)
        node = parent
    return "/".join([xpath, *reversed(steps)])


def _is_ascii_number(text: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also accepts ``²`` and ``５``, which ``int`` may refuse."""
    return text.isascii() and text.isdigit()


def _invoice(elem: ET.Element, xpath: str, company: str | None, plan: XmlPlan, seen: set[str]) -> RawDocument:
    issues = _structure(elem, xpath, plan.file)
    approval = elem.find("Approval")
    approvers: list[tuple[int, int, str]] = []
    if approval is not None:
        for pos, a in enumerate(approval.findall("Approver")):
            seq = a.get("sequence", "").strip()
            if seq and not _is_ascii_number(seq):
                issues.append(
                    error(
                        "invalid_number",
                        f"Approver sequence {seq[:40]!r} is not a number written in ASCII digits",
                        file=plan.file,
                        xpath=f"{xpath}/Approval/Approver[{pos + 1}]",
                        field="approvers",
                    )
                )
                seq = ""
            approvers.append((int(seq) if seq else 1 << 30, pos, a.get("email", "")))
    header = {
        "stampliCompanyId": _text(elem, "StampliCompanyId") or company,
        "stampliInvoiceId": _text(elem, "StampliInvoiceId"),
        "stampliLink": _text(elem, "StampliLink"),
        "documentType": _text(elem, "DocumentType"),
        "invoiceNumber": _text(elem, "InvoiceNumber"),
        "originalInvoiceNumber": _text(elem, "OriginalInvoiceNumber"),
        "vendorId": _text(elem, "Vendor/VendorId"),
        "vendorName": _text(elem, "Vendor/Name"),
        "vendorTaxId": _text(elem, "Vendor/TaxId"),
        "invoiceDate": _text(elem, "InvoiceDate"),
        "dueDate": _text(elem, "DueDate"),
        "postingDate": _text(elem, "PostingDate"),
        "currency": _text(elem, "Currency"),
        "exchangeRate": _text(elem, "ExchangeRate"),
        "subtotalAmount": _text(elem, "Amounts/Subtotal"),
        "taxAmount": _text(elem, "Amounts/Tax"),
        "totalAmount": _text(elem, "Amounts/Total"),
        "paymentTerms": _text(elem, "PaymentTerms"),
        "paymentReference": _text(elem, "PaymentReference"),
        "paymentReferenceType": _attr(elem, "PaymentReference", "type"),
        "poNumber": _text(elem, "PONumber"),
        "description": _text(elem, "Description"),
        "documentFile": _text(elem, "DocumentFile"),
        "approvalStatus": _attr(approval, "", "status"),
        "approvedAt": _attr(approval, "", "approvedAt"),
        "exportedAt": _text(elem, "ExportedAt"),
    }
    extra: dict[str, str] = {}
    _unknown(elem, _INVOICE_CHILDREN, "Invoice", plan, seen, extra)
    lines = []
    for n, line in enumerate(elem.findall("Lines/Line"), start=1):
        line_extra: dict[str, str] = {}
        _unknown(line, _LINE_CHILDREN, "Line", plan, seen, line_extra)
        values = {
            "lineNumber": line.get("number"),
            "lineType": line.get("type"),
            "glAccount": _text(line, "GLAccount"),
            "itemCode": _text(line, "ItemCode"),
            "lineDescription": _text(line, "Description"),
            "quantity": _text(line, "Quantity"),
            "unitPrice": _text(line, "UnitPrice"),
            "lineNetAmount": _text(line, "NetAmount"),
            "taxCode": _attr(line, "Tax", "code"),
            "taxRate": _attr(line, "Tax", "rate"),
            "lineTaxAmount": _text(line, "Tax"),
            "department": _text(line, "Dimensions/Department"),
            "costCenter": _text(line, "Dimensions/CostCenter"),
            "location": _text(line, "Dimensions/Location"),
            "class": _text(line, "Dimensions/Class"),
            "project": _text(line, "Dimensions/Project"),
            "poLineNumber": _text(line, "POLineNumber"),
        }
        lines.append(
            RawLine(values, custom=_custom(line), extra=line_extra, xpath=f"{xpath}/Lines/Line[{n}]")
        )
    return RawDocument(
        kind="invoice",
        header=header,
        lines=lines,
        xpath=xpath,
        custom=_custom(elem),
        extra=extra,
        approvers=tuple(e for _, _, e in sorted(approvers) if e),
        issues=issues,
    )


def _payment(elem: ET.Element, xpath: str, company: str | None, plan: XmlPlan, seen: set[str]) -> RawDocument:
    header = {
        "stampliCompanyId": _text(elem, "StampliCompanyId") or company,
        "stampliPaymentId": _text(elem, "StampliPaymentId"),
        "paymentNumber": _text(elem, "PaymentNumber"),
        "paymentDate": _text(elem, "PaymentDate"),
        "paymentMethod": _text(elem, "Method"),
        "paymentStatus": _text(elem, "Status"),
        "paymentSource": _text(elem, "Source"),
        "checkNumber": _text(elem, "CheckNumber"),
        "bankAccount": _text(elem, "BankAccount"),
        "paymentCurrency": _text(elem, "Currency"),
        "paymentAmount": _text(elem, "Amount"),
        "exchangeRate": _text(elem, "ExchangeRate"),
        "vendorId": _text(elem, "Vendor/VendorId"),
        "vendorName": _text(elem, "Vendor/Name"),
        "remittanceReference": _text(elem, "RemittanceReference"),
        "voidedAt": _attr(elem, "Void", "voidedAt"),
        "voidReason": _attr(elem, "Void", "reason"),
        "exportedAt": _text(elem, "ExportedAt"),
    }
    extra: dict[str, str] = {}
    _unknown(elem, _PAYMENT_CHILDREN, "Payment", plan, seen, extra)
    lines = []
    for n, app in enumerate(elem.findall("Applications/Application"), start=1):
        app_extra: dict[str, str] = {}
        _unknown(app, _APPLICATION_CHILDREN, "Application", plan, seen, app_extra)
        values = {
            "stampliInvoiceId": _text(app, "StampliInvoiceId"),
            "invoiceNumber": _text(app, "InvoiceNumber"),
            "documentType": _text(app, "DocumentType"),
            "invoiceCurrency": _text(app, "InvoiceCurrency"),
            "appliedAmount": _text(app, "AppliedAmount"),
            "discountAmount": _text(app, "DiscountAmount"),
        }
        lines.append(RawLine(values, extra=app_extra, xpath=f"{xpath}/Applications/Application[{n}]"))
    return RawDocument(
        kind="payment",
        header=header,
        lines=lines,
        xpath=xpath,
        extra=extra,
        issues=_structure(elem, xpath, plan.file),
    )
