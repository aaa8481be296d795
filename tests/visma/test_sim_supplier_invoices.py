"""Simulator: the supplier ledger over real HTTP (create, read by both key forms, list, release,
attachments with revisions, closedInSupplierLedger, duplicate supplier references, AP control accounts).

Every exchange is contract-validated at teardown (tests/support/visma_sim.py).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx2
import pytest

from tests.support.visma_sim import VismaSim, decoded, journal_body, journal_line, post_json

URL = "/v1/supplierInvoice"
PDF = b"%PDF-1.4\n\x00\xff\xfe binary bytes that must survive\n%%EOF\n"


def invoice_body(
    *,
    document_type: str = "Invoice",
    supplier: str = "10023",
    reference: str = "F-2025-117",
    period: str = "032025",
    cost: str = "1250.50",
    **extra: Any,
) -> dict[str, Any]:
    """A ``SupplierInvoiceUpdateDto`` like Visma's minimal example (visma-ap.md §2)."""
    body: dict[str, Any] = {
        "documentType": {"value": document_type},
        "supplierNumber": {"value": supplier},
        "date": {"value": "2025-03-05T00:00:00"},
        "supplierReference": {"value": reference},
        "postPeriod": {"value": period},
        "invoiceLines": [
            {
                "operation": "Insert",
                "accountNumber": {"value": "6800"},
                "subaccount": [
                    {"segmentId": 1, "segmentValue": "0200"},
                    {"segmentId": 2, "segmentValue": "00"},
                ],
                "quantity": {"value": Decimal(1)},
                "unitCostInCurrency": {"value": Decimal(cost)},
                "vatCodeId": {"value": "1"},
                "transactionDescription": {"value": "Kopipapir"},
            }
        ],
    }
    body.update({key: {"value": value} for key, value in extra.items()})
    return body


@pytest.fixture
def api(visma_sim: VismaSim) -> Iterator[httpx2.Client]:
    client = visma_sim.api_client()
    yield client
    client.close()


def create(api: httpx2.Client, body: dict[str, Any]) -> str:
    response = post_json(api, URL, body)
    assert response.status_code == 201, response.text
    assert response.content == b""
    return str(response.headers["location"])


def upload(api: httpx2.Client, url: str, name: str, data: bytes) -> httpx2.Response:
    return api.post(url, files={"file": (name, data, "application/pdf")})


def test_create_answers_201_with_location_and_reads_back_exactly(
    visma_sim: VismaSim, api: httpx2.Client
) -> None:
    location = create(api, invoice_body())
    assert location == f"{visma_sim.api_url}{URL}/000001"
    fetched = api.get(location)
    assert fetched.status_code == 200
    invoice = decoded(fetched)
    assert fetched.headers["etag"] == f'"{invoice["timeStamp"]}"'
    assert invoice["documentType"] == "Invoice" and invoice["referenceNumber"] == "000001"
    assert invoice["status"] == "Balanced" and invoice["hold"] is False
    assert invoice["supplier"]["number"] == "10023" and invoice["supplierReference"] == "F-2025-117"
    assert invoice["postPeriod"] == "032025" and invoice["financialPeriod"] == "202503"
    # Visma's amount is what the supplier is owed: the lines plus the VAT it computes per code
    # (25 % of 1250.50 = 312.625, rounded once per code to 312.63)
    assert invoice["detailTotalInCurrency"] == Decimal("1250.50")
    assert invoice["vatTotalInCurrency"] == Decimal("312.63")
    assert invoice["amount"] == Decimal("1563.13")
    line = invoice["invoiceLines"][0]
    assert line["costInCurrency"] == Decimal("1250.50") and line["account"]["number"] == "6800"
    assert line["subaccount"]["subaccountNumber"] == "0200-00" and line["vatCode"]["id"] == "1"
    assert invoice["attachments"] == []


def test_short_get_path_serves_only_invoice_documents(visma_sim: VismaSim, api: httpx2.Client) -> None:
    location = create(api, invoice_body(document_type="DebitAdj", reference="CN-7"))
    assert location == f"{visma_sim.api_url}{URL}/DebitAdj/000001"
    assert api.get(f"{URL}/000001").status_code == 404  # the short path reads Invoice only
    credit = decoded(api.get(location))
    assert credit["documentType"] == "DebitAdj"
    invoice_location = create(api, invoice_body(reference="F-8"))
    assert decoded(api.get(invoice_location))["referenceNumber"] == "000002"
    assert api.get(f"{URL}/Invoice/000002").status_code == 200  # the long form reads Invoice too


