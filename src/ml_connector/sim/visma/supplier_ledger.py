"""The simulated supplier ledger (AP module): supplier invoices, their release, and attachments.

Facts it follows (docs: shared visma-ap.md, visma-api.md §4.6): a create answers 201 with a
``Location``; unknown body fields are ignored (so a misspelt ``documentType`` makes a document with an
empty type); a repeated supplier reference for the same supplier is stored with a warning unless the
company raises an error on duplicates; a period closed in the supplier ledger refuses documents;
uploading a file of the same name again makes a new revision of that attachment.

Switches (``POST /_sim/supplier-ledger``): ``holdOnEntry`` (new documents start On hold),
``duplicateReference`` (``warning`` | ``error``), ``release`` (``done`` | ``failed`` | ``queued``).
The ledger belongs to one :class:`VismaState`; ``Simulator.supplier_ledger`` makes a fresh one when
the state is replaced (``/_sim/reset``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ml_connector.sim.visma.attachments import Attachment, add_file
from ml_connector.sim.visma.errors import bad_request, not_found, precondition_failed
from ml_connector.sim.visma.state import (
    CENT,
    Subaccount,
    VismaState,
    as_bool,
    as_decimal,
    as_str,
    fmt_date,
    fmt_dt,
    if_match_ok,
    parse_dto_datetime,
    pruned,
    timestamp_of,
    unwrap,
)
from ml_connector.sim.visma.supplier_vat import TaxDetail, tax_details, vat_control

# What a create may name in ``documentType`` (DtoValueOfNullableOfSupplierInvoiceTypes).
DOCUMENT_TYPES = ("Invoice", "CreditAdj", "DebitAdj", "Prepayment", "Refund", "Payment")
RELEASE_OUTCOMES = ("done", "failed", "queued")
ZERO = Decimal(0)


@dataclass
class InvoiceLine:
    line_number: int
    account: str
    account_description: str
    subaccount: Subaccount
    description: str | None
    quantity: Decimal
    unit_cost_in_currency: Decimal
    cost_in_currency: Decimal
    vat_code_id: str | None


@dataclass
class SupplierInvoice:
    document_type: str  # "" when the create left it out or misspelt it (visma-ap.md §2)
    reference_number: str
    supplier_number: str
    supplier_name: str | None
    supplier_reference: str | None
    status: str
    hold: bool
    document_date: datetime
    financial_period: str  # YYYYMM
    currency_id: str
    exchange_rate: Decimal
    description: str | None
    payment_ref_no: str | None
    due_date: datetime | None
    credit_terms_id: str | None
    note: str | None
    lines: list[InvoiceLine]
    version: int
    created: datetime
    last_modified: datetime
    warnings: list[str] = field(default_factory=list)
    attachments: dict[str, Attachment] = field(default_factory=dict)  # by file name
    taxes: list[TaxDetail] = field(default_factory=list)  # VAT per code (supplier_vat.py)
    vat_control: Decimal | None = None  # the create's ``vatAmount``

    @property
    def detail_total_in_currency(self) -> Decimal:
        return sum((ln.cost_in_currency for ln in self.lines), ZERO)

    @property
    def vat_total_in_currency(self) -> Decimal:
        """The VAT the supplier charged: reverse-charge VAT is self-assessed, not owed to them."""
        return sum((t.owed for t in self.taxes), ZERO)

    # What released supplier payments took off the document (amount paid + discount taken), in its
    # currency; ``supplier_payments.py`` moves it and the status (Open <-> Closed).
    settled_in_currency: Decimal = ZERO
    pay_selected: bool = False  # "Approved for payment" (paySelected)

    @property
    def amount_in_currency(self) -> Decimal:
        """What the supplier is owed: the lines plus the VAT."""
        return self.detail_total_in_currency + self.vat_total_in_currency

    @property
    def amount(self) -> Decimal:
        return (self.amount_in_currency * self.exchange_rate).quantize(CENT, ROUND_HALF_UP)

    @property
    def balance_in_currency(self) -> Decimal:
        """What is still owed (a DebitAdj: still to be used); the full amount until released."""
        return self.amount_in_currency - self.settled_in_currency

    @property
    def balance(self) -> Decimal:
        return (self.balance_in_currency * self.exchange_rate).quantize(CENT, ROUND_HALF_UP)

    def dto(self, *, attachments: bool) -> dict[str, Any]:
        period = self.financial_period
        body: dict[str, Any] = {
            "documentType": self.document_type or None,
            "referenceNumber": self.reference_number,
            "status": self.status,
            "hold": self.hold,
            "date": fmt_date(self.document_date),
            "postPeriod": period[4:] + period[:4],
            "financialPeriod": period,
            "supplier": {"number": self.supplier_number, "name": self.supplier_name},
            "supplierReference": self.supplier_reference,
            "description": self.description,
            "paymentRefNo": self.payment_ref_no,
            "dueDate": None if self.due_date is None else fmt_date(self.due_date),
            "creditTerms": None if self.credit_terms_id is None else {"id": self.credit_terms_id},
            "note": self.note,
            "currencyId": self.currency_id,
            "exchangeRate": self.exchange_rate,
            "amount": self.amount_in_currency,
            "detailTotalInCurrency": self.detail_total_in_currency,
            "detailTotal": (self.detail_total_in_currency * self.exchange_rate).quantize(CENT, ROUND_HALF_UP),
            "vatTotalInCurrency": self.vat_total_in_currency,
            "vatAmount": self.vat_control,
            "taxDetailLines": [t.dto() for t in self.taxes] or None,
            "balanceInCurrency": self.balance_in_currency,
            "balance": self.balance,
            "paySelected": self.pay_selected,
            "invoiceLines": [_line_dto(ln) for ln in self.lines],
            "createdDateTime": fmt_dt(self.created),
            "lastModifiedDateTime": fmt_dt(self.last_modified),
            "timeStamp": timestamp_of(self.version),
        }
        if attachments:
            body["attachments"] = [a.dto() for a in self.attachments.values()]
        return pruned(body)


def _line_dto(line: InvoiceLine) -> dict[str, Any]:
    sub = line.subaccount
    return {
        "lineNumber": line.line_number,
        "transactionDescription": line.description,
        "quantity": line.quantity,
        "unitCostInCurrency": line.unit_cost_in_currency,
        "costInCurrency": line.cost_in_currency,
        "account": {"number": line.account, "description": line.account_description},
        "subaccount": {
            "subaccountNumber": sub.number,
            "subaccountId": sub.subaccount_id,
            "description": sub.description,
        },
        "vatCode": None if line.vat_code_id is None else {"id": line.vat_code_id},
    }


@dataclass
class ReleaseResult:
    invoice: SupplierInvoice
    outcome: str  # done | failed | queued
    error: str | None = None


class SupplierLedger:
    """Supplier invoices of one company, and the company settings that change how they behave."""

    def __init__(self, state: VismaState) -> None:
        self.state = state
        self.invoices: dict[tuple[str, str], SupplierInvoice] = {}  # (documentType, referenceNumber)
        self.next_number = 1
        self.hold_on_entry = False
        self.duplicate_reference = "warning"  # or "error" (the company's "raise an error" setting)
        self.release_outcome = "done"

    # ------------------------------------------------------------------ settings (/_sim/)

    def configure(self, body: dict[str, Any]) -> dict[str, Any]:
        if "holdOnEntry" in body:
            self.hold_on_entry = as_bool(body["holdOnEntry"], "holdOnEntry")
        if "duplicateReference" in body:
            if body["duplicateReference"] not in ("warning", "error"):
                raise bad_request("'duplicateReference' must be 'warning' or 'error'.")
            self.duplicate_reference = body["duplicateReference"]
        if "release" in body:
            if body["release"] not in RELEASE_OUTCOMES:
                raise bad_request(f"'release' must be one of {', '.join(RELEASE_OUTCOMES)}.")
            self.release_outcome = body["release"]
        return self.describe()

    def describe(self) -> dict[str, Any]:
        return {
            "holdOnEntry": self.hold_on_entry,
            "duplicateReference": self.duplicate_reference,
            "release": self.release_outcome,
        }

    def snapshot(self) -> list[dict[str, Any]]:
        """Every document with its warnings and each attachment revision's size and SHA-256."""
        return [
            {
                **inv.dto(attachments=False),
                "warnings": list(inv.warnings),
                "attachments": [a.describe() for a in inv.attachments.values()],
                "vatPostings": [
                    p for t in inv.taxes for p in t.postings(credit=inv.document_type == "DebitAdj")
                ],
            }
            for inv in self.invoices.values()
        ]

    # ------------------------------------------------------------------ create

    def create(self, body: Any) -> SupplierInvoice:
        """Validate and store a ``SupplierInvoiceUpdateDto``; unknown fields are ignored, as Visma does."""
        state = self.state
        if not isinstance(body, dict):
            raise bad_request("The request body must be a SupplierInvoiceUpdateDto object.")
        doc_type_raw = unwrap(body, "documentType")
        doc_type = "" if doc_type_raw is None else as_str(doc_type_raw, "documentType")
        if doc_type and doc_type not in DOCUMENT_TYPES:
            raise bad_request(f"'{doc_type}' is not a valid value for documentType.")
        supplier_no = _required_str(body, "supplierNumber")
        supplier = state.suppliers.get(supplier_no)
        if supplier is None or supplier.fields.get("status", "Active") != "Active":
            raise bad_request(f"Supplier '{supplier_no}' does not exist or is not active.")
        date_raw = unwrap(body, "date")
        doc_date = (
            state.clock.now() if date_raw is None else parse_dto_datetime(as_str(date_raw, "date"), "date")
        )
        period_id = self._period(body, doc_date.date())
        currency_id = _opt(body, "currencyId") or str(supplier.fields.get("currencyId") or "")
        currency_id = currency_id or state.company.base_currency
        currency = state.currencies.get(currency_id)
        if currency is None:
            raise bad_request(f"Currency '{currency_id}' does not exist.")
        rate_raw = unwrap(body, "exchangeRate")
        rate = Decimal(1) if currency.is_base else currency.rate_to_base
        if rate_raw is not None and not currency.is_base:
            rate = as_decimal(rate_raw, "exchangeRate")
        terms_id = _opt(body, "creditTermsId") or _supplier_terms(supplier.fields)
        due_raw = unwrap(body, "dueDate")
        if terms_id is None and due_raw is None:
            # Acumatica: with no credit terms on the supplier or the document, the due date is required.
            raise bad_request("'Due date' cannot be empty.")
        raw_lines = body.get("invoiceLines")
        if not isinstance(raw_lines, list) or not raw_lines:
            raise bad_request("A supplier invoice needs at least one line in 'invoiceLines'.")
        lines = [self._line(i, raw) for i, raw in enumerate(raw_lines, start=1)]
        taxes = tax_details([(ln.vat_code_id, ln.cost_in_currency) for ln in lines], state.vat_codes, body)
        hold_raw = unwrap(body, "hold")
        hold = self.hold_on_entry if hold_raw is None else as_bool(hold_raw, "hold")
        pay_raw = unwrap(body, "paySelected")
        reference = _opt(body, "supplierReference")
        warnings = self._duplicate_warnings(supplier_no, reference)
        now = state.clock.now()
        number = self._number(body)
        invoice = SupplierInvoice(
            document_type=doc_type,
            reference_number=number,
            supplier_number=supplier_no,
            supplier_name=supplier.fields.get("name"),
            supplier_reference=reference,
            status="Hold" if hold else "Balanced",
            hold=hold,
            document_date=doc_date,
            financial_period=period_id,
            currency_id=currency_id,
            exchange_rate=rate,
            description=_opt(body, "description"),
            payment_ref_no=_opt(body, "paymentRefNo"),
            due_date=None if due_raw is None else parse_dto_datetime(as_str(due_raw, "dueDate"), "dueDate"),
            credit_terms_id=terms_id,
            note=_opt(body, "note"),
            lines=lines,
            version=state.next_version(),
            created=now,
            last_modified=now,
            warnings=warnings,
            taxes=taxes,
            vat_control=vat_control(body),
            pay_selected=False if pay_raw is None else as_bool(pay_raw, "paySelected"),
        )
        self.invoices[(doc_type, number)] = invoice
        return invoice

    def _duplicate_warnings(self, supplier_no: str, reference: str | None) -> list[str]:
        if reference is None:
            return []
        for other in self.invoices.values():
            if other.supplier_number == supplier_no and other.supplier_reference == reference:
                text = (
                    f"Document with the same supplier reference '{reference}' already exists "
                    f"({other.document_type or '?'} {other.reference_number})."
                )
                if self.duplicate_reference == "error":
                    raise bad_request(text)
                return [text]
        return []

    def _number(self, body: dict[str, Any]) -> str:
        number, self.next_number = take_number(body, {num for _, num in self.invoices}, self.next_number)
        return number

    def _period(self, body: dict[str, Any], doc_date: date) -> str:
        """``financialPeriod`` is YYYYMM, ``postPeriod`` MMYYYY; the document date decides otherwise."""
        fin = _opt(body, "financialPeriod")
        post = _opt(body, "postPeriod")
        if fin is not None and (len(fin) != 6 or not fin.isdigit()):
            raise bad_request(f"Invalid financialPeriod '{fin}'; the format is YYYYMM.")
        if post is not None and (len(post) != 6 or not post.isdigit()):
            raise bad_request(f"Invalid postPeriod '{post}'; the format is MMYYYY.")
        from_post = None if post is None else post[2:] + post[:2]
        if fin is not None and from_post is not None and fin != from_post:
            raise bad_request(f"postPeriod '{post}' and financialPeriod '{fin}' name different periods.")
        return open_ap_period(self.state, fin or from_post or f"{doc_date.year:04d}{doc_date.month:02d}")

    def _line(self, index: int, raw: Any) -> InvoiceLine:
        where = f"Line {index}"
        if not isinstance(raw, dict):
            raise bad_request(f"{where}: a line must be a SupplierInvoiceLineUpdateDto object.")
        operation = raw.get("operation", "Insert")
        if operation != "Insert":
            raise bad_request(f"{where}: operation '{operation}' is not allowed on a new document.")
        account_no = _required_str(raw, "accountNumber", where)
        account = self.state.accounts.get(account_no)
        if account is None or not account.active:
            raise bad_request(f"{where}: Account '{account_no}' does not exist or is inactive.")
        qty_raw = unwrap(raw, "quantity")
        quantity = Decimal(1) if qty_raw is None else as_decimal(qty_raw, "quantity")
        unit_raw = unwrap(raw, "unitCostInCurrency")
        cost_raw = unwrap(raw, "costInCurrency")
        if unit_raw is None and cost_raw is None:
            raise bad_request(f"{where}: 'unitCostInCurrency' or 'costInCurrency' is required.")
        unit = ZERO if unit_raw is None else as_decimal(unit_raw, "unitCostInCurrency")
        cost = (quantity * unit).quantize(CENT, ROUND_HALF_UP)
        if cost_raw is not None:
            cost = as_decimal(cost_raw, "costInCurrency")
            if unit_raw is None and quantity != 0:
                unit = cost / quantity
        vat = _opt(raw, "vatCodeId")
        if vat is not None and vat not in self.state.vat_codes:
            raise bad_request(f"{where}: VAT code '{vat}' does not exist.")
        return InvoiceLine(
            line_number=index,
            account=account_no,
            account_description=account.description,
            subaccount=self.state._line_subaccount(where, raw.get("subaccount")),  # same rules as GL
            description=_opt(raw, "transactionDescription"),
            quantity=quantity,
            unit_cost_in_currency=unit,
            cost_in_currency=cost,
            vat_code_id=vat,
        )

    # ------------------------------------------------------------------ read

    def get(self, document_type: str, number: str) -> SupplierInvoice:
        invoice = self.invoices.get((document_type, number))
        if invoice is None:
            raise not_found(f"{document_type or 'Document'} {number} not found.")
        return invoice

    def list(
        self,
        *,
        supplier: str | None,
        document_type: str | None,
        status: str | None,
        financial_period: str | None,
        greater_than: str | None,
    ) -> list[SupplierInvoice]:
        return [
            inv
            for inv in sorted(self.invoices.values(), key=lambda i: i.reference_number)
            if (supplier is None or inv.supplier_number == supplier)
            and (document_type is None or inv.document_type == document_type)
            and (status is None or inv.status == status)
            and (financial_period is None or inv.financial_period == financial_period)
            and (greater_than is None or inv.reference_number > greater_than)
        ]

    # ------------------------------------------------------------------ update (PUT)

    def update(self, document_type: str, number: str, body: Any, if_match: str | None) -> SupplierInvoice:
        """``PUT``: the simulator changes only ``paySelected`` ("Approved for payment"), the one field
        the connector updates; a Closed or Voided document has nothing left to pay and refuses it."""
        invoice = self.get(document_type, number)
        if not if_match_ok(if_match, invoice.version):
            raise precondition_failed()
        if not isinstance(body, dict):
            raise bad_request("The request body must be a SupplierInvoiceUpdateDto object.")
        raw = unwrap(body, "paySelected")
        if raw is None:
            raise bad_request("The simulator updates only 'paySelected' on a supplier invoice.")
        if invoice.status in ("Closed", "Voided"):
            raise bad_request(
                f"Document {number} has status {invoice.status} and cannot be approved for payment."
            )
        invoice.pay_selected = as_bool(raw, "paySelected")
        invoice.version = self.state.next_version()
        invoice.last_modified = self.state.clock.now()
        return invoice

    # ------------------------------------------------------------------ release

    def release(
        self, document_type: str, number: str, if_match: str | None, *, background: bool
    ) -> ReleaseResult:
        """Release: ``done`` (Balanced -> Open), ``failed`` (200 with ``Failed``) or ``queued`` (202).

        A document on hold, already released or in a period closed in the supplier ledger fails the
        way Visma reports action failures: a 200 whose ``actionResult`` is ``Failed``.
        """
        invoice = self.get(document_type, number)
        if not if_match_ok(if_match, invoice.version):
            raise precondition_failed()
        if self.release_outcome == "failed":
            return ReleaseResult(invoice, "failed", "The release failed (simulator switch release=failed).")
        error = self._release_error(invoice)
        if error is not None:
            return ReleaseResult(invoice, "failed", error)
        invoice.status = "Open"
        invoice.version = self.state.next_version()
        invoice.last_modified = self.state.clock.now()
        queued = background or self.release_outcome == "queued"
        return ReleaseResult(invoice, "queued" if queued else "done")

    def _release_error(self, invoice: SupplierInvoice) -> str | None:
        if invoice.status == "Hold":
            return f"Document {invoice.reference_number} is on hold and cannot be released."
        if invoice.status != "Balanced":
            return f"Document {invoice.reference_number} has status {invoice.status} and cannot be released."
        if invoice.vat_control is not None and invoice.vat_control != invoice.vat_total_in_currency:
            return (
                f"Document is out of balance: the VAT amount {invoice.vat_control} differs from the "
                f"document's VAT {invoice.vat_total_in_currency}."
            )
        return closed_in_ap(self.state, invoice.financial_period)

    # ------------------------------------------------------------------ attachments

    def attach(self, invoice: SupplierInvoice, name: str, data: bytes, content_type: str) -> Attachment:
        """Store a file; the same file name again is a new revision of the same attachment."""
        attachment = add_file(invoice.attachments, name, data, content_type)
        invoice.version = self.state.next_version()
        invoice.last_modified = self.state.clock.now()
        return attachment


