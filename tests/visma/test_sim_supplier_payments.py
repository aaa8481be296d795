"""Simulator: supplier payments over real HTTP (create, read by both key forms, list, release with
its results, void by a VoidPayment), the supplier documents' balance and status following them,
"approved for payment" on a supplier invoice, and currency rates.

Every exchange is contract-validated at teardown (tests/support/visma_sim.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx2
import pytest

from tests.support.visma_sim import VismaSim, decoded, post_json
from tests.visma.test_sim_supplier_invoices import invoice_body

URL = "/v1/supplierPayment"
INVOICES = "/v1/supplierInvoice"


@pytest.fixture
def api(visma_sim: VismaSim) -> Iterator[httpx2.Client]:
    client = visma_sim.api_client()
    yield client
    client.close()


def released_document(
    api: httpx2.Client,
    cost: str,
    *,
    document_type: str = "Invoice",
    supplier: str = "10023",
    ref: str = "F-1",
) -> str:
    """A released supplier document of ``cost`` (NOK) without VAT, so that it is owed exactly
    ``cost`` (a line with a VAT code adds the VAT Visma computes); its reference number."""
    body = invoice_body(document_type=document_type, supplier=supplier, reference=ref, cost=cost)
    for line in body["invoiceLines"]:
        line.pop("vatCodeId", None)
    created = post_json(api, INVOICES, body)
    assert created.status_code == 201, created.text
    number = str(created.headers["location"]).rsplit("/", 1)[-1]
    released = api.post(f"{INVOICES}/{document_type}/{number}/action/release")
    assert decoded(released)["actionResult"] == "Done"
    return number


def document(api: httpx2.Client, number: str, document_type: str = "Invoice") -> dict[str, Any]:
    return dict(decoded(api.get(f"{INVOICES}/{document_type}/{number}")))


def payment_body(
    amount: str, *lines: tuple[str, str, str], supplier: str = "10023", **extra: Any
) -> dict[str, Any]:
    """A ``SupplierPaymentUpdateDto``; each line is (documentType, refNbr, amountPaid)."""
    body: dict[str, Any] = {
        "type": {"value": "Payment"},
        "supplier": {"value": supplier},
        "applicationDate": {"value": "2025-03-20T00:00:00"},
        "paymentRef": {"value": "stampli-pay-1"},
        "cashAccount": {"value": "1920"},
        "currency": {"value": "NOK"},
        "paymentAmount": {"value": Decimal(amount)},
        "paymentLines": [
            {
                "operation": "Insert",
                "documentType": {"value": kind},
                "refNbr": {"value": ref},
                "amountPaid": {"value": Decimal(paid)},
            }
            for kind, ref, paid in lines
        ],
    }
    body.update({key: {"value": value} for key, value in extra.items()})
    return body


def create(api: httpx2.Client, body: dict[str, Any]) -> str:
    response = post_json(api, URL, body)
    assert response.status_code == 201, response.text
    assert response.content == b""
    return str(response.headers["location"])


def release(api: httpx2.Client, number: str, kind: str = "Payment", **headers: str) -> httpx2.Response:
    return post_json(api, f"{URL}/{number}/action/release", {"type": {"value": kind}}, headers=headers)


def test_a_full_payment_closes_the_invoice_and_itself(visma_sim: VismaSim, api: httpx2.Client) -> None:
    inv = released_document(api, "1000.00")
    location = create(api, payment_body("1000.00", ("Invoice", inv, "1000.00")))
    assert location == f"{visma_sim.api_url}{URL}/000001"
    before = decoded(api.get(location))
    assert before["type"] == "Payment" and before["refNbr"] == "000001" and before["status"] == "Balanced"
    assert before["released"] is False and before["paymentRef"] == "stampli-pay-1"
    assert before["paymentAmount"] == Decimal("1000.00") and before["unappliedBalance"] == Decimal(0)
    assert (
        before["paymentLines"][0]["invoiceRefNbr"] == inv
        and before["paymentLines"][0]["docType"] == "Invoice"
    )
    assert document(api, inv)["balance"] == Decimal("1000.00")  # nothing moves before the release

    answer = release(api, "000001")
    assert answer.status_code == 200 and decoded(answer)["actionResult"] == "Done"
    paid = decoded(api.get(f"{URL}/Payment/000001"))
    assert paid["status"] == "Closed" and paid["released"] is True
    assert answer.headers["etag"] == f'"{paid["timeStamp"]}"'
    invoice = document(api, inv)
    assert invoice["status"] == "Closed" and invoice["balance"] == Decimal(0)
    assert invoice["balanceInCurrency"] == Decimal(0)


def test_a_partial_payment_leaves_the_rest_open_and_several_payments_all_apply(api: httpx2.Client) -> None:
    inv = released_document(api, "1000.00")
    create(api, payment_body("400.00", ("Invoice", inv, "400.00")))
    assert decoded(release(api, "000001"))["actionResult"] == "Done"
    invoice = document(api, inv)
    assert invoice["status"] == "Open" and invoice["balance"] == Decimal("600.00")

    too_much = post_json(api, URL, payment_body("700.00", ("Invoice", inv, "700.00")))
    assert too_much.status_code == 400
    assert "exceeds the balance" in too_much.json()["message"]

    create(api, payment_body("600.00", ("Invoice", inv, "600.00")))
    release(api, "000002")  # the refused create took no number
    invoice = document(api, inv)
    assert invoice["status"] == "Closed" and invoice["balance"] == Decimal(0)


def test_a_credit_note_nets_against_the_invoice_it_is_paid_with(api: httpx2.Client) -> None:
    inv = released_document(api, "1000.00", ref="F-1")
    credit = released_document(api, "250.00", document_type="DebitAdj", ref="CN-1")
    location = create(
        api, payment_body("750.00", ("Invoice", inv, "1000.00"), ("DebitAdj", credit, "250.00"))
    )
    payment = decoded(api.get(location))
    assert payment["appliedAmount"] == Decimal("750.00") and payment["unappliedBalance"] == Decimal(0)
    assert decoded(release(api, payment["refNbr"]))["actionResult"] == "Done"
    assert document(api, inv)["status"] == "Closed"
    note = document(api, credit, "DebitAdj")
    assert note["status"] == "Closed" and note["balance"] == Decimal(0)
    assert decoded(api.get(location))["status"] == "Closed"


def test_netting_more_than_is_paid_and_overapplying_are_refused(api: httpx2.Client) -> None:
    inv = released_document(api, "100.00", ref="F-1")
    credit = released_document(api, "250.00", document_type="DebitAdj", ref="CN-1")
    negative = post_json(
        api, URL, payment_body("1.00", ("Invoice", inv, "100.00"), ("DebitAdj", credit, "250.00"))
    )
    assert negative.status_code == 400 and "negative" in negative.json()["message"]
    over = post_json(api, URL, payment_body("50.00", ("Invoice", inv, "100.00")))
    assert over.status_code == 400 and "exceeds the payment amount" in over.json()["message"]


def test_an_unapplied_rest_leaves_the_payment_open(api: httpx2.Client) -> None:
    inv = released_document(api, "300.00")
    location = create(api, payment_body("500.00", ("Invoice", inv, "300.00")))
    before = decoded(api.get(location))
    assert before["unappliedBalance"] == Decimal("200.00") and before["balance"] == Decimal("500.00")
    release(api, "000001")
    after = decoded(api.get(location))
    assert after["status"] == "Open" and after["balance"] == Decimal("200.00")
    assert document(api, inv)["status"] == "Closed"


@pytest.mark.parametrize("case", ["unknown", "unreleased", "other supplier", "wrong type"])
def test_a_line_naming_no_payable_document_gets_vismas_text(api: httpx2.Client, case: str) -> None:
    if case == "unreleased":
        created = post_json(api, INVOICES, invoice_body(reference="F-9"))
        ref, kind = str(created.headers["location"]).rsplit("/", 1)[-1], "Invoice"
    elif case == "other supplier":
        ref, kind = released_document(api, "10.00", supplier="10057"), "Invoice"
    elif case == "wrong type":
        ref, kind = released_document(api, "10.00"), "DebitAdj"
    else:
        ref, kind = "999999", "Invoice"
    answer = post_json(api, URL, payment_body("10.00", (kind, ref, "10.00")))
    assert answer.status_code == 400
    assert answer.json()["message"] == f"AdjdRefNbr '{ref}' cannot be found in the system."


def test_a_void_payment_gives_the_applications_back_and_voids_the_original(
    visma_sim: VismaSim, api: httpx2.Client
) -> None:
    inv = released_document(api, "1000.00")
    create(api, payment_body("1000.00", ("Invoice", inv, "1000.00")))
    unreleased_void = post_json(
        api, URL, {"type": {"value": "VoidPayment"}, "referenceNumber": {"value": "000001"}}
    )
    assert unreleased_void.status_code == 400 and "not released" in unreleased_void.json()["message"]
    release(api, "000001")

    location = create(api, {"type": {"value": "VoidPayment"}, "referenceNumber": {"value": "000001"}})
    assert location == f"{visma_sim.api_url}{URL}/VoidPayment/000001"
    void = decoded(api.get(location))
    assert void["status"] == "Balanced" and void["paymentAmount"] == Decimal("-1000.00")
    assert document(api, inv)["status"] == "Closed"  # nothing moves before the void's release
    assert decoded(release(api, "000001", "VoidPayment"))["actionResult"] == "Done"
    invoice = document(api, inv)
    assert invoice["status"] == "Open" and invoice["balance"] == Decimal("1000.00")
    assert decoded(api.get(f"{URL}/000001"))["status"] == "Voided"  # the short path: the Payment
    assert decoded(api.get(location))["status"] == "Closed"

    again = post_json(api, URL, {"type": {"value": "VoidPayment"}, "referenceNumber": {"value": "000001"}})
    assert again.status_code == 400 and "already voided" in again.json()["message"]


def test_release_results_follow_the_switches_the_period_and_if_match(
    visma_sim: VismaSim, api: httpx2.Client
) -> None:
    inv = released_document(api, "1000.00")
    create(api, payment_body("100.00", ("Invoice", inv, "100.00")))
    stale = release(api, "000001", **{"If-Match": '"AAAAAAAAAAE="'})
    assert stale.status_code == 412

    visma_sim.set_supplier_ledger(release="failed")
    failed = decoded(release(api, "000001"))
    assert failed["actionResult"] == "Failed" and "release=failed" in failed["errorInfo"]
    visma_sim.set_supplier_ledger(release="done")

    visma_sim.close_supplier_ledger("202503")
    try:
        closed = decoded(release(api, "000001"))
    finally:
        visma_sim.open_supplier_ledger("202503")
    assert closed["actionResult"] == "Failed" and "closed in Supplier Ledger" in closed["errorInfo"]
    assert document(api, inv)["balance"] == Decimal("1000.00")

    visma_sim.set_supplier_ledger(release="queued")
    queued = release(api, "000001")
    assert queued.status_code == 202 and "/v1/background/" in queued.json()["stateLocation"]
    assert document(api, inv)["balance"] == Decimal("900.00")  # a queued job runs at once here
    again = decoded(release(api, "000001"))
    assert again["actionResult"] == "Failed" and "status Closed" in again["errorInfo"]


def test_a_payment_applied_past_a_balance_another_payment_took_fails_its_release(api: httpx2.Client) -> None:
    inv = released_document(api, "100.00")
    create(api, payment_body("100.00", ("Invoice", inv, "100.00")))
    create(api, payment_body("100.00", ("Invoice", inv, "100.00")))  # both fit the balance when created
    assert decoded(release(api, "000001"))["actionResult"] == "Done"
    second = decoded(release(api, "000002"))
    assert second["actionResult"] == "Failed" and "exceeds the balance" in second["errorInfo"]


def test_list_filters_by_supplier_type_and_date_and_pages(api: httpx2.Client) -> None:
    a = released_document(api, "500.00", ref="A")
    b = released_document(api, "500.00", ref="B", supplier="10057")
    for day in (10, 20, 25):
        body = payment_body("100.00", ("Invoice", a, "100.00"), applicationDate=f"2025-03-{day}T00:00:00")
        create(api, body)
    create(api, payment_body("100.00", ("Invoice", b, "100.00"), supplier="10057"))
    page = decoded(api.get(URL, params={"supplier": "10023", "pageNumber": 1, "pageSize": 2}))
    assert [p["refNbr"] for p in page] == ["000001", "000002"] and page[0]["metadata"]["totalCount"] == 3
    later = decoded(
        api.get(URL, params={"supplier": "10023", "docDate": "2025-03-20", "docDateCondition": ">="})
    )
    assert [p["applicationDate"][:10] for p in later] == ["2025-03-20", "2025-03-25"]
    by_invoice = decoded(api.get(URL, params={"invoiceRefNbr": b, "paymentType": "Payment"}))
    assert [p["supplier"]["number"] for p in by_invoice] == ["10057"]


def test_the_payment_currency_is_the_cash_accounts(api: httpx2.Client) -> None:
    inv = released_document(api, "100.00")
    wrong = post_json(api, URL, payment_body("100.00", ("Invoice", inv, "100.00"), currency="EUR"))
    assert wrong.status_code == 400 and "cash account 1920 is NOK" in wrong.json()["message"]
    other = post_json(api, URL, payment_body("100.00", ("Invoice", inv, "100.00"), cashAccount="6800"))
    assert other.status_code == 400 and "not a cash account" in other.json()["message"]


def test_pay_selected_is_set_on_create_and_by_put(api: httpx2.Client) -> None:
    first = post_json(api, INVOICES, invoice_body(reference="P-1", paySelected=True))
    number = str(first.headers["location"]).rsplit("/", 1)[-1]
    assert document(api, number)["paySelected"] is True
    second = post_json(api, INVOICES, invoice_body(reference="P-2"))
    other = str(second.headers["location"]).rsplit("/", 1)[-1]
    fetched = api.get(f"{INVOICES}/Invoice/{other}")
    assert decoded(fetched)["paySelected"] is False
    url = f"{INVOICES}/Invoice/{other}"
    put = api.put(url, json={"paySelected": {"value": True}}, headers={"If-Match": fetched.headers["etag"]})
    assert put.status_code == 204 and put.headers["etag"] != fetched.headers["etag"]
    assert document(api, other)["paySelected"] is True
    stale = api.put(
        url, json={"paySelected": {"value": False}}, headers={"If-Match": fetched.headers["etag"]}
    )
    assert stale.status_code == 412


def test_currency_rates_are_served_and_filtered(visma_sim: VismaSim, api: httpx2.Client) -> None:
    seeded = decoded(api.get("/v2/currencyrate", params={"fromCurrency": "EUR"}))
    assert [(r["toCurrencyId"], r["rateType"], r["rate"]) for r in seeded] == [
        ("NOK", "SPOT", Decimal("11.6825"))
    ]
    visma_sim.add_currency_rate("EUR", "11.7311", "2025-03-20")
    march = decoded(
        api.get(
            "/v2/currencyrate", params={"fromCurrency": "EUR", "toCurrency": "NOK", "fromDate": "2025-03-01"}
        )
    )
    assert [(r["effectiveDate"][:10], r["rate"]) for r in march] == [("2025-03-20", Decimal("11.7311"))]
    assert decoded(api.get("/v2/currencyrate", params={"rateType": "BANK"})) == []


def test_the_sim_snapshot_lists_payments_and_a_reset_empties_them(
    visma_sim: VismaSim, api: httpx2.Client
) -> None:
    inv = released_document(api, "100.00")
    create(api, payment_body("100.00", ("Invoice", inv, "100.00")))
    (snap,) = visma_sim.supplier_payments()
    assert snap["refNbr"] == "000001" and snap["paymentLines"][0]["amountPaid"] == 100
    visma_sim.reset()
    assert visma_sim.supplier_payments() == []


def test_a_discount_taken_settles_the_rest_of_the_invoice(api: httpx2.Client) -> None:
    inv = released_document(api, "1000.00")
    body = payment_body("980.00", ("Invoice", inv, "980.00"))
    body["paymentLines"][0]["cashDiscountTaken"] = {"value": Decimal("20.00")}
    location = create(api, body)
    assert decoded(api.get(location))["paymentLines"][0]["cashDiscountTaken"] == Decimal("20.00")
    release(api, "000001")
    invoice = document(api, inv)
    assert invoice["status"] == "Closed" and invoice["balance"] == Decimal(0)
    assert decoded(api.get(location))["status"] == "Closed"  # 980 paid, 980 applied


def test_what_the_simulator_does_not_model_is_refused_not_guessed(
    visma_sim: VismaSim, api: httpx2.Client
) -> None:
    inv = released_document(api, "100.00")
    body = payment_body("100.00", ("Invoice", inv, "100.00"))
    body["paymentLines"][0]["crossRate"] = {"value": Decimal("1.1")}
    cross = post_json(api, URL, body)
    assert cross.status_code == 400 and "crossRate" in cross.json()["message"]
    refund = post_json(api, URL, {**payment_body("100.00"), "type": {"value": "Refund"}})
    assert refund.status_code == 400 and "does not model" in refund.json()["message"]
    bogus = post_json(api, URL, {**payment_body("100.00"), "type": {"value": "Cheque"}})
    assert bogus.status_code == 400 and "not a valid value for type" in bogus.json()["message"]
    violations = [str(v) for v in visma_sim.take_violations()]  # none of these is ours to send
    assert len(violations) == 3 and any("'crossRate' was unexpected" in v for v in violations), violations


def test_a_payment_on_hold_is_not_released_and_a_closed_period_refuses_the_create(
    visma_sim: VismaSim, api: httpx2.Client
) -> None:
    inv = released_document(api, "100.00")
    create(api, payment_body("100.00", ("Invoice", inv, "100.00"), hold=True))
    held = decoded(release(api, "000001"))
    assert held["actionResult"] == "Failed" and "on hold" in held["errorInfo"]
    assert document(api, inv)["balance"] == Decimal("100.00")
    visma_sim.close_supplier_ledger("202503")
    try:
        closed = post_json(api, URL, payment_body("100.00", ("Invoice", inv, "100.00")))
    finally:
        visma_sim.open_supplier_ledger("202503")
    assert closed.status_code == 400 and closed.json()["message"] == (
        "Financial period 03-2025 is closed in Supplier Ledger."
    )


def test_a_foreign_payment_at_another_rate_closes_the_invoice_and_realises_the_difference(
    visma_sim: VismaSim, api: httpx2.Client
) -> None:
    body = invoice_body(document_type="Invoice", supplier="20034", reference="F-EUR", cost="1000.00")
    for line in body["invoiceLines"]:
        line.pop("vatCodeId", None)
    body["currencyId"] = {"value": "EUR"}
    body["exchangeRate"] = {"value": Decimal("11.50")}  # booked at 11.50 NOK per EUR
    created = post_json(api, INVOICES, body)
    assert created.status_code == 201, created.text
    inv = str(created.headers["location"]).rsplit("/", 1)[-1]
    assert decoded(api.post(f"{INVOICES}/Invoice/{inv}/action/release"))["actionResult"] == "Done"
    visma_sim.add_currency_rate("EUR", "11.7311", "2025-03-15")  # the rate of the payment date
    paid = payment_body(
        "1000.00", ("Invoice", inv, "1000.00"), supplier="20034", cashAccount="1921", currency="EUR"
    )
    create(api, paid)
    assert decoded(release(api, "000001"))["actionResult"] == "Done"
    invoice = document(api, inv)
    # Visma's application closes it: nothing owed, in EUR nor in NOK
    assert invoice["status"] == "Closed"
    assert invoice["balanceInCurrency"] == Decimal(0) and invoice["balance"] == Decimal(0)
    [payment] = visma_sim.supplier_payments()
    # 1000 EUR paid at 11.7311 (11731.10 NOK) for what was booked at 11.50 (11500.00 NOK): a loss
    assert Decimal(str(payment["paymentLines"][0]["realisedDifference"])) == Decimal("231.10")
    assert Decimal(str(payment["realisedDifference"])) == Decimal("231.10")
    # a void gives back exactly what the payment did, the realised difference too
    voided = post_json(api, URL, {"type": {"value": "VoidPayment"}, "referenceNumber": {"value": "000001"}})
    assert voided.status_code == 201, voided.text
    assert decoded(release(api, "000001", "VoidPayment"))["actionResult"] == "Done"
    void = next(p for p in visma_sim.supplier_payments() if p["type"] == "VoidPayment")
    assert Decimal(str(void["realisedDifference"])) == Decimal("-231.10")
    assert document(api, inv)["balanceInCurrency"] == Decimal("1000.00")