def test_list_filters_and_expands_attachments(api: httpx2.Client) -> None:
    create(api, invoice_body(reference="A-1"))
    create(api, invoice_body(document_type="DebitAdj", reference="A-2"))
    create(api, invoice_body(supplier="10057", reference="B-1"))
    upload(api, f"{URL}/000001/attachment", "faktura.pdf", PDF)

    everything = decoded(api.get(URL))
    assert [i["referenceNumber"] for i in everything] == ["000001", "000002", "000003"]
    assert everything[0]["metadata"]["totalCount"] == 3
    assert all("attachments" not in i for i in everything)
    only = decoded(api.get(URL, params={"supplier": "10023", "documentType": "Invoice"}))
    assert [i["supplierReference"] for i in only] == ["A-1"]
    expanded = decoded(api.get(URL, params={"expandAttachment": "true", "supplier": "10023"}))
    assert expanded[0]["attachments"][0]["name"] == "faktura.pdf"


def test_unknown_body_fields_are_ignored_like_visma(visma_sim: VismaSim, api: httpx2.Client) -> None:
    body = invoice_body()
    del body["documentType"]
    body["documentTypeId"] = {"value": "Invoice"}  # the misspelling from the community thread
    response = post_json(api, URL, body)
    assert response.status_code == 201
    stored = visma_sim.supplier_ledger()["documents"][0]
    assert "documentType" not in stored  # created with an empty type
    assert api.get(f"{URL}/000001").status_code == 404
    violations = visma_sim.take_violations()  # our contract catches what Visma ignores
    assert any("documentTypeId" in str(v) for v in violations), violations


def test_repeated_supplier_reference_is_stored_with_a_warning(
    visma_sim: VismaSim, api: httpx2.Client
) -> None:
    create(api, invoice_body(reference="F-1"))
    create(api, invoice_body(reference="F-1"))
    docs = visma_sim.supplier_ledger()["documents"]
    assert [d["referenceNumber"] for d in docs] == ["000001", "000002"]
    assert docs[0]["warnings"] == []
    assert "same supplier reference 'F-1'" in docs[1]["warnings"][0]
    create(api, invoice_body(supplier="10057", reference="F-1"))  # another supplier: no warning
    assert visma_sim.supplier_ledger()["documents"][2]["warnings"] == []

    visma_sim.set_supplier_ledger(duplicateReference="error")
    refused = post_json(api, URL, invoice_body(reference="F-1"))
    assert refused.status_code == 400
    assert "same supplier reference" in refused.json()["message"]


def test_period_closed_in_supplier_ledger_refuses_documents_and_release(
    visma_sim: VismaSim, api: httpx2.Client
) -> None:
    location = create(api, invoice_body())
    closed = visma_sim.close_supplier_ledger("202503")
    assert closed["closedInSupplierLedger"] is True and closed["closedInGeneralLedger"] is False
    period = decoded(api.get("/v1/financialPeriod/202503"))
    assert period["closedInSupplierLedger"] is True

    refused = post_json(api, URL, invoice_body(reference="F-2"))
    assert refused.status_code == 400
    assert refused.json()["message"] == "Financial period 03-2025 is closed in Supplier Ledger."
    released = api.post(f"{location}/action/release")
    assert released.status_code == 200
    assert released.json()["actionResult"] == "Failed"
    assert "closed in Supplier Ledger" in released.json()["errorInfo"]
    # the general ledger is unaffected
    gl_lines = [journal_line("6800", debit="1"), journal_line("2460", credit="1")]
    assert post_json(api, "/v2/journaltransaction", journal_body(gl_lines)).status_code == 201

    visma_sim.open_supplier_ledger("202503")
    assert post_json(api, URL, invoice_body(reference="F-2")).status_code == 201


