"""Who pays, and supplier payments, over real servers (OpenSSH sshd, the Visma simulator over HTTP,
a SQLite ledger).

``payments.source = "visma"``: Visma pays the suppliers, so Stampli's payment files are read and
every payment (and void) is recorded as skipped with the reason, never posted, on either target; in
supplier-ledger mode each invoice is created approved for payment (``paySelected``).

``payments.source = "stampli"`` in supplier-ledger mode: each payment is one released Visma supplier
payment applied to the invoices it pays; one read before its invoices are in Visma waits and replays
by itself; SIGKILL at each boundary then a restart, and a fresh ledger, never post one twice."""

from __future__ import annotations

import asyncio
import json
import signal
from decimal import Decimal
from typing import Any

import pytest

from ml_connector import service
from ml_connector.demo.generate import INVOICE_COLUMNS, PAYMENT_COLUMNS
from ml_connector.ledger.store import DocStatus
from ml_connector.pipeline.cycle import CycleResult
from ml_connector.pipeline.reconcile import totals
from ml_connector.pipeline.who_pays import VISMA_PAYS
from tests.pipeline.conftest import Connection, ConnectionFactory, Dataset, _csv, cycles_until_settled
from tests.pipeline.test_accounting_cycle import _payment, reverse_charge_rows
from tests.pipeline.test_fresh_ledger import _second_folder

INVOICES = "stampli_invoices_C100234_20250331T071500Z_0001.csv"
PAYMENTS = "stampli_payments_C100234_20250331T073000Z_0001.csv"
VOIDS = "stampli_payments_C100234_20250331T083000Z_0002.csv"
PAYMENT_KINDS = ("payment", "payment_void")


def _cycle(app: service.App, name: str) -> CycleResult:
    [result] = asyncio.run(service.run_once(app, name))
    assert result.status == "ok", result.errors
    return result


def _put_all(c: Connection, ds: Dataset) -> None:
    c.put_invoices(INVOICES, ds.invoices_text(ds.invoice_ids))
    c.put_payments(PAYMENTS, ds.payments_text())
    c.put_payments(VOIDS, ds.voids_text())


def _assert_payments_skipped(app: service.App, c: Connection, ds: Dataset) -> None:
    """Every payment and void of the files is in the ledger, skipped, with the reason as its audit."""
    payments = [d for d in app.ledger.all_documents(c.name) if d.kind in PAYMENT_KINDS]
    assert len(payments) == len(ds.payment_rows) + len(ds.void_rows) > 0
    assert {d.status for d in payments} == {DocStatus.SKIPPED}
    for d in payments:
        reasons = [row.reason for row in app.ledger.audit_trail("document", d.doc_key)]
        assert VISMA_PAYS in reasons, (d.doc_key, reasons)


@pytest.mark.parametrize("ledger_url", ["sqlite"], indirect=True)
def test_supplier_ledger_posts_no_payment_and_creates_invoices_ready_for_payment(
    connection_factory: ConnectionFactory,
) -> None:
    c = connection_factory(target="supplier_invoice", payments_source="visma")
    ds = Dataset.make(8, missing=0)
    assert ds.payment_rows and ds.void_rows
    _put_all(c, ds)
    app = c.open_app()
    first = _cycle(app, c.name)
    assert first.posting.posted == len(ds.invoice_ids)  # the invoices only
    assert first.intake.skipped == len(ds.payment_rows) + len(ds.void_rows)
    assert c.sim.supplier_payments() == [] and c.sim.journal() == []
    documents = c.supplier_documents()
    assert sorted(documents) == sorted(f"ST-{i}" for i in ds.invoice_ids)
    assert all(d["paySelected"] is True for ds_ in documents.values() for d in ds_)
    _assert_payments_skipped(app, c, ds)
    again = _cycle(app, c.name)
    assert again.posting.posted == 0 and again.intake.skipped == 0
    assert c.sim.supplier_payments() == [] and c.sim.journal() == []


@pytest.mark.parametrize("ledger_url", ["sqlite"], indirect=True)
def test_journal_target_posts_the_invoices_and_no_payment(connection_factory: ConnectionFactory) -> None:
    c = connection_factory(payments_source="visma")
    ds = Dataset.make(6, missing=0)
    _put_all(c, ds)
    app = c.open_app()
    result = _cycle(app, c.name)
    assert result.posting.posted == len(ds.invoice_ids)
    # exactly the invoices' batches: no payment (SP-) nor void (SPV-) reference in Visma
    c.assert_exactly_once(ds.expected(ds.invoice_ids, payments=False))
    _assert_payments_skipped(app, c, ds)