def take_number(body: dict[str, Any], taken: set[str], next_number: int) -> tuple[str, int]:
    """(the new document's number, the series' next number): the body's ``referenceNumber`` with
    ``overrideNumberSeries``, else the next free zero-padded number of the series."""
    override = unwrap(body, "overrideNumberSeries")
    requested = unwrap(body, "referenceNumber")
    if override is True and requested is not None:
        number = as_str(requested, "referenceNumber")
        if number in taken:
            raise bad_request(f"Reference number {number} already exists.")
        return number, next_number
    while True:
        number = str(next_number).zfill(6)
        next_number += 1
        if number not in taken:
            return number, next_number


def _period_label(period_id: str) -> str:
    return f"{period_id[4:]}-{period_id[:4]}"


def open_ap_period(state: VismaState, period_id: str) -> str:
    """``period_id`` (YYYYMM) when a supplier-ledger document may be dated in it, else a 400."""
    fp = state.periods.get(period_id)
    label = _period_label(period_id)
    if fp is None:
        raise bad_request(f"Financial period {label} does not exist.")
    if not fp.active:
        raise bad_request(f"Financial period {label} is inactive.")
    if fp.closed_in_ap:
        raise bad_request(f"Financial period {label} is closed in Supplier Ledger.")
    return period_id


def closed_in_ap(state: VismaState, period_id: str) -> str | None:
    """A release's ``errorInfo`` when the period has been closed in the supplier ledger since."""
    if state.periods[period_id].closed_in_ap:
        return f"Financial period {_period_label(period_id)} is closed in Supplier Ledger."
    return None


def _opt(body: dict[str, Any], key: str) -> str | None:
    raw = unwrap(body, key)
    return None if raw is None else as_str(raw, key)


def _required_str(body: dict[str, Any], key: str, where: str = "") -> str:
    value = _opt(body, key)
    if not value:
        prefix = f"{where}: " if where else ""
        raise bad_request(f"{prefix}Mandatory field '{key}' is missing.")
    return value


def _supplier_terms(fields: dict[str, Any]) -> str | None:
    terms = fields.get("creditTerms")
    return terms.get("id") if isinstance(terms, dict) and isinstance(terms.get("id"), str) else None