def test_release_done_opens_the_document_and_checks_if_match(api: httpx2.Client) -> None:
    location = create(api, invoice_body())
    etag = api.get(location).headers["etag"]
    stale = api.post(f"{URL}/Invoice/000001/action/release", headers={"If-Match": '"stale"'})
    assert stale.status_code == 412
    released = api.post(f"{URL}/Invoice/000001/action/release", headers={"If-Match": etag})
    assert released.status_code == 200
    assert released.json()["actionResult"] == "Done" and released.json()["actionId"]
    assert decoded(api.get(location))["status"] == "Open"
    again = api.post(f"{URL}/000001/action/release")
    assert again.status_code == 200 and again.json()["actionResult"] == "Failed"


def test_hold_on_entry_makes_release_fail(visma_sim: VismaSim, api: httpx2.Client) -> None:
    visma_sim.set_supplier_ledger(holdOnEntry=True)
    location = create(api, invoice_body())
    assert decoded(api.get(location))["status"] == "Hold"
    released = api.post(f"{location}/action/release")
    assert released.json()["actionResult"] == "Failed"
    assert "on hold" in released.json()["errorInfo"]
    create(api, invoice_body(reference="F-2", hold=False))  # an explicit hold=false wins
    assert decoded(api.get(f"{URL}/000002"))["status"] == "Balanced"


def test_release_switches_failed_and_queued(visma_sim: VismaSim, api: httpx2.Client) -> None:
    location = create(api, invoice_body())
    visma_sim.set_supplier_ledger(release="failed")
    failed = api.post(f"{location}/action/release")
    assert failed.status_code == 200 and failed.json()["actionResult"] == "Failed"
    assert failed.json()["errorInfo"]
    assert decoded(api.get(location))["status"] == "Balanced"

    visma_sim.set_supplier_ledger(release="queued")
    queued = api.post(f"{location}/action/release")
    assert queued.status_code == 202
    job = queued.json()
    assert job["id"] and job["stateLocation"].endswith(f"/v1/background/{job['id']}")
    assert decoded(api.get(location))["status"] == "Open"  # the background job has run

    create(api, invoice_body(reference="F-2"))
    visma_sim.set_supplier_ledger(release="done")
    background = api.post(f"{URL}/000002/action/release", headers={"erp-api-background": "none"})
    assert background.status_code == 202
    with pytest.raises(AssertionError):
        visma_sim.set_supplier_ledger(release="maybe")


def test_attachments_keep_bytes_and_same_name_is_a_new_revision(
    visma_sim: VismaSim, api: httpx2.Client
) -> None:
    create(api, invoice_body())
    first = upload(api, f"{URL}/000001/attachment", "faktura.pdf", PDF)
    assert first.status_code == 201
    assert first.json()["name"] == "faktura.pdf" and first.json()["revision"] == 1
    second = upload(api, f"{URL}/documentType/Invoice/000001/attachment", "faktura.pdf", PDF + b"v2")
    assert second.json()["id"] == first.json()["id"] and second.json()["revision"] == 2
    upload(api, f"{URL}/000001/attachment", "bilag.png", b"\x89PNG")

    attachments = decoded(api.get(f"{URL}/000001"))["attachments"]
    assert [(a["name"], a["revision"]) for a in attachments] == [("faktura.pdf", 2), ("bilag.png", 1)]
    stored = visma_sim.supplier_ledger()["documents"][0]["attachments"][0]["revisions"]
    assert [r["size"] for r in stored] == [len(PDF), len(PDF) + 2]
    assert stored[0]["sha256"] == hashlib.sha256(PDF).hexdigest()


def test_attachment_on_another_document_type_and_bad_uploads(visma_sim: VismaSim, api: httpx2.Client) -> None:
    create(api, invoice_body(document_type="DebitAdj", reference="CN-1"))
    assert upload(api, f"{URL}/000001/attachment", "x.pdf", PDF).status_code == 404  # short form: Invoice
    ok = upload(api, f"{URL}/documentType/DebitAdj/000001/attachment", "kreditnota.pdf", PDF)
    assert ok.status_code == 201
    wrong_part = api.post(f"{URL}/documentType/DebitAdj/000001/attachment", files={"upload": ("a.pdf", PDF)})
    assert wrong_part.status_code == 400
    not_multipart = post_json(api, f"{URL}/documentType/DebitAdj/000001/attachment", {"file": "x"})
    assert not_multipart.status_code == 415
    violations = [str(v) for v in visma_sim.take_violations()]
    assert any("multipart part 'upload' not in" in v for v in violations), violations
    assert any("takes multipart/form-data" in v for v in violations), violations


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"supplier": "99999"}, "Supplier '99999' does not exist"),
        ({"period": "13-2025"}, "Invalid postPeriod"),
        ({"period": "032031"}, "Financial period 03-2031 does not exist"),
    ],
)
def test_create_rejects_invalid_documents(api: httpx2.Client, change: dict[str, str], message: str) -> None:
    response = post_json(api, URL, invoice_body(**change))
    assert response.status_code == 400
    assert message in response.json()["message"]