@pytest.mark.parametrize("ledger_url", ["sqlite"], indirect=True)
def test_preview_shows_each_payment_skipped_with_the_reason(connection_factory: ConnectionFactory) -> None:
    c = connection_factory(target="supplier_invoice", payments_source="visma")
    ds = Dataset.make(4, missing=0)
    local = c.workdir / "stampli_payments_C100234_preview.csv"
    local.write_text(ds.payments_text(), encoding="utf-8", newline="")
    shown = c.cli("preview", str(local), "--json")
    assert shown.returncode == 0, shown.stderr
    documents = json.loads(shown.stdout)["documents"]
    assert len(documents) == len(ds.payment_rows) > 0
    assert {(d["action"], d["detail"]) for d in documents} == {("skip", VISMA_PAYS)}


# ------------------------------------------------------------ payments.source = "stampli" (supplier ledger)


@pytest.mark.parametrize("ledger_url", ["sqlite"], indirect=True)
def test_stampli_payments_become_released_supplier_payments_applied_to_their_invoices(
    connection_factory: ConnectionFactory,
) -> None:
    c = connection_factory(target="supplier_invoice")
    ds = Dataset.make(12, missing=0)
    c.put_payments(PAYMENTS, ds.payments_text())  # the payments arrive before their invoices
    app = c.open_app()
    first = _cycle(app, c.name)
    waiting = [f for f in app.ledger.open_failures(c.name) if f.code == "invoice_not_in_visma"]
    assert first.posting.posted == 0 and len(waiting) == len(ds.payment_rows) > 0
    assert "not released in Visma's supplier ledger yet" in str(waiting[0].reason)
    assert c.sim.supplier_payments() == []
    c.put_invoices(INVOICES, ds.invoices_text(ds.invoice_ids))
    # The invoices post, and the payments that waited for them are replayed by themselves right after,
    # in the same cycle.
    arrived = _cycle(app, c.name)
    assert arrived.posting.auto_replayed == len(ds.payment_rows)
    asyncio.run(cycles_until_settled(app, c.name))
    payments = c.sim.supplier_payments()
    # every payment in Visma exactly once, released; the SEK one from the SEK cash account (1922)
    by_ref: dict[str, list[dict[str, Any]]] = {}
    for p in payments:
        by_ref.setdefault(str(p["paymentRef"]), []).append(p)
    assert sorted(by_ref) == sorted(f"SP-{r['stampliPaymentId']}" for r in ds.payment_rows)
    assert all(len(ps) == 1 for ps in by_ref.values()), by_ref  # exactly once
    cash = {"NOK": "1920", "EUR": "1921", "SEK": "1922"}
    for row in ds.payment_rows:
        [p] = by_ref[f"SP-{row['stampliPaymentId']}"]
        assert p["status"] == "Closed" and p["type"] == "Payment", p
        assert Decimal(str(p["paymentAmount"])) == Decimal(row["paymentAmount"])
        assert p["cashAccount"] == cash[row["paymentCurrency"]], p
    assert "SEK" in {r["paymentCurrency"] for r in ds.payment_rows}
    assert c.sim.journal() == []  # nothing booked as a journal transaction in this mode
    # each paid document's balance is its amount less what the payments applied to it: 0 and Closed
    # when paid in full
    docs = {(d["documentType"], d["referenceNumber"]): d for d in c.sim.supplier_ledger()["documents"]}
    applied: dict[tuple[str, str], Decimal] = {}
    for p in payments:
        for ln in p["paymentLines"]:
            key = (ln["docType"], ln["invoiceRefNbr"])
            applied[key] = applied.get(key, Decimal(0)) + Decimal(str(ln["amountPaid"]))
    assert applied
    for key, paid in applied.items():
        rest = Decimal(str(docs[key]["amount"])) - paid
        assert Decimal(str(docs[key]["balanceInCurrency"])) == rest, docs[key]
        assert docs[key]["status"] == ("Closed" if rest == 0 else "Open"), docs[key]
    assert all(d.status == DocStatus.POSTED for d in app.ledger.all_documents(c.name))
    again = _cycle(app, c.name)
    assert again.posting.posted == 0 and len(c.sim.supplier_payments()) == len(payments)


