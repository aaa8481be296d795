"""Supplier-ledger payments: how a stored Stampli payment becomes one Visma supplier payment.

Chosen by ``uses_supplier_payments``: a payment of a ``posting.target = "supplier_invoice"``
connection whose suppliers Stampli pays (``payments.source = "stampli"``; with ``visma`` every
payment is skipped before it gets here, ``pipeline/who_pays.py``). One ``POST /v1/supplierPayment``
per Stampli payment, applied to the supplier documents it pays, which are found through the ledger:
each application's invoice is a document this connection created (or adopted) in Visma, whose
``batch_number`` is Visma's ``{documentType}/{number}``. A payment is never posted unapplied: while
one of its invoices is not released in Visma yet, it is parked with the reason and the invoice it
waits for (``missing`` kind ``SUPPLIER_DOCUMENT``), and the automatic replay brings it back once that
invoice is posted (``posting.auto_replay``). Exactly once is posting's: the same claim, create,
record and release; an unknown outcome and a fresh ledger are settled by the lookup in
``pipeline/supplier_payment_booked.py`` (supplier, date, our reference in ``paymentRef``).

A void of a payment posted this way is a ``VoidPayment`` of it (``supplier_payment_void``), created
and released like a payment. Not done here: payments in another currency than their invoices are
parked (the simulator does not model ``crossRate``).
"""

from __future__ import annotations

from decimal import Decimal

from ml_connector.config.model import ConnectionConfig
from ml_connector.domain.documents import Payment, invoice_document_key, payment_from_json
from ml_connector.domain.problems import Category, Problem, Unpostable
from ml_connector.domain.stored import StoredDocument
from ml_connector.domain.supplier_payment import (
    AppliedType,
    PaymentApplication,
    SupplierPaymentVoid,
    SupplierPaymentVoucher,
)
from ml_connector.domain.voucher_codec import SUPPLIER_INVOICE, SUPPLIER_PAYMENT, decode_voucher
from ml_connector.ledger.states import DocStatus
from ml_connector.pipeline.journal import payment_reference, void_reference
from ml_connector.pipeline.masterdata import MasterData
from ml_connector.pipeline.periods import choose_period
from ml_connector.pipeline.ports import LedgerPort
from ml_connector.pipeline.rules import check_coding
from ml_connector.pipeline.settlement import NotYet
from ml_connector.pipeline.who_pays import visma_pays

# ``missing`` kind of a payment waiting for its invoice: present once the invoice's ledger document is
# posted (released in Visma).
SUPPLIER_DOCUMENT = "supplier_document"
MAX_DESCRIPTION = 255
APPLIED_TYPES: tuple[AppliedType, ...] = ("Invoice", "DebitAdj")


def uses_supplier_payments(cfg: ConnectionConfig, kind: str) -> bool:
    """The one place that decides that a payment goes to Visma's supplier payments."""
    return cfg.posting.target == "supplier_invoice" and kind == "payment" and not visma_pays(cfg)


def supplier_document_present(ledger: LedgerPort, connection: str, key: str) -> bool:
    """Has the invoice of ledger key ``key`` been released in Visma as a supplier document?"""
    row = ledger.document(connection, key)
    return (
        row is not None
        and row.status == DocStatus.POSTED
        and (row.voucher or {}).get("kind") == SUPPLIER_INVOICE
        and bool(row.batch_number)
    )


def supplier_payment_voucher(
    ledger: LedgerPort, doc: StoredDocument, md: MasterData, cfg: ConnectionConfig
) -> SupplierPaymentVoucher:
    """The supplier payment for a stored payment; raises Unpostable (with the reason) to park."""
    pay = payment_from_json(dict(doc.source))
    period, _day = choose_period(pay.payment_date, md, cfg, supplier_ledger=True)
    reference = payment_reference(pay)
    applications = tuple(_application(ledger, cfg, pay, i) for i in range(len(pay.applications)))
    voucher = SupplierPaymentVoucher(
        supplier=cfg.mapping.supplier_map.get(pay.vendor_id, pay.vendor_id),
        reference=reference,
        payment_date=pay.payment_date,
        currency=pay.payment_currency,
        amount=pay.payment_amount,
        applications=applications,
        cash_account=cfg.mapping.bank_accounts.get(pay.bank_account or "", cfg.mapping.default_bank_account),
        description=f"{reference} Stampli payment {pay.payment_number or pay.stampli_payment_id}"[
            :MAX_DESCRIPTION
        ],
        financial_period=period,
    )
    if not applications or voucher.applied != voucher.amount or voucher.amount <= 0:
        raise Unpostable(
            Problem(
                Category.SOURCE_DATA,
                "applications_differ",
                f"payment {voucher.reference} of {voucher.amount} {voucher.currency} applies "
                f"{voucher.applied} to its invoices; a supplier payment is never posted unapplied or "
                "partly applied: correct it in Stampli and export it again",
            )
        )
    return voucher


