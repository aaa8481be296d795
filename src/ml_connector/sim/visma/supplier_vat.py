"""The simulated supplier ledger's VAT: what Visma computes from the lines' VAT codes, and the
supplier's own amounts when the create sends them as tax detail lines.

Visma (Acumatica underneath) computes a document's VAT per VAT code from the taxable total of the
lines carrying that code, rounded once per code to the cent (document-level calculation). The
supplier's invoice may have rounded per line instead, so its VAT can differ by an øre or more; a
create can name the VAT it wants per code in ``taxDetailLines`` (``taxId``, ``taxableAmount``,
``vatAmount``), and those amounts stand. ``vatAmount`` on the document is the control total the AP
clerk types from the paper invoice: a document whose VAT does not equal it is out of balance and
cannot be released.

A reverse-charge VAT id (``reverseVat``, e.g. Norwegian 86: services bought abroad) is computed the
same way, and its tax detail line shows the amount, but the supplier is owed only the net: the VAT
is self-assessed, booked at release both as output VAT (the id's payable account) and as deductible
input VAT (its claimable account), so it nets to zero and stays out of the document's VAT total and
of the ``vatAmount`` control. [I: Acumatica's reverse VAT, the AP side of Visma.net; not in the spec.]

Rounding: once per VAT id on the document, half away from zero to the cent (Acumatica rounds a
document-level tax to the currency's precision, midpoint away from zero) [I]. ``vat_postings`` are the
VAT transactions a release books; the simulator shows them in ``/_sim/supplier-ledger``.
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
    vat_amount: Decimal  # in the document currency; for reverse charge the self-assessed VAT
    reverse: bool = False
    payable_account: str | None = None
    claimable_account: str | None = None

    @property
    def owed(self) -> Decimal:
        """What this VAT adds to the supplier's balance: nothing for reverse charge."""
        return Decimal(0) if self.reverse else self.vat_amount

    def postings(self, *, credit: bool = False) -> list[dict[str, Any]]:
        """The VAT transactions a release books: input VAT on the claimable account and, for
        reverse charge, the same amount as output VAT on the payable account. A ``credit``
        document (a DebitAdj) takes them back: the amounts are negative."""
        amount = -self.vat_amount if credit else self.vat_amount
        out = [{"vatId": self.vat_id, "side": "Input", "account": self.claimable_account, "amount": amount}]
        if self.reverse:
            output = {
                "vatId": self.vat_id,
                "side": "Output",
                "account": self.payable_account,
                "amount": amount,
            }
            out.insert(0, output)
        return out

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
        computed = (amount * vat.rate / 100).quantize(CENT, ROUND_HALF_UP)
        details[code] = TaxDetail(
            code, vat.rate, amount, computed, vat.reverse, vat.payable_account, vat.claimable_account
        )
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
        if unwrap(item, "vatAmount") is not None:
            detail.vat_amount = as_decimal(unwrap(item, "vatAmount"), "vatAmount")
    return list(details.values())


def vat_control(body: dict[str, Any]) -> Decimal | None:
    raw = unwrap(body, "vatAmount")
    return None if raw is None else as_decimal(raw, "vatAmount")