def _with_payments(factory: ConnectionFactory) -> tuple[Connection, Dataset]:
    """A supplier-ledger connection with 12 invoices and their payments in Stampli's folders."""
    c = factory(target="supplier_invoice")
    ds = Dataset.make(12, missing=0)
    c.put_invoices(INVOICES, ds.invoices_text(ds.invoice_ids))
    c.put_payments(PAYMENTS, ds.payments_text())
    return c, ds


def _sent_payments(c: Connection) -> dict[str, int]:
    """paymentRef -> how many Payment documents Visma holds with it."""
    out: dict[str, int] = {}
    for p in c.sim.supplier_payments():
        if p["type"] == "Payment":
            out[str(p["paymentRef"])] = out.get(str(p["paymentRef"]), 0) + 1
    return out


def _postable(ds: Dataset) -> set[str]:
    """Every payment: each currency's bank account maps to a cash account in that currency."""
    return {f"SP-{r['stampliPaymentId']}" for r in ds.payment_rows}


def _run(c: Connection) -> dict[str, object]:
    done = c.cli("run", "--json")
    assert done.returncode == 0, f"rc={done.returncode}\n{done.stdout}\n{done.stderr}"
    [summary] = json.loads(done.stdout)
    assert summary["status"] == "ok", summary
    return dict(summary)


