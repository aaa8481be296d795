"""Visma's API, one module per resource; each lists its ``ROUTES`` as (method, template, handler).

A new resource (e.g. supplierInvoice, supplierPayment) is a new module here, added to ``API_ROUTES``.
Order matters only between templates that match the same path: the first route wins.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ml_connector.sim.visma.routes import (
    accounts,
    currencies,
    dimensions,
    journal,
    organisation,
    periods,
    supplier_invoices,
    supplier_payments,
    suppliers,
    terms,
)

if TYPE_CHECKING:
    from ml_connector.sim.visma.http import SimHandler

API_ROUTES: list[tuple[str, str, SimHandler]] = [
    *accounts.ROUTES,
    *dimensions.ROUTES,
    *suppliers.ROUTES,
    *organisation.ROUTES,
    *currencies.ROUTES,
    *periods.ROUTES,
    *terms.ROUTES,
    *journal.ROUTES,
    *supplier_invoices.ROUTES,
    *supplier_payments.ROUTES,
]
