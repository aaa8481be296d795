"""The ledger's form of a voucher: plain JSON that names the domain voucher, not a destination's wire body.

The ledger keeps what was (or is about to be) posted for each document (``documents.voucher``). It is
the domain voucher, a journal ``Voucher`` or a ``SupplierInvoiceVoucher``, so that reading it back
never depends on Visma's request format, and one posting target's body is never mistaken for another's:

    {"kind": "journal", "transaction_date": "2025-03-14", "lines": [{"debit": "100.00", ...}], ...}
    {"kind": "supplier_invoice", "supplier": "10023", "lines": [{"amount": "80.00", ...}], ...}
    {"kind": "supplier_payment", "supplier": "10023", "applications": [{"amount": "80.00", ...}], ...}

Every Decimal is its exact text (never a float), every date ISO 8601. ``decode_voucher(encode_voucher(v))
== v``. Ledgers written before this form hold Visma's journal request body (``journalTransactionLines``);
``is_encoded`` tells the two apart for the readers that must still show those.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any, cast

from ml_connector.domain.journal import Segment, Voucher, VoucherLine
from ml_connector.domain.supplier_invoice import (
    DocumentType,
    SupplierInvoiceLine,
    SupplierInvoiceVoucher,
    VatDetail,
)
from ml_connector.domain.supplier_payment import (
    AppliedType,
    PaymentApplication,
    SupplierPaymentVoid,
    SupplierPaymentVoucher,
)

JOURNAL = "journal"
SUPPLIER_INVOICE = "supplier_invoice"
SUPPLIER_PAYMENT = "supplier_payment"
SUPPLIER_PAYMENT_VOID = "supplier_payment_void"
# The kinds posted as Visma supplier payments (the payment-side target).
PAYMENT_KINDS = (SUPPLIER_PAYMENT, SUPPLIER_PAYMENT_VOID)

AnyVoucher = Voucher | SupplierInvoiceVoucher | SupplierPaymentVoucher | SupplierPaymentVoid


def encode_voucher(voucher: AnyVoucher) -> dict[str, Any]:
    """The JSON the ledger stores for ``voucher`` (Decimals as exact text, dates ISO)."""
    if isinstance(voucher, SupplierPaymentVoucher):
        return _encode_payment(voucher)
    if isinstance(voucher, SupplierPaymentVoid):
        return {
            "kind": SUPPLIER_PAYMENT_VOID,
            "payment": voucher.payment,
            "supplier": voucher.supplier,
            "reference": voucher.reference,
            "void_date": voucher.void_date.isoformat(),
            "currency": voucher.currency,
            "amount": _text(voucher.amount),
            "financial_period": voucher.financial_period,
        }
    if isinstance(voucher, Voucher):
        return {
            "kind": JOURNAL,
            "transaction_date": voucher.transaction_date.isoformat(),
            "financial_period": voucher.financial_period,
            "currency": voucher.currency,
            "description": voucher.description,
            "reference": voucher.reference,
            "exchange_rate": _text(voucher.exchange_rate),
            "branch": voucher.branch,
            "ledger": voucher.ledger,
            "lines": [
                {
                    "account": ln.account,
                    "debit": _text(ln.debit),
                    "credit": _text(ln.credit),
                    "reference": ln.reference,
                    "description": ln.description,
                    "subaccount": _segments(ln.subaccount),
                    "vat_code": ln.vat_code,
                }
                for ln in voucher.lines
            ],
        }
    return {
        "kind": SUPPLIER_INVOICE,
        "supplier": voucher.supplier,
        "supplier_reference": voucher.supplier_reference,
        "document_type": voucher.document_type,
        "document_date": voucher.document_date.isoformat(),
        "financial_period": voucher.financial_period,
        "currency": voucher.currency,
        "due_date": _day(voucher.due_date),
        "credit_terms": voucher.credit_terms,
        "exchange_rate": _text(voucher.exchange_rate),
        "payment_reference": voucher.payment_reference,
        "note": voucher.note,
        "description": voucher.description,
        "pay_selected": voucher.pay_selected,
        "lines": [
            {
                "account": ln.account,
                "amount": _text(ln.amount),
                "description": ln.description,
                "subaccount": _segments(ln.subaccount),
                "vat_code": ln.vat_code,
            }
            for ln in voucher.lines
        ],
        "vat": [
            {"vat_code": d.vat_code, "taxable": _text(d.taxable), "amount": _text(d.amount)}
            for d in voucher.vat
        ],
    }


def _encode_payment(voucher: SupplierPaymentVoucher) -> dict[str, Any]:
    return {
        "kind": SUPPLIER_PAYMENT,
        "supplier": voucher.supplier,
        "reference": voucher.reference,
        "payment_date": voucher.payment_date.isoformat(),
        "currency": voucher.currency,
        "amount": _text(voucher.amount),
        "cash_account": voucher.cash_account,
        "payment_method": voucher.payment_method,
        "description": voucher.description,
        "financial_period": voucher.financial_period,
        "applications": [
            {
                "document_type": a.document_type,
                "document_number": a.document_number,
                "amount": _text(a.amount),
                "cash_discount": _text(a.cash_discount),
            }
            for a in voucher.applications
        ],
    }


def _decode_payment(stored: Mapping[str, Any]) -> SupplierPaymentVoucher:
    return SupplierPaymentVoucher(
        supplier=str(stored["supplier"]),
        reference=str(stored["reference"]),
        payment_date=date.fromisoformat(stored["payment_date"]),
        currency=str(stored["currency"]),
        amount=Decimal(stored["amount"]),
        cash_account=stored.get("cash_account"),
        payment_method=stored.get("payment_method"),
        description=stored.get("description"),
        financial_period=str(stored.get("financial_period") or ""),
        applications=tuple(
            PaymentApplication(
                document_type=cast(AppliedType, a["document_type"]),
                document_number=str(a["document_number"]),
                amount=Decimal(a["amount"]),
                cash_discount=Decimal(a.get("cash_discount") or 0),
            )
            for a in stored["applications"]
        ),
    )


def is_encoded(stored: Mapping[str, Any] | None) -> bool:
    """True for this module's form; False for nothing stored or an older ledger's wire body."""
    return (
        bool(stored)
        and stored is not None
        and stored.get("kind") in (JOURNAL, SUPPLIER_INVOICE, *PAYMENT_KINDS)
    )


def decode_voucher(stored: Mapping[str, Any]) -> AnyVoucher:
    """The domain voucher back from ``encode_voucher``'s form; ValueError for anything else."""
    kind = stored.get("kind")
    if kind == JOURNAL:
        return Voucher(
            transaction_date=date.fromisoformat(stored["transaction_date"]),
            financial_period=str(stored["financial_period"]),
            currency=str(stored["currency"]),
            description=str(stored["description"]),
            reference=str(stored["reference"]),
            exchange_rate=_dec(stored.get("exchange_rate")),
            branch=stored.get("branch"),
            ledger=stored.get("ledger"),
            lines=tuple(
                VoucherLine(
                    account=str(ln["account"]),
                    debit=Decimal(ln["debit"]),
                    credit=Decimal(ln["credit"]),
                    reference=str(ln["reference"]),
                    description=str(ln["description"]),
                    subaccount=_unsegments(ln.get("subaccount")),
                    vat_code=ln.get("vat_code"),
                )
                for ln in stored["lines"]
            ),
        )
    if kind == SUPPLIER_INVOICE:
        return SupplierInvoiceVoucher(
            supplier=str(stored["supplier"]),
            supplier_reference=str(stored["supplier_reference"]),
            document_type=cast(DocumentType, stored["document_type"]),
            document_date=date.fromisoformat(stored["document_date"]),
            financial_period=str(stored["financial_period"]),
            currency=str(stored["currency"]),
            due_date=_undate(stored.get("due_date")),
            credit_terms=stored.get("credit_terms"),
            exchange_rate=_dec(stored.get("exchange_rate")),
            payment_reference=stored.get("payment_reference"),
            note=stored.get("note"),
            description=stored.get("description"),
            pay_selected=stored.get("pay_selected") is True,  # absent in vouchers stored before it
            lines=tuple(
                SupplierInvoiceLine(
                    account=str(ln["account"]),
                    amount=Decimal(ln["amount"]),
                    description=str(ln["description"]),
                    subaccount=_unsegments(ln.get("subaccount")),
                    vat_code=ln.get("vat_code"),
                )
                for ln in stored["lines"]
            ),
            vat=tuple(
                VatDetail(str(d["vat_code"]), Decimal(d["taxable"]), Decimal(d["amount"]))
                for d in stored.get("vat") or []
            ),
        )
    if kind == SUPPLIER_PAYMENT:
        return _decode_payment(stored)
    if kind == SUPPLIER_PAYMENT_VOID:
        return SupplierPaymentVoid(
            payment=str(stored["payment"]),
            supplier=str(stored["supplier"]),
            reference=str(stored["reference"]),
            void_date=date.fromisoformat(stored["void_date"]),
            currency=str(stored["currency"]),
            amount=Decimal(stored["amount"]),
            financial_period=str(stored.get("financial_period") or ""),
        )
    raise ValueError(f"not a stored voucher (kind {kind!r})")


def _text(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def _dec(value: object) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value))


def _day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _undate(value: object) -> date | None:
    return None if not value else date.fromisoformat(str(value))


def _segments(segments: tuple[Segment, ...]) -> list[dict[str, Any]]:
    return [{"segment_id": s.segment_id, "value": s.value} for s in segments]


def _unsegments(raw: object) -> tuple[Segment, ...]:
    items = raw if isinstance(raw, list) else []
    return tuple(Segment(int(s["segment_id"]), str(s["value"])) for s in items)