@pytest.mark.parametrize("ledger_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("boundary", ["after_claim", "after_record", "after_release", "after_send"])
def test_sigkill_at_each_boundary_then_restart_posts_each_payment_once(
    connection_factory: ConnectionFactory, boundary: str
) -> None:
    c = connection_factory(target="supplier_invoice")
    ds = Dataset.make(12, missing=0)
    c.put_invoices(INVOICES, ds.invoices_text(ds.invoice_ids))
    _run(c)  # the invoices, released
    c.put_payments(PAYMENTS, ds.payments_text())
    crashed = c.cli("run", "--json", crash_at=f"{boundary}:2")
    assert crashed.returncode == -signal.SIGKILL, f"rc={crashed.returncode}\n{crashed.stderr}"
    before = _sent_payments(c)
    assert all(n == 1 for n in before.values())
    if boundary != "after_claim":  # killed after a create reached Visma (claims run concurrently)
        assert before
    for _ in range(2):  # a claim killed mid-create is looked up, then posted or adopted; then nothing
        summary = _run(c)
    assert _sent_payments(c) == dict.fromkeys(_postable(ds), 1), summary


@pytest.mark.parametrize("ledger_url", ["sqlite"], indirect=True)
def test_a_fresh_ledger_adopts_the_payments_and_sends_none_again(
    connection_factory: ConnectionFactory,
) -> None:
    first, ds = _with_payments(connection_factory)
    _run(first)  # the invoices, then in the same cycle the payments
    assert _sent_payments(first) == dict.fromkeys(_postable(ds), 1)

    second = _second_folder(first)  # another machine, an empty ledger
    second.write_config(target="supplier_invoice")
    for _ in range(2):  # adopts everything in the first; the second finds nothing left to send
        _run(second)
    assert _sent_payments(first) == dict.fromkeys(_postable(ds), 1)  # nothing sent twice
    app = second.open_app()
    adopted = app.ledger.keys_with_action(second.name, "found_in_visma")
    assert {f"SP-{k.split(':')[1]}" for k in adopted if k.startswith("PAY:")} == _postable(ds)


def _void_outcome(c: Connection, ds: Dataset) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(the voided payment, its VoidPayment, the invoice it paid) as Visma holds them."""
    [void_row] = ds.void_rows
    ref = f"SP-{void_row['stampliPaymentId']}"
    payments = c.sim.supplier_payments()
    [original] = [p for p in payments if p["type"] == "Payment" and p["paymentRef"] == ref]
    [void] = [p for p in payments if p["type"] == "VoidPayment"]
    [line] = original["paymentLines"]
    docs = c.sim.supplier_ledger()["documents"]
    [invoice] = [
        d
        for d in docs
        if (d["documentType"], d["referenceNumber"]) == (line["docType"], line["invoiceRefNbr"])
    ]
    return original, void, invoice


@pytest.mark.parametrize("ledger_url", ["sqlite"], indirect=True)
def test_a_void_of_a_posted_payment_is_a_released_void_payment_and_the_invoice_is_open_again(
    connection_factory: ConnectionFactory,
) -> None:
    c, ds = _with_payments(connection_factory)
    app = c.open_app()
    asyncio.run(cycles_until_settled(app, c.name))
    sent = len(c.sim.supplier_payments())
    c.put_payments(VOIDS, ds.voids_text())
    voided = _cycle(app, c.name)
    assert voided.posting.posted == 1
    original, void, invoice = _void_outcome(c, ds)
    assert original["status"] == "Voided" and void["status"] == "Closed"
    assert void["refNbr"] == original["refNbr"]  # the VoidPayment takes the original's number
    assert Decimal(str(void["paymentAmount"])) == -Decimal(str(original["paymentAmount"]))
    # the invoice the payment paid is owed in full again
    assert invoice["status"] == "Open"
    assert Decimal(str(invoice["balanceInCurrency"])) == Decimal(str(invoice["amount"])) > 0
    [row] = [d for d in app.ledger.all_documents(c.name) if d.kind == "payment_void"]
    assert row.status == DocStatus.POSTED and row.batch_number == f"VoidPayment/{original['refNbr']}"
    again = _cycle(app, c.name)
    assert again.posting.posted == 0 and len(c.sim.supplier_payments()) == sent + 1
    shown = c.cli("reconcile", "--period", "2025-03", "--format", "json")
    recon = {d["doc_key"]: d for d in json.loads(shown.stdout)["documents"]}
    assert recon[row.doc_key]["outcome"] == "matched", recon[row.doc_key]
    assert recon[row.doc_key.replace("PAYV:", "PAY:")]["outcome"] == "matched"
    assert json.loads(shown.stdout)["totals"]["amount_difference"] == 0


@pytest.mark.parametrize("ledger_url", ["sqlite"], indirect=True)
def test_sigkill_after_the_void_reached_visma_then_restart_finds_it_and_voids_once(
    connection_factory: ConnectionFactory,
) -> None:
    c, ds = _with_payments(connection_factory)
    _run(c)  # the invoices and, in the same cycle, their payments
    c.put_payments(VOIDS, ds.voids_text())
    crashed = c.cli("run", "--json", crash_at="after_send:1")  # the VoidPayment is created, not recorded
    assert crashed.returncode == -signal.SIGKILL, f"rc={crashed.returncode}\n{crashed.stderr}"
    assert [p["status"] for p in c.sim.supplier_payments() if p["type"] == "VoidPayment"] == ["Balanced"]
    for _ in range(2):  # the unknown void is looked up (the payment's voids), found, then released
        _run(c)
    original, void, invoice = _void_outcome(c, ds)  # exactly one VoidPayment (unpacking says so)
    assert original["status"] == "Voided" and void["status"] == "Closed" and invoice["status"] == "Open"
    app = c.open_app()
    [row] = [d for d in app.ledger.all_documents(c.name) if d.kind == "payment_void"]
    assert row.status == DocStatus.POSTED


def _pay(ds: Dataset, pid: str, apps: list[tuple[str, Decimal, Decimal]]) -> list[dict[str, str]]:
    """Payment ``pid``'s rows: one per (invoice id, applied, discount); its amount is what was applied."""
    template = ds.payment_rows[0]
    first = ds.invoice_rows[apps[0][0]][0]
    rows = []
    for invoice_id, applied, discount in apps:
        inv = ds.invoice_rows[invoice_id][0]
        rows.append(
            {
                **template,
                "stampliPaymentId": pid,
                "paymentNumber": f"PMT-{pid}",
                "paymentCurrency": first["currency"],
                "bankAccount": BANK_OF[first["currency"]],
                "paymentAmount": str(sum((a for _, a, _ in apps), Decimal(0))),
                "vendorId": inv["vendorId"],
                "vendorName": inv["vendorName"],
                "stampliInvoiceId": invoice_id,
                "invoiceNumber": inv["invoiceNumber"],
                "documentType": inv["documentType"],
                "invoiceCurrency": inv["currency"],
                "appliedAmount": str(applied),
                "discountAmount": str(discount),
            }
        )
    return rows


BANK_OF = {"NOK": "DNB-1503.12.34567", "SEK": "SEB-5000.00.58398", "EUR": "DNB-EUR-1503.99.12345"}


@pytest.mark.parametrize("ledger_url", ["sqlite"], indirect=True)
def test_partial_several_discounted_and_netted_payments_leave_the_exact_balances_in_visma(
    connection_factory: ConnectionFactory,
) -> None:
    c = connection_factory(target="supplier_invoice")
    ds = Dataset.make(20, missing=0)
    kinds = {i: rows[0]["documentType"] for i, rows in ds.invoice_rows.items()}
    [credit] = [i for i, k in kinds.items() if k == "CREDIT_NOTE"]
    vendor = ds.invoice_rows[credit][0]["vendorId"]
    netted = next(
        i for i, k in kinds.items() if k == "INVOICE" and ds.invoice_rows[i][0]["vendorId"] == vendor
    )
    partial, discounted = [i for i, k in kinds.items() if k == "INVOICE" and i != netted][:2]
    total = {i: ds.invoice_amount(i) for i in ds.invoice_ids}
    part = (total[partial] * Decimal("0.3")).quantize(Decimal("0.01"))
    first = _pay(ds, "91000001", [(partial, part, Decimal(0))])
    second = _pay(ds, "91000002", [(partial, total[partial] - part, Decimal(0))])
    discount = _pay(ds, "91000003", [(discounted, total[discounted] - Decimal("125.50"), Decimal("125.50"))])
    net = _pay(ds, "91000004", [(netted, total[netted], Decimal(0)), (credit, -total[credit], Decimal(0))])
    c.put_invoices(INVOICES, ds.invoices_text(ds.invoice_ids))
    c.put_payments(PAYMENTS, ds.payments_text([*first, *discount, *net]))
    app = c.open_app()
    asyncio.run(cycles_until_settled(app, c.name))

    def doc(invoice_id: str) -> tuple[str, Decimal]:
        [d] = [
            d
            for d in c.sim.supplier_ledger()["documents"]
            if d["description"].startswith(f"ST-{invoice_id} ")
        ]
        return str(d["status"]), Decimal(str(d["balanceInCurrency"]))

    assert doc(partial) == ("Open", total[partial] - part)  # 30 % paid, the rest open
    assert doc(discounted) == ("Closed", Decimal(0))  # paid + discount settle it in full
    assert doc(netted) == ("Closed", Decimal(0)) and doc(credit) == ("Closed", Decimal(0))
    by_ref = {p["paymentRef"]: p for p in c.sim.supplier_payments()}
    [line] = by_ref["SP-91000003"]["paymentLines"]
    assert Decimal(str(line["amountPaid"])) == total[discounted] - Decimal("125.50")
    assert Decimal(str(line["cashDiscountTaken"])) == Decimal("125.50")
    # the netting payment: what left the bank is the invoice less the credit note
    netting = by_ref["SP-91000004"]
    assert Decimal(str(netting["paymentAmount"])) == total[netted] - total[credit]
    assert sorted((ln["docType"], Decimal(str(ln["amountPaid"]))) for ln in netting["paymentLines"]) == [
        ("DebitAdj", total[credit]),
        ("Invoice", total[netted]),
    ]
    # the second payment of the part-paid invoice closes it
    c.put_payments(VOIDS, ds.payments_text(second))
    asyncio.run(cycles_until_settled(app, c.name))
    assert doc(partial) == ("Closed", Decimal(0))
    assert [d.status for d in app.ledger.all_documents(c.name) if d.kind == "payment"] == [
        DocStatus.POSTED
    ] * 4


@pytest.mark.parametrize("ledger_url", ["sqlite"], indirect=True)
def test_a_foreign_invoice_paid_at_another_rate_is_closed_at_zero_and_visma_realises_the_difference(
    connection_factory: ConnectionFactory,
) -> None:
    c, ds = _with_payments(connection_factory)
    [eur] = [r for r in ds.payment_rows if r["paymentCurrency"] == "EUR"][:1]
    invoice_rate = Decimal(ds.invoice_rows[eur["stampliInvoiceId"]][0]["exchangeRate"])
    payment_rate = invoice_rate + Decimal("0.2500")
    c.sim.add_currency_rate("EUR", str(payment_rate), "2025-03-27")  # in effect on the payment date
    app = c.open_app()
    asyncio.run(cycles_until_settled(app, c.name))
    [payment] = [p for p in c.sim.supplier_payments() if p["paymentRef"] == f"SP-{eur['stampliPaymentId']}"]
    [line] = payment["paymentLines"]
    key = (line["docType"], line["invoiceRefNbr"])
    docs = c.sim.supplier_ledger()["documents"]
    [doc] = [d for d in docs if (d["documentType"], d["referenceNumber"]) == key]
    # Visma's application closes it: nothing owed, in EUR nor in NOK
    assert doc["status"] == "Closed"
    assert Decimal(str(doc["balance"])) == Decimal(str(doc["balanceInCurrency"])) == 0
    paid = Decimal(eur["appliedAmount"])
    cent = Decimal("0.01")
    expected = (paid * payment_rate).quantize(cent) - (paid * invoice_rate).quantize(cent)
    assert expected > 0 and Decimal(str(line["realisedDifference"])) == expected  # a loss, to the øre
    assert Decimal(str(doc["exchangeRate"])) == invoice_rate  # booked at Stampli's rate


@pytest.mark.parametrize("ledger_url", ["sqlite"], indirect=True)
def test_reverse_charge_goes_as_its_vat_code_visma_self_assesses_it_and_the_payment_closes_the_invoice(
    connection_factory: ConnectionFactory,
) -> None:
    c = connection_factory(target="supplier_invoice")
    # services from abroad (86, net 10,000.00, no VAT charged) and a domestic 25 % line (2,000.00 + 500.00)
    c.put_invoices(INVOICES, _csv(INVOICE_COLUMNS, reverse_charge_rows("R1")))
    payment = {**_payment("P1", "R1", "NOK", "", "12500.00", "12500.00"), "invoiceCurrency": "NOK"}
    c.put_payments(PAYMENTS, _csv(PAYMENT_COLUMNS, [payment]))
    app = c.open_app()
    asyncio.run(cycles_until_settled(app, c.name))
    [doc] = c.sim.supplier_ledger()["documents"]
    # the lines carry the mapped VAT codes (mapping.tax_codes); Visma computes 86's VAT from its rate
    assert [ln["vatCode"]["id"] for ln in doc["invoiceLines"]] == ["86", "1"]
    taxes = [
        (t["taxId"], Decimal(str(t["taxableAmount"])), Decimal(str(t["vatAmount"])))
        for t in doc["taxDetailLines"]
    ]
    assert taxes == [
        ("86", Decimal("10000.00"), Decimal("2500.00")),
        ("1", Decimal("2000.00"), Decimal("500.00")),
    ]
    postings = [(p["vatId"], p["side"], p["account"], Decimal(str(p["amount"]))) for p in doc["vatPostings"]]
    assert postings == [
        ("86", "Output", "2740", Decimal("2500.00")),  # self-assessed output VAT
        ("86", "Input", "2720", Decimal("2500.00")),  # and deducted again: net zero
        ("1", "Input", "2710", Decimal("500.00")),
    ]
    # the supplier is owed the net of the service plus the domestic line: 10,000.00 + 2,500.00
    assert Decimal(str(doc["amount"])) == Decimal("12500.00")
    assert Decimal(str(doc["vatTotalInCurrency"])) == Decimal("500.00")
    # released, then paid by the Stampli payment: closed, nothing owed
    assert doc["status"] == "Closed" and Decimal(str(doc["balance"])) == 0
    [paid] = c.sim.supplier_payments()
    assert Decimal(str(paid["paymentAmount"])) == Decimal("12500.00") and paid["status"] == "Closed"
    # our totals check accepts Visma's answer exactly: the invoice and its payment match
    [rows] = asyncio.run(service.reconcile_period(app, "2025-03", c.name)).values()
    assert [(r.outcome, r.sent_total, r.visma_total) for r in rows if r.doc_key.startswith("INV")] == [
        ("matched", "12500.00", "12500.00")
    ]
    assert totals(rows)["matched"] == len(rows) == 2, [(r.doc_key, r.outcome, r.detail) for r in rows]


@pytest.mark.parametrize("ledger_url", ["sqlite"], indirect=True)
def test_preview_shows_the_supplier_payment_each_payment_would_be(
    connection_factory: ConnectionFactory,
) -> None:
    c = connection_factory(target="supplier_invoice")
    ds = Dataset.make(12, missing=0)
    c.put_invoices(INVOICES, ds.invoices_text(ds.invoice_ids))
    _run(c)  # the invoices, released
    local = c.workdir / "stampli_payments_C100234_preview.csv"
    local.write_text(ds.payments_text(), encoding="utf-8")
    shown = c.cli("preview", str(local), "--json")
    assert shown.returncode == 0, shown.stderr
    documents = json.loads(shown.stdout)["documents"]
    assert len(documents) == len(ds.payment_rows) and {d["action"] for d in documents} == {"post"}
    for d, row in zip(documents, ds.payment_rows, strict=True):
        body = d["payload"]
        assert body["type"] == {"value": "Payment"} and body["paymentRef"] == {
            "value": f"SP-{row['stampliPaymentId']}"
        }
        assert Decimal(str(body["paymentAmount"]["value"])) == Decimal(row["paymentAmount"])
        assert [ln["documentType"]["value"] for ln in body["paymentLines"]] == ["Invoice"]
    assert c.sim.supplier_payments() == []  # a preview sends nothing
