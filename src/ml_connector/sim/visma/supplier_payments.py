"""The simulated supplier payments (AP302000): create, release, void, and what they do to the
supplier documents they apply to.

Facts it follows (shared docs visma-ap.md §5-6, the supplier payment OpenAPI file):

- A payment (``type`` ``Payment``) names a supplier, a date, a cash account or payment method, a
  currency, ``paymentAmount`` and ``paymentLines`` of ``{operation, documentType, refNbr, amountPaid,
  cashDiscountTaken, crossRate}``. No lines make an unapplied payment (allowed, as in the ERP).
- A line must name a released document of the same supplier, else Visma's own error text:
  ``AdjdRefNbr '…' cannot be found in the system.``
- Netting (inferred, the ERP's rule for debit adjustments applied in a payment): an ``Invoice`` (or
  ``CreditAdj``) line adds its amount to what the payment applies, a ``DebitAdj`` line (a supplier
  credit note) takes its amount off; the net may not exceed ``paymentAmount`` and the rest is the
  ``unappliedBalance``.
- Release (``POST …/{paymentNumber}/action/release`` with ``{"type": {"value": …}}``): each line
  lowers its document's balance by amount paid + discount taken; a document at 0 is ``Closed``, a
  partly paid one stays ``Open``. The payment is ``Closed`` when fully applied, else ``Open``.
  Release results are those of supplier invoices (200 Done, 200 ``Failed`` + ``errorInfo``, 202).
- There is no void action: a ``VoidPayment`` document with the original's reference number is
  created and released; that gives the applications back (documents reopen) and the original
  becomes ``Voided``. A second void of the same payment is refused (its number exists).

- Release of a payment in a foreign currency records, per line, the realised exchange difference in
  the company currency (paid × the payment date's SPOT rate − paid × the document's rate), which
  Visma books on its gain/loss accounts; the document's balance is in its own currency, so a fully
  paid one is 0 in both. The spec's DTOs do not show the difference: ``/_sim/supplier-payments`` does.

Not modelled (refused with a 400 that says so): ``crossRate`` (a line in another currency than the
payment), the types ``DebitAdj``, ``Prepayment``, ``Refund`` and ``VoidRefund`` as payments.
Amounts are in the payment's currency; documents are in the same currency (no cross rate).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ml_connector.sim.visma.errors import bad_request, not_found, precondition_failed
from ml_connector.sim.visma.state import (
    CENT,
    CONDITIONS,
    ZERO,
    as_bool,
    as_decimal,
    as_str,
    fmt_date,
    fmt_dt,
    if_match_ok,
    parse_dto_datetime,
    parse_filter_datetime,
    pruned,
    timestamp_of,
    unwrap,
)
from ml_connector.sim.visma.supplier_ledger import (
    SupplierInvoice,
    SupplierLedger,
    _opt,
    closed_in_ap,
    open_ap_period,
    take_number,
)

# DtoValueOfNullableOfSupplierPaymentTypes; the simulator creates the first two.
PAYMENT_TYPES = ("Payment", "VoidPayment", "DebitAdj", "Prepayment", "Refund", "VoidRefund")
MODELLED_TYPES = ("Payment", "VoidPayment")
# What a payment line may apply to (DtoValueOfNullableOfSupplierInvoiceTypes, minus payment types).
APPLICABLE = ("Invoice", "CreditAdj", "DebitAdj")


@dataclass
class Application:
    document: SupplierInvoice
    amount_paid: Decimal
    cash_discount: Decimal
    # The realised exchange difference in the company currency, set at release: what was paid at the
    # payment date's rate less the same amount at the document's rate (> 0: a loss). Visma books it
    # on its gain/loss accounts; the spec's DTOs do not show it, so only /_sim/supplier-payments does.
    realised: Decimal = ZERO

    @property
    def sign(self) -> int:
        """+1 when the line pays a document, -1 when it uses up a debit adjustment (netting)."""
        return -1 if self.document.document_type == "DebitAdj" else 1

    @property
    def settles(self) -> Decimal:
        return self.amount_paid + self.cash_discount

    def dto(self) -> dict[str, Any]:
        doc = self.document
        period = doc.financial_period
        return pruned(
            {
                "docType": doc.document_type,
                "invoiceRefNbr": doc.reference_number,
                "amountPaid": self.amount_paid,
                "cashDiscountTaken": self.cash_discount,
                "balance": doc.balance_in_currency,
                "currency": doc.currency_id,
                "supplierRef": doc.supplier_reference,
                "date": fmt_date(doc.document_date),
                "dueDate": None if doc.due_date is None else fmt_date(doc.due_date),
                "postPeriod": period[4:] + period[:4],
                "description": doc.description,
            }
        )


@dataclass
class SupplierPayment:
    type: str  # Payment | VoidPayment
    reference_number: str
    supplier_number: str
    supplier_name: str | None
    location_id: str
    status: str  # Hold | Balanced | Open | Closed | Voided
    hold: bool
    application_date: datetime
    application_period: str  # YYYYMM
    payment_ref: str | None
    payment_method: str | None
    cash_account: str
    currency_id: str
    description: str | None
    payment_amount: Decimal  # a VoidPayment carries the original's amount, negated
    applications: list[Application]
    version: int
    created: datetime
    last_modified: datetime
    branch: str = "1"

    @property
    def released(self) -> bool:
        return self.status in ("Open", "Closed", "Voided")

    @property
    def applied_amount(self) -> Decimal:
        return sum((a.sign * a.amount_paid for a in self.applications), ZERO)

    @property
    def unapplied_balance(self) -> Decimal:
        return self.payment_amount - self.applied_amount

    @property
    def balance(self) -> Decimal:
        """What remains to be applied and released (the spec: only released applications count)."""
        if self.status == "Voided" or (self.type == "VoidPayment" and self.released):
            return ZERO
        return self.unapplied_balance if self.released else self.payment_amount

    def dto(self) -> dict[str, Any]:
        return pruned(
            {
                "type": self.type,
                "refNbr": self.reference_number,
                "status": self.status,
                "hold": self.hold,
                "applicationDate": fmt_date(self.application_date),
                "applicationPeriod": self.application_period,
                "paymentRef": self.payment_ref,
                "supplier": {"number": self.supplier_number, "name": self.supplier_name},
                "location": {"id": self.location_id},
                "paymentMethod": self.payment_method,
                "cashAccount": self.cash_account,
                "currency": {"id": self.currency_id},
                "description": self.description,
                "paymentAmount": self.payment_amount,
                "appliedAmount": self.applied_amount,
                "unappliedBalance": self.unapplied_balance,
                "balance": self.balance,
                "released": self.released,
                "branch": self.branch,
                "paymentLines": [a.dto() for a in self.applications],
                "lastModifiedDateTime": fmt_dt(self.last_modified),
                "timeStamp": timestamp_of(self.version),
            }
        )


@dataclass
class PaymentRelease:
    payment: SupplierPayment
    outcome: str  # done | failed | queued
    error: str | None = None


@dataclass
class SupplierPayments:
    """The supplier payments of one company; the documents they apply to live in ``ledger``."""

    ledger: SupplierLedger
    payments: dict[tuple[str, str], SupplierPayment] = field(default_factory=dict)  # (type, number)
    next_number: int = 1
    # The rate of a foreign currency to the company's on a day (the SPOT rate then in effect);
    # None: no realised differences are computed.
    rate_on: Callable[[str, date], Decimal] | None = None

    # ------------------------------------------------------------------ create

    def create(self, body: Any) -> SupplierPayment:
        """Validate and store a ``SupplierPaymentUpdateDto``; unknown fields are ignored, as Visma does."""
        if not isinstance(body, dict):
            raise bad_request("The request body must be a SupplierPaymentUpdateDto object.")
        raw_type = unwrap(body, "type")
        kind = "Payment" if raw_type is None else as_str(raw_type, "type")
        if kind not in PAYMENT_TYPES:
            raise bad_request(f"'{kind}' is not a valid value for type.")
        if kind not in MODELLED_TYPES:
            raise bad_request(f"The simulator does not model supplier payments of type {kind}.")
        if kind == "VoidPayment":
            return self._void(body)
        return self._payment(body)

    def _payment(self, body: dict[str, Any]) -> SupplierPayment:
        state = self.ledger.state
        supplier_no = _opt(body, "supplier")
        if not supplier_no:
            raise bad_request("Mandatory field 'supplier' is missing.")
        supplier = state.suppliers.get(supplier_no)
        if supplier is None or supplier.fields.get("status", "Active") != "Active":
            raise bad_request(f"Supplier '{supplier_no}' does not exist or is not active.")
        when, period = self._when(body)
        cash_account = _opt(body, "cashAccount") or str(supplier.fields.get("cashAccount") or "")
        account = state.accounts.get(cash_account)
        if account is None or not account.active or not account.cash_account:
            raise bad_request(f"Cash account '{cash_account}' does not exist or is not a cash account.")
        account_currency = account.currency or state.company.base_currency
        currency_id = _opt(body, "currency") or account_currency
        if currency_id not in state.currencies:
            raise bad_request(f"Currency '{currency_id}' does not exist.")
        if currency_id != account_currency:
            raise bad_request(
                f"The currency of cash account {cash_account} is {account_currency}; "
                f"a payment in {currency_id} needs a cash account in {currency_id}."
            )
        method = _opt(body, "paymentMethod") or _id_of(supplier.fields.get("paymentMethod"))
        amount_raw = unwrap(body, "paymentAmount")
        if amount_raw is None:
            raise bad_request("Mandatory field 'paymentAmount' is missing.")
        amount = as_decimal(amount_raw, "paymentAmount")
        if amount <= 0:
            raise bad_request("The payment amount must be greater than zero.")
        raw_lines = body.get("paymentLines") or []
        if not isinstance(raw_lines, list):
            raise bad_request("'paymentLines' must be an array.")
        applications = [
            self._application(i, raw, supplier_no, currency_id) for i, raw in enumerate(raw_lines, 1)
        ]
        seen = [(a.document.document_type, a.document.reference_number) for a in applications]
        if len(set(seen)) != len(seen):
            raise bad_request("A document is applied twice in 'paymentLines'.")
        applied = sum((a.sign * a.amount_paid for a in applications), ZERO)
        if applied < 0:
            raise bad_request(
                "The debit adjustments applied exceed the documents paid; the applied amount is negative."
            )
        if applied > amount:
            raise bad_request(f"The amount applied ({applied}) exceeds the payment amount ({amount}).")
        hold_raw = unwrap(body, "hold")
        hold = False if hold_raw is None else as_bool(hold_raw, "hold")
        now = state.clock.now()
        payment = SupplierPayment(
            type="Payment",
            reference_number=self._number(body),
            supplier_number=supplier_no,
            supplier_name=supplier.fields.get("name"),
            location_id=_opt(body, "location") or "MAIN",
            status="Hold" if hold else "Balanced",
            hold=hold,
            application_date=when,
            application_period=period,
            payment_ref=_opt(body, "paymentRef"),
            payment_method=method,
            cash_account=cash_account,
            currency_id=currency_id,
            description=_opt(body, "description"),
            payment_amount=amount,
            applications=applications,
            version=state.next_version(),
            created=now,
            last_modified=now,
            branch=_opt(body, "branch") or "1",
        )
        self.payments[("Payment", payment.reference_number)] = payment
        return payment

    def _application(self, index: int, raw: Any, supplier_no: str, currency_id: str) -> Application:
        where = f"Payment line {index}"
        if not isinstance(raw, dict):
            raise bad_request(f"{where}: a line must be a SupplierPaymentAdjustmentUpdateDto object.")
        operation = raw.get("operation", "Insert")
        if operation != "Insert":
            raise bad_request(f"{where}: operation '{operation}' is not allowed on a new payment.")
        doc_type = _opt(raw, "documentType") or ""
        ref = _opt(raw, "refNbr") or ""
        if unwrap(raw, "crossRate") is not None:
            raise bad_request(
                f"{where}: the simulator does not model crossRate (a document in another currency)."
            )
        document = self.ledger.invoices.get((doc_type, ref)) if doc_type in APPLICABLE else None
        if document is None or document.supplier_number != supplier_no or document.status != "Open":
            # Visma's text for a document it cannot apply (wrong type, number, supplier or not released).
            raise bad_request(f"AdjdRefNbr '{ref}' cannot be found in the system.")
        if document.currency_id != currency_id:
            raise bad_request(
                f"{where}: document {ref} is in {document.currency_id}, the payment in {currency_id}."
            )
        paid_raw = unwrap(raw, "amountPaid")
        paid = document.balance_in_currency if paid_raw is None else as_decimal(paid_raw, "amountPaid")
        discount_raw = unwrap(raw, "cashDiscountTaken")
        discount = ZERO if discount_raw is None else as_decimal(discount_raw, "cashDiscountTaken")
        if paid < 0 or discount < 0 or paid + discount == 0:
            raise bad_request(f"{where}: the amount paid must be greater than zero.")
        if paid + discount > document.balance_in_currency:
            raise bad_request(
                f"{where}: the amount paid ({paid + discount}) exceeds the balance of "
                f"{doc_type} {ref} ({document.balance_in_currency})."
            )
        return Application(document, paid, discount)

    def _void(self, body: dict[str, Any]) -> SupplierPayment:
        """A ``VoidPayment`` for the released payment whose number it names (``referenceNumber``)."""
        state = self.ledger.state
        number = _opt(body, "referenceNumber")
        if not number:
            raise bad_request("A VoidPayment needs 'referenceNumber': the number of the payment it voids.")
        original = self.payments.get(("Payment", number))
        if original is None:
            raise bad_request(f"Payment {number} cannot be found in the system.")
        if ("VoidPayment", number) in self.payments or original.status == "Voided":
            raise bad_request(f"Payment {number} is already voided.")
        if not original.released:
            raise bad_request(
                f"Payment {number} is not released; an unreleased payment is deleted, not voided."
            )
        when, period = self._when(body)
        now = state.clock.now()
        void = SupplierPayment(
            type="VoidPayment",
            reference_number=number,
            supplier_number=original.supplier_number,
            supplier_name=original.supplier_name,
            location_id=original.location_id,
            status="Balanced",
            hold=False,
            application_date=when,
            application_period=period,
            payment_ref=original.payment_ref,
            payment_method=original.payment_method,
            cash_account=original.cash_account,
            currency_id=original.currency_id,
            description=_opt(body, "description") or original.description,
            payment_amount=-original.payment_amount,
            applications=[
                # a void reverses exactly what its payment did, realised difference included
                Application(a.document, -a.amount_paid, -a.cash_discount, -a.realised)
                for a in original.applications
            ],
            version=state.next_version(),
            created=now,
            last_modified=now,
            branch=original.branch,
        )
        self.payments[("VoidPayment", number)] = void
        return void

    def _number(self, body: dict[str, Any]) -> str:
        number, self.next_number = take_number(body, {num for _, num in self.payments}, self.next_number)
        return number

    def _when(self, body: dict[str, Any]) -> tuple[datetime, str]:
        """The application date (now when left out) and its period (YYYYMM)."""
        raw = unwrap(body, "applicationDate")
        when = self.ledger.state.clock.now()
        if raw is not None:
            when = parse_dto_datetime(as_str(raw, "applicationDate"), "applicationDate")
        return when, self._period(_opt(body, "applicationPeriod"), when.date())

    def _period(self, raw: str | None, when: date) -> str:
        """``applicationPeriod``: the spec does not say its format (U), so both YYYYMM and MMYYYY are
        taken (they cannot be confused for real years); the date decides when it is left out."""
        if raw is None:
            period_id = f"{when.year:04d}{when.month:02d}"
        elif len(raw) == 6 and raw.isdigit() and 1 <= int(raw[4:]) <= 12:
            period_id = raw
        elif len(raw) == 6 and raw.isdigit() and 1 <= int(raw[:2]) <= 12:
            period_id = raw[2:] + raw[:2]
        else:
            raise bad_request(f"Invalid applicationPeriod '{raw}'.")
        return open_ap_period(self.ledger.state, period_id)

    # ------------------------------------------------------------------ read

    def get(self, kind: str, number: str) -> SupplierPayment:
        payment = self.payments.get((kind, number))
        if payment is None:
            raise not_found(f"{kind} {number} not found.")
        return payment

    def find(self, request_filters: dict[str, str | None]) -> list[SupplierPayment]:
        f = request_filters
        doc_date = _date_filter(f.get("docDate"), f.get("docDateCondition"))
        found = []
        for p in sorted(self.payments.values(), key=lambda p: (p.reference_number, p.type)):
            if f.get("supplier") not in (None, p.supplier_number):
                continue
            if f.get("paymentType") not in (None, p.type) or f.get("status") not in (None, p.status):
                continue
            if f.get("financialPeriod") not in (None, p.application_period):
                continue
            gt = f.get("greaterThanValue")
            if gt is not None and p.reference_number <= gt:
                continue
            ref = f.get("invoiceRefNbr")
            if ref is not None and all(a.document.reference_number != ref for a in p.applications):
                continue
            if not doc_date(p.application_date):
                continue
            found.append(p)
        return found

    # ------------------------------------------------------------------ release

    def release(self, number: str, body: Any, if_match: str | None, *, background: bool) -> PaymentRelease:
        """Release the payment of the body's type (``Payment`` by default) with this number."""
        raw = unwrap(body, "type") if isinstance(body, dict) else None
        kind = "Payment" if raw is None else as_str(raw, "type")
        payment = self.get(kind, number)
        if not if_match_ok(if_match, payment.version):
            raise precondition_failed()
        if self.ledger.release_outcome == "failed":
            return PaymentRelease(payment, "failed", "The release failed (simulator switch release=failed).")
        error = self._release_error(payment)
        if error is not None:
            return PaymentRelease(payment, "failed", error)
        for a in payment.applications:
            doc = a.document
            if payment.type == "Payment":
                a.realised = self._realised(payment, a)
            doc.settled_in_currency += a.settles  # a void's negative amounts give the balance back
            doc.status = "Closed" if doc.balance_in_currency == 0 else "Open"
            doc.version = self.ledger.state.next_version()
            doc.last_modified = self.ledger.state.clock.now()
        if payment.type == "VoidPayment":
            original = self.payments[("Payment", number)]
            original.status = "Voided"
            self._touch(original)
            payment.status = "Closed"
        else:
            payment.status = "Closed" if payment.unapplied_balance == 0 else "Open"
        self._touch(payment)
        queued = background or self.ledger.release_outcome == "queued"
        return PaymentRelease(payment, "queued" if queued else "done")

    def _release_error(self, payment: SupplierPayment) -> str | None:
        number = payment.reference_number
        if payment.status == "Hold":
            return f"Payment {number} is on hold and cannot be released."
        if payment.status != "Balanced":
            return f"Payment {number} has status {payment.status} and cannot be released."
        closed = closed_in_ap(self.ledger.state, payment.application_period)
        if closed is not None:
            return closed
        for a in payment.applications:
            doc = a.document
            if a.settles > doc.balance_in_currency:  # another payment got there first
                return (
                    f"The amount paid ({a.settles}) exceeds the balance of {doc.document_type} "
                    f"{doc.reference_number} ({doc.balance_in_currency})."
                )
        return None

    def _realised(self, payment: SupplierPayment, a: Application) -> Decimal:
        """The company-currency difference of the money paid on ``a`` between the payment date's rate
        and the rate its document was booked at (a void's negative amounts give it back)."""
        base = self.ledger.state.company.base_currency
        if self.rate_on is None or payment.currency_id == base:
            return ZERO
        rate = self.rate_on(payment.currency_id, payment.application_date.date())
        paid = a.sign * a.amount_paid
        at_payment = (paid * rate).quantize(CENT, ROUND_HALF_UP)
        at_document = (paid * a.document.exchange_rate).quantize(CENT, ROUND_HALF_UP)
        return at_payment - at_document

    def _touch(self, payment: SupplierPayment) -> None:
        payment.version = self.ledger.state.next_version()
        payment.last_modified = self.ledger.state.clock.now()

    def snapshot(self) -> list[dict[str, Any]]:
        """Every payment as its DTO, each line with its ``realisedDifference`` (simulator only)."""
        out = []
        for p in self.payments.values():
            body = p.dto()
            for line, a in zip(body["paymentLines"], p.applications, strict=True):
                line["realisedDifference"] = a.realised
            body["realisedDifference"] = sum((a.realised for a in p.applications), ZERO)
            out.append(body)
        return out


def _id_of(value: Any) -> str | None:
    return value.get("id") if isinstance(value, dict) and isinstance(value.get("id"), str) else None


def _date_filter(value: str | None, condition: str | None) -> Callable[[datetime], bool]:
    if value is None:
        return lambda _when: True
    compare = CONDITIONS.get(condition or ">=")
    if compare is None:
        raise bad_request(f"Invalid docDateCondition '{condition}'.")
    bound = parse_filter_datetime(value, "docDate")
    return lambda when: compare(when, bound)
