"""Never twice as a supplier payment: before a first create, and to settle an unknown outcome.

The supplier payments' twin of ``pipeline/supplier_booked.py``. Our reference (``SP-…``) travels in
the payment's ``paymentRef``; ``SupplierPaymentsTarget.existing`` reads the supplier's payments of
the payment date with that reference (complete or an error):

A void's lookup is the VoidPayment of its payment (Visma gives it the original's number).

- before any first create of the cycle (``adopt_payments``), a pending payment found there is ours
  from an earlier (lost or restored) ledger: adopted (``found_in_visma``), never sent again;
- an unknown create (``settle_supplier_payments``) found there is settled as created or posted;
  not found, it is pending again (safe to post);
- a read that does not finish concludes nothing: before a first create it stops this cycle's posting
  (``LookupIncomplete``), and unknown payments stay unknown.
"""

from __future__ import annotations

import logging

from ml_connector.domain.booked import Booked
from ml_connector.domain.problems import Unpostable
from ml_connector.domain.stored import StoredDocument
from ml_connector.domain.supplier_payment import SupplierPaymentVoid, SupplierPaymentVoucher
from ml_connector.domain.voucher_codec import PAYMENT_KINDS, decode_voucher, encode_voucher
from ml_connector.errors import AmbiguousDestinationError, RetriableDestinationError
from ml_connector.ledger.states import DocStatus
from ml_connector.pipeline.booked import LookupIncomplete
from ml_connector.pipeline.masterdata import MasterData
from ml_connector.pipeline.ports import SupplierPaymentsTarget, VismaPort
from ml_connector.pipeline.posting import (
    PostingStats,
    finish_created,
    payments_target,
    settle_document,
    status_when_found,
    unknown_to_settle,
)
from ml_connector.pipeline.runtime import Runtime
from ml_connector.pipeline.settlement import NotYet
from ml_connector.pipeline.supplier_payments import (
    supplier_payment_void,
    supplier_payment_voucher,
    uses_supplier_payments,
)

log = logging.getLogger("ml_connector.supplier_payment_booked")


PaymentSide = SupplierPaymentVoucher | SupplierPaymentVoid


async def ours_in_visma(target: SupplierPaymentsTarget, voucher: PaymentSide) -> list[Booked]:
    """Our documents in Visma for ``voucher``, by number: a payment's by supplier, date and our
    paymentRef; a void's, the VoidPayment of its payment. Raises LookupIncomplete when the read fails."""
    try:
        if isinstance(voucher, SupplierPaymentVoid):
            found = await target.voids(voucher.supplier, voucher.void_date, voucher.payment)
        else:
            found = await target.existing(voucher.supplier, voucher.payment_date, voucher.reference)
    except (RetriableDestinationError, AmbiguousDestinationError) as exc:
        raise LookupIncomplete(f"supplier payment {voucher.reference}: {exc}") from exc
    kind = "VoidPayment/" if isinstance(voucher, SupplierPaymentVoid) else "Payment/"
    return sorted((b for b in found if b.number.startswith(kind)), key=lambda b: b.number)


def payment_side_voucher(rt: Runtime, row: StoredDocument, md: MasterData) -> PaymentSide | None:
    """The supplier payment (or void) a pending document becomes; None when it is not one, or cannot
    be built now (posting parks it with the reason, or it waits)."""
    try:
        if uses_supplier_payments(rt.config, row.kind):
            return supplier_payment_voucher(rt.ledger, row, md, rt.config)
        if row.kind == "payment_void" and rt.config.posting.target == "supplier_invoice":
            return supplier_payment_void(rt.ledger, row, md, rt.config)
    except (Unpostable, NotYet):
        return None
    return None


async def adopt_payments(rt: Runtime, visma: VismaPort, md: MasterData, stats: PostingStats) -> None:
    """Before any first create of the cycle: adopt our own supplier payments (and voids) already in
    Visma."""
    for row in rt.ledger.documents_with_status(rt.name, [DocStatus.PENDING]):
        voucher = payment_side_voucher(rt, row, md)
        if voucher is None:
            continue
        ours = await ours_in_visma(payments_target(visma), voucher)
        if ours:
            await _adopt(rt, visma, row, voucher, ours, stats)


async def _adopt(
    rt: Runtime,
    visma: VismaPort,
    row: StoredDocument,
    voucher: PaymentSide,
    ours: list[Booked],
    stats: PostingStats,
) -> None:
    first = ours[0]
    if len(ours) > 1:
        stats.duplicates_found += len(ours) - 1
        log.error("payment reference %s found in %d Visma supplier payments", voucher.reference, len(ours))
    target = status_when_found(rt, first.status)
    if not rt.ledger.transition(
        row.id,
        "found_in_visma",
        target,
        actor=rt.actor,
        reason=f"supplier payment {voucher.reference} found in Visma as {first.number} ({first.status}): "
        "found in Visma, not sent again",
        details={"documents": [b.number for b in ours]},
        batch_number=first.number,
        voucher=encode_voucher(voucher),
        period=voucher.financial_period,
        etag=first.etag,
    ):
        return  # another worker moved it meanwhile
    stats.already_in_visma += 1
    if target == DocStatus.CREATED:
        await finish_created(rt, visma, rt.ledger.document_by_id(row.id), stats)


async def settle_supplier_payments(rt: Runtime, visma: VismaPort, stats: PostingStats) -> None:
    """Unknown creates of supplier payments: found -> created or posted; not found -> pending. A
    failed read leaves them unknown until the next cycle. Runs right after ``settle_supplier_ledger``."""
    for row in unknown_to_settle(rt):
        voucher = decode_voucher(row.voucher or {}) if is_supplier_payment(row) else None
        if not isinstance(voucher, SupplierPaymentVoucher | SupplierPaymentVoid):
            continue
        try:
            ours = await ours_in_visma(payments_target(visma), voucher)
        except LookupIncomplete as exc:
            log.warning("unknown supplier payment stays unknown: %s", exc)
            continue
        what = f"supplier payment {voucher.reference} of supplier {voucher.supplier}"
        await settle_document(rt, visma, row, ours, payments_target(visma), what, stats)


def is_supplier_payment(row: StoredDocument) -> bool:
    """Posted (or being posted) as a Visma supplier payment or its void."""
    return (row.voucher or {}).get("kind") in PAYMENT_KINDS