def test_ap_control_account_refuses_manual_journal_lines(api: httpx2.Client) -> None:
    lines = [journal_line("6800", debit="10"), journal_line("2400", credit="10")]
    refused = post_json(api, "/v2/journaltransaction", journal_body(lines))
    assert refused.status_code == 400
    assert "control account for module AP" in refused.json()["message"]
    account = decoded(api.get("/v1/account/2400"))
    assert account["controlAccountModule"] == "AP" and account["allowManualEntry"] is False


def test_journal_transaction_attachments_have_revisions_too(visma_sim: VismaSim, api: httpx2.Client) -> None:
    lines = [journal_line("6800", debit="10"), journal_line("2460", credit="10")]
    location = post_json(api, "/v2/journaltransaction", journal_body(lines)).headers["location"]
    url = "/v2/journaltransaction/module/GL/000001/attachment"
    first = upload(api, url, "faktura.pdf", PDF)
    assert first.status_code == 201 and first.json()["revision"] == 1
    assert upload(api, url, "faktura.pdf", PDF).json()["revision"] == 2
    assert decoded(api.get(location))["attachments"] == [
        {"name": "faktura.pdf", "id": first.json()["id"], "revision": 2}
    ]
    listed = decoded(api.get("/v2/journaltransaction", params={"periodId": "202503"}))
    assert listed[0]["attachments"] == []  # a list shows attachments only when expanded
    revisions = visma_sim.journal_attachments("000001")[0]["revisions"]
    assert [r["sha256"] for r in revisions] == [hashlib.sha256(PDF).hexdigest()] * 2
    assert upload(api, "/v2/journaltransaction/module/GL/999999/attachment", "x.pdf", PDF).status_code == 404


def test_reset_empties_the_supplier_ledger_and_restores_the_switches(
    visma_sim: VismaSim, api: httpx2.Client
) -> None:
    create(api, invoice_body())
    visma_sim.set_supplier_ledger(holdOnEntry=True, release="queued")
    visma_sim.reset()
    after = visma_sim.supplier_ledger()
    defaults = {"holdOnEntry": False, "duplicateReference": "warning", "release": "done"}
    assert after == {**defaults, "documents": []}
    assert api.get(f"{URL}/000001").status_code == 404


def test_the_suppliers_vat_in_tax_detail_lines_stands_and_the_control_total_must_match(
    api: httpx2.Client,
) -> None:
    """The supplier rounded per line and charged 312.62; sent as a tax detail line with the control
    total, Visma's total is the supplier's to the øre and the document releases. A control total
    that differs from the document's VAT is out of balance: the release fails with Visma's text."""
    body = invoice_body()
    body["vatAmount"] = {"value": Decimal("312.62")}
    body["taxDetailLines"] = [
        {
            "taxId": {"value": "1"},
            "taxableAmount": {"value": Decimal("1250.50")},
            "vatAmount": {"value": Decimal("312.62")},
        }
    ]
    invoice = decoded(api.get(create(api, body)))
    assert invoice["vatTotalInCurrency"] == Decimal("312.62") and invoice["amount"] == Decimal("1563.12")
    released = api.post(f"{URL}/Invoice/{invoice['referenceNumber']}/action/release")
    assert released.status_code == 200 and released.json()["actionResult"] == "Done"

    off = invoice_body(reference="F-2025-118")
    off["vatAmount"] = {"value": Decimal("312.62")}  # the control total, but Visma computes 312.63
    number = decoded(api.get(create(api, off)))["referenceNumber"]
    refused = api.post(f"{URL}/Invoice/{number}/action/release").json()
    assert refused["actionResult"] == "Failed" and "out of balance" in refused["errorInfo"]

    unknown = invoice_body(reference="F-2025-119")
    unknown["taxDetailLines"] = [{"taxId": {"value": "11"}, "vatAmount": {"value": Decimal(1)}}]
    answer = post_json(api, URL, unknown)
    assert answer.status_code == 400 and "not used on any line" in answer.text


