"""The simulated supplier ledger's VAT: what Visma computes from the lines' VAT codes, and the
supplier's own amounts when the create sends them as tax detail lines.

Visma (Acumatica underneath) computes a document's VAT per VAT code from the taxable total of the
lines carrying that code, rounded once per code to the cent (document-level calculation). The
supplier's invoice may have rounded per line instead, so its VAT can differ by an øre or more; a
create can name the VAT it wants per code in ``taxDetailLines`` (``taxId``, ``taxableAmount``,
``vatAmount``), and those amounts stand. ``vatAmount`` on the document is the control total the AP
clerk types from the paper invoice: a document whose VAT does not equal it is out of balance and
cannot be released. A reverse-charge code adds nothing to what the supplier is owed.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from ml_connector.sim.visma.errors import bad_request
from ml_connector.sim.visma.state import CENT, VatCode, as_decimal, as_str, unwrap


@dataclass
class TaxDetail:
    vat_id: str
    rate: Decimal
    taxable: Decimal  # in the document currency
    vat_amount: Decimal  # in the document currency; 0 for reverse charge
    reverse: bool = False

    def dto(self) -> dict[str, Any]:
        return {
            "taxId": self.vat_id,
            "vatId": {"number": self.vat_id},
            "vatRate": self.rate,
            "taxableAmount": self.taxable,
            "vatAmount": self.vat_amount,
        }


def tax_details(
    lines: list[tuple[str | None, Decimal]], codes: dict[str, VatCode], body: dict[str, Any]
) -> list[TaxDetail]:
    """VAT per code for ``lines`` (vat code, cost), with the create's ``taxDetailLines`` applied."""
    taxable: dict[str, Decimal] = {}
    for code, cost in lines:
        if code is not None:
            taxable[code] = taxable.get(code, Decimal(0)) + cost
    details: dict[str, TaxDetail] = {}
    for code, amount in taxable.items():
        vat = codes[code]
        reverse = vat.type == "ReverseVat"
        computed = (amount * vat.rate / 100).quantize(CENT, ROUND_HALF_UP)
        details[code] = TaxDetail(code, vat.rate, amount, Decimal(0) if reverse else computed, reverse)
    raw = body.get("taxDetailLines")
    if raw is not None and not isinstance(raw, list):
        raise bad_request("'taxDetailLines' must be a list of TaxDetailUpdateDto objects.")
    for item in raw or []:
        if not isinstance(item, dict):
            raise bad_request("A tax detail line must be a TaxDetailUpdateDto object.")
        tax_id = as_str(unwrap(item, "taxId"), "taxId")
        detail = details.get(tax_id)
        if detail is None:
            raise bad_request(f"VAT '{tax_id}' is not used on any line of the document.")
        if unwrap(item, "taxableAmount") is not None:
            detail.taxable = as_decimal(unwrap(item, "taxableAmount"), "taxableAmount")
        if unwrap(item, "vatAmount") is not None and not detail.reverse:
            detail.vat_amount = as_decimal(unwrap(item, "vatAmount"), "vatAmount")
    return list(details.values())


def vat_control(body: dict[str, Any]) -> Decimal | None:
    raw = unwrap(body, "vatAmount")
    return None if raw is None else as_decimal(raw, "vatAmount")
