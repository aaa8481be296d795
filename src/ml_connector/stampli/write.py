"""Write canonical documents back out as Stampli export files, in any reader dialect.

Used to build fixtures (payment samples, Nordic variants), by the property tests (documents
written in a random dialect must read back equal) and by the memory benchmark. Writing is strict:
one exact dialect, described by ``Dialect``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import BinaryIO
from xml.sax.saxutils import escape, quoteattr

from ml_connector.domain.documents import Invoice, InvoiceLine, Payment, PaymentApplication
from ml_connector.domain.money import format_amount
from ml_connector.stampli.columns import INVOICE_COLUMNS, PAYMENT_COLUMNS


@dataclass(frozen=True)
class Dialect:
    delimiter: str = ","
    decimal_sep: str = "."
    date_format: str = "%Y-%m-%d"
    encoding: str = "utf-8"  # "utf-8-sig" writes a BOM; "utf-16" writes a BOM too
    line_terminator: str = "\r\n"
    header_names: Mapping[str, str] = field(default_factory=dict)  # canonical -> written name
    columns: Sequence[str] | None = None  # canonical order when None; may be a permutation


CANONICAL = Dialect()
NORDIC = Dialect(delimiter=";", decimal_sep=",", date_format="%d.%m.%Y", encoding="utf-8-sig")


def timestamp_text(value: datetime | None) -> str:
    if value is None:
        return ""
    if value.utcoffset() == timedelta(0):
        return value.replace(tzinfo=None).isoformat() + "Z"
    return value.isoformat()


def _amount(value: Decimal | None, dialect: Dialect) -> str:
    if value is None:
        return ""
    text = format_amount(value)
    return text.replace(".", ",") if dialect.decimal_sep == "," else text


def _date(value: date | None, dialect: Dialect) -> str:
    return "" if value is None else value.strftime(dialect.date_format)


def _s(value: object) -> str:
    return "" if value is None else str(value)


def invoice_rows(inv: Invoice, dialect: Dialect) -> Iterator[dict[str, str]]:
    head = {
        "stampliCompanyId": inv.stampli_company_id,
        "stampliInvoiceId": _s(inv.stampli_invoice_id),
        "stampliLink": _s(inv.stampli_link),
        "documentType": str(inv.document_type),
        "invoiceNumber": inv.invoice_number,
        "originalInvoiceNumber": _s(inv.original_invoice_number),
        "vendorId": inv.vendor_id,
        "vendorName": inv.vendor_name,
        "vendorTaxId": _s(inv.vendor_tax_id),
        "invoiceDate": _date(inv.invoice_date, dialect),
        "dueDate": _date(inv.due_date, dialect),
        "postingDate": _date(inv.posting_date, dialect),
        "currency": inv.currency,
        "exchangeRate": _amount(inv.exchange_rate, dialect),
        "subtotalAmount": _amount(inv.subtotal_amount, dialect),
        "taxAmount": _amount(inv.tax_amount, dialect),
        "totalAmount": _amount(inv.total_amount, dialect),
        "paymentTerms": _s(inv.payment_terms),
        "paymentReference": _s(inv.payment_reference),
        "poNumber": _s(inv.po_number),
        "description": _s(inv.description),
        "approvalStatus": inv.approval_status,
        "approvedAt": timestamp_text(inv.approved_at),
        "approvers": "|".join(inv.approvers),
        "exportedAt": timestamp_text(inv.exported_at),
    }
    if inv.document_file:  # our extension column: written only when there is an image
        head["documentFile"] = inv.document_file
    for name, value in inv.custom.items():
        head[f"custom_{name}"] = value
    for line in inv.lines:
        row = dict(head)
        row.update(line_row(line, dialect))
        yield row


def line_row(line: InvoiceLine, dialect: Dialect) -> dict[str, str]:
    row = {
        "lineNumber": str(line.line_number),
        "lineType": str(line.line_type),
        "glAccount": _s(line.gl_account),
        "itemCode": _s(line.item_code),
        "lineDescription": _s(line.line_description),
        "quantity": _amount(line.quantity, dialect),
        "unitPrice": _amount(line.unit_price, dialect),
        "lineNetAmount": _amount(line.line_net_amount, dialect),
        "taxCode": _s(line.tax_code),
        "taxRate": _amount(line.tax_rate, dialect),
        "lineTaxAmount": _amount(line.line_tax_amount, dialect),
        "department": _s(line.department),
        "costCenter": _s(line.cost_center),
        "location": _s(line.location),
        "class": _s(line.class_),
        "project": _s(line.project),
        "poLineNumber": _s(line.po_line_number),
    }
    for name, value in line.custom.items():
        row[f"custom_{name}"] = value
    row.update(line.extra)
    return row


def payment_rows(pay: Payment, dialect: Dialect) -> Iterator[dict[str, str]]:
    head = {
        "stampliCompanyId": pay.stampli_company_id,
        "stampliPaymentId": pay.stampli_payment_id,
        "paymentNumber": _s(pay.payment_number),
        "paymentDate": _date(pay.payment_date, dialect),
        "paymentMethod": pay.payment_method,
        "paymentStatus": pay.payment_status,
        "paymentSource": _s(pay.payment_source),
        "checkNumber": _s(pay.check_number),
        "bankAccount": _s(pay.bank_account),
        "paymentCurrency": pay.payment_currency,
        "paymentAmount": _amount(pay.payment_amount, dialect),
        "exchangeRate": _amount(pay.exchange_rate, dialect),
        "vendorId": pay.vendor_id,
        "vendorName": _s(pay.vendor_name),
        "remittanceReference": _s(pay.remittance_reference),
        "voidedAt": timestamp_text(pay.voided_at),
        "voidReason": _s(pay.void_reason),
        "exportedAt": timestamp_text(pay.exported_at),
    }
    head.update(pay.extra)
    for app in pay.applications:
        row = dict(head)
        row.update(application_row(app, dialect))
        yield row


def application_row(app: PaymentApplication, dialect: Dialect) -> dict[str, str]:
    return {
        "stampliInvoiceId": app.stampli_invoice_id,
        "invoiceNumber": app.invoice_number,
        "documentType": str(app.document_type),
        "invoiceCurrency": app.invoice_currency,
        "appliedAmount": _amount(app.applied_amount, dialect),
        "discountAmount": _amount(app.discount_amount, dialect),
    }


def _write_rows(
    rows: list[dict[str, str]], base: Sequence[str], out: Path | BinaryIO, dialect: Dialect
) -> None:
    columns = list(dialect.columns or base)
    for row in rows:
        for name in row:
            if name not in columns:
                columns.append(name)
    text = io.StringIO(newline="")
    writer = csv.writer(text, delimiter=dialect.delimiter, lineterminator=dialect.line_terminator)
    writer.writerow([dialect.header_names.get(c, c) for c in columns])
    for row in rows:
        writer.writerow([row.get(c, "") for c in columns])
    data = text.getvalue().encode(dialect.encoding)
    if isinstance(out, Path):
        out.write_bytes(data)
    else:
        out.write(data)


def write_invoices_csv(
    invoices: Iterable[Invoice], out: Path | BinaryIO, dialect: Dialect = CANONICAL
) -> None:
    rows = [row for inv in invoices for row in invoice_rows(inv, dialect)]
    _write_rows(rows, INVOICE_COLUMNS, out, dialect)


def write_payments_csv(
    payments: Iterable[Payment], out: Path | BinaryIO, dialect: Dialect = CANONICAL
) -> None:
    rows = [row for pay in payments for row in payment_rows(pay, dialect)]
    _write_rows(rows, PAYMENT_COLUMNS, out, dialect)


# ---- XML -----------------------------------------------------------------------------------------


def _el(name: str, value: object, indent: str) -> str:
    if value is None or value == "":
        return f"{indent}<{name}/>\n"
    if isinstance(value, Decimal):
        value = format_amount(value)
    elif isinstance(value, datetime):
        value = timestamp_text(value)
    elif isinstance(value, date):
        value = value.isoformat()
    return f"{indent}<{name}>{escape(str(value))}</{name}>\n"


def _custom_xml(custom: Mapping[str, str], indent: str) -> str:
    if not custom:
        return ""
    inner = "".join(f"{indent}  <Field name={quoteattr(k)}>{escape(v)}</Field>\n" for k, v in custom.items())
    return f"{indent}<CustomFields>\n{inner}{indent}</CustomFields>\n"


def invoice_xml(inv: Invoice) -> str:
    i = "    "
    parts = [
        "  <Invoice>\n",
        _el("StampliInvoiceId", inv.stampli_invoice_id, i),
        _el("StampliLink", inv.stampli_link, i),
        _el("DocumentType", str(inv.document_type), i),
        _el("InvoiceNumber", inv.invoice_number, i),
        _el("OriginalInvoiceNumber", inv.original_invoice_number, i),
        f"{i}<Vendor>\n",
        _el("VendorId", inv.vendor_id, i + "  "),
        _el("Name", inv.vendor_name, i + "  "),
        _el("TaxId", inv.vendor_tax_id, i + "  "),
        f"{i}</Vendor>\n",
        _el("InvoiceDate", inv.invoice_date, i),
        _el("DueDate", inv.due_date, i),
        _el("PostingDate", inv.posting_date, i),
        _el("Currency", inv.currency, i),
        _el("ExchangeRate", inv.exchange_rate, i),
        f"{i}<Amounts>\n",
        _el("Subtotal", inv.subtotal_amount, i + "  "),
        _el("Tax", inv.tax_amount, i + "  "),
        _el("Total", inv.total_amount, i + "  "),
        f"{i}</Amounts>\n",
        _el("PaymentTerms", inv.payment_terms, i),
    ]
    if inv.payment_reference is None:
        parts.append(f"{i}<PaymentReference/>\n")
    else:
        typ = f" type={quoteattr(inv.payment_reference_type)}" if inv.payment_reference_type else ""
        parts.append(f"{i}<PaymentReference{typ}>{escape(inv.payment_reference)}</PaymentReference>\n")
    parts += [_el("PONumber", inv.po_number, i), _el("Description", inv.description, i)]
    if inv.document_file:
        parts.append(_el("DocumentFile", inv.document_file, i))
    approved = f" approvedAt={quoteattr(timestamp_text(inv.approved_at))}" if inv.approved_at else ""
    parts.append(f"{i}<Approval status={quoteattr(inv.approval_status)}{approved}>\n")
    for n, email in enumerate(inv.approvers, start=1):
        parts.append(f'{i}  <Approver sequence="{n}" email={quoteattr(email)}/>\n')
    parts += [f"{i}</Approval>\n", _el("ExportedAt", inv.exported_at, i), f"{i}<Lines>\n"]
    for line in inv.lines:
        j = i + "    "
        parts += [
            f'{i}  <Line number="{line.line_number}" type="{line.line_type}">\n',
            _el("GLAccount", line.gl_account, j),
            _el("ItemCode", line.item_code, j),
            _el("Description", line.line_description, j),
            _el("Quantity", line.quantity, j),
            _el("UnitPrice", line.unit_price, j),
            _el("NetAmount", line.line_net_amount, j),
        ]
        attrs = ""
        if line.tax_code is not None:
            attrs += f" code={quoteattr(line.tax_code)}"
        if line.tax_rate is not None:
            attrs += f' rate="{format_amount(line.tax_rate)}"'
        parts += [
            f"{j}<Tax{attrs}>{format_amount(line.line_tax_amount)}</Tax>\n",
            f"{j}<Dimensions>\n",
            _el("Department", line.department, j + "  "),
            _el("CostCenter", line.cost_center, j + "  "),
            _el("Location", line.location, j + "  "),
            _el("Class", line.class_, j + "  "),
            _el("Project", line.project, j + "  "),
            f"{j}</Dimensions>\n",
            _el("POLineNumber", line.po_line_number, j),
            _custom_xml(line.custom, j),
            f"{i}  </Line>\n",
        ]
    parts += [f"{i}</Lines>\n", _custom_xml(inv.custom, i), "  </Invoice>\n"]
    return "".join(parts)


def payment_xml(pay: Payment) -> str:
    i = "    "
    parts = [
        "  <Payment>\n",
        _el("StampliPaymentId", pay.stampli_payment_id, i),
        _el("PaymentNumber", pay.payment_number, i),
        _el("PaymentDate", pay.payment_date, i),
        _el("Method", pay.payment_method, i),
        _el("Status", pay.payment_status, i),
        _el("Source", pay.payment_source, i),
        _el("CheckNumber", pay.check_number, i),
        _el("BankAccount", pay.bank_account, i),
        _el("Currency", pay.payment_currency, i),
        _el("Amount", pay.payment_amount, i),
        _el("ExchangeRate", pay.exchange_rate, i),
        f"{i}<Vendor>\n",
        _el("VendorId", pay.vendor_id, i + "  "),
        _el("Name", pay.vendor_name, i + "  "),
        f"{i}</Vendor>\n",
        _el("RemittanceReference", pay.remittance_reference, i),
    ]
    if pay.voided_at is not None or pay.void_reason is not None:
        attrs = ""
        if pay.voided_at is not None:
            attrs += f" voidedAt={quoteattr(timestamp_text(pay.voided_at))}"
        if pay.void_reason is not None:
            attrs += f" reason={quoteattr(pay.void_reason)}"
        parts.append(f"{i}<Void{attrs}/>\n")
    parts.append(f"{i}<Applications>\n")
    for app in pay.applications:
        j = i + "    "
        parts += [
            f"{i}  <Application>\n",
            _el("StampliInvoiceId", app.stampli_invoice_id, j),
            _el("InvoiceNumber", app.invoice_number, j),
            _el("DocumentType", str(app.document_type), j),
            _el("InvoiceCurrency", app.invoice_currency, j),
            _el("AppliedAmount", app.applied_amount, j),
            _el("DiscountAmount", app.discount_amount, j),
            f"{i}  </Application>\n",
        ]
    parts += [f"{i}</Applications>\n", _el("ExportedAt", pay.exported_at, i), "  </Payment>\n"]
    return "".join(parts)


_XML_DECL = '<?xml version="1.0" encoding="UTF-8"?>\n'


def _root_attrs(company_id: str, export_id: str, generated_at: datetime, count_attr: str, count: int) -> str:
    return (
        f'schemaVersion="1.0" companyId={quoteattr(company_id)} exportId={quoteattr(export_id)} '
        f'generatedAt={quoteattr(timestamp_text(generated_at))} {count_attr}="{count}"'
    )


def write_invoices_xml(
    invoices: Sequence[Invoice], out: Path, *, company_id: str, export_id: str, generated_at: datetime
) -> None:
    attrs = _root_attrs(company_id, export_id, generated_at, "invoiceCount", len(invoices))
    body = "".join(invoice_xml(inv) for inv in invoices)
    text = f"{_XML_DECL}<StampliInvoiceExport {attrs}>\n{body}</StampliInvoiceExport>\n"
    out.write_bytes(text.encode("utf-8"))


def write_payments_xml(
    payments: Sequence[Payment], out: Path, *, company_id: str, export_id: str, generated_at: datetime
) -> None:
    attrs = _root_attrs(company_id, export_id, generated_at, "paymentCount", len(payments))
    body = "".join(payment_xml(p) for p in payments)
    text = f"{_XML_DECL}<StampliPaymentExport {attrs}>\n{body}</StampliPaymentExport>\n"
    out.write_bytes(text.encode("utf-8"))