def test_a_reverse_charge_code_computes_the_self_assessed_vat_that_the_supplier_is_not_owed(
    visma_sim: VismaSim, api: httpx2.Client
) -> None:
    """Services bought abroad (86, reverse charge at 25 %) next to a domestic 25 % line: the tax
    detail shows 2,500.00 on 86, booked as output VAT (2740) and deductible input VAT (2720); the
    supplier is owed the net plus the domestic VAT only, and the control total covers that VAT alone."""
    [code] = [v for v in api.get("/v1/vat").json() if v["vatId"] == "86"]
    assert code["reverseVat"] is True and code["schedules"][0]["vatRate"] == 25
    assert code["glAccounts"] == {
        "vatPayableAccount": {"number": "2740"},
        "vatClaimableAccount": {"number": "2720"},
    }
    body = invoice_body(cost="2000.00")
    abroad = {**body["invoiceLines"][0], "unitCostInCurrency": {"value": Decimal("10000.00")}}
    body["invoiceLines"] = [{**abroad, "vatCodeId": {"value": "86"}}, *body["invoiceLines"]]
    body["vatAmount"] = {"value": Decimal("500.00")}
    invoice = decoded(api.get(create(api, body)))
    details = [(t["taxId"], t["taxableAmount"], t["vatAmount"]) for t in invoice["taxDetailLines"]]
    assert details == [
        ("86", Decimal("10000.00"), Decimal("2500.00")),
        ("1", Decimal("2000.00"), Decimal("500.00")),
    ]
    assert invoice["vatTotalInCurrency"] == Decimal("500.00") and invoice["amount"] == Decimal("12500.00")
    released = api.post(f"{URL}/Invoice/{invoice['referenceNumber']}/action/release")
    assert released.status_code == 200 and released.json()["actionResult"] == "Done"
    [doc] = visma_sim.supplier_ledger()["documents"]
    postings = [(p["vatId"], p["side"], p["account"], Decimal(str(p["amount"]))) for p in doc["vatPostings"]]
    assert postings == [
        ("86", "Output", "2740", Decimal("2500.00")),
        ("86", "Input", "2720", Decimal("2500.00")),
        ("1", "Input", "2710", Decimal("500.00")),
    ]
    assert Decimal(str(doc["balance"])) == Decimal("12500.00")  # the net 10,000.00 + 2,000.00 + 500.00


def test_reverse_charge_vat_is_rounded_once_per_code_half_away_from_zero(api: httpx2.Client) -> None:
    """Two lines of 10.01 on 86: 25 % of 20.02 is 5.005, one rounding to 5.01 (per line it would be
    2.5025 -> 2.50 twice, 5.00); the supplier is owed 20.02."""
    body = invoice_body(cost="10.01")
    line = {**body["invoiceLines"][0], "vatCodeId": {"value": "86"}}
    body["invoiceLines"] = [line, line]
    invoice = decoded(api.get(create(api, body)))
    [detail] = invoice["taxDetailLines"]
    assert (detail["taxableAmount"], detail["vatAmount"]) == (Decimal("20.02"), Decimal("5.01"))
    assert invoice["amount"] == Decimal("20.02") and invoice["vatTotalInCurrency"] == 0


def test_a_reverse_charge_debit_adjustment_takes_the_self_assessed_vat_back(
    visma_sim: VismaSim, api: httpx2.Client
) -> None:
    body = invoice_body(document_type="DebitAdj", cost="10000.00")
    body["invoiceLines"][0]["vatCodeId"] = {"value": "86"}
    credit = decoded(api.get(create(api, body)))
    assert credit["amount"] == Decimal("10000.00") and credit["vatTotalInCurrency"] == 0
    [doc] = visma_sim.supplier_ledger()["documents"]
    postings = [(p["side"], p["account"], Decimal(str(p["amount"]))) for p in doc["vatPostings"]]
    assert postings == [("Output", "2740", Decimal("-2500.00")), ("Input", "2720", Decimal("-2500.00"))]
