"""Supplier-ledger rules: how a stored Stampli invoice becomes one Visma supplier invoice. Pure.

Chosen per connection by ``posting.target = "supplier_invoice"`` (its payments: ``supplier_payments.py``).
When Visma pays (``payments.source = "visma"``, ``pipeline/who_pays.py``) each invoice and credit note
is created approved for payment (``paySelected``), so that Visma's payment proposal picks it up.
An invoice is an ``Invoice``, a credit note a ``DebitAdj`` (Visma's name for a supplier credit); the
lines carry each cost as a positive amount with its account, SUBACCOUNT (the journal target's segment
rules, ``pipeline/journal.py::line_segments``) and the Visma VAT code that ``mapping.tax_codes`` gives
for the Stampli tax code. Visma books the AP control account itself, so no counter line is built.

The VAT is the supplier's: per VAT code, Stampli's tax amounts go out as tax detail lines, so that
Visma's document total is Stampli's to the øre (Visma would otherwise recompute it from its rates, and
per-line rounding can differ). A document whose lines and VAT do not add up to Stampli's total is
parked with the difference, never posted wrong. ``check_supplier_invoice`` is the ``check_voucher`` of
this target: supplier, currency, accounts and segment values against the cached master data, each
problem naming what is ``missing`` so that auto-replay posts the document once it exists.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal

from ml_connector.config.model import ConnectionConfig, MappingConfig
from ml_connector.domain.documents import DocumentType, Invoice, invoice_from_json
from ml_connector.domain.problems import Category, Problem, Unpostable
from ml_connector.domain.stored import StoredDocument
from ml_connector.domain.supplier_invoice import SupplierInvoiceLine, SupplierInvoiceVoucher, VatDetail
from ml_connector.pipeline.journal import cost_center_of, invoice_reference, line_segments, require_gl_account
from ml_connector.pipeline.masterdata import MasterData
from ml_connector.pipeline.periods import choose_period
from ml_connector.pipeline.rules import check_coding
from ml_connector.pipeline.who_pays import visma_pays

MAX_DESCRIPTION = 255
MAX_NOTE = 4000


def uses_supplier_ledger(cfg: ConnectionConfig, kind: str) -> bool:
    """The one place that decides which target a document goes to: invoices (and credit notes)
    of a ``supplier_invoice`` connection; everything else is a journal transaction."""
    return cfg.posting.target == "supplier_invoice" and kind == "invoice"


def supplier_of(inv: Invoice, mapping: MappingConfig) -> str:
    return mapping.supplier_map.get(inv.vendor_id, inv.vendor_id)


def supplier_invoice_voucher(
    doc: StoredDocument, md: MasterData, cfg: ConnectionConfig
) -> SupplierInvoiceVoucher:
    """The supplier invoice for a stored invoice; raises Unpostable (with the reason) to park."""
    inv = invoice_from_json(dict(doc.source))
    return invoice_to_supplier_invoice(inv, md, cfg)


def invoice_to_supplier_invoice(
    inv: Invoice, md: MasterData, cfg: ConnectionConfig
) -> SupplierInvoiceVoucher:
    mapping = cfg.mapping
    credit_note = inv.document_type == DocumentType.CREDIT_NOTE
    sign = Decimal(-1) if credit_note else Decimal(1)  # a credit note's amounts are negative in Stampli
    period, _day = choose_period(inv.effective_posting_date, md, cfg, supplier_ledger=True)
    kind = "credit note" if credit_note else "invoice"
    title = f"{inv.vendor_name} {kind} {inv.invoice_number}"
    lines: list[SupplierInvoiceLine] = []
    taxable: dict[str, Decimal] = defaultdict(Decimal)
    vat: dict[str, Decimal] = defaultdict(Decimal)
    for line in inv.lines:
        account = require_gl_account(line)
        amount = sign * line.line_net_amount
        if amount < 0:
            raise Unpostable(
                Problem(
                    Category.SOURCE_DATA,
                    "negative_line",
                    f"line {line.line_number} has the opposite sign of the {kind} ({line.line_net_amount}); "
                    "a supplier invoice's lines are all costs (or all credits for a credit note): "
                    'split it in Stampli, or post this connection with posting.target = "journal"',
                )
            )
        vat_code = _vat_code(cfg, line.tax_code, line.line_tax_amount, line.line_number)
        if vat_code is not None:
            taxable[vat_code] += amount
            vat[vat_code] += sign * line.line_tax_amount
        text = line.line_description or ""
        lines.append(
            SupplierInvoiceLine(
                account=account,
                amount=amount,
                description=f"{title}: {text}".strip().rstrip(":")[:MAX_DESCRIPTION],
                subaccount=line_segments(
                    mapping, cost_center_of(line, mapping.cost_center_field), line.project
                ),
                vat_code=vat_code,
            )
        )
    voucher = SupplierInvoiceVoucher(
        supplier=supplier_of(inv, mapping),
        supplier_reference=inv.invoice_number,
        document_type="DebitAdj" if credit_note else "Invoice",
        document_date=inv.invoice_date,
        financial_period=period,
        currency=inv.currency,
        lines=tuple(lines),
        due_date=inv.due_date,
        exchange_rate=inv.exchange_rate if inv.currency != md.base_currency else None,
        payment_reference=inv.payment_reference,
        note=note_of(inv),
        vat=tuple(VatDetail(code, taxable[code], vat[code]) for code in sorted(vat) if vat[code]),
        description=f"{invoice_reference(inv)} {title}"[:MAX_DESCRIPTION],
        pay_selected=visma_pays(cfg),  # approved in Stampli: ready for Visma's payment proposal
    )
    stampli_total = sign * inv.total_amount
    if voucher.total != stampli_total:
        raise Unpostable(
            Problem(
                Category.SOURCE_DATA,
                "totals_differ",
                f"the supplier invoice would total {voucher.total} (lines {voucher.net_total} + VAT "
                f"{voucher.vat_total}) but Stampli's total is {stampli_total}: a difference of "
                f"{voucher.total - stampli_total}; correct the document in Stampli and export it again",
            )
        )
    return voucher


def _vat_code(cfg: ConnectionConfig, code: str | None, tax: Decimal, line_number: int) -> str | None:
    """The Visma VAT code for a line's Stampli tax code; None for a line without tax or code."""
    if not code and not tax:
        return None
    visma = cfg.mapping.tax_codes.get(code or "")
    if visma is None:
        raise Unpostable(
            Problem(
                Category.MAPPING,
                "vat_code_unmapped",
                f"Stampli tax code {code or '(empty)'} on line {line_number} has no Visma VAT code in "
                f"connections.{cfg.name}.mapping.tax_codes; add it, then replay",
            )
        )
    return visma


def note_of(inv: Invoice) -> str | None:
    """The supplier invoice's note: where the document lives in Stampli and who approved it."""
    parts = []
    if inv.stampli_link:
        parts.append(f"Stampli: {inv.stampli_link}")
    if inv.approvers:
        parts.append("Approved by: " + ", ".join(inv.approvers))
    return "\n".join(parts)[:MAX_NOTE] or None


def check_supplier_invoice(
    voucher: SupplierInvoiceVoucher, md: MasterData, cfg: ConnectionConfig
) -> list[Problem]:
    """The checks a journal voucher gets (``rules.check_coding``: supplier, currency, accounts,
    segment values) on the supplier invoice's lines; there is no balance to check, Visma books the
    AP side itself."""
    coding = [(ln.account, ln.subaccount) for ln in voucher.lines]
    return check_coding(voucher.currency, coding, md, cfg.mapping, supplier=voucher.supplier)
