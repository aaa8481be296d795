"""Accounting completeness over the real servers (issue 16, journal mode): a reverse-charge invoice in
EUR paid at another rate, a NOK invoice paid with an early-payment discount, and a EUR invoice paid
in three parts at three rates. After one cycle the clearing account of each fully paid invoice is
exactly zero in the company currency in what the Visma simulator holds, every batch balances in both
currencies, and reconcile finds nothing unexplained."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from decimal import Decimal
from typing import Any

from ml_connector import service
from ml_connector.demo.generate import INVOICE_COLUMNS, PAYMENT_COLUMNS
from ml_connector.ledger.store import DocStatus
from ml_connector.pipeline.reconcile import totals
from tests.pipeline.conftest import Connection, _csv
from tests.pipeline.test_fresh_ledger import _second_folder

D = Decimal
ACCOUNTING = """\
discount_account = "3090"
exchange_gain_account = "8060"
exchange_loss_account = "8160"
rounding_account = "7790"
rounding_max = "0.05"
"""
REVERSE_CHARGE = '\n[connections.{name}.mapping.reverse_charge]\n"86" = ["2720", "2740", "25"]\n'


def _invoice(iid: str, currency: str, rate: str, net: str, tax: str, code: str, gl: str) -> dict[str, str]:
    total = str(D(net) + D(tax))
    return {
        "stampliCompanyId": "C100234",
        "stampliInvoiceId": iid,
        "documentType": "INVOICE",
        "invoiceNumber": f"F-{iid}",
        "vendorId": "10023",
        "vendorName": "Nordlys Kontorrekvisita AS",
        "invoiceDate": "2025-03-03",
        "dueDate": "2025-03-31",
        "currency": currency,
        "exchangeRate": rate,
        "subtotalAmount": net,
        "taxAmount": tax,
        "totalAmount": total,
        "approvalStatus": "APPROVED",
        "approvedAt": "2025-03-04T10:00:00Z",
        "exportedAt": "2025-03-10T07:15:00Z",
        "lineNumber": "1",
        "lineType": "GL",
        "glAccount": gl,
        "lineNetAmount": net,
        "taxCode": code,
        "taxRate": "25.00" if D(tax) else "0.00",
        "lineTaxAmount": tax,
        "department": "200",
    }


def reverse_charge_rows(iid: str) -> list[dict[str, str]]:
    """An invoice of services bought abroad (tax code 86, reverse charge: net 10,000.00 NOK, no VAT
    charged) with a domestic 25 % line on the same invoice (2,000.00 + 500.00): Stampli's total is
    12,500.00, what the supplier is owed."""
    abroad = _invoice(iid, "NOK", "1.0000", "10000.00", "0.00", "86", "6790")
    header = {"subtotalAmount": "12000.00", "taxAmount": "500.00", "totalAmount": "12500.00"}
    domestic = {
        **abroad,
        **header,
        "lineNumber": "2",
        "glAccount": "6800",
        "lineNetAmount": "2000.00",
        "taxCode": "1",
        "taxRate": "25.00",
        "lineTaxAmount": "500.00",
    }
    return [{**abroad, **header}, domestic]


def _payment(
    pid: str, iid: str, currency: str, rate: str, amount: str, applied: str, discount: str = "0.00"
) -> dict[str, str]:
    return {
        "stampliCompanyId": "C100234",
        "stampliPaymentId": pid,
        "paymentNumber": f"PMT-{pid}",
        "paymentDate": "2025-03-20",
        "paymentMethod": "BANK_TRANSFER",
        "paymentStatus": "PAID",
        "bankAccount": "DNB-EUR-1503.99.12345" if currency == "EUR" else "DNB-1503.12.34567",
        "paymentCurrency": currency,
        "paymentAmount": amount,
        "exchangeRate": rate,
        "vendorId": "10023",
        "vendorName": "Nordlys Kontorrekvisita AS",
        "stampliInvoiceId": iid,
        "invoiceNumber": f"F-{iid}",
        "documentType": "INVOICE",
        "invoiceCurrency": "EUR" if iid != "A2" else "NOK",
        "appliedAmount": applied,
        "discountAmount": discount,
        "exportedAt": "2025-03-21T05:30:00Z",
    }


def _with_accounting(c: Connection) -> None:
    text = c.config_path.read_text(encoding="utf-8")
    text = text.replace('default_bank_account = "1920"\n', 'default_bank_account = "1920"\n' + ACCOUNTING)
    c.config_path.write_text(text + REVERSE_CHARGE.format(name=c.name), encoding="utf-8")


def _base_by_reference(batches: list[dict[str, Any]], account: str) -> dict[str, Decimal]:
    """Net debit on ``account`` in the company currency, per reference, as Visma holds it."""
    out: dict[str, Decimal] = defaultdict(Decimal)
    for batch in batches:
        for ln in batch["journalTransactionLines"]:
            if ln["accountNumber"] == account:
                out[ln["referenceNumber"]] += D(str(ln["debitAmount"])) - D(str(ln["creditAmount"]))
    return out


def test_fully_paid_invoices_leave_zero_on_the_clearing_account_in_company_currency(
    connection: Connection,
) -> None:
    c = connection
    c.write_config()
    _with_accounting(c)
    c.sim.add_account("3090", "Rabatt mottatt", "Income")
    c.sim.add_account("7790", "Øreavrunding", "Expense")
    invoices = [
        _invoice("A1", "EUR", "11.50", "1000.00", "0.00", "86", "6790"),  # reverse charge, EUR
        _invoice("A2", "NOK", "1.0000", "800.00", "200.00", "1", "6800"),  # paid with a discount
        _invoice("A3", "EUR", "10.0155", "100.01", "0.00", "", "6800"),  # paid in three parts
    ]
    payments = [
        _payment("P1", "A1", "EUR", "11.20", "1000.00", "1000.00"),
        _payment("P2", "A2", "NOK", "1.000000", "980.00", "980.00", "20.00"),
        _payment("P3", "A3", "EUR", "10.10", "33.33", "33.33"),
        _payment("P4", "A3", "EUR", "9.90", "33.33", "33.33"),
        _payment("P5", "A3", "EUR", "10.0155", "33.35", "33.35"),
    ]
    c.put_invoices("stampli_invoices_C100234_20250310T071500Z_0001.csv", _csv(INVOICE_COLUMNS, invoices))
    c.put_payments("stampli_payments_C100234_20250321T053000Z_0001.csv", _csv(PAYMENT_COLUMNS, payments))
    app = c.open_app()

    [result] = asyncio.run(service.run_once(app, c.name))
    assert result.status == "ok", result.errors
    statuses = {d.doc_key: d.status for d in app.ledger.all_documents(c.name)}
    assert set(statuses.values()) == {DocStatus.POSTED}, statuses

    batches = [
        b for b in c.sim.journal() if b["journalTransactionLines"][0]["referenceNumber"][:3] in ("ST-", "SP-")
    ]
    assert len(batches) == 8
    for b in batches:  # balanced in the batch currency and in the company currency
        assert D(str(b["debitTotalInCurrency"])) == D(str(b["creditTotalInCurrency"])), b["batchNumber"]
        assert D(str(b["debitTotal"])) == D(str(b["creditTotal"])), b["batchNumber"]

    clearing = _base_by_reference(batches, "2460")
    assert clearing["ST-A1"] == D("-11500.00") and clearing["SP-P1"] == D("11500.00")
    assert clearing["ST-A2"] + clearing["SP-P2"] == 0
    assert clearing["ST-A3"] == D("-1001.65")
    assert clearing["SP-P3"] + clearing["SP-P4"] + clearing["SP-P5"] == D("1001.65")
    # the reverse-charge VAT of A1 (25 % of 1000.00 EUR at 11.50), the gain of P1, the discount of P2
    assert _base_by_reference(batches, "2720")["ST-A1"] == D("2875.00")
    assert _base_by_reference(batches, "2740")["ST-A1"] == D("-2875.00")
    assert _base_by_reference(batches, "8060")["SP-P1"] == D("-300.00")
    assert _base_by_reference(batches, "3090")["SP-P2"] == D("-20.00")
    p4 = _base_by_reference(batches, "8160")["SP-P4"] + _base_by_reference(batches, "8060")["SP-P4"]
    # P4 clears 66.66 - 33.33 EUR cumulatively at 10.0155 (667.63 - 333.82 = 333.81) and pays
    # 33.33 x 9.90 = 329.97: a gain of 3.84, credited
    assert clearing["SP-P4"] == D("333.81") and p4 == D("-3.84")

    [rows] = asyncio.run(service.reconcile_period(app, "2025-03", c.name)).values()
    counts = totals(rows)
    assert counts["matched"] == 8, [(r.doc_key, r.outcome, r.detail) for r in rows]
    assert sum(counts.values()) == 8

    # A fresh ledger (another machine, same files) builds the same vouchers, finds every reference
    # in Visma and adopts it: the payments' invoice facts come from its own ledger, nothing is sent.
    second = _second_folder(c)
    _with_accounting(second)
    c.sim.reset_stats()
    [again] = asyncio.run(service.run_once(second.open_app(), c.name))
    assert again.status == "ok", again.errors
    assert c.sim.stats()["requests"].get("POST /v2/journaltransaction", 0) == 0
    assert again.posting.already_in_visma == 8
    held = c.batches_by_reference()
    assert len(held) == 8 and all(len(found) == 1 for found in held.values())
