"""Only a payment Stampli reports as PAID is booked (issue 19 point 2), over the real servers.

SCHEDULED and FAILED payments are skipped with their reason (counted in the run summary, stored
as ``skipped`` with the reason in the audit trail); the PAID ones and the invoices post once.
"""

from __future__ import annotations

import asyncio

from ml_connector import service
from ml_connector.ledger.store import DocStatus
from tests.pipeline.conftest import Connection, Dataset


def test_scheduled_and_failed_payments_are_skipped_not_booked(connection: Connection) -> None:
    c = connection
    ds = Dataset.make(20)
    ids = ds.invoice_ids
    payments = sorted({r["stampliPaymentId"] for r in ds.payment_rows})
    assert len(payments) >= 3
    status = {payments[0]: "SCHEDULED", payments[1]: "FAILED"}
    rows = [
        dict(r, paymentStatus=status.get(r["stampliPaymentId"], r["paymentStatus"])) for r in ds.payment_rows
    ]
    c.put_invoices("stampli_invoices_C100234_20250331T071500Z_0001.csv", ds.invoices_text(ids))
    c.put_payments("stampli_payments_C100234_20250331T073000Z_0001.csv", ds.payments_text(rows))
    app = c.open_app()

    [result] = asyncio.run(service.run_once(app, c.name))
    assert result.status == "ok", result.errors
    assert result.intake.skipped == 2
    assert result.intake.records_rejected == 0
    for pid, why in status.items():
        doc = app.ledger.document(c.name, f"PAY:{pid}")
        assert doc is not None and doc.status == DocStatus.SKIPPED
        reason = app.ledger.audit_trail("document", doc.doc_key)[0].reason or ""
        assert why in reason and "PAID" in reason, reason

    expected = ds.expected(ids, payments=False)
    paid = ds.expected([], payments=True)
    expected.update({ref: amount for ref, amount in paid.items() if ref.removeprefix("SP-") not in status})
    c.assert_exactly_once(expected)