def _application(ledger: LedgerPort, cfg: ConnectionConfig, pay: Payment, index: int) -> PaymentApplication:
    app = pay.applications[index]
    key = invoice_document_key(app.stampli_invoice_id, "", "", "", "")  # as settlement.py finds it
    if app.invoice_currency != pay.payment_currency:
        raise Unpostable(
            Problem(
                Category.SOURCE_DATA,
                "cross_currency_payment",
                f"payment {payment_reference(pay)} in {pay.payment_currency} pays invoice "
                f"{app.invoice_number} in {app.invoice_currency}: a cross-currency supplier payment is not "
                "supported yet; pay it in Visma",
            )
        )
    if not supplier_document_present(ledger, cfg.name, key):
        raise Unpostable(
            Problem(
                Category.CONNECTIVITY,
                "invoice_not_in_visma",
                f"payment {payment_reference(pay)} pays invoice {app.invoice_number} ({key}), which is not "
                "released in Visma's supplier ledger yet; it waits and posts by itself once the invoice is",
                ((SUPPLIER_DOCUMENT, key),),
            )
        )
    row = ledger.document(cfg.name, key)
    assert row is not None and row.batch_number  # supplier_document_present said so
    document_type, _, number = str(row.batch_number).partition("/")
    if document_type not in APPLIED_TYPES:
        raise ValueError(f"unexpected supplier document {row.batch_number!r} for {key}")
    return PaymentApplication(
        document_type="DebitAdj" if document_type == "DebitAdj" else "Invoice",
        document_number=number,
        amount=abs(app.applied_amount),
        cash_discount=abs(app.discount_amount or Decimal(0)),
    )


def check_supplier_payment(
    voucher: SupplierPaymentVoucher, md: MasterData, cfg: ConnectionConfig
) -> list[Problem]:
    """Supplier, currency and the cash account against the cached master data; Visma takes a
    payment only from a cash account in its currency (checked when the cache knows that currency)."""
    coding = [(voucher.cash_account, ())] if voucher.cash_account else []
    problems = check_coding(voucher.currency, coding, md, cfg.mapping, supplier=voucher.supplier)
    entry = md.accounts.get(voucher.cash_account or "")
    held = entry[1].get("currency") if entry else None
    if held and held != voucher.currency:
        problems.append(
            Problem(
                Category.MAPPING,
                "cash_account_currency",
                f"payment {voucher.reference} in {voucher.currency} would leave cash account "
                f"{voucher.cash_account}, which is in {held}; Visma needs a cash account in "
                f"{voucher.currency}: map the bank account to one in connections.{cfg.name}.mapping."
                "bank_accounts, then replay",
            )
        )
    return problems


def supplier_payment_void(
    ledger: LedgerPort, doc: StoredDocument, md: MasterData, cfg: ConnectionConfig
) -> SupplierPaymentVoid | None:
    """The VoidPayment for a stored void whose payment was posted as a Visma supplier payment; None
    when that payment was posted as a journal transaction (before the connection moved to the
    supplier ledger: reversed as a journal transaction, as before). Raises NotYet while the payment's
    own outcome is still being settled (a void is only created for a released payment)."""
    pay = payment_from_json(dict(doc.source))
    original = ledger.document(cfg.name, pay.paid_key)
    if original is None or (original.voucher or {}).get("kind") != SUPPLIER_PAYMENT:
        return None
    if original.status != DocStatus.POSTED or not str(original.batch_number or "").startswith("Payment/"):
        raise NotYet(f"the voided payment {pay.paid_key} is {original.status}, not released in Visma yet")
    paid = decode_voucher(original.voucher or {})
    assert isinstance(paid, SupplierPaymentVoucher)  # the stored kind said so
    when = pay.voided_at.date() if pay.voided_at else pay.payment_date
    period, day = choose_period(when, md, cfg, supplier_ledger=True)
    return SupplierPaymentVoid(
        payment=str(original.batch_number),
        supplier=paid.supplier,
        reference=void_reference(pay),
        void_date=day,
        currency=paid.currency,
        amount=paid.amount,
        financial_period=period,
    )
