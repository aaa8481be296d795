"""Issue 17's promise: an invoice coded in Stampli only to values from the exported files never
parks on master data. Every codable value of every file is used at least once; a control invoice
coded to a cost center outside the files parks, so the check can fail."""

from __future__ import annotations

import asyncio
import csv
import io
from decimal import Decimal

from ml_connector.demo.generate import INVOICE_COLUMNS, VENDORS
from ml_connector.ledger.store import DocStatus
from ml_connector.masterdata.export import export_masterdata
from ml_connector.pipeline.cycle import run_cycle
from ml_connector.pipeline.rules import Category
from ml_connector.vendors.export import export_vendors
from tests.masterdata.conftest import CodingEnv

RATES = {vid: rate for vid, _name, _tax, _cur, rate, _dom in VENDORS}  # the demo's exchange rates


def _active(rows: list[dict[str, str]], key: str) -> list[str]:
    return [r[key] for r in rows if r["active"] == "true"]


def _invoice_rows(
    n: int, vendor: dict[str, str], account: str, center: str, project: str, vat: tuple[str, str]
) -> list[dict[str, str]]:
    net = Decimal(1000 + n)
    tax = (net * Decimal(vat[1]) / 100).quantize(Decimal("0.01"))
    row = dict.fromkeys(INVOICE_COLUMNS, "")
    row.update(
        {
            "stampliCompanyId": "C100234",
            "stampliInvoiceId": str(77000000 + n),
            "documentType": "INVOICE",
            "invoiceNumber": f"MD-{n:04d}",
            "vendorId": vendor["vendorId"],
            "vendorName": vendor["vendorName"],
            "invoiceDate": "2025-03-10",
            "dueDate": "2025-04-09",
            "postingDate": "2025-03-10",
            "currency": vendor["currencyId"],
            "exchangeRate": RATES.get(vendor["vendorId"], "1.0000"),
            "subtotalAmount": f"{net:.2f}",
            "taxAmount": f"{tax:.2f}",
            "totalAmount": f"{net + tax:.2f}",
            "approvalStatus": "APPROVED",
            "approvedAt": "2025-03-10T14:00:00+01:00",
            "exportedAt": "2025-03-31T07:15:00Z",
            "lineNumber": "1",
            "lineType": "GL",
            "glAccount": account,
            "lineDescription": f"coded from the lists ({account}/{center}/{project}/{vat[0]})",
            "quantity": "1",
            "unitPrice": f"{net:.2f}",
            "lineNetAmount": f"{net:.2f}",
            "taxCode": vat[0],
            "taxRate": f"{Decimal(vat[1]):.2f}",
            "lineTaxAmount": f"{tax:.2f}",
            "department": center,
            "project": project,
        }
    )
    return [row]


def test_an_invoice_coded_only_to_exported_values_never_parks_on_master_data(cenv: CodingEnv) -> None:
    vendors_file = asyncio.run(export_vendors(cenv.rt, cenv.app.ledger, mode="full"))
    lists = asyncio.run(
        export_masterdata(
            cenv.rt,
            cenv.app.ledger,
            modes=dict.fromkeys(("accounts", "cost_centers", "projects", "vat_codes"), "full"),
        )
    )
    assert vendors_file.status == "ok" and lists.status == "ok"
    files = {lr.name: cenv.rows(str(lr.file_name)) for lr in lists.lists}
    vendors = [r for r in cenv.rows(str(vendors_file.file_name), "vendors") if r["active"] == "true"]
    accounts = _active(files["accounts"], "accountNumber")
    centers = _active(files["cost_centers"], "costCenterId")
    projects = _active(files["projects"], "projectId")
    vats = [(r["vatCodeId"], r["ratePercent"]) for r in files["vat_codes"] if r["active"] == "true"]
    assert len(vendors) == 4 and len(accounts) > 20 and len(centers) == 4 and len(projects) == 3 and vats

    rows: list[dict[str, str]] = []
    count = max(len(accounts), len(centers), len(projects), len(vats), len(vendors))
    for n in range(count):  # every value of every file at least once
        rows += _invoice_rows(
            n,
            vendors[n % len(vendors)],
            accounts[n % len(accounts)],
            centers[n % len(centers)],
            projects[n % len(projects)],
            vats[n % len(vats)],
        )
    control = _invoice_rows(count, vendors[0], accounts[0], "0999", projects[0], vats[0])  # not in any file
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=INVOICE_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows + control)
    cenv.put("invoices", "stampli_invoices_C100234_20250331T071500Z_0001.csv", buf.getvalue())

    result = asyncio.run(run_cycle(cenv.rt))
    assert result.status != "failed", result.errors
    failures = cenv.app.ledger.open_failures("acme")
    assert [(f.doc_key, f.category, f.code) for f in failures] == [
        (failures[0].doc_key, Category.VISMA_MASTER_DATA, "segment_value_missing")
    ]
    assert "0999" in failures[0].reason  # only the control invoice parked
    counts = cenv.app.ledger.status_counts("acme")
    assert counts.get(DocStatus.POSTED, 0) == count and counts.get(DocStatus.PARKED, 0) == 1
